import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { type ClientRequest, createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, createServer as createTcpServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryClient } from '../../../src/registry/client.js';
import { loopbackOnlyLookup, speaksTls } from '../../../src/registry/transport.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { makeCertificates, type TestCertificates } from '../../helpers/registry-auth.js';

// A relaxed (--insecure) loopback registry is asked over https first and keeps the scheme that
// answered; the plain-TCP TLS question (speaksTls) spares a plain registry the https probe.

let work: string;
let certificates: TestCertificates;
let plain: TestRegistry;
let secure: TestRegistry;
const servers: Server[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-scheme-probe-'));
  certificates = await makeCertificates(work);
  [plain, secure] = await Promise.all([
    startRegistry(),
    startRegistry({ tls: { certificate: certificates.certificate, key: certificates.key } }),
  ]);
});
afterAll(async () => {
  for (const server of servers) server.close();
  await Promise.all([plain?.stop(), secure?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

/** The protocol and port of every node:http(s) request made while `run` runs. */
async function requestsDuring(
  run: () => Promise<unknown>,
): Promise<Array<{ protocol: string; port: string }>> {
  const seen: Array<{ protocol: string; port: string }> = [];
  const listener = (message: unknown) => {
    const request = (message as { request: ClientRequest }).request;
    const port =
      String(request.getHeader('host') ?? '')
        .split(':')
        .at(-1) ?? '';
    seen.push({ protocol: request.protocol, port });
  };
  subscribe('http.client.request.start', listener);
  try {
    await run();
  } finally {
    unsubscribe('http.client.request.start', listener);
  }
  return seen;
}

const portOf = (registry: TestRegistry) => registry.host.split(':').at(-1) as string;

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('the scheme of an insecure loopback registry', () => {
  it('a plain registry is reached over http, with no https request', async () => {
    const client = createRegistryClient(plain.host, { insecure: true });
    const requests = await requestsDuring(async () => {
      await client.ping();
      expect(
        await client.listTags('none/here').catch((error: { code?: string }) => error.code),
      ).toBeDefined();
    });
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((request) => request.port === portOf(plain)).map((r) => r.protocol)).toEqual(
      requests.map(() => 'http:'),
    );
  });

  it('a TLS registry (certificate not trusted) is still reached over https, never http', async () => {
    const client = createRegistryClient(secure.host, { insecure: true });
    const requests = await requestsDuring(() => client.ping());
    expect(requests.length).toBeGreaterThan(0);
    expect(new Set(requests.map((request) => request.protocol))).toEqual(new Set(['https:']));
  });

  it('localhost: resolved to loopback only, plain and TLS alike', async () => {
    for (const [registry, protocol] of [
      [plain, 'http:'],
      [secure, 'https:'],
    ] as const) {
      const client = createRegistryClient(`localhost:${portOf(registry)}`, { insecure: true });
      const requests = await requestsDuring(() => client.ping());
      expect(new Set(requests.map((request) => request.protocol)), registry.host).toEqual(
        new Set([protocol]),
      );
    }
  });
});

describe('speaksTls', () => {
  it('tells TLS from plain HTTP servers, and says nothing when it cannot tell', async () => {
    const tlsHost = await listen(
      createHttpsServer(
        { cert: await readFile(certificates.certificate), key: await readFile(certificates.key) },
        (_request, response) => response.end('x'),
      ),
    );
    const httpHost = await listen(createHttpServer((_request, response) => response.end('x')));
    // Accepts and closes at once; and one that answers neither TLS nor HTTP.
    const closing = await listen(createTcpServer((socket) => socket.destroy()));
    const other = await listen(createTcpServer((socket) => socket.end('SSH-2.0-OpenSSH_9.2\r\n')));
    expect(await speaksTls(tlsHost)).toBe(true);
    expect(await speaksTls(httpHost)).toBe(false);
    expect(await speaksTls(secure.host)).toBe(true);
    expect(await speaksTls(plain.host)).toBe(false);
    expect(await speaksTls(closing)).toBeUndefined();
    expect(await speaksTls(other)).toBeUndefined();
    // No port: https and http would be different ports (443, 80); the https probe decides.
    expect(await speaksTls('127.0.0.1')).toBeUndefined();
    expect(await speaksTls('::1')).toBeUndefined();
    // A port out of range: no answer (the https probe words the USAGE error), not a RangeError.
    expect(await speaksTls('127.0.0.1:99999')).toBeUndefined();
    expect(await speaksTls('127.0.0.1:0')).toBeUndefined();
    // Cancelled: no answer.
    expect(await speaksTls(httpHost, { signal: AbortSignal.abort() })).toBeUndefined();
    // The loopback-only resolver is used for the connection.
    expect(await speaksTls(`localhost:${httpHost.split(':')[1]}`, { lookup: loopbackOnlyLookup })).toBe(
      false,
    );
  });

  it('a server that never answers is given up after the timeout', async () => {
    const silent = await listen(createTcpServer(() => undefined));
    expect(await speaksTls(silent, { timeoutMs: 200 })).toBeUndefined();
  });
});
