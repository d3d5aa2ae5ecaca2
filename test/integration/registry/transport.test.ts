import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAll } from '../../../src/oci/digest.js';
import type { Image } from '../../../src/oci/image.js';
import { newIndex } from '../../../src/oci/in-memory.js';
import { openImage, writeImage } from '../../../src/oci/open.js';
import { makeTestImage } from '../../helpers/oci-fixtures.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { rampart } from '../../helpers/run-cli.js';

// rampart against a real docker-registry (anonymous, plain HTTP on 127.0.0.1), checked with skopeo.

const sha256 = (bytes: Buffer | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

let work: string;
let layout: string;
let registry: TestRegistry;
let image: Image;
let arm: Image;
let raws: { v1: Buffer; multi: Buffer; sbom: Buffer };

const docker = (repo: string, tagOrDigest = ':v1') => `docker://${registry.host}/${repo}${tagOrDigest}`;
const skopeo = (...args: string[]) => execFileSync('skopeo', args, { encoding: 'utf8', maxBuffer: 1 << 26 });
const skopeoRaw = (ref: string) =>
  execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', ref], { maxBuffer: 1 << 26 });

/** The raw manifest bytes of a layout entry, as rampart reads them. */
async function rawOf(ref: string): Promise<Buffer> {
  return (await openImage(ref)).rawManifest;
}

/** An SBOM artifact (artifactType, subject, one document blob), written byte by byte into the layout. */
async function sbomArtifact(dir: string, subject: Image): Promise<Buffer> {
  const put = async (bytes: Buffer, mediaType: string) => {
    await writeFile(join(dir, 'blobs', 'sha256', sha256(bytes).slice(7)), bytes);
    return { mediaType, digest: sha256(bytes), size: bytes.length };
  };
  const layer = await put(
    Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'app', packages: [] })),
    'application/spdx+json',
  );
  const config = await put(Buffer.from('{}'), 'application/vnd.oci.empty.v1+json');
  const raw = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/spdx+json',
      config,
      layers: [layer],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.rawManifest.length },
    }),
  );
  await put(raw, 'application/vnd.oci.image.manifest.v1+json');
  const indexPath = join(dir, 'index.json');
  const index = JSON.parse(await readFile(indexPath, 'utf8'));
  index.manifests.push({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: sha256(raw),
    size: raw.length,
    artifactType: 'application/spdx+json',
    annotations: { 'org.opencontainers.image.ref.name': 'sbom' },
  });
  await writeFile(indexPath, JSON.stringify(index));
  return raw;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-transport-'));
  registry = await startRegistry();
  image = await makeTestImage(work, [{ 'etc/hello': 'hello\n' }, { 'etc/second': 'two\n' }]);
  arm = await makeTestImage(work, [{ 'etc/hello': 'arm\n' }], {
    os: 'linux',
    architecture: 'arm64',
    variant: 'v8',
  });
  layout = join(work, 'layout');
  await writeImage(`oci:${layout}:v1`, image);
  await writeImage(
    `oci:${layout}:multi`,
    newIndex([
      { image, platform: { os: 'linux', architecture: 'amd64' } },
      { image: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ]),
  );
  raws = {
    v1: await rawOf(`oci:${layout}:v1`),
    multi: await rawOf(`oci:${layout}:multi`),
    sbom: await sbomArtifact(layout, image),
  };
});

afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function copyJson(...args: string[]) {
  const run = await rampart('copy', '-o', 'json', ...args, '--insecure');
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as {
    source: string;
    destination: string;
    digest: string;
    platforms: string[];
    attachments: unknown[];
    bytes: { pushed: number; skipped: number; mounted: number };
  };
}

describe('rampart copy oci: -> docker:// -> oci:', () => {
  it.each([
    ['a single image', 'v1'],
    ['a multi-arch index', 'multi'],
    ['an artifact', 'sbom'],
  ] as const)('keeps every digest byte for byte: %s', async (_name, tag) => {
    const pushed = await copyJson(`oci:${layout}:${tag}`, docker(`round/${tag}`));
    expect(pushed.digest).toBe(sha256(raws[tag]));
    expect(pushed.attachments).toEqual([]);
    // What the registry serves is the layout's bytes.
    expect(skopeoRaw(docker(`round/${tag}`))).toEqual(raws[tag]);
    const back = join(work, `back-${tag}`);
    const pulled = await copyJson(docker(`round/${tag}`), `oci:${back}:${tag}`);
    expect(pulled.digest).toBe(sha256(raws[tag]));
    expect(await rawOf(`oci:${back}:${tag}`)).toEqual(raws[tag]);
    if (tag === 'multi') {
      expect(pushed.platforms).toEqual(['linux/amd64', 'linux/arm64/v8']);
      // Every child and every blob came back, verified: each layer is read to its end.
      const index = await openImage(`oci:${back}:${tag}`);
      if (index.kind !== 'index') throw new Error('expected an index');
      const children = await Promise.all(index.manifest.manifests.map((entry) => index.image(entry)));
      expect(children.map((child) => child.rawManifest)).toEqual([image.rawManifest, arm.rawManifest]);
      for (const child of children) for (const layer of child.layers) await readAll(await layer.blob());
    }
  });
});

describe('skopeo agrees', () => {
  it('skopeo pulls what rampart pushed with the same digests, and serves the index bytes', async () => {
    await copyJson(`oci:${layout}:multi`, docker('interop/pushed'));
    expect(skopeoRaw(docker('interop/pushed'))).toEqual(raws.multi);
    const out = join(work, 'skopeo-pulled');
    skopeo('copy', '--all', '--src-tls-verify=false', docker('interop/pushed'), `oci:${out}:t`);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    expect(index.manifests[0].digest).toBe(sha256(raws.multi));
    for (const child of [image, arm]) {
      expect(await readFile(join(out, 'blobs', 'sha256', child.digest.slice(7)))).toEqual(child.rawManifest);
      for (const layer of child.layers) {
        const bytes = await readFile(join(out, 'blobs', 'sha256', layer.descriptor.digest.slice(7)));
        expect(sha256(bytes)).toBe(layer.descriptor.digest);
      }
    }
  });

  it('rampart pulls what skopeo pushed with the same digests', async () => {
    skopeo('copy', '--all', '--dest-tls-verify=false', `oci:${layout}:multi`, docker('interop/by-skopeo'));
    const back = join(work, 'from-skopeo');
    const pulled = await copyJson(docker('interop/by-skopeo'), `oci:${back}:t`);
    expect(pulled.digest).toBe(sha256(raws.multi));
    expect(await rawOf(`oci:${back}:t`)).toEqual(raws.multi);
  });
});

describe('inspect and sbom read docker://', () => {
  it('inspect -o json and --raw of a pushed image', async () => {
    await copyJson(`oci:${layout}:v1`, docker('inspect/app'));
    const local = await rampart('inspect', '-o', 'json', `oci:${layout}:v1`);
    const remote = await rampart('inspect', '-o', 'json', docker('inspect/app'), '--insecure');
    expect(remote.code, remote.stderr).toBe(0);
    const { reference: _l, ...localJson } = JSON.parse(local.stdout);
    const { reference, ...remoteJson } = JSON.parse(remote.stdout);
    expect(reference).toBe(docker('inspect/app'));
    expect(remoteJson).toEqual(localJson);
    const raw = await rampart('inspect', '--raw', docker('inspect/app'), '--insecure');
    expect(sha256(Buffer.from(raw.stdout, 'utf8'))).toBe(image.digest);
  });

  it('sbom of a docker:// image catalogs its packages', async () => {
    const withDpkg = await makeTestImage(work, [
      {
        'var/lib/dpkg/status':
          'Package: hello\nStatus: install ok installed\nVersion: 2.10-3\nArchitecture: amd64\nMaintainer: x <x@example.org>\nDescription: hi\n\n',
      },
    ]);
    await writeImage(`oci:${layout}:dpkg`, withDpkg);
    await copyJson(`oci:${layout}:dpkg`, docker('sbom/app'));
    const remote = await rampart('sbom', '-o', 'json', docker('sbom/app'), '--insecure');
    expect(remote.code, remote.stderr).toBe(0);
    const doc = JSON.parse(remote.stdout) as {
      source: { ref: string; digest?: string };
      packages: Array<{ name: string; version: string }>;
    };
    expect(doc.source).toMatchObject({ ref: docker('sbom/app'), digest: withDpkg.digest });
    expect(doc.packages.map((p) => [p.name, p.version])).toEqual([['hello', '2.10-3']]);
  });
});

describe('blobs already there, mounts, pins and jobs', () => {
  it('a second push skips every blob; another repository of the registry mounts them', async () => {
    const size = image.layers.reduce((sum, layer) => sum + layer.descriptor.size, image.rawConfig.length);
    const first = await copyJson(`oci:${layout}:v1`, docker('reuse/one'));
    expect(first.bytes).toEqual({ pushed: size, skipped: 0, mounted: 0 });
    const again = await copyJson(`oci:${layout}:v1`, docker('reuse/one', ':v2'));
    expect(again.bytes).toEqual({ pushed: 0, skipped: size, mounted: 0 });
    const mounted = await copyJson(docker('reuse/one'), docker('reuse/two'));
    expect(mounted.bytes).toEqual({ pushed: 0, skipped: 0, mounted: size });
    expect(skopeoRaw(docker('reuse/two'))).toEqual(raws.v1);
  });

  it('a wrong @sha256: pin is refused, reading and writing', async () => {
    await copyJson(`oci:${layout}:v1`, docker('pin/app'));
    const registryOptions = { registry: { insecure: true } };
    const read = await openImage(docker('pin/app', `@${arm.digest}`), registryOptions).catch((e) => e);
    expect(read).toMatchObject({ code: 'MANIFEST_NOT_FOUND' });
    const source = await openImage(`oci:${layout}:v1`);
    const write = await writeImage(docker('pin/other', `@${arm.digest}`), source, registryOptions).catch(
      (e) => e,
    );
    expect(write).toMatchObject({
      code: 'DIGEST_MISMATCH',
      details: { expected: arm.digest, actual: image.digest },
    });
    // Nothing was written as the root: neither digest is a manifest of that repository.
    for (const digest of [arm.digest, image.digest]) {
      const head = await fetch(`${registry.url}/v2/pin/other/manifests/${digest}`, { method: 'HEAD' });
      expect(head.status).toBe(404);
    }
    const right = await copyJson(`oci:${layout}:v1`, docker('pin/other', `@${image.digest}`));
    expect(right.digest).toBe(image.digest);
    expect(skopeoRaw(docker('pin/other', `@${image.digest}`))).toEqual(raws.v1);
  });

  it('--jobs 1 and --jobs 4 push the same index', async () => {
    const one = await copyJson(`oci:${layout}:multi`, docker('jobs/one'), '--jobs', '1');
    const four = await copyJson(`oci:${layout}:multi`, docker('jobs/four'), '--jobs', '4');
    expect(one.digest).toBe(four.digest);
    expect(one.platforms).toEqual(four.platforms);
    expect(one.bytes.pushed + one.bytes.mounted + one.bytes.skipped).toBe(
      four.bytes.pushed + four.bytes.mounted + four.bytes.skipped,
    );
    expect(skopeoRaw(docker('jobs/one'))).toEqual(skopeoRaw(docker('jobs/four')));
  });
});
