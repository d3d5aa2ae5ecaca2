import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtemp, rm } from 'node:fs/promises';
import type { ClientRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../../src/oci/digest.js';
import { sha256Digest } from '../../../src/oci/digest.js';
import { openAttachmentStore, openImage, writeImage } from '../../../src/oci/open.js';
import { createRegistryClient } from '../../../src/registry/client.js';
import { decryptPrivateKey, generateKeyPair, keySigner, parsePublicKey } from '../../../src/sign/keys.js';
import { signImage } from '../../../src/sign/sign.js';
import { verifyImage } from '../../../src/sign/verify.js';
import { writeRandomImage } from '../../helpers/random-image.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';

// verify fetches an image's signatures at once, not one round trip after another, and reports
// them in the order of a one-by-one walk.
const SIGNATURES = 4;
let work: string;
let registry: TestRegistry;
let digest: Digest;
let ref: string;
let publicKey: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-verify-concurrent-'));
  registry = await startRegistry();
  const image = await writeRandomImage(join(work, 'layout'), 'app', [100]);
  digest = image.digest as Digest;
  ref = `docker://${registry.host}/many@${digest}`;
  await writeImage(`docker://${registry.host}/many:v1`, await openImage(`oci:${join(work, 'layout')}:app`), {
    registry: { insecure: true },
  });
  const pair = await generateKeyPair('pw', { scryptCost: 32768 });
  publicKey = pair.publicKey;
  const signer = keySigner(await decryptPrivateKey(pair.privateKey, 'pw'));
  // ECDSA signatures are randomised: each signing adds another bundle referrer (and .sig layer).
  for (let i = 0; i < SIGNATURES; i++) {
    await signImage(ref, signer, { formats: ['bundle', 'legacy'], registry: { insecure: true } });
  }
});
afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('verify of an image with several signatures', () => {
  it('fetches the signature manifests and blobs concurrently, and keeps the reports in order', async () => {
    const store = await openAttachmentStore(ref, { registry: { insecure: true } });
    const referrers = (await store.referrers(digest)).map((descriptor) => descriptor.digest);
    expect(referrers).toHaveLength(SIGNATURES);
    let inFlight = 0;
    let most = 0;
    const open = new Set<ClientRequest>();
    const start = (message: unknown) => {
      const { request } = message as { request: ClientRequest };
      // The bundle referrers' manifests.
      if (!referrers.some((referrer) => request.path.endsWith(`/manifests/${referrer}`))) return;
      open.add(request);
      most = Math.max(most, ++inFlight);
    };
    const finish = (message: unknown) => {
      const { request } = message as { request: ClientRequest };
      if (open.delete(request)) inFlight--;
    };
    subscribe('http.client.request.start', start);
    subscribe('http.client.response.finish', finish);
    let result: Awaited<ReturnType<typeof verifyImage>>;
    try {
      result = await verifyImage(ref, parsePublicKey(publicKey), { registry: { insecure: true } });
    } finally {
      unsubscribe('http.client.request.start', start);
      unsubscribe('http.client.response.finish', finish);
    }
    expect(result.verified).toBe(true);
    expect(result.signatures.map((signature) => [signature.format, signature.valid])).toEqual([
      ...Array.from({ length: SIGNATURES }, () => ['legacy', true]),
      ...Array.from({ length: SIGNATURES }, () => ['bundle', true]),
    ]);
    // One by one, a single referrer's manifest was in flight at a time.
    expect(most).toBeGreaterThan(1);
    // The bundle reports follow the referrers' listing.
    expect(result.signatures.filter((s) => s.format === 'bundle').map((s) => s.manifest)).toEqual(referrers);
  });

  it("reads the image's manifest and each signature's manifest and blob once: no config, no HEAD", async () => {
    const sent: string[] = [];
    const start = (message: unknown) => {
      const { request } = message as { request: ClientRequest };
      sent.push(`${request.method} ${request.path.replace(/^\/v2\/many\//, '')}`);
    };
    subscribe('http.client.request.start', start);
    let result: Awaited<ReturnType<typeof verifyImage>>;
    try {
      result = await verifyImage(ref, parsePublicKey(publicKey), { registry: { insecure: true } });
    } finally {
      unsubscribe('http.client.request.start', start);
    }
    expect(result.verified).toBe(true);
    const config = (await openImage(ref, { registry: { insecure: true } })).kind === 'image';
    expect(config).toBe(true);
    const hex = digest.slice('sha256:'.length);
    // The referrers API (404 here) and its tag schema, the image's manifest, the .sig manifest by
    // its tag; then each referrer's manifest, and the blobs: the .sig manifest's payloads and one
    // bundle per referrer.
    expect(sent.filter((request) => !request.startsWith('GET blobs/')).sort()).toEqual(
      [
        `GET referrers/${digest}`,
        `GET manifests/${digest}`,
        `GET manifests/sha256-${hex}`,
        `GET manifests/sha256-${hex}.sig`,
        ...(await (await openAttachmentStore(ref, { registry: { insecure: true } })).referrers(digest)).map(
          (referrer) => `GET manifests/${referrer.digest}`,
        ),
      ].sort(),
    );
    expect(sent.filter((request) => request.startsWith('GET blobs/'))).toHaveLength(2 * SIGNATURES);
  });

  it('a .sig tag that names an index, not a signature manifest, is reported by its digest', async () => {
    const image = await writeRandomImage(join(work, 'index-sig'), 'app', [10]);
    const pinned = `docker://${registry.host}/indexsig@${image.digest}`;
    await writeImage(
      `docker://${registry.host}/indexsig:v1`,
      await openImage(`oci:${join(work, 'index-sig')}:app`),
      {
        registry: { insecure: true },
      },
    );
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [],
      }),
    );
    const client = createRegistryClient(registry.host, { insecure: true });
    await client.putManifest(
      'indexsig',
      `sha256-${image.digest.slice('sha256:'.length)}.sig`,
      index,
      'application/vnd.oci.image.index.v1+json',
    );
    await client.close();
    const result = await verifyImage(pinned, parsePublicKey(publicKey), { registry: { insecure: true } });
    expect(result.verified).toBe(false);
    expect(result.signatures).toMatchObject([
      { format: 'legacy', valid: false, failed: 'manifest', manifest: sha256Digest(index) },
    ]);
  });

  it('asks the referrers tag schema beside the referrers API, not after its 404', async () => {
    const events: string[] = [];
    const tagPath = `/manifests/sha256-${digest.slice('sha256:'.length)}`;
    const kind = (request: ClientRequest) =>
      request.path.includes('/referrers/') ? 'api' : request.path.endsWith(tagPath) ? 'tag' : undefined;
    const start = (message: unknown) => {
      const which = kind((message as { request: ClientRequest }).request);
      if (which) events.push(`${which} sent`);
    };
    const finish = (message: unknown) => {
      const which = kind((message as { request: ClientRequest }).request);
      if (which) events.push(`${which} answered`);
    };
    subscribe('http.client.request.start', start);
    subscribe('http.client.response.finish', finish);
    try {
      const result = await verifyImage(ref, parsePublicKey(publicKey), { registry: { insecure: true } });
      expect(result.verified).toBe(true);
    } finally {
      unsubscribe('http.client.request.start', start);
      unsubscribe('http.client.response.finish', finish);
    }
    // docker-registry has no referrers API (404): the tag schema was already asked by then.
    expect(events.indexOf('tag sent')).toBeGreaterThanOrEqual(0);
    expect(events.indexOf('tag sent')).toBeLessThan(events.indexOf('api answered'));
  });
});
