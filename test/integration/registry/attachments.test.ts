import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../../src/oci/digest.js';
import { readAll, sha256Digest } from '../../../src/oci/digest.js';
import { loadManifest } from '../../../src/oci/source.js';
import type { Descriptor } from '../../../src/oci/types.js';
import { createRegistryClient } from '../../../src/registry/client.js';
import { deleteManifestByDigest, listRepositoryTags } from '../../../src/registry/manage.js';
import {
  readTagSchemaIndex,
  recordReferrer,
  registryAttachmentStore,
} from '../../../src/registry/referrers.js';
import { registryBlobSource } from '../../../src/registry/source.js';
import type { RegistryClient } from '../../../src/registry/types.js';
import type { AttachedLayout } from '../../helpers/attachment-fixtures.js';
import { MANIFEST, makeAttachedLayout, SBOM_TYPE, sigTag } from '../../helpers/attachment-fixtures.js';
import {
  peerTool,
  peerToolEnv,
  type ReferrersRegistry,
  startReferrersRegistry,
} from '../../helpers/peer-tools.js';
import { runCommand } from '../../helpers/processes.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { rampart } from '../../helpers/run-cli.js';

// Attachments through real registries: docker-registry 2.8 (no referrers API: the tag schema) and
// go-containerregistry's registry with the referrers API (refreg, from the interop helper).
let work: string;
let fixture: AttachedLayout;
let one: TestRegistry;
let two: TestRegistry;
let refreg: ReferrersRegistry;
let clientOne: RegistryClient;
let clientTwo: RegistryClient;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-attach-registry-'));
  fixture = await makeAttachedLayout(work);
  [one, two, refreg] = await Promise.all([startRegistry(), startRegistry(), startReferrersRegistry()]);
  clientOne = createRegistryClient(one.host, { insecure: true });
  clientTwo = createRegistryClient(two.host, { insecure: true });
  const pushed = await rampart(
    'copy',
    '-q',
    '--with-attachments',
    `oci:${fixture.layout}:app`,
    `docker://${one.host}/src/app:v1`,
    '--insecure',
  );
  expect(pushed.stderr).toBe('');
  expect(pushed.code).toBe(0);
}, 600_000);

afterAll(async () => {
  await Promise.all([one?.stop(), two?.stop(), refreg?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

const ATTACHED = ['sig', 'referrer', 'referrerSig'] as const;

/** Each attachment's manifest and blobs are in the repository, byte for byte; the legacy tags name them. */
async function expectAttachments(client: RegistryClient, repository: string): Promise<void> {
  const { target, raws, digestOf } = fixture;
  expect((await client.getManifest(repository, 'v1')).digest).toBe(target.digest);
  for (const name of ATTACHED) {
    const fetched = await client.getManifest(repository, digestOf(name));
    expect(fetched.raw.equals(raws[name])).toBe(true);
    const manifest = JSON.parse(raws[name].toString()) as { config: Descriptor; layers: Descriptor[] };
    for (const blob of [manifest.config, ...manifest.layers]) {
      const bytes = await readAll(await client.openBlob(repository, blob));
      const original = await readFile(join(fixture.layout, 'blobs', 'sha256', blob.digest.slice(7)));
      expect(bytes.equals(original)).toBe(true);
    }
  }
  expect((await client.headManifest(repository, sigTag(target.digest)))?.digest).toBe(digestOf('sig'));
  expect((await client.headManifest(repository, sigTag(digestOf('referrer'))))?.digest).toBe(
    digestOf('referrerSig'),
  );
  // docker-registry has no referrers API: the referrer is listed in the sha256-<hex> index.
  const schema = await readTagSchemaIndex(client, repository, target.digest as Digest);
  expect(schema?.manifests.map(({ digest, artifactType }) => ({ digest, artifactType }))).toEqual([
    { digest: digestOf('referrer'), artifactType: SBOM_TYPE },
  ]);
  expect((await client.listTags(repository)).includes('other')).toBe(false);
}

describe('copy --with-attachments through docker-registry (referrers tag schema)', () => {
  it('oci: -> registry pushed both attachments and wrote the tag schema', async () => {
    await expectAttachments(clientOne, 'src/app');
    expect(await clientOne.referrers('src/app', fixture.target.digest as Digest)).toBeUndefined();
  });

  it('registry -> registry (another repository): both arrive byte for byte', async () => {
    const result = await rampart(
      'copy',
      '-q',
      '--with-attachments',
      '-o',
      'json',
      `docker://${one.host}/src/app:v1`,
      `docker://${one.host}/dst/app:v1`,
      '--insecure',
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.attachments.map((a: { kind: string; digest: string }) => [a.kind, a.digest])).toEqual([
      ['signature', fixture.digestOf('sig')],
      ['referrer', fixture.digestOf('referrer')],
      ['signature', fixture.digestOf('referrerSig')],
    ]);
    await expectAttachments(clientOne, 'dst/app');
  });

  it('registry -> oci:DIR -> another registry: both arrive byte for byte', async () => {
    const dir = join(work, 'airgap');
    const down = await rampart(
      'copy',
      '-q',
      '--with-attachments',
      `docker://${one.host}/src/app:v1`,
      `oci:${dir}:app`,
      '--insecure',
    );
    expect(down.code).toBe(0);
    const up = await rampart(
      'copy',
      '-q',
      '--with-attachments',
      `oci:${dir}:app`,
      `docker://${two.host}/mirror/app:v1`,
      '--insecure',
    );
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    await expectAttachments(clientTwo, 'mirror/app');
  });

  it('oras discover and cosign tree list what rampart attached', async () => {
    const env = peerToolEnv();
    const subject = `${one.host}/dst/app@${fixture.target.digest}`;
    const oras = await runCommand(
      await peerTool('oras'),
      ['discover', '--plain-http', '--distribution-spec', 'v1.1-referrers-tag', '--format', 'json', subject],
      { env },
    );
    expect(oras.stderr).toBe('');
    const discovered = JSON.parse(oras.stdout) as {
      referrers?: Array<{ digest: string; artifactType: string }>;
    };
    expect(discovered.referrers?.map(({ digest, artifactType }) => ({ digest, artifactType }))).toEqual([
      { digest: fixture.digestOf('referrer'), artifactType: SBOM_TYPE },
    ]);
    const cosign = await peerTool('cosign');
    const legacy = await runCommand(cosign, ['tree', '--allow-http-registry', subject], { env });
    expect(legacy.stdout).toContain(sigTag(fixture.target.digest));
    const referrerLayer = JSON.parse(fixture.raws.sig.toString()).layers[0].digest as string;
    expect(legacy.stdout).toContain(referrerLayer);
    const modern = await runCommand(
      cosign,
      ['tree', '--allow-http-registry', '--registry-referrers-mode', 'oci-1-1', subject],
      { env: { ...env, COSIGN_EXPERIMENTAL: '1' } },
    );
    expect(`${modern.stdout}${modern.stderr}`).toContain(fixture.digestOf('referrer'));
  });
});

describe('a registry with the referrers API', () => {
  it('lists referrers through the API with artifactType filtering and writes no fallback tag', async () => {
    const pushed = await rampart(
      'copy',
      '-q',
      '--with-attachments',
      `oci:${fixture.layout}:app`,
      `docker://${refreg.host}/app:v1`,
      '--insecure',
    );
    expect(pushed.stderr).toBe('');
    expect(pushed.code).toBe(0);
    const client = createRegistryClient(refreg.host, { insecure: true });
    const source = registryBlobSource(client, 'app');
    const store = registryAttachmentStore(client, 'app', (descriptor) => loadManifest(source, descriptor));
    const digest = fixture.target.digest as Digest;
    expect((await store.referrers(digest, SBOM_TYPE)).map((d) => d.digest)).toEqual([
      fixture.digestOf('referrer'),
    ]);
    expect(await store.referrers(digest, 'application/vnd.in-toto+json')).toEqual([]);
    expect((await client.referrers('app', digest))?.map((d) => d.digest)).toEqual([
      fixture.digestOf('referrer'),
    ]);
    const tags = await client.listTags('app');
    expect(tags).not.toContain(`sha256-${digest.slice(7)}`);
    expect(tags).toContain(sigTag(digest));
    // and it copies out of there with the attachments
    const dir = join(work, 'from-refreg');
    const down = await rampart(
      'copy',
      '-q',
      '--with-attachments',
      `docker://${refreg.host}/app:v1`,
      `oci:${dir}:app`,
      '--insecure',
    );
    expect(down.code).toBe(0);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    expect(index.manifests.map((m: { digest: string }) => m.digest).sort()).toEqual(
      [fixture.target.digest, ...ATTACHED.map((name) => fixture.digestOf(name))].sort(),
    );
  });
});

describe('ls and rm', () => {
  it('ls follows pagination: more tags than one page (?n=)', async () => {
    const wanted = Array.from({ length: 8 }, (_, i) => `t${i}`);
    const first = await rampart(
      'copy',
      '-q',
      `oci:${fixture.layout}:app`,
      `docker://${one.host}/paged/app:t0`,
      '--insecure',
    );
    expect(first.code).toBe(0);
    const image = await clientOne.getManifest('paged/app', 't0');
    for (const tag of wanted.slice(1))
      await clientOne.putManifest('paged/app', tag, image.raw, image.mediaType);
    const paged = createRegistryClient(one.host, { insecure: true }, { tagsPageSize: 3 });
    const listed = await listRepositoryTags(`docker://${one.host}/paged/app`, { client: paged });
    expect(listed.tags.sort()).toEqual(wanted);
    const cli = await rampart('ls', '-o', 'json', `${one.host}/paged/app`, '--insecure');
    expect(cli.code).toBe(0);
    const json = JSON.parse(cli.stdout);
    expect({ ...json, tags: json.tags.sort() }).toEqual({
      registry: one.host,
      repository: 'paged/app',
      tags: wanted,
    });
  });

  it('rm deletes by digest where the registry allows it; a deleted referrer leaves the tag schema', async () => {
    const digest = fixture.digestOf('referrer');
    const result = await rampart('rm', '-o', 'json', `docker://${one.host}/dst/app@${digest}`, '--insecure');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ registry: one.host, repository: 'dst/app', digest });
    await expect(clientOne.getManifest('dst/app', digest)).rejects.toMatchObject({
      code: 'MANIFEST_NOT_FOUND',
    });
    const schema = await readTagSchemaIndex(clientOne, 'dst/app', fixture.target.digest as Digest);
    expect(schema?.manifests).toEqual([]);
    // and the image still copies with what is left attached (no dangling referrer)
    const again = await rampart(
      'copy',
      '-q',
      '--with-attachments',
      '-o',
      'json',
      `docker://${one.host}/dst/app:v1`,
      `oci:${join(work, 'after-rm')}:app`,
      '--insecure',
    );
    expect(again.stderr).toBe('');
    expect(JSON.parse(again.stdout).attachments.map((a: { digest: string }) => a.digest)).toEqual([
      fixture.digestOf('sig'),
    ]);
  });

  it('rm is refused with UNSUPPORTED_OPERATION where deletes are disabled, and nothing is deleted', async () => {
    const locked = await startRegistry({ deleteEnabled: false });
    try {
      const client = createRegistryClient(locked.host, { insecure: true });
      const pushed = await rampart(
        'copy',
        '-q',
        `oci:${fixture.layout}:other`,
        `docker://${locked.host}/app:v1`,
        '--insecure',
      );
      expect(pushed.code).toBe(0);
      const digest = fixture.digestOf('unrelated');
      await expect(
        deleteManifestByDigest(`${locked.host}/app@${digest}`, { insecure: true }),
      ).rejects.toMatchObject({ code: 'UNSUPPORTED_OPERATION' });
      const cli = await rampart('rm', `${locked.host}/app@${digest}`, '--insecure');
      // UNSUPPORTED_OPERATION is an invocation code: exit 2
      expect(cli.code).toBe(2);
      expect(cli.stderr.trim().split('\n')).toHaveLength(1);
      expect((await client.getManifest('app', digest)).digest).toBe(digest);
    } finally {
      await locked.stop();
    }
  });
});

describe('the referrers tag schema under concurrent and hostile writers', () => {
  /** A referrer artifact of the fixture image, pushed by digest (blobs first); its bytes. */
  async function pushReferrer(repository: string, name: string): Promise<Buffer> {
    const layer = Buffer.from(name);
    const config = Buffer.from('{}');
    const layerDescriptor = { mediaType: 'text/plain', digest: sha256Digest(layer), size: layer.length };
    const configDescriptor = {
      mediaType: 'application/vnd.oci.empty.v1+json',
      digest: sha256Digest(config),
      size: config.length,
    };
    await clientOne.pushBlob(repository, layerDescriptor, async () => Readable.from([layer]));
    await clientOne.pushBlob(repository, configDescriptor, async () => Readable.from([config]));
    const { target } = fixture;
    const raw = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MANIFEST,
        artifactType: `application/vnd.test.${name}`,
        config: configDescriptor,
        layers: [layerDescriptor],
        subject: { mediaType: target.mediaType, digest: target.digest, size: target.rawManifest.length },
      }),
    );
    await clientOne.putManifest(repository, sha256Digest(raw), raw, MANIFEST);
    return raw;
  }

  it('six writers adding referrers of one subject at once: every entry is in the index', async () => {
    const copied = await rampart(
      'copy',
      '-q',
      `oci:${fixture.layout}:app`,
      `docker://${one.host}/race/app:v1`,
      '--insecure',
    );
    expect(copied.code).toBe(0);
    const raws: Buffer[] = [];
    for (let i = 0; i < 6; i++) raws.push(await pushReferrer('race/app', `r${i}`));
    const outcomes = await Promise.all(
      raws.map((raw) => recordReferrer(clientOne, 'race/app', { raw, mediaType: MANIFEST })),
    );
    expect(outcomes).toEqual(Array(6).fill('tag-schema'));
    const index = await readTagSchemaIndex(clientOne, 'race/app', fixture.target.digest as Digest);
    expect(index?.manifests.map((d) => d.digest).sort()).toEqual(raws.map((raw) => sha256Digest(raw)).sort());
  });

  it('a tag-schema tag holding something else than an index is refused, not overwritten', async () => {
    const copied = await rampart(
      'copy',
      '-q',
      `oci:${fixture.layout}:app`,
      `docker://${one.host}/squat/app:v1`,
      '--insecure',
    );
    expect(copied.code).toBe(0);
    const image = await clientOne.getManifest('squat/app', 'v1');
    const schemaTag = `sha256-${fixture.target.digest.slice(7)}`;
    await clientOne.putManifest('squat/app', schemaTag, image.raw, image.mediaType);
    const raw = await pushReferrer('squat/app', 'squatted');
    await expect(recordReferrer(clientOne, 'squat/app', { raw, mediaType: MANIFEST })).rejects.toMatchObject({
      code: 'UNKNOWN_MEDIA_TYPE',
      details: { mediaType: image.mediaType },
    });
    expect((await clientOne.getManifest('squat/app', schemaTag)).digest).toBe(image.digest);
  });

  it('a destination pinned by digest takes the image with its untagged referrers', async () => {
    const result = await rampart(
      'copy',
      '-q',
      '--with-attachments',
      `oci:${fixture.layout}:app`,
      `docker://${one.host}/pinned/app@${fixture.target.digest}`,
      '--insecure',
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(
      (await clientOne.getManifest('pinned/app', fixture.digestOf('referrer'))).raw.equals(
        fixture.raws.referrer,
      ),
    ).toBe(true);
  });
});
