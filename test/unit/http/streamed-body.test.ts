/**
 * A streamed request body (an upload) is sent without being held in memory: fetch tees a body it
 * may have to send again after a redirect, and the branch it never reads keeps every chunk. The
 * client sends streamed bodies in the mode that does not clone, and follows no redirect for them.
 */
import { createHash } from 'node:crypto';
import { createServer, Agent as HttpAgent, type Server } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRampartError, type RampartError } from '../../../src/errors.js';
import { HttpClient, type HttpClientOptions } from '../../../src/http/client.js';

const MiB = 1024 * 1024;
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/moved') {
      req.resume();
      res.writeHead(307, { location: '/sink' }).end();
      return;
    }
    const hash = createHash('sha256');
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      size += chunk.length;
    });
    req.on('end', () => res.writeHead(201).end(`${size} ${hash.digest('hex')}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

/** Both transports: fetch (the default) and node:http (registries). */
const transports: Array<{ transport: string; options: HttpClientOptions }> = [
  { transport: 'fetch', options: {} },
  {
    transport: 'node:http',
    options: { agents: async () => ({ http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent() }) },
  },
];

describe.each(transports)('streamed request bodies ($transport)', ({ options }) => {
  it('a 96 MiB upload is sent whole without holding it in memory', async () => {
    const total = 96 * MiB;
    const chunk = 256 * 1024;
    const expected = createHash('sha256');
    let peak = 0;
    const body = async function* () {
      for (let sent = 0; sent < total; sent += chunk) {
        // A fresh buffer per chunk, as a file or socket gives: a kept chunk costs its memory.
        const bytes = Buffer.alloc(chunk, sent / chunk);
        expected.update(bytes);
        if (sent % (8 * MiB) === 0) {
          // Only what is still referenced counts: collect the garbage, then look.
          gc();
          peak = Math.max(peak, process.memoryUsage().arrayBuffers);
        }
        yield bytes;
      }
    };
    gc();
    const before = process.memoryUsage().arrayBuffers;
    const response = await new HttpClient(options).request(`${base}/sink`, { method: 'PUT', body: body });
    expect(response.status).toBe(201);
    expect((await response.bytes()).toString()).toBe(`${total} ${expected.digest('hex')}`);
    // Chunks in flight (the server here is in this process too), not the 96 MiB a kept copy holds.
    expect(peak - before).toBeLessThan(32 * MiB);
  });

  it('a redirect answer to a streamed upload fails as NETWORK instead of being followed', async () => {
    const error = await new HttpClient({ ...options, retries: 0 })
      .request(`${base}/moved`, {
        method: 'PUT',
        body: () =>
          (async function* () {
            yield Buffer.from('data');
          })(),
      })
      .catch((caught: unknown) => caught);
    expect(isRampartError(error)).toBe(true);
    expect((error as RampartError).code).toBe('NETWORK');
    expect((error as RampartError<'NETWORK'>).details).toMatchObject({ url: `${base}/moved`, attempts: 1 });
  });
});
