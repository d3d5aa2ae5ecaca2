/**
 * Issue 13 item 9: `rampart verify --rebuild` rebuilds an image from its signed SLSA provenance
 * (the embedded spec and lock, the .debs of the hermetic signed APT repo) and compares: the image a
 * test built and signed reproduces; after one file of a layer is altered and the image re-signed
 * and re-attested with the same key, the report names that layer and that file.
 */

import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../../src/oci/digest.js';
import { sha256Digest } from '../../../src/oci/digest.js';
import type { Image, Layer } from '../../../src/oci/image.js';
import { imageFromParts, newIndex } from '../../../src/oci/in-memory.js';
import { openImage, writeImage } from '../../../src/oci/open.js';
import { readLayerEntries } from '../../../src/oci/tar-safety.js';
import type { RebuildResult } from '../../../src/sign/rebuild.js';
import type { AttachmentTree } from '../../../src/sign/tree.js';
import type { VerifyResult } from '../../../src/sign/verify.js';
import type { VerifyAttestationResult } from '../../../src/sign/verify-attestation.js';
import { rampart } from '../../helpers/run-cli.js';
import { type SignedBuildFixture, signedBuildFixture } from '../../helpers/sign-fixtures.js';

let fx: SignedBuildFixture;
let work: string;
let spec: string;
let layout: string;
let builtDigest: string;

async function verifyRebuild(...extra: string[]) {
  const run = await rampart(
    'verify',
    '--rebuild',
    '-o',
    'json',
    '--key',
    join(work, 'rampart.pub'),
    '--cache',
    join(work, 'cache'),
    `oci:${layout}:1`,
    ...extra,
  );
  return {
    code: run.code,
    stderr: run.stderr,
    result: JSON.parse(run.stdout || '{}') as VerifyResult & { rebuild: RebuildResult },
  };
}

beforeAll(async () => {
  fx = await signedBuildFixture('rampart-rebuild-', {
    archs: ['amd64'],
    packages: [
      {
        name: 'base-files',
        version: '13.8',
        architecture: 'all',
        files: { 'usr/lib/os-release': 'NAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="13"\n' },
      },
      {
        name: 'tool',
        version: '2.0',
        files: { 'usr/bin/tool': '#!tool\n', 'usr/share/tool/data': 'data\n' },
      },
    ],
    dest: (dir) => `oci:${join(dir, 'layout')}:1`,
  });
  ({ work, spec } = fx);
  layout = join(work, 'layout');
  // The progress log says what was attached: index + image, each in both formats; 4 + 1 attestations.
  expect(fx.build.stderr).toMatch(/signed: 4 signatures, 5 attestations in /);
  builtDigest = (JSON.parse(fx.build.stdout) as { digest: string }).digest;
}, 300_000);

afterAll(async () => {
  await fx?.cleanup();
});

/** The layer with `path` rewritten to `content` (every other entry as it was), gzip-compressed. */
async function alteredLayer(
  layer: Layer,
  path: string,
  content: string,
): Promise<{ layer: Layer; found: boolean }> {
  const tar = pack();
  let found = false;
  const collected = buffer(tar);
  for await (const { entry, body } of readLayerEntries(await layer.uncompressed())) {
    if (entry.kind !== 'node') continue;
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk);
    let data = Buffer.concat(chunks);
    if (entry.path === path) {
      found = true;
      data = Buffer.from(content);
    }
    const header = {
      name: entry.type === 'directory' ? `${entry.path}/` : entry.path,
      type:
        entry.type === 'directory'
          ? ('directory' as const)
          : entry.type === 'symlink'
            ? ('symlink' as const)
            : ('file' as const),
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      mtime: new Date(entry.mtime * 1000),
      ...(entry.symlinkTarget ? { linkname: entry.symlinkTarget } : {}),
      ...(entry.type === 'file' ? { size: data.length } : {}),
    };
    await new Promise<void>((done, fail) =>
      tar.entry(header, entry.type === 'file' ? data : Buffer.alloc(0), (error) =>
        error ? fail(error) : done(),
      ),
    );
  }
  tar.finalize();
  const raw = await collected;
  const gz = await buffer(Readable.from([raw]).pipe(createGzip()));
  const descriptor = { mediaType: layer.descriptor.mediaType, digest: sha256Digest(gz), size: gz.length };
  const diffID = sha256Digest(raw) as Digest;
  return {
    found,
    layer: {
      descriptor,
      diffID,
      blob: async () => Readable.from([gz]),
      uncompressed: async () => Readable.from([raw]),
    },
  };
}

describe('verify --rebuild', () => {
  it('an image built and signed by the test verifies with --rebuild: same digest', async () => {
    const { code, stderr, result } = await verifyRebuild();
    expect(code, stderr).toBe(0);
    expect(result.verified).toBe(true);
    expect(result.rebuild).toMatchObject({
      reproduced: true,
      digest: builtDigest,
      rebuiltDigest: builtDigest,
      spec: { from: 'provenance' },
    });
    expect(result.rebuild.platforms).toMatchObject([{ architecture: 'amd64', equal: true }]);
  }, 300_000);

  it('rampart tree lists what the build attached in the layout', async () => {
    const run = await rampart('tree', '-o', 'json', `oci:${layout}:1`);
    expect(run.code, run.stderr).toBe(0);
    const tree = JSON.parse(run.stdout) as AttachmentTree;
    expect(tree.digest).toBe(builtDigest);
    const kinds = (list: AttachmentTree['attachments']) => list.map((a) => `${a.kind} ${a.format}`).sort();
    expect(kinds(tree.attachments)).toEqual([
      'attestation bundle',
      'attestation legacy',
      'signature bundle',
      'signature legacy',
    ]);
    expect(kinds(tree.manifests[0]!.attachments)).toEqual([
      'attestation bundle',
      'attestation bundle',
      'attestation legacy',
      'sbom bundle',
      'sbom bundle',
      'signature bundle',
      'signature legacy',
    ]);
  });

  it('rampart tree refuses a transport that holds no attachments, in one line', async () => {
    const run = await rampart('tree', '-o', 'json', `docker-archive:${join(work, 'none.tar')}`);
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stderr.replace(/^error: /, '')).error.code).toBe('UNSUPPORTED_TRANSPORT');
  });

  it('--spec: the same spec file rebuilds; another spec is refused by its digest', async () => {
    const same = await verifyRebuild('--spec', spec);
    expect(same.code, same.stderr).toBe(0);
    expect(same.result.rebuild.spec).toMatchObject({ from: 'file', path: spec });
    const other = join(work, 'other.yaml');
    await writeFile(other, `${await readFile(spec, 'utf8')}# changed\n`);
    const refused = await verifyRebuild('--spec', other);
    expect(refused.code).toBe(1);
    const error = JSON.parse(refused.stderr.replace(/^error: /, '')) as {
      error: { code: string; details: { path: string } };
    };
    expect(error.error.code).toBe('DIGEST_MISMATCH');
    expect(error.error.details.path).toBe(other);
  }, 300_000);

  it('no provenance signed by the key: PROVENANCE_INVALID, nothing built', async () => {
    const other = await rampart('key', 'generate', '--output-prefix', join(work, 'other'));
    expect(other.code, other.stderr).toBe(0);
    const run = await rampart(
      'verify',
      '--rebuild',
      '-o',
      'json',
      '--key',
      join(work, 'other.pub'),
      `oci:${layout}:1`,
    );
    expect(run.code).toBe(1);
    const error = JSON.parse(run.stderr.replace(/^error: /, '')) as { error: { code: string } };
    expect(error.error.code).toBe('PROVENANCE_INVALID');
  }, 120_000);

  it('after one file of a layer is altered and the image re-signed, --rebuild names the layer and the file', async () => {
    // The provenance the build attached to the index, re-attested by the "attacker" over the new digest.
    const attested = await rampart(
      'verify-attestation',
      '-o',
      'json',
      '--key',
      join(work, 'rampart.pub'),
      '--type',
      'slsaprovenance1',
      `oci:${layout}:1`,
    );
    expect(attested.code, attested.stderr).toBe(0);
    const provenance = (JSON.parse(attested.stdout) as VerifyAttestationResult).attestations.find(
      (a) => a.valid,
    )?.statement?.predicate;
    await writeFile(join(work, 'provenance.json'), JSON.stringify(provenance));

    const index = await openImage(`oci:${layout}:1`);
    if (index.kind !== 'index') throw new Error('expected an index');
    const entry = index.manifest.manifests[0]!;
    const image: Image = await index.image(entry);
    let changedAt = -1;
    const layers: Layer[] = [];
    for (const [i, layer] of image.layers.entries()) {
      const altered = await alteredLayer(layer, 'usr/bin/tool', '#!evil\n');
      if (altered.found) changedAt = i;
      layers.push(altered.found ? altered.layer : layer);
    }
    expect(changedAt).toBeGreaterThanOrEqual(0);
    const config = JSON.parse(image.rawConfig.toString('utf8'));
    config.rootfs.diff_ids = layers.map((l) => l.diffID);
    const rawConfig = Buffer.from(JSON.stringify(config));
    const manifest = JSON.parse(image.rawManifest.toString('utf8'));
    manifest.config = { ...manifest.config, digest: sha256Digest(rawConfig), size: rawConfig.length };
    manifest.layers = layers.map((l) => ({ ...l.descriptor }));
    const rawManifest = Buffer.from(JSON.stringify(manifest));
    const tampered = imageFromParts({ rawManifest, manifest, rawConfig, config, layers });
    const newRoot = newIndex([{ image: tampered, platform: entry.platform! }], { ...index.annotations });
    await writeImage(`oci:${layout}:1`, newRoot);

    const signed = await rampart(
      'sign',
      '--key',
      join(work, 'rampart.key'),
      '--recursive',
      `oci:${layout}:1`,
    );
    expect(signed.code, signed.stderr).toBe(0);
    const reattested = await rampart(
      'attest',
      '--key',
      join(work, 'rampart.key'),
      '--type',
      'slsaprovenance1',
      '--predicate',
      join(work, 'provenance.json'),
      `oci:${layout}:1`,
    );
    expect(reattested.code, reattested.stderr).toBe(0);

    const { code, result } = await verifyRebuild();
    expect(code).toBe(1);
    // The signatures are valid: only the rebuild tells.
    expect(result.verified).toBe(true);
    expect(result.digest).toBe(newRoot.digest);
    expect(result.rebuild.reproduced).toBe(false);
    expect(result.rebuild.rebuiltDigest).toBe(builtDigest);
    const [platform] = result.rebuild.platforms;
    expect(platform).toMatchObject({ architecture: 'amd64', equal: false, digest: tampered.digest });
    expect(platform?.difference?.layers.map((l) => l.index)).toEqual([changedAt]);
    const [layer] = platform?.difference?.layers ?? [];
    expect(layer?.expected).toBe(tampered.layers[changedAt]!.descriptor.digest);
    expect(layer?.rebuilt).toBe(image.layers[changedAt]!.descriptor.digest);
    const sha = (text: string) => createHash('sha256').update(text).digest('hex');
    expect(layer?.files).toMatchObject([
      {
        path: 'usr/bin/tool',
        change: 'modified',
        expected: { sha256: sha('#!evil\n') },
        rebuilt: { sha256: sha('#!tool\n') },
      },
    ]);

    const text = await rampart(
      'verify',
      '--rebuild',
      '--key',
      join(work, 'rampart.pub'),
      '--cache',
      join(work, 'cache'),
      `oci:${layout}:1`,
    );
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('NOT reproduced');
    expect(text.stdout).toContain('modified /usr/bin/tool');
  }, 300_000);
});
