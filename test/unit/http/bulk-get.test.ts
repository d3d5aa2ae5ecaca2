/**
 * Bulk GETs (http/bulk-get.ts): a large body read straight from the socket into reused slabs
 * (util/chunk-pool.ts), through the same client rules as node:http (status handling, TLS
 * verification, header checks), with everything it does not handle passed back to node:http.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, createServer as createNetServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRampartError, type RampartError } from '../../../src/errors.js';
import { keepAliveAgents } from '../../../src/http/agents.js';
import { HttpClient } from '../../../src/http/client.js';
import { writeStreamAtomic } from '../../../src/util/atomic-file.js';
import { isRecyclable } from '../../../src/util/chunk-pool.js';
import { makeCertificates } from '../../helpers/registry-auth.js';

const MiB = 1024 * 1024;
const blob = randomBytes(20 * MiB);
const small = randomBytes(300_000);
let work: string;
let http: Server;
let httpBase: string;
let https: Server;
let httpsBase: string;
let caPem: string;
/** Headers of every request the http server saw. */
const seen: IncomingMessage['headers'][] = [];
/** A server speaking raw HTTP/1.1: answers each connection with `rawAnswer`. */
let raw: NetServer;
let rawBase: string;
let rawAnswer: (write: (bytes: string | Buffer) => void, end: () => void) => void = () => {};

const serve = (request: IncomingMessage, response: import('node:http').ServerResponse): void => {
  seen.push(request.headers);
  if (request.url === '/chunked') {
    // No Content-Length: node:http sends it chunked, and the bulk path hands it back.
    response.writeHead(200, { 'content-type': 'application/octet-stream' });
    response.end(small);
    return;
  }
  if (request.url === '/missing') {
    response.writeHead(404, { 'content-type': 'application/json', 'content-length': '2' }).end('{}');
    return;
  }
  const body = request.url === '/small' ? small : blob;
  response.writeHead(200, { 'content-length': String(body.length) }).end(body);
};

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-bulk-get-'));
  http = createHttpServer(serve);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  httpBase = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const certificates = await makeCertificates(work);
  caPem = await readFile(certificates.caCertificate, 'utf8');
  https = createHttpsServer(
    { cert: await readFile(certificates.certificate), key: await readFile(certificates.key) },
    serve,
  );
  await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
  httpsBase = `https://127.0.0.1:${(https.address() as AddressInfo).port}`;
  raw = createNetServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () =>
      rawAnswer(
        (bytes) => socket.write(bytes),
        () => socket.end(),
      ),
    );
  });
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  rawBase = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => http.close(resolve));
  await new Promise((resolve) => https.close(resolve));
  await new Promise((resolve) => raw.close(resolve));
  await rm(work, { recursive: true, force: true });
});

const client = (https: { ca?: string[] } = {}) =>
  new HttpClient({ agents: async () => keepAliveAgents({}, https), retries: 0, idleTimeoutMs: 5_000 });

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function readAllOf(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('bulk GET', () => {
  it('reads a Content-Length body whole, as a recyclable stream (plain http)', async () => {
    const response = await client().request(`${httpBase}/blob`, { bulk: true });
    const body = response.stream();
    expect(isRecyclable(body)).toBe(true);
    expect(response.headers.get('content-length')).toBe(String(blob.length));
    expect(sha(await readAllOf(body))).toBe(sha(blob));
  });

  it('reads over TLS with the CA the agent trusts, and refuses a server the agent does not trust', async () => {
    const trusted = await client({ ca: [caPem] }).request(`${httpsBase}/small`, { bulk: true });
    const body = trusted.stream();
    expect(isRecyclable(body)).toBe(true);
    expect(sha(await readAllOf(body))).toBe(sha(small));
    const refused = await client()
      .request(`${httpsBase}/small`, { bulk: true })
      .catch((error: unknown) => error);
    expect(isRampartError(refused) && refused.code).toBe('NETWORK');
  });

  it('hands a chunked answer back to node:http, which reads it', async () => {
    const response = await client().request(`${httpBase}/chunked`, { bulk: true });
    const body = response.stream();
    expect(isRecyclable(body)).toBe(false);
    expect(sha(await readAllOf(body))).toBe(sha(small));
  });

  it('passes a non-2xx answer through the client rules (404 is NETWORK with the status)', async () => {
    const error = (await client()
      .request(`${httpBase}/missing`, { bulk: true })
      .catch((caught: unknown) => caught)) as RampartError<'NETWORK'>;
    expect(error.code).toBe('NETWORK');
    expect(error.details.status).toBe(404);
  });

  it('fails the body with a network error when the connection ends before Content-Length', async () => {
    rawAnswer = (write, end) => {
      write('HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n');
      write(Buffer.alloc(5000));
      end();
    };
    const response = await client().request(`${rawBase}/short`, { bulk: true });
    const error = (await readAllOf(response.stream()).catch(
      (caught: unknown) => caught,
    )) as RampartError<'NETWORK'>;
    expect(error.code).toBe('NETWORK');
    expect(error.details.status).toBeUndefined();
  });

  it('refuses conflicting lengths and an endless head', async () => {
    rawAnswer = (write, end) => {
      write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\ncontent-length: 20\r\n\r\n0123456789');
      end();
    };
    const conflicting = (await client()
      .request(`${rawBase}/two-lengths`, { bulk: true })
      .catch((caught: unknown) => caught)) as RampartError<'NETWORK'>;
    expect(conflicting.code).toBe('NETWORK');
    rawAnswer = (write) => {
      write('HTTP/1.1 200 OK\r\n');
      for (let i = 0; i < 100; i++) write(`x-filler-${i}: ${'a'.repeat(1000)}\r\n`);
    };
    const endless = (await client()
      .request(`${rawBase}/endless-head`, { bulk: true })
      .catch((caught: unknown) => caught)) as RampartError<'NETWORK'>;
    expect(endless.code).toBe('NETWORK');
  });

  it('sends no header whose value would inject another', async () => {
    const before = seen.length;
    const error = (await client()
      .request(`${httpBase}/small`, { bulk: true, headers: { 'x-token': 'a\r\nx-injected: 1' } })
      .catch((caught: unknown) => caught)) as RampartError<'NETWORK'>;
    expect(error.code).toBe('NETWORK');
    expect(seen.slice(before).some((headers) => 'x-injected' in headers)).toBe(false);
  });

  it('reuses a few slabs for a whole body written to a file (the writer gives them back)', async () => {
    const response = await client().request(`${httpBase}/blob`, { bulk: true });
    const body = response.stream();
    const memory = new Set<ArrayBufferLike>();
    // Allowed by the contract: a listener that only looks at a chunk synchronously (paused, so
    // that it starts no flow before the writer pipes the body).
    body.pause().on('data', (chunk: Buffer) => memory.add(chunk.buffer));
    const path = join(work, 'blob');
    await writeStreamAtomic(path, body);
    expect(sha(await readFile(path))).toBe(sha(blob));
    // 20 MiB through 1 MiB slabs: without reuse, 20 or more distinct buffers.
    expect(memory.size).toBeLessThanOrEqual(8);
  });

  it('survives a body that fails while a 401 challenge is answered, and closes it when the hook fails', async () => {
    rawAnswer = (write, end) => {
      write('HTTP/1.1 401 Unauthorized\r\ncontent-length: 100\r\n\r\n');
      write('0123456789');
      setTimeout(end, 20);
    };
    // The token takes longer than the connection lives: the body fails with nobody reading it.
    const slow = (await client()
      .request(`${rawBase}/challenge`, {
        bulk: true,
        onChallenge: () => new Promise((resolve) => setTimeout(() => resolve(undefined), 150)),
      })
      .catch((caught: unknown) => caught)) as RampartError<'NETWORK'>;
    expect(slow.code).toBe('NETWORK');
    expect(slow.details.status).toBe(401);
    // The hook fails: the answer is discarded all the same, so its later failure reaches no one.
    const failed = await client()
      .request(`${rawBase}/challenge`, {
        bulk: true,
        onChallenge: async () => {
          throw new Error('token service down');
        },
      })
      .catch((caught: unknown) => caught);
    expect((failed as Error).message).toBe('token service down');
    await new Promise((resolve) => setTimeout(resolve, 100));
  });

  it('reads repeated single-valued headers as node:http does, and header names that are Object members', async () => {
    rawAnswer = (write, end) => {
      write(
        '\r\n\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\nconstructor: c\r\nlocation: /a\r\nlocation: /b\r\n',
      );
      write('x-many: 1\r\nx-many: 2\r\n\r\nok');
      end();
    };
    const response = await client().request(`${rawBase}/headers`, { bulk: true });
    expect(isRecyclable(response.stream())).toBe(true);
    expect(response.headers.get('location')).toBe('/a');
    expect(response.headers.get('constructor')).toBe('c');
    expect(response.headers.get('x-many')).toBe('1, 2');
    expect((await readAllOf(response.stream())).toString()).toBe('ok');
  });

  it("is used only through rampart's own pools and on loopback: other agents and hosts get node:http", async () => {
    const { Agent } = await import('node:http');
    const foreign = new HttpClient({
      agents: async () => ({
        http: new Agent(),
        https: new (await import('node:https')).Agent(),
        destroy() {},
      }),
      retries: 0,
    });
    const viaForeign = (await foreign.request(`${httpBase}/small`, { bulk: true })).stream();
    expect(isRecyclable(viaForeign)).toBe(false);
    expect(sha(await readAllOf(viaForeign))).toBe(sha(small));
    const { networkInterfaces } = await import('node:os');
    const outside = Object.values(networkInterfaces())
      .flat()
      .find((entry) => entry && entry.family === 'IPv4' && !entry.internal)?.address;
    if (outside === undefined) return; // no non-loopback address on this machine
    const wide = createHttpServer(serve);
    await new Promise<void>((resolve) => wide.listen(0, outside, resolve));
    try {
      const port = (wide.address() as AddressInfo).port;
      const remote = (await client().request(`http://${outside}:${port}/small`, { bulk: true })).stream();
      expect(isRecyclable(remote)).toBe(false);
      expect(sha(await readAllOf(remote))).toBe(sha(small));
    } finally {
      await new Promise((resolve) => wide.close(resolve));
    }
  });
});
