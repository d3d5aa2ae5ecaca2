import { mkdtemp, rm } from 'node:fs/promises';
import type { ClientRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpAgents, HttpClient } from '../../../src/http/client.js';
import { openImage, writeImage } from '../../../src/oci/open.js';
import { registryAgents } from '../../../src/registry/transport.js';
import type { RegistryOptions } from '../../../src/registry/types.js';
import type { Signer } from '../../../src/sign/keys.js';
import { decryptPrivateKey, generateKeyPair, keySigner, parsePublicKey } from '../../../src/sign/keys.js';
import { signImage } from '../../../src/sign/sign.js';
import { verifyImage } from '../../../src/sign/verify.js';
import { writeRandomImage } from '../../helpers/random-image.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';

// The requests `sign` and `verify` send to a registry (docker-registry 2.8, loopback, --insecure):
// one client per command, so the scheme is probed once, and no blob is HEADed twice.
let work: string;
let registry: TestRegistry;
let digest: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-sign-round-trips-'));
  registry = await startRegistry();
  const image = await writeRandomImage(join(work, 'layout'), 'app', [200]);
  digest = image.digest;
  for (const repo of ['bundle', 'both', 'opening', 'wrong']) {
    await writeImage(
      `docker://${registry.host}/${repo}:v1`,
      await openImage(`oci:${join(work, 'layout')}:app`),
      {
        registry: { insecure: true },
      },
    );
  }
});
afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

/**
 * Registry options whose HTTP client records every request (method and URL) it sends, on the
 * default transport (`node:http`/`node:https` agents, as `registryHttpClient` makes them).
 */
function recording(): { options: RegistryOptions; requests: Array<{ method: string; url: string }> } {
  const requests: Array<{ method: string; url: string }> = [];
  const made = registryAgents({ insecure: true, loopbackOnly: true });
  const agents = async (): Promise<HttpAgents> => {
    const pools = await made();
    for (const agent of [pools.http, pools.https]) {
      // Every request of an agent passes here before a socket is chosen.
      const pool = agent as unknown as { addRequest(request: ClientRequest, options: unknown): void };
      const addRequest = pool.addRequest.bind(pool);
      pool.addRequest = (request, options) => {
        requests.push({ method: request.method, url: `${request.protocol}//${request.host}${request.path}` });
        addRequest(request, options);
      };
    }
    return pools;
  };
  return { options: { insecure: true, http: new HttpClient({ agents }) }, requests };
}

const probes = (requests: Array<{ url: string }>) => requests.filter((r) => r.url.startsWith('https://'));

/** Blob digests HEADed more than once. */
function headedTwice(requests: Array<{ method: string; url: string }>): string[] {
  const seen = new Map<string, number>();
  for (const { method, url } of requests) {
    const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url)?.[1];
    if (method === 'HEAD' && blob) seen.set(blob, (seen.get(blob) ?? 0) + 1);
  }
  return [...seen].filter(([, count]) => count > 1).map(([blob]) => blob);
}

/** `REPOSITORY@DIGEST` of every blob upload finished (the PUT that closes a POSTed session). */
function uploaded(requests: Array<{ method: string; url: string }>): string[] {
  return requests.flatMap(({ method, url }) => {
    const parsed = new URL(url);
    const repository = /^\/v2\/(.+)\/blobs\/uploads\//.exec(parsed.pathname)?.[1];
    const blob = parsed.searchParams.get('digest');
    return method === 'PUT' && repository && blob ? [`${repository}@${blob}`] : [];
  });
}

describe('registry round trips of sign and verify', () => {
  it('probes the scheme once per command and HEADs each blob once', async () => {
    const pair = await generateKeyPair('pw', { scryptCost: 32768 });
    const signer = keySigner(await decryptPrivateKey(pair.privateKey, 'pw'));
    const pub = parsePublicKey(pair.publicKey);
    for (const [repo, formats] of [
      ['bundle', ['bundle']],
      ['both', ['bundle', 'legacy']],
    ] as const) {
      const ref = `docker://${registry.host}/${repo}@${digest}`;
      const sign = recording();
      const signed = await signImage(ref, signer, { formats, registry: sign.options });
      expect(signed.signatures.map((s) => s.format).sort()).toEqual([...formats].sort());
      // openImage, the attachment store and the sink beside the image share one client.
      expect(probes(sign.requests)).toHaveLength(1);
      expect(headedTwice(sign.requests)).toEqual([]);

      const verify = recording();
      const verified = await verifyImage(ref, pub, { registry: verify.options });
      expect(verified.verified).toBe(true);
      expect(verified.signatures.map((s) => [s.format, s.valid])).toEqual(
        formats.length === 2
          ? [
              ['legacy', true],
              ['bundle', true],
            ]
          : [['bundle', true]],
      );
      expect(probes(verify.requests)).toHaveLength(1);
    }
  });

  it('uploads no blob the repository already holds: a second signature sends no POST for the empty config', async () => {
    const signer = keySigner(
      await decryptPrivateKey((await generateKeyPair('pw', { scryptCost: 32768 })).privateKey, 'pw'),
    );
    const ref = `docker://${registry.host}/again@${digest}`;
    await writeImage(ref, await openImage(`oci:${join(work, 'layout')}:app`), {
      registry: { insecure: true },
    });
    const sent: Array<{ method: string; url: string }> = [];
    for (const formats of [['bundle', 'legacy'], ['bundle']] as const) {
      const sign = recording();
      await signImage(ref, signer, { formats, registry: sign.options });
      expect(headedTwice(sign.requests)).toEqual([]);
      sent.push(...sign.requests);
    }
    // The `{}` config of the second bundle (and anything else stored by the first sign) is
    // found by its HEAD, not posted again.
    const uploads = uploaded(sent);
    expect(uploads.length).toBeGreaterThan(0);
    expect(uploads.filter((blob, index) => uploads.indexOf(blob) !== index)).toEqual([]);
    const posts = sent.filter(
      (r) => r.method === 'POST' && /\/blobs\/uploads\/$/.test(new URL(r.url).pathname),
    );
    expect(posts).toHaveLength(uploads.length);
  });

  it('while the key opens, asks only reads (referrers API, empty config) and writes nothing; no HEAD of the new bundle', async () => {
    const signer = keySigner(
      await decryptPrivateKey((await generateKeyPair('pw', { scryptCost: 32768 })).privateKey, 'pw'),
    );
    const { signer: opening, open, asked } = keyBeingOpened(signer);
    const sign = recording();
    const ref = `docker://${registry.host}/opening@${digest}`;
    const signing = signImage(ref, opening, { formats: ['bundle'], registry: sign.options });
    await asked;
    // The image is read and the bundle's reads are sent before the key is open.
    await waitFor(() => sign.requests.some((r) => r.method === 'HEAD' && r.url.endsWith(EMPTY_CONFIG)));
    await waitFor(() => sign.requests.some((r) => r.url.includes(`/referrers/${digest}`)));
    expect(sign.requests.filter((r) => r.method !== 'GET' && r.method !== 'HEAD')).toEqual([]);
    open();
    const signed = await signing;
    expect(signed.signatures).toHaveLength(1);
    // The bundle holds a signature made just now: sent without asking whether it is there.
    const bundleBlob = uploaded(sign.requests).filter((blob) => !blob.endsWith(EMPTY_CONFIG));
    expect(bundleBlob).toHaveLength(1);
    const heads = sign.requests.filter((r) => r.method === 'HEAD').map((r) => new URL(r.url).pathname);
    expect(heads.some((path) => path.endsWith((bundleBlob[0] as string).split('@')[1] as string))).toBe(
      false,
    );
    expect(sign.requests.filter((r) => r.url.includes('/referrers/'))).toHaveLength(1);
    const verified = await verifyImage(ref, parsePublicKey(await signer.publicKey()), {
      registry: { insecure: true },
    });
    expect(verified.verified).toBe(true);
  });

  it('a key that fails to open: its error, and nothing written to the registry', async () => {
    const failure = new Error('wrong password');
    const key = keySigner(
      await decryptPrivateKey((await generateKeyPair('pw', { scryptCost: 32768 })).privateKey, 'pw'),
    );
    const { signer, fail, asked } = keyBeingOpened(key);
    const sign = recording();
    const ref = `docker://${registry.host}/wrong@${digest}`;
    const signing = signImage(ref, signer, { formats: ['bundle', 'legacy'], registry: sign.options });
    await asked;
    await waitFor(() => sign.requests.some((r) => r.url.includes(`/referrers/${digest}`)));
    fail(failure);
    await expect(signing).rejects.toBe(failure);
    expect(sign.requests.filter((r) => r.method !== 'GET' && r.method !== 'HEAD')).toEqual([]);
    const verified = await verifyImage(ref, parsePublicKey(await key.publicKey()), {
      registry: { insecure: true },
    });
    expect(verified.verified).toBe(false);
    expect(verified.signatures).toEqual([]);
  });
});

const EMPTY_CONFIG = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

/** A Signer over `key` that waits (as withKeyBeingOpened's does for scrypt) until `open` or `fail`. */
function keyBeingOpened(key: Signer) {
  let open!: () => void;
  let fail!: (error: Error) => void;
  const opened = new Promise<Signer>((resolve, reject) => {
    open = () => resolve(key);
    fail = reject;
  });
  opened.catch(() => undefined);
  let wasAsked!: () => void;
  const asked = new Promise<void>((resolve) => {
    wasAsked = resolve;
  });
  const signer: Signer = {
    sign: async (data) => (await opened).sign(data),
    publicKey: async () => {
      wasAsked();
      return (await opened).publicKey();
    },
  };
  return { signer, open, fail, asked };
}

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(condition()).toBe(true);
}
