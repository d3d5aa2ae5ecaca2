import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RampartError } from '../../../src/errors.js';
import { sha256Digest } from '../../../src/oci/digest.js';
import { createRegistryClient } from '../../../src/registry/client.js';
import { proxyEnvFor } from '../../../src/registry/transport.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { makeCertificates, type TestCertificates } from '../../helpers/registry-auth.js';

// Registry traffic through an HTTPS proxy (CONNECT), as fetch sends the Debian archive's: a TLS
// registry named `registry.test` (a name only the proxy knows: it tunnels it to 127.0.0.1).
const NAME = 'registry.test';
let work: string;
let certificates: TestCertificates;
let registry: TestRegistry;
let proxy: Server;
let proxyUrl: string;
/** The CONNECT targets the proxy was asked for. */
const tunnelled: string[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-registry-proxy-'));
  certificates = await makeCertificates(work, [NAME]);
  registry = await startRegistry({ tls: { certificate: certificates.certificate, key: certificates.key } });
  const registryPort = Number(registry.host.split(':')[1]);
  proxy = createServer((_request, answer) => {
    answer.statusCode = 405;
    answer.end();
  });
  proxy.on('connect', (request, client: Socket, head: Buffer) => {
    tunnelled.push(request.url ?? '');
    if (request.url !== `${NAME}:${registryPort}`) {
      client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      return;
    }
    const upstream = connect(registryPort, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
});
afterAll(async () => {
  proxy?.closeAllConnections();
  proxy?.close();
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

const port = () => registry.host.split(':')[1];

describe('registries behind an HTTPS proxy', () => {
  it('with NODE_USE_ENV_PROXY=1 and HTTPS_PROXY, registry requests are tunnelled through the proxy', async () => {
    tunnelled.length = 0;
    const client = createRegistryClient(`${NAME}:${port()}`, {
      caFile: certificates.caCertificate,
      env: { NODE_USE_ENV_PROXY: '1', HTTPS_PROXY: proxyUrl },
    });
    await client.ping();
    const blob = randomBytes(20_000);
    const descriptor = {
      mediaType: 'application/octet-stream',
      digest: sha256Digest(blob),
      size: blob.length,
    };
    expect(await client.pushBlob('proxied/app', descriptor, async () => Readable.from([blob]))).toBe(
      'pushed',
    );
    expect(await client.hasBlob('proxied/app', descriptor)).toBe(true);
    expect(tunnelled.length).toBeGreaterThan(0);
    expect(new Set(tunnelled)).toEqual(new Set([`${NAME}:${port()}`]));
  });

  it('NO_PROXY names a registry that is reached directly', async () => {
    tunnelled.length = 0;
    const client = createRegistryClient(`${NAME}:${port()}`, {
      caFile: certificates.caCertificate,
      env: { NODE_USE_ENV_PROXY: '1', HTTPS_PROXY: proxyUrl, NO_PROXY: NAME },
    });
    const error = await client.ping().catch((caught: unknown) => caught);
    // Directly, the name does not resolve: the request failed without the proxy.
    expect(error).toBeInstanceOf(RampartError);
    expect((error as RampartError).code).toBe('NETWORK');
    expect(tunnelled).toEqual([]);
  });

  it('a loopback registry is never proxied, --insecure or not', async () => {
    tunnelled.length = 0;
    const env = { NODE_USE_ENV_PROXY: '1', HTTPS_PROXY: proxyUrl, HTTP_PROXY: proxyUrl };
    await createRegistryClient(registry.host, { caFile: certificates.caCertificate, env }).ping();
    await createRegistryClient(`localhost:${port()}`, { insecure: true, env }).ping();
    expect(tunnelled).toEqual([]);
  });

  it('the proxy variables count only with NODE_USE_ENV_PROXY=1, as for fetch', () => {
    const env = { HTTPS_PROXY: proxyUrl, NO_PROXY: 'other.example' };
    expect(proxyEnvFor(NAME, env)).toBeUndefined();
    expect(proxyEnvFor(NAME, { ...env, NODE_USE_ENV_PROXY: 'true' })).toBeUndefined();
    expect(proxyEnvFor(NAME, { ...env, NODE_USE_ENV_PROXY: '1', HOME: '/root' })).toEqual(env);
    expect(proxyEnvFor('127.0.0.1:5000', { ...env, NODE_USE_ENV_PROXY: '1' })).toBeUndefined();
  });
});
