/**
 * Registry faults (issue 12 "Faults"): rampart's pull and push through a fault proxy in front of a
 * real docker-registry on 127.0.0.1. The proxy's request log shows what the client did (a Range
 * request to resume, a second upload to retry); the HTTP client's injected `sleep` records the
 * waits instead of sleeping them.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RampartError } from '../../../src/errors.js';
import { HttpClient } from '../../../src/http/client.js';
import { openImage, writeImage } from '../../../src/oci/open.js';
import type { RegistryOptions } from '../../../src/registry/types.js';
import { type FaultProxy, startFaultProxy } from '../../helpers/fault-proxy.js';
import { freePort } from '../../helpers/processes.js';
import { type RandomImage, writeRandomImage } from '../../helpers/random-image.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { rampart } from '../../helpers/run-cli.js';

let registry: TestRegistry;
let proxy: FaultProxy;
let work: string;
let image: RandomImage;
let layout: string;
/** Waits the HTTP client asked for (recorded, not slept). */
let waits: number[] = [];

/** Registry options whose HTTP client records its backoff waits and never sleeps. */
function options(): RegistryOptions {
  return {
    insecure: true,
    http: new HttpClient({
      sleep: async (ms) => {
        waits.push(ms);
      },
    }),
  };
}

async function pull(source: string, into: string) {
  const opts = { registry: options() };
  return writeImage(`oci:${into}:pulled`, await openImage(source, opts), opts);
}

async function caught(promise: Promise<unknown>): Promise<RampartError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RampartError);
  return error as RampartError;
}

/** Every error in a cause chain (the copy wraps the client's error). */
function chain(error: unknown): RampartError[] {
  const out: RampartError[] = [];
  for (let e = error; e instanceof Error; e = e.cause) if (e instanceof RampartError) out.push(e);
  return out;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-faults-'));
  layout = join(work, 'source');
  // Three layers: 3 MB (big enough to break in the middle), 1 MB, 100 kB.
  image = await writeRandomImage(layout, 'v1', [3_000_000, 1_000_000, 100_000]);
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.url);
  const seeded = await writeImage(
    `docker://${registry.host}/faults/image:v1`,
    await openImage(`oci:${layout}:v1`),
    {
      registry: { insecure: true },
    },
  );
  expect(seeded.digest).toBe(image.digest);
});
afterAll(async () => {
  await proxy?.close();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});
beforeEach(() => {
  proxy.script = {};
  proxy.reset();
  waits = [];
});

const bigLayer = () => image.layers[0]!;
const blobGets = (digest: string) =>
  proxy.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${digest}`));

describe('pull through faults', () => {
  it('resumes a blob whose connection is reset after N bytes with a Range request', async () => {
    proxy.script = { resetBlob: { digest: bigLayer().digest, afterBytes: 1_000_000 } };
    const into = join(work, 'pull-reset');
    const result = await pull(`docker://${proxy.host}/faults/image:v1`, into);
    expect(result.digest).toBe(image.digest);
    const gets = blobGets(bigLayer().digest);
    expect(gets[0]?.fault).toBe('reset-blob');
    // The resume asks for the rest from where the stream broke (at most the bytes the proxy sent).
    const resumed = gets.slice(1).find((r) => r.range !== undefined);
    expect(resumed, JSON.stringify(gets)).toBeDefined();
    const from = Number(/^bytes=(\d+)-$/.exec(resumed?.range ?? '')?.[1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(1_000_000);
    expect(resumed?.status).toBe(206);
    // What landed is the real blob: the layout's copy is read back and verified.
    const copied = await openImage(`oci:${into}:pulled`);
    expect(copied.digest).toBe(image.digest);
  });

  it('retries 503s and succeeds', async () => {
    proxy.script = { unavailable: { count: 2 } };
    const result = await pull(`docker://${proxy.host}/faults/image:v1`, join(work, 'pull-503'));
    expect(result.digest).toBe(image.digest);
    expect(proxy.requests.filter((r) => r.fault === 'unavailable')).toHaveLength(2);
    expect(waits.length).toBeGreaterThanOrEqual(2);
  });

  it('waits for Retry-After on a 429, then succeeds', async () => {
    proxy.script = { tooManyRequests: { count: 1, retryAfter: '3' } };
    const result = await pull(`docker://${proxy.host}/faults/image:v1`, join(work, 'pull-429'));
    expect(result.digest).toBe(image.digest);
    expect(proxy.requests.filter((r) => r.fault === 'too-many-requests')).toHaveLength(1);
    expect(waits).toContain(3000);
  });

  it('rejects a corrupted blob with DIGEST_MISMATCH naming the digest, and writes nothing', async () => {
    const layer = image.layers[1]!;
    proxy.script = { corruptBlobs: [layer.digest] };
    const into = join(work, 'pull-corrupt');
    const error = await caught(pull(`docker://${proxy.host}/faults/image:v1`, into));
    const mismatch = chain(error).find((e) => e.code === 'DIGEST_MISMATCH');
    expect(mismatch, `${error.code}: ${error.message}`).toBeDefined();
    expect(((mismatch?.details ?? {}) as { expected?: string }).expected).toBe(layer.digest);
    // Nothing at the destination: the layout was to be created by this pull, so it must not exist.
    expect(existsSync(into)).toBe(false);
  });

  it('rejects a manifest whose bytes do not match the pinned @sha256:', async () => {
    proxy.script = { tamperManifests: [image.digest] };
    const error = await caught(
      openImage(`docker://${proxy.host}/faults/image@${image.digest}`, { registry: options() }),
    );
    const mismatch = chain(error).find((e) => e.code === 'DIGEST_MISMATCH');
    expect(mismatch, `${error.code}: ${error.message}`).toBeDefined();
    expect(((mismatch?.details ?? {}) as { expected?: string }).expected).toBe(image.digest);
    expect(proxy.requests.some((r) => r.fault === 'tamper-manifest')).toBe(true);
  });
});

describe('push through faults', () => {
  it('retries an upload whose connection is reset, and the registry holds the right blob', async () => {
    proxy.script = { resetUpload: { afterBytes: 500_000 } };
    const result = await writeImage(
      `docker://${proxy.host}/faults/pushed:v1`,
      await openImage(`oci:${layout}:v1`),
      {
        registry: options(),
      },
    );
    expect(result.digest).toBe(image.digest);
    expect(proxy.requests.filter((r) => r.fault === 'reset-upload')).toHaveLength(1);
    // Read back from the registry itself (not through the proxy): every blob verifies.
    const into = join(work, 'push-reset-back');
    const back = await writeImage(
      `oci:${into}:back`,
      await openImage(`docker://${registry.host}/faults/pushed:v1`, { registry: { insecure: true } }),
      { registry: { insecure: true } },
    );
    expect(back.digest).toBe(image.digest);
  });

  it('retries 503s on a push', async () => {
    proxy.script = {
      unavailable: { count: 3, match: ({ method }) => method !== 'GET' && method !== 'HEAD' },
    };
    const result = await writeImage(
      `docker://${proxy.host}/faults/pushed-503:v1`,
      await openImage(`oci:${layout}:v1`),
      {
        registry: options(),
      },
    );
    expect(result.digest).toBe(image.digest);
    expect(proxy.requests.filter((r) => r.fault === 'unavailable')).toHaveLength(3);
  });
});

describe('an unreachable registry', () => {
  it('fails with one line on stderr and exit 1', async () => {
    const closed = await freePort();
    const result = await rampart('inspect', `docker://127.0.0.1:${closed}/nothing/here:v1`, '--insecure');
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]?.startsWith('error: ')).toBe(true);
    expect(result.stdout).toBe('');
  });

  it('is a NETWORK error naming the URL and the attempts made', async () => {
    const closed = await freePort();
    const error = await caught(
      openImage(`docker://127.0.0.1:${closed}/nothing/here:v1`, { registry: options() }),
    );
    const network = chain(error).find((e) => e.code === 'NETWORK' || e.code === 'TIMEOUT');
    expect(network, `${error.code}: ${error.message}`).toBeDefined();
    const details = network?.details as { url?: string; attempts?: number };
    expect(
      details.url?.startsWith(`http://127.0.0.1:${closed}/v2/`) ||
        details.url?.startsWith(`https://127.0.0.1:${closed}/v2/`),
    ).toBe(true);
    expect(details.attempts).toBeGreaterThanOrEqual(1);
  });
});
