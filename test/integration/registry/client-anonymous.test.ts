import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RampartError } from '../../../src/errors.js';
import { HttpClient } from '../../../src/http/client.js';
import { type Digest, readAll, sha256Digest } from '../../../src/oci/digest.js';
import { MediaType } from '../../../src/oci/media-types.js';
import type { Descriptor } from '../../../src/oci/types.js';
import { createRegistryClient } from '../../../src/registry/client.js';
import type { RegistryClient, RegistryEvent } from '../../../src/registry/types.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';

let registry: TestRegistry;
let client: RegistryClient;
const events: RegistryEvent[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  client = createRegistryClient(registry.host, { insecure: true, onEvent: (event) => events.push(event) });
});
afterAll(async () => {
  await registry?.stop();
});

function blob(bytes: Buffer, mediaType: string = MediaType.OciLayerGzip): Descriptor {
  return { mediaType, digest: sha256Digest(bytes), size: bytes.length };
}

function caught(promise: Promise<unknown>): Promise<RampartError> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => {
      expect(error).toBeInstanceOf(RampartError);
      return error as RampartError;
    },
  );
}

/** An image manifest for a config and one layer, pushed as blobs first. */
async function pushImage(repository: string, tag: string) {
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
  );
  const layer = randomBytes(100_000);
  const configDescriptor = blob(config, MediaType.OciConfig);
  const layerDescriptor = blob(layer);
  expect(await client.pushBlob(repository, configDescriptor, async () => Readable.from([config]))).toBe(
    'pushed',
  );
  expect(await client.pushBlob(repository, layerDescriptor, async () => Readable.from([layer]))).toBe(
    'pushed',
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: configDescriptor,
      layers: [layerDescriptor],
    }),
  );
  const digest = await client.putManifest(repository, tag, manifest, MediaType.OciManifest);
  return { manifest, digest, layer, layerDescriptor, configDescriptor };
}

describe('the registry client, anonymous over plain http on loopback', () => {
  it('pings, pushes blobs and a manifest by tag, and reads them back byte for byte', async () => {
    await client.ping();
    const { manifest, digest, layer, layerDescriptor } = await pushImage('rampart/anon', 'v1');
    expect(digest).toBe(sha256Digest(manifest));

    const fetched = await client.getManifest('rampart/anon', 'v1');
    expect(fetched.raw.equals(manifest)).toBe(true);
    expect(fetched.digest).toBe(digest);
    expect(fetched.mediaType).toBe(MediaType.OciManifest);
    expect((await client.getManifest('rampart/anon', digest)).raw.equals(manifest)).toBe(true);

    expect(await client.headManifest('rampart/anon', 'v1')).toEqual({
      mediaType: MediaType.OciManifest,
      digest,
      size: manifest.length,
    });
    expect(await client.hasBlob('rampart/anon', layerDescriptor)).toBe(true);
    const pulled = await readAll(await client.openBlob('rampart/anon', layerDescriptor));
    expect(pulled.equals(layer)).toBe(true);
    expect(events.some((event) => event.kind === 'blob-progress' && event.direction === 'pull')).toBe(true);
  });

  it('fails the read, not the process, when a progress listener throws', async () => {
    const { layerDescriptor } = await pushImage('rampart/listener', 'v1');
    const thrown = new Error('listener broke');
    const throwing = createRegistryClient(registry.host, {
      insecure: true,
      onEvent: (event) => {
        if (event.kind === 'blob-progress') throw thrown;
      },
    });
    try {
      const read = readAll(await throwing.openBlob('rampart/listener', layerDescriptor));
      await expect(read).rejects.toBe(thrown);
    } finally {
      await throwing.close();
    }
  });

  it('skips a blob that is present, and answers absence with undefined/false/typed errors', async () => {
    const { layer, layerDescriptor } = await pushImage('rampart/absent', 'v1');
    expect(await client.pushBlob('rampart/absent', layerDescriptor, async () => Readable.from([layer]))).toBe(
      'exists',
    );
    const missing = blob(Buffer.from('not pushed'));
    expect(await client.hasBlob('rampart/absent', missing)).toBe(false);
    expect(await client.headManifest('rampart/absent', 'nope')).toBeUndefined();
    const manifestError = await caught(client.getManifest('rampart/absent', 'nope'));
    expect(manifestError.code).toBe('MANIFEST_NOT_FOUND');
    const blobError = await caught(client.openBlob('rampart/absent', missing));
    expect(blobError.code).toBe('BLOB_NOT_FOUND');
    expect(blobError.details).toMatchObject({ digest: missing.digest });
  });

  it('refuses a source whose bytes do not match the descriptor, and the registry keeps nothing', async () => {
    const good = randomBytes(2000);
    const descriptor = blob(good);
    const bad = Buffer.from(good);
    bad[10] = (bad[10] ?? 0) ^ 0xff;
    const error = await caught(client.pushBlob('rampart/bad', descriptor, async () => Readable.from([bad])));
    expect(error.code).toBe('DIGEST_MISMATCH');
    expect(await client.hasBlob('rampart/bad', descriptor)).toBe(false);
    const short = await caught(
      client.pushBlob('rampart/bad', descriptor, async () => Readable.from([good.subarray(0, 1000)])),
    );
    expect(short.code).toBe('SIZE_MISMATCH');
  });

  it('refuses a manifest PUT by a digest that is not the bytes’ digest', async () => {
    const raw = Buffer.from('{"schemaVersion":2}');
    const error = await caught(
      client.putManifest('rampart/anon', sha256Digest('other') as Digest, raw, MediaType.OciManifest),
    );
    expect(error.code).toBe('DIGEST_MISMATCH');
  });

  it('lists tags across Link pages and deletes a manifest by digest', async () => {
    const { manifest } = await pushImage('rampart/tags', 'a');
    for (const tag of ['b', 'c', 'd'])
      await client.putManifest('rampart/tags', tag, manifest, MediaType.OciManifest);
    expect((await client.listTags('rampart/tags')).sort()).toEqual(['a', 'b', 'c', 'd']);
    // Two tags per page: the rest only arrives by following Link.
    const paged = createRegistryClient(registry.host, { insecure: true }, { tagsPageSize: 2 });
    expect((await paged.listTags('rampart/tags')).sort()).toEqual(['a', 'b', 'c', 'd']);
    const digest = sha256Digest(manifest);
    await client.deleteManifest('rampart/tags', digest);
    expect(await client.headManifest('rampart/tags', digest)).toBeUndefined();
    const error = await caught(client.listTags('rampart/never-pushed'));
    expect(error.code).toBe('MANIFEST_NOT_FOUND');
  });

  it('rejects names that would leave the repository path', async () => {
    expect((await caught(client.getManifest('../../v2', 'latest'))).code).toBe('INVALID_REFERENCE');
    expect((await caught(client.getManifest('rampart/anon', 'latest?x=1'))).code).toBe('INVALID_REFERENCE');
  });

  it('without insecure, a loopback registry is reached over https only (no silent downgrade)', async () => {
    const strict = createRegistryClient(registry.host, { http: new HttpClient({ retries: 0 }) });
    const error = await caught(strict.ping());
    expect(error.code).toBe('NETWORK');
    expect(String(error.details && (error.details as { url?: string }).url)).toMatch(/^https:/);
  });
});
