import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RampartError } from '../../../src/errors.js';
import { readAll, sha256Digest } from '../../../src/oci/digest.js';
import { MediaType } from '../../../src/oci/media-types.js';
import type { Descriptor } from '../../../src/oci/types.js';
import { createRegistryClient, type RegistryClientTuning } from '../../../src/registry/client.js';
import type { RegistryEvent } from '../../../src/registry/types.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';

/**
 * A proxy on 127.0.0.1 in front of the real registry that misbehaves on request: `rule` sees each
 * request and answers it itself (a status), cuts the response body after N bytes (a reset), drops
 * the request's Range header, or passes it through. Every request is recorded.
 */
type Fault =
  | { kind: 'pass'; dropRange?: boolean }
  | { kind: 'status'; status: number; headers?: Record<string, string> }
  | { kind: 'cut-response'; after: number }
  | { kind: 'corrupt-response' }
  | { kind: 'reset-request' };

interface Seen {
  method: string;
  path: string;
  range?: string;
  contentRange?: string;
}

class FaultProxy {
  seen: Seen[] = [];
  rule: (request: IncomingMessage, index: number) => Fault = () => ({ kind: 'pass' });
  private server: Server | undefined;
  host = '';

  constructor(private readonly upstreamPort: number) {}

  async start(): Promise<void> {
    this.server = createServer((request, response) => this.handle(request, response));
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    this.host = `127.0.0.1:${address.port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    this.server?.close();
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const index = this.seen.length;
    this.seen.push({
      method: request.method ?? '',
      path: (request.url ?? '').split('?')[0] ?? '',
      ...(request.headers.range ? { range: request.headers.range } : {}),
      ...(request.headers['content-range'] ? { contentRange: String(request.headers['content-range']) } : {}),
    });
    const fault = this.rule(request, index);
    if (fault.kind === 'status') {
      request.resume();
      response.writeHead(fault.status, { 'content-length': '0', ...fault.headers });
      response.end();
      return;
    }
    if (fault.kind === 'reset-request') {
      // Read a little of the upload, then drop the connection.
      request.once('data', () => request.socket.destroy());
      request.once('end', () => request.socket.destroy());
      return;
    }
    const headers = { ...request.headers, host: `127.0.0.1:${this.upstreamPort}` };
    if (fault.kind === 'pass' && fault.dropRange) delete headers.range;
    const upstream = httpRequest(
      { host: '127.0.0.1', port: this.upstreamPort, method: request.method, path: request.url, headers },
      (answer) => {
        const rewritten = { ...answer.headers };
        if (rewritten.location)
          rewritten.location = rewritten.location.replace(`127.0.0.1:${this.upstreamPort}`, this.host);
        response.writeHead(answer.statusCode ?? 502, rewritten);
        if (fault.kind === 'corrupt-response') {
          let first = true;
          answer.on('data', (chunk: Buffer) => {
            if (first) chunk[0] = (chunk[0] ?? 0) ^ 0xff;
            first = false;
            response.write(chunk);
          });
          answer.on('end', () => response.end());
          return;
        }
        if (fault.kind !== 'cut-response') {
          answer.pipe(response);
          return;
        }
        let sent = 0;
        answer.on('data', (chunk: Buffer) => {
          const room = fault.after - sent;
          if (room <= 0) return;
          response.write(chunk.subarray(0, room));
          sent += Math.min(room, chunk.length);
          if (sent >= fault.after) {
            answer.destroy();
            setTimeout(() => response.socket?.destroy(), 20);
          }
        });
        answer.on('end', () => response.end());
      },
    );
    upstream.on('error', () => response.socket?.destroy());
    request.pipe(upstream);
  }
}

let registry: TestRegistry;
let proxy: FaultProxy;
const events: RegistryEvent[] = [];
const tuning: RegistryClientTuning = {
  upload: { monolithicMax: 1024 * 1024, chunkSize: 1024 * 1024, backoffMs: 10 },
  // Every blob read with a bulk GET (http/bulk-get.ts), however small: the faults reach that path.
  bulkMinBytes: 0,
};

beforeAll(async () => {
  registry = await startRegistry();
  proxy = new FaultProxy(Number(registry.host.split(':')[1]));
  await proxy.start();
});
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
});

const client = () =>
  createRegistryClient(proxy.host, { insecure: true, onEvent: (event) => events.push(event) }, tuning);
const describeBytes = (bytes: Buffer): Descriptor => ({
  mediaType: MediaType.OciLayerGzip,
  digest: sha256Digest(bytes),
  size: bytes.length,
});
const isBlobGet = (request: IncomingMessage) =>
  request.method === 'GET' && /\/blobs\/sha256:/.test(request.url ?? '');
const isUpload = (request: IncomingMessage, method: string) =>
  request.method === method && /\/blobs\/uploads\/./.test(request.url ?? '');

describe('chunked uploads', () => {
  it('pushes a large blob as PATCH chunks with Content-Range and reads it back', async () => {
    proxy.rule = () => ({ kind: 'pass' });
    proxy.seen = [];
    const bytes = randomBytes(3 * 1024 * 1024 + 123);
    const descriptor = describeBytes(bytes);
    expect(await client().pushBlob('faults/chunked', descriptor, async () => Readable.from([bytes]))).toBe(
      'pushed',
    );
    const patches = proxy.seen.filter((seen) => seen.method === 'PATCH');
    expect(patches.map((seen) => seen.contentRange)).toEqual([
      '0-1048575',
      '1048576-2097151',
      '2097152-3145727',
      '3145728-3145850',
    ]);
    expect((await readAll(await client().openBlob('faults/chunked', descriptor))).equals(bytes)).toBe(true);
  });

  it('falls back to one monolithic PUT when the registry refuses PATCH', async () => {
    proxy.seen = [];
    proxy.rule = (request) =>
      request.method === 'PATCH' ? { kind: 'status', status: 405 } : { kind: 'pass' };
    const bytes = randomBytes(2 * 1024 * 1024);
    const descriptor = describeBytes(bytes);
    expect(await client().pushBlob('faults/fallback', descriptor, async () => Readable.from([bytes]))).toBe(
      'pushed',
    );
    expect(proxy.seen.filter((seen) => seen.method === 'PATCH')).toHaveLength(1);
    proxy.rule = () => ({ kind: 'pass' });
    expect(await client().hasBlob('faults/fallback', descriptor)).toBe(true);
  });
});

describe('push retries', () => {
  it('honours 503 with Retry-After and restarts the session with a fresh stream', async () => {
    events.length = 0;
    let refused = 0;
    proxy.rule = (request) =>
      isUpload(request, 'PUT') && refused++ === 0
        ? { kind: 'status', status: 503, headers: { 'retry-after': '0' } }
        : { kind: 'pass' };
    const bytes = randomBytes(100_000);
    let opened = 0;
    const result = await client().pushBlob('faults/retry', describeBytes(bytes), async () => {
      opened++;
      return Readable.from([bytes]);
    });
    expect(result).toBe('pushed');
    expect(opened).toBe(2);
    expect(events.filter((event) => event.kind === 'retry')).toEqual([
      expect.objectContaining({ kind: 'retry', attempt: 1, delayMs: 0 }),
    ]);
  });

  it('retries an upload whose connection is reset mid-body', async () => {
    let resets = 0;
    proxy.rule = (request) =>
      isUpload(request, 'PATCH') && resets++ === 0 ? { kind: 'reset-request' } : { kind: 'pass' };
    const bytes = randomBytes(1536 * 1024);
    let opened = 0;
    const descriptor = describeBytes(bytes);
    const result = await client().pushBlob('faults/reset', descriptor, async () => {
      opened++;
      return Readable.from([bytes.subarray(0, 500_000), bytes.subarray(500_000)]);
    });
    expect(result).toBe('pushed');
    expect(opened).toBe(2);
    proxy.rule = () => ({ kind: 'pass' });
    expect((await readAll(await client().openBlob('faults/reset', descriptor))).equals(bytes)).toBe(true);
  });

  it('gives up after the bounded attempts with the status in the error', async () => {
    proxy.rule = (request) => (isUpload(request, 'PUT') ? { kind: 'status', status: 500 } : { kind: 'pass' });
    const bytes = randomBytes(1000);
    const error = await client()
      .pushBlob('faults/broken', describeBytes(bytes), async () => Readable.from([bytes]))
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RampartError);
    expect((error as RampartError).code).toBe('NETWORK');
    expect((error as RampartError).details).toMatchObject({ status: 500 });
  });
});

describe('pull resumes', () => {
  const bytes = randomBytes(400_000);
  const descriptor = describeBytes(bytes);
  beforeAll(async () => {
    proxy.rule = () => ({ kind: 'pass' });
    await client().pushBlob('faults/pull', descriptor, async () => Readable.from([bytes]));
  });

  it('continues a broken download with Range from where it broke (206)', async () => {
    proxy.seen = [];
    let cut = 0;
    proxy.rule = (request) =>
      isBlobGet(request) && cut++ === 0 ? { kind: 'cut-response', after: 150_000 } : { kind: 'pass' };
    const pulled = await readAll(await client().openBlob('faults/pull', descriptor));
    expect(pulled.equals(bytes)).toBe(true);
    const gets = proxy.seen.filter((seen) => seen.method === 'GET');
    expect(gets.map((seen) => seen.range)).toEqual([undefined, 'bytes=150000-']);
  });

  it('restarts and skips when the server ignores Range (200)', async () => {
    let cut = 0;
    proxy.rule = (request) =>
      isBlobGet(request)
        ? cut++ === 0
          ? { kind: 'cut-response', after: 200_000 }
          : { kind: 'pass', dropRange: true }
        : { kind: 'pass' };
    expect((await readAll(await client().openBlob('faults/pull', descriptor))).equals(bytes)).toBe(true);
  });

  it('stops after the bounded resumes with the network error', async () => {
    proxy.rule = (request) => (isBlobGet(request) ? { kind: 'cut-response', after: 1000 } : { kind: 'pass' });
    const limited = createRegistryClient(proxy.host, { insecure: true }, { resumes: 2 });
    proxy.seen = [];
    const error = await readAll(await limited.openBlob('faults/pull', descriptor)).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(RampartError);
    expect(['NETWORK', 'TIMEOUT']).toContain((error as RampartError).code);
    expect(proxy.seen.filter((seen) => seen.method === 'GET')).toHaveLength(3);
  });

  it('a connection that breaks before the first read is resumed when the body is read (both readers)', async () => {
    for (const bulkMinBytes of [0, Number.POSITIVE_INFINITY]) {
      let cut = 0;
      proxy.rule = (request) =>
        isBlobGet(request) && cut++ === 0 ? { kind: 'cut-response', after: 1000 } : { kind: 'pass' };
      proxy.seen = [];
      const reader = createRegistryClient(proxy.host, { insecure: true }, { ...tuning, bulkMinBytes });
      const stream = await reader.openBlob('faults/pull', descriptor);
      // As copy does: the sink sets up its upload before it reads the source.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await readAll(stream)).equals(bytes)).toBe(true);
      expect(proxy.seen.filter((seen) => seen.method === 'GET')).toHaveLength(2);
    }
  });

  it('a blob whose bytes do not match its digest fails the stream with DIGEST_MISMATCH', async () => {
    proxy.rule = (request) => (isBlobGet(request) ? { kind: 'corrupt-response' } : { kind: 'pass' });
    const error = await readAll(await client().openBlob('faults/pull', descriptor)).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(RampartError);
    expect((error as RampartError).code).toBe('DIGEST_MISMATCH');
    expect((error as RampartError).details).toMatchObject({ expected: descriptor.digest });
  });
});

describe('a corrupt small blob read late', () => {
  it('fails when read, not before (no uncaught error while the caller is busy)', async () => {
    proxy.rule = () => ({ kind: 'pass' });
    const bytes = randomBytes(300);
    const descriptor = describeBytes(bytes);
    await client().pushBlob('faults/small', descriptor, async () => Readable.from([bytes]));
    proxy.rule = (request) => (isBlobGet(request) ? { kind: 'corrupt-response' } : { kind: 'pass' });
    const stream = await client().openBlob('faults/small', descriptor);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const error = await readAll(stream).catch((caught: unknown) => caught);
    expect((error as RampartError).code).toBe('DIGEST_MISMATCH');
  });
});

describe('deletion refused by the registry', () => {
  it('405 is UNSUPPORTED_OPERATION naming the reference', async () => {
    proxy.rule = (request) =>
      request.method === 'DELETE' ? { kind: 'status', status: 405 } : { kind: 'pass' };
    const digest = sha256Digest('anything');
    const error = await client()
      .deleteManifest('faults/delete', digest)
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RampartError);
    expect((error as RampartError).code).toBe('UNSUPPORTED_OPERATION');
    expect((error as RampartError).details).toEqual({
      reference: `${proxy.host}/faults/delete@${digest}`,
      operation: 'delete',
    });
  });
});

describe('cancellation', () => {
  it('an abort mid-download ends the stream with CANCELLED and no resume', async () => {
    const bytes = randomBytes(2 * 1024 * 1024);
    const descriptor = describeBytes(bytes);
    proxy.rule = () => ({ kind: 'pass' });
    await client().pushBlob('faults/cancel', descriptor, async () => Readable.from([bytes]));
    const controller = new AbortController();
    const cancellable = createRegistryClient(proxy.host, { insecure: true, signal: controller.signal });
    const stream = await cancellable.openBlob('faults/cancel', descriptor);
    proxy.seen = [];
    const error = await (async () => {
      for await (const _chunk of stream) controller.abort();
    })().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RampartError);
    expect((error as RampartError).code).toBe('CANCELLED');
    expect(proxy.seen).toEqual([]);
  });
});

describe('cross-repository mount', () => {
  it('mounts a blob that the registry has in another repository, and reports a miss as false', async () => {
    proxy.rule = () => ({ kind: 'pass' });
    const bytes = randomBytes(10_000);
    const descriptor = describeBytes(bytes);
    await client().pushBlob('mount/source', descriptor, async () => Readable.from([bytes]));
    expect(await client().mountBlob('mount/target', descriptor, 'mount/source')).toBe(true);
    expect(await client().hasBlob('mount/target', descriptor)).toBe(true);
    const absent = describeBytes(randomBytes(10));
    expect(await client().mountBlob('mount/target', absent, 'mount/source')).toBe(false);
  });
});
