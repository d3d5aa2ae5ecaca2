/**
 * The HTTP client against hostile servers on 127.0.0.1: endless bodies, drips, silence, resets,
 * 503 with Retry-After, redirects to another origin, 401 challenges. Timeouts are short and
 * passed in; nothing asserts how long anything took.
 */
import { createHash } from 'node:crypto';
import {
  createServer,
  Agent as HttpAgent,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRampartError, type RampartError } from '../../../src/errors.js';
import {
  defaultAgents,
  HttpClient,
  type HttpClientOptions,
  httpClientFor,
} from '../../../src/http/client.js';
import { redactUrl } from '../../../src/http/fetch.js';

type Handler = (req: IncomingMessage, res: ServerResponse, hit: number) => void;

interface TestServer {
  url: string;
  hits: Map<string, number>;
  headers: Map<string, IncomingMessage['headers']>;
  /** Body bytes the server managed to write, per path. */
  written: Map<string, number>;
  close(): Promise<void>;
}

async function serve(routes: Record<string, Handler>): Promise<TestServer> {
  const hits = new Map<string, number>();
  const headers = new Map<string, IncomingMessage['headers']>();
  const written = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const hit = (hits.get(path) ?? 0) + 1;
    hits.set(path, hit);
    headers.set(path, req.headers);
    const write = res.write.bind(res) as (chunk: Buffer | string) => boolean;
    res.write = ((chunk: Buffer | string) => {
      written.set(path, (written.get(path) ?? 0) + Buffer.byteLength(chunk));
      return write(chunk);
    }) as ServerResponse['write'];
    const handler = routes[path];
    if (!handler) return void res.writeHead(404).end();
    handler(req, res, hit);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    headers,
    written,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Writes 64 KiB chunks for as long as the client reads. */
const endless: Handler = (_req, res) => {
  res.writeHead(200);
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const pump = () => {
    while (!res.destroyed && res.write(chunk)) {
      // The kernel buffer takes more: keep going until it pushes back.
    }
  };
  res.on('drain', pump);
  pump();
};

/** One byte every 20 ms, forever: never idle long enough to trip an idle timeout. */
const drip: Handler = (_req, res) => {
  res.writeHead(200);
  const timer = setInterval(() => res.write('.'), 20);
  res.on('close', () => clearInterval(timer));
};

let hostile: TestServer;
let other: TestServer;
const sleeps: number[] = [];
const recordSleep = async (ms: number) => {
  sleeps.push(ms);
};

/** Fresh servers per transport: some routes answer by how often they were hit. */
async function startServers(): Promise<void> {
  other = await serve({
    '/landing': (_req, res) => res.writeHead(200).end('landed'),
  });
  hostile = await serve({
    '/endless': endless,
    '/drip': drip,
    '/silent': () => undefined,
    '/reset': (req) => req.socket.destroy(),
    '/reset-body-once': (_req, res, hit) => {
      res.writeHead(200, { 'content-length': 1000 });
      if (hit === 1) {
        res.write(Buffer.alloc(100, 'a'));
        setTimeout(() => res.destroy(), 5);
        return;
      }
      res.end(Buffer.alloc(1000, 'a'));
    },
    '/declared-huge': (_req, res) => {
      res.writeHead(200, { 'content-length': String(1024 ** 3) });
      res.write('a little');
    },
    '/busy-then-ok': (_req, res, hit) => {
      if (hit === 1) return void res.writeHead(503, { 'retry-after': '2' }).end();
      res.writeHead(200).end('ok');
    },
    '/busy-for-an-hour': (_req, res) => res.writeHead(503, { 'retry-after': '3600' }).end(),
    '/always-503': (_req, res) => res.writeHead(503).end(),
    '/gone': (_req, res) => res.writeHead(404).end(),
    '/to-other': (_req, res) => res.writeHead(302, { location: `${other.url}/landing` }).end(),
    '/to-self': (_req, res) => res.writeHead(307, { location: '/echo-auth' }).end(),
    '/echo-auth': (req, res) => res.writeHead(200).end(req.headers.authorization ?? 'none'),
    '/loop': (_req, res) => res.writeHead(302, { location: '/loop' }).end(),
    '/protected': (req, res) => {
      if (req.headers.authorization === 'Bearer t0k3n') return void res.writeHead(200).end('secret');
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="test",scope="pull"' }).end();
    },
    '/upload': (req, res) => {
      const hash = createHash('sha256');
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        size += chunk.length;
      });
      req.on('end', () => {
        if ((hostile.hits.get('/upload') ?? 0) === 1) return void res.writeHead(503).end();
        res.writeHead(201).end(`${req.method} ${size} ${hash.digest('hex')}`);
      });
    },
  });
}
async function stopServers(): Promise<void> {
  await hostile.close();
  await other.close();
}

async function failure(promise: Promise<unknown>): Promise<RampartError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isRampartError(error), `expected a RampartError, got ${String(error)}`).toBe(true);
  return error as RampartError;
}

/** The same rules through both transports: fetch (the default) and node:http (registries). */
const transports: Array<{ transport: string; options: HttpClientOptions }> = [
  { transport: 'fetch', options: {} },
  {
    transport: 'node:http',
    options: { agents: async () => ({ http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent() }) },
  },
  // What httpClientFor gives a caller that passes no client (the Debian archive code).
  { transport: 'node:http, default agents', options: { agents: defaultAgents } },
];

describe.each(transports)('HttpClient ($transport) against hostile servers', ({ options }) => {
  beforeAll(startServers);
  afterAll(stopServers);
  const client = (extra: HttpClientOptions = {}) =>
    new HttpClient({
      idleTimeoutMs: 2000,
      deadlineMs: 20_000,
      backoffMs: 1,
      sleep: recordSleep,
      ...options,
      ...extra,
    });

  it('cuts an endless body at maxBytes with TOO_LARGE, having read little more than the limit', async () => {
    const limit = 1024 * 1024;
    const response = await client().request(`${hostile.url}/endless`, { maxBytes: limit });
    const error = await failure(response.bytes());
    expect(error.code).toBe('TOO_LARGE');
    expect(error.details).toEqual({ limit, url: `${hostile.url}/endless` });
    // The connection is gone: the server stops writing once its socket buffers fill.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(hostile.written.get('/endless') ?? 0).toBeLessThan(32 * limit);
  });

  it('refuses a declared Content-Length over the limit before reading the body', async () => {
    const error = await failure(client().request(`${hostile.url}/declared-huge`, { maxBytes: 4096 }));
    expect(error.code).toBe('TOO_LARGE');
    expect(error.details).toMatchObject({ limit: 4096, url: `${hostile.url}/declared-huge` });
  });

  it('abandons a dripping server at the overall deadline with TIMEOUT', async () => {
    const error = await failure(
      client({ idleTimeoutMs: 5000, deadlineMs: 300 }).read(`${hostile.url}/drip`, {}, (r) => r.bytes()),
    );
    expect(error.code).toBe('TIMEOUT');
    expect(error.details).toEqual({ url: `${hostile.url}/drip`, timeoutMs: 300, attempts: 1 });
  });

  it('sizes the deadline by the expected size, within the overall deadline', async () => {
    const sized = client({ minDeadlineMs: 200, minBytesPerSecond: 1000, deadlineMs: 60_000 });
    const error = await failure(
      sized.read(`${hostile.url}/drip`, { expectedBytes: 100, retries: 0 }, (r) => r.bytes()),
    );
    expect(error.code).toBe('TIMEOUT');
    expect(error.details).toEqual({ url: `${hostile.url}/drip`, timeoutMs: 300, attempts: 1 });
    const capped = client({ minDeadlineMs: 200, minBytesPerSecond: 1, deadlineMs: 250 });
    const cappedError = await failure(
      capped.read(`${hostile.url}/drip`, { expectedBytes: 100 }, (r) => r.bytes()),
    );
    expect(cappedError.details).toMatchObject({ timeoutMs: 250 });
    // A body of unknown size but bounded (a manifest, a token) is sized by its bound; any sized
    // request also gets the Retry-After waits its retries may take (none here).
    const bounded = await failure(
      sized.read(`${hostile.url}/drip`, { maxBytes: 100, retries: 0 }, (r) => r.bytes()),
    );
    expect(bounded.details).toEqual({ url: `${hostile.url}/drip`, timeoutMs: 300, attempts: 1 });
    const waits = client({
      minDeadlineMs: 200,
      minBytesPerSecond: 1000,
      maxRetryAfterMs: 150,
      deadlineMs: 60_000,
    });
    const waited = await failure(
      waits.read(`${hostile.url}/drip`, { maxBytes: 100, retries: 2 }, (r) => r.bytes()),
    );
    expect(waited.details).toMatchObject({ timeoutMs: 600 });
    // A blob of a signed size waits out its retries' Retry-After the same way.
    const sizedWaits = await failure(
      waits.read(`${hostile.url}/drip`, { expectedBytes: 100, retries: 2 }, (r) => r.bytes()),
    );
    expect(sizedWaits.details).toMatchObject({ timeoutMs: 600 });
  });

  it('gives up on a silent server after the retries and says how many attempts it made', async () => {
    const before = hostile.hits.get('/silent') ?? 0;
    const error = await failure(client({ idleTimeoutMs: 100, retries: 2 }).request(`${hostile.url}/silent`));
    expect(error.code).toBe('TIMEOUT');
    expect(error.details).toEqual({ url: `${hostile.url}/silent`, timeoutMs: 100, attempts: 3 });
    expect(error.message).toContain('3 attempts');
    expect((hostile.hits.get('/silent') ?? 0) - before).toBe(3);
  });

  it('reports a connection reset as NETWORK with the URL and the true number of attempts', async () => {
    const error = await failure(client({ retries: 3 }).request(`${hostile.url}/reset`));
    expect(error.code).toBe('NETWORK');
    expect(error.details).toEqual({ url: `${hostile.url}/reset`, attempts: 4 });
    expect(error.message).toContain('4 attempts');
  });

  it('retries a body that breaks mid-stream when it owns the reading', async () => {
    const bytes = await client().read(`${hostile.url}/reset-body-once`, {}, (r) => r.bytes());
    expect(bytes.length).toBe(1000);
    expect(hostile.hits.get('/reset-body-once')).toBe(2);
  });

  it('waits as long as Retry-After says, within a cap', async () => {
    sleeps.length = 0;
    const response = await client().request(`${hostile.url}/busy-then-ok`);
    expect((await response.bytes()).toString()).toBe('ok');
    expect(sleeps).toEqual([2000]);
    sleeps.length = 0;
    const error = await failure(
      client({ retries: 1, maxRetryAfterMs: 5000 }).request(`${hostile.url}/busy-for-an-hour`),
    );
    expect(sleeps).toEqual([5000]);
    expect(error.details).toEqual({ url: `${hostile.url}/busy-for-an-hour`, status: 503, attempts: 2 });
  });

  it('gives up on a persistent 503 with the status and attempts; never retries a 404', async () => {
    const error = await failure(client({ retries: 3 }).request(`${hostile.url}/always-503`));
    expect(error.details).toEqual({ url: `${hostile.url}/always-503`, status: 503, attempts: 4 });
    expect(error.message).toContain('4 attempts');
    const gone = await failure(client().request(`${hostile.url}/gone`));
    expect(gone.code).toBe('NETWORK');
    expect(gone.details).toEqual({ url: `${hostile.url}/gone`, status: 404, attempts: 1 });
    expect(hostile.hits.get('/gone')).toBe(1);
  });

  it('drops Authorization, Cookie, custom headers and URL credentials on a redirect to another origin', async () => {
    const headers = {
      authorization: 'Bearer private',
      cookie: 'session=1',
      'x-api-key': 'k3y',
      'x-keep': 'yes',
      accept: 'application/json',
      range: 'bytes=0-',
    };
    const response = await client().request(`${hostile.url}/to-other`, { headers });
    expect((await response.bytes()).toString()).toBe('landed');
    expect(response.url).toBe(`${other.url}/landing`);
    const seen = other.headers.get('/landing') ?? {};
    expect(seen.authorization).toBeUndefined();
    expect(seen.cookie).toBeUndefined();
    // Only the allow-list crosses origins (review finding 4): no API key under any name.
    expect(seen['x-api-key']).toBeUndefined();
    expect(seen['x-keep']).toBeUndefined();
    expect(seen.accept).toBe('application/json');
    expect(seen.range).toBe('bytes=0-');
    const withCredentials = hostile.url.replace('http://', 'http://user:pass@');
    await (await client().request(`${withCredentials}/to-other`)).bytes();
    expect(other.headers.get('/landing')?.authorization).toBeUndefined();
    // Within the origin the credentials stay.
    const same = await client().request(`${hostile.url}/to-self`, { headers });
    expect((await same.bytes()).toString()).toBe('Bearer private');
  });

  it('refuses a redirect loop and an https to http downgrade', async () => {
    const loop = await failure(client().request(`${hostile.url}/loop`));
    expect(loop.code).toBe('NETWORK');
    expect(loop.details).toMatchObject({ url: `${hostile.url}/loop`, status: 302 });
    // No TLS server here: a fetch that answers for one, to check the client's own rule.
    const downgrade = await failure(
      new HttpClient({
        fetch: async () => new Response(null, { status: 301, headers: { location: 'http://127.0.0.1:9/x' } }),
      }).request('https://127.0.0.1:9/x', { headers: { authorization: 'Bearer private' } }),
    );
    expect(downgrade.code).toBe('NETWORK');
    expect(downgrade.details).toMatchObject({ url: 'https://127.0.0.1:9/x', status: 301 });
  });

  it('answers a 401 challenge once through onChallenge', async () => {
    const challenges: string[] = [];
    const response = await client().request(`${hostile.url}/protected`, {
      onChallenge: async (r) => {
        challenges.push(r.headers.get('www-authenticate') ?? '');
        return { authorization: 'Bearer t0k3n' };
      },
    });
    expect((await response.bytes()).toString()).toBe('secret');
    expect(challenges).toEqual(['Bearer realm="test",scope="pull"']);
    let calls = 0;
    const wrong = await failure(
      client().request(`${hostile.url}/protected`, {
        onChallenge: async () => {
          calls++;
          return { authorization: 'Bearer wrong' };
        },
      }),
    );
    expect(calls).toBe(1);
    expect(wrong.details).toMatchObject({ status: 401, attempts: 1 });
  });

  it('streams a request body and sends it again on a retry', async () => {
    let made = 0;
    const chunks = ['part one, ', 'part two, ', 'part three'];
    const response = await client().request(`${hostile.url}/upload`, {
      method: 'PUT',
      body: () => {
        made++;
        return (async function* () {
          for (const chunk of chunks) yield Buffer.from(chunk);
        })();
      },
    });
    const whole = chunks.join('');
    const expected = `PUT ${whole.length} ${createHash('sha256').update(whole).digest('hex')}`;
    expect(response.status).toBe(201);
    expect((await response.bytes()).toString()).toBe(expected);
    expect(made).toBe(2);
  });

  it('stops at once when the signal aborts: CANCELLED, also while waiting to retry', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const error = await failure(
      new HttpClient({ ...options, idleTimeoutMs: 60_000 }).request(`${hostile.url}/silent`, {
        signal: controller.signal,
        operation: 'fetching the silent file',
      }),
    );
    expect(error.code).toBe('CANCELLED');
    expect(error.details).toEqual({ operation: 'fetching the silent file' });
    const waiting = new AbortController();
    const during = await failure(
      new HttpClient({
        ...options,
        sleep: async (_ms, signal) => {
          waiting.abort();
          if (signal.aborted) throw signal.reason;
        },
      }).request(`${hostile.url}/always-503`, { signal: waiting.signal }),
    );
    expect(during.code).toBe('CANCELLED');
    const body = new AbortController();
    const dripping = await new HttpClient(options).request(`${hostile.url}/drip`, { signal: body.signal });
    setTimeout(() => body.abort(), 50);
    expect((await failure(dripping.bytes())).code).toBe('CANCELLED');
  });
});

describe('URLs with credentials (review finding 3)', () => {
  it.each([
    ['https://user:s3cret@host.example/x', 'https://host.example/x'],
    ['https://user:pa/ss@host.example/x', 'https://host.example/x'],
  ])('redactUrl(%s) drops the credentials', (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });

  it('turns an unparseable URL into USAGE with the value redacted, not a TypeError carrying it', async () => {
    const error = await new HttpClient({ retries: 0 }).request('https://user:pa/ss@host.example/x').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isRampartError(error, 'USAGE'), String(error)).toBe(true);
    expect((error as RampartError).details).toEqual({ value: 'https://host.example/x' });
    expect(JSON.stringify(error)).not.toContain('pa/ss');
    expect((error as Error).message).not.toContain('pa/ss');
  });
});

describe('httpClientFor: the client of a caller that passes none', () => {
  it('sends through node:http, never the platform fetch (whose undici costs ~0.3 s to load), unless given a fetch', async () => {
    const server = createServer((req, res) => res.writeHead(200).end(`ok ${req.url}`));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
    const platformFetch = globalThis.fetch;
    const calls: string[] = [];
    globalThis.fetch = async (input) => {
      calls.push(String(input));
      return new Response('from fetch');
    };
    try {
      const client = httpClientFor({});
      expect((await (await client.request(url)).bytes()).toString()).toBe('ok /x');
      await client.close();
      expect(calls).toEqual([]);
      const own = httpClientFor({ fetch: globalThis.fetch });
      expect((await (await own.request(url)).bytes()).toString()).toBe('from fetch');
      expect(calls).toEqual([url]);
    } finally {
      globalThis.fetch = platformFetch;
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('HttpClient with agents: close()', () => {
  it('ends the kept-alive connection it made, which stays open without it', async () => {
    const server = createServer((_req, res) => res.writeHead(200).end('ok'));
    const sockets: Array<Socket> = [];
    server.on('connection', (socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
    try {
      const http = new HttpClient({
        agents: async () => ({ http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent() }),
      });
      expect((await (await http.request(url)).bytes()).toString()).toBe('ok');
      expect((await (await http.request(url)).bytes()).toString()).toBe('ok');
      // One connection, reused, and still open after both answers.
      expect(sockets).toHaveLength(1);
      const socket = sockets[0] as Socket;
      expect(socket.destroyed).toBe(false);
      const closed = new Promise((resolve) => socket.once('close', resolve));
      await http.close();
      await closed;
      expect(socket.destroyed).toBe(true);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
