import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtemp, rm } from 'node:fs/promises';
import type { ClientRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../../src/oci/digest.js';
import { openAttachmentStore, openImage, writeImage } from '../../../src/oci/open.js';
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
