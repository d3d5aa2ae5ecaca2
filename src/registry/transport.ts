/**
 * How a registry host is reached: which API host (Docker Hub's API lives on another name), which
 * scheme, and whether TLS may go unverified. The rules, in one place:
 *
 * - Default: https with the system roots (plus `caFile`), never plain http.
 * - `insecure: true` relaxes that for loopback hosts only (127.0.0.0/8, ::1, localhost): a
 *   typo'd or spoofed name must not silently lose TLS. Any other host is relaxed only when named
 *   in `insecure` (`['registry.internal:5000']`), and then with a warning event.
 * - A relaxed host is tried with https first (certificate not checked), then plain http, as
 *   docker and skopeo do for insecure registries; the scheme that answered is kept. When the port
 *   is known, a TLS ClientHello sent over plain TCP asks first (`speaksTls`): a server that
 *   answers it in plain HTTP gets http without `node:tls` being loaded (30-50 ms of a command's
 *   start); one that answers in TLS, or anything unclear, goes through the https probe as before.
 * - Loopback is decided on the name (`localhost`, 127.0.0.0/8, ::1), and a relaxed `localhost`
 *   must also resolve to loopback addresses only: a resolver that answers otherwise (a DNS
 *   query for `localhost`, a hosts file changed) would send plain http across the network.
 *   docker resolves every registry name and checks the addresses against its insecure ranges
 *   (127.0.0.0/8 by default); here other names are never relaxed without being named.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { RampartError } from '../errors.js';
import { environmentProxy, FREE_SOCKET_TIMEOUT_MS, keepAliveAgents } from '../http/agents.js';
import { type HttpAgents, HttpClient } from '../http/client.js';
import { hostnameOf, isIPv6Literal, isLoopbackHost } from '../http/hosts.js';

export { FREE_SOCKET_TIMEOUT_MS, hostnameOf, isLoopbackHost };

import type { RegistryEvent, RegistryOptions } from './types.js';

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';

/** The host the API is served from: `docker.io` → `registry-1.docker.io`, anything else as is. */
export function apiHostOf(registry: string): string {
  return registry === DOCKER_HUB || registry === 'index.docker.io' ? DOCKER_HUB_API : registry;
}

/**
 * Whether `registry` may use plain http or unverified TLS under `insecure`. A non-loopback host
 * named explicitly gets a warning event; `insecure: true` does not reach a non-loopback host (it
 * keeps verified https, with a warning saying so), since that would drop TLS for a host the user
 * never named — and one command may talk to a local and a remote registry.
 */
export function insecureAllowed(
  registry: string,
  insecure: RegistryOptions['insecure'],
  onEvent?: (event: RegistryEvent) => void,
): boolean {
  if (insecure === undefined || insecure === false) return false;
  const named = Array.isArray(insecure) && insecure.some((entry) => sameRegistry(entry, registry));
  if (isLoopbackHost(registry)) return insecure === true || named;
  if (named) {
    onEvent?.({
      kind: 'warning',
      message: `TLS verification is off for ${registry} (named as insecure): anyone on the network path can read and change what is sent`,
    });
    return true;
  }
  if (insecure === true) {
    onEvent?.({
      kind: 'warning',
      message: `--insecure applies to loopback registries only: ${registry} keeps verified https (name it, --insecure=${registry}, to turn verification off for it)`,
    });
  }
  return false;
}

function sameRegistry(a: string, b: string): boolean {
  return a.trim().toLowerCase() === b.toLowerCase();
}

export interface TlsSettings {
  /** Extra CA certificates (PEM), trusted besides Node's default roots. */
  caFile?: string;
  /** Skip certificate verification (only for hosts `insecureAllowed` let through). */
  insecure?: boolean;
  /** Connect only to loopback addresses (a relaxed `localhost`: see the module comment). */
  loopbackOnly?: boolean;
  /**
   * `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` (and lowercase) to send through: what `proxyEnvFor`
   * decided, nothing for a direct connection.
   */
  proxyEnv?: NodeJS.ProcessEnv;
  /** How long an unused pooled connection is kept. Default `FREE_SOCKET_TIMEOUT_MS`. */
  freeSocketTimeoutMs?: number;
}

/**
 * The proxy variables a registry's connections follow, or undefined for direct connections. The
 * rule is fetch's (Node's built-in proxy support), so that one switch sends all of rampart's
 * traffic (the Debian archive through fetch, registries through `node:http`) the same way:
 * `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` are honoured when `NODE_USE_ENV_PROXY=1` is set (in `env`,
 * or Node was started with `--use-env-proxy`). A loopback registry is never proxied (Go's
 * `http.ProxyFromEnvironment` skips loopback too): a proxy cannot reach this machine's 127.0.0.1,
 * and the loopback-only lookup of a relaxed `localhost` must see the registry's own addresses.
 */
export function proxyEnvFor(registry: string, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv | undefined {
  return isLoopbackHost(registry) ? undefined : environmentProxy(env);
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** A `net.connect` lookup that resolves as usual and refuses any address that is not loopback. */
export function loopbackOnlyLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    const outside = addresses.find(
      (entry) => !isLoopbackHost(entry.family === 6 ? `[${entry.address}]` : entry.address),
    );
    const first = addresses[0];
    if (outside !== undefined || first === undefined) {
      const refused: NodeJS.ErrnoException = new Error(
        `${hostname} resolves to ${outside?.address ?? 'no address'}, not a loopback address; refusing plain http or unverified TLS to it`,
      );
      refused.code = 'ENOTLOOPBACK';
      return callback(refused, []);
    }
    if (options.all) callback(null, addresses);
    else callback(null, first.address, first.family);
  });
}

/**
 * The connection pools a registry's HTTP client sends through (`node:http`/`node:https`, Node
 * streams both ways, see http/client.ts), with these TLS settings: extra CA certificates, the
 * verification switch, the loopback-only lookup (for plain http too), the proxy. Made at the
 * first request; the CA file is read then. Kept-alive connections do not hold the process open
 * (the agents unref idle sockets) and close after `FREE_SOCKET_TIMEOUT_MS` unused;
 * `HttpClient.close()` ends them at once.
 */
export function registryAgents(settings: TlsSettings): () => Promise<HttpAgents> {
  return async () => {
    // Without a CA file, TLS uses Node's default list by itself; parsing it here cost ~0.2 s.
    const ca = settings.caFile
      ? [
          ...process.getBuiltinModule('node:tls').getCACertificates('default'),
          await readCaFile(settings.caFile),
        ]
      : undefined;
    // The loopback-only lookup resolves the registry itself: never with a proxy (`proxyEnvFor`).
    const route = settings.loopbackOnly
      ? { lookup: loopbackOnlyLookup }
      : settings.proxyEnv
        ? { proxyEnv: settings.proxyEnv }
        : {};
    return keepAliveAgents(
      route,
      { ...(ca ? { ca } : {}), rejectUnauthorized: !settings.insecure },
      settings.freeSocketTimeoutMs ?? FREE_SOCKET_TIMEOUT_MS,
    );
  };
}

async function readCaFile(path: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (error) {
    throw new RampartError('NOT_FOUND', `cannot read the CA file ${path}: ${(error as Error).message}`, {
      cause: error,
      details: { path },
    });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new RampartError('USAGE', `${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`, {
      details: { option: 'ca-file', value: path },
    });
  }
  return pem;
}

/** The HTTP client for one registry host when the caller passed none. */
export function registryHttpClient(settings: TlsSettings): HttpClient {
  return new HttpClient({ agents: registryAgents(settings) });
}

/**
 * A TLS 1.2 ClientHello (ECDHE with AES-GCM, P-256, no server name: a relaxed host is loopback or
 * named by the user, often an IP address). Its `random` ends in CR LF CR LF, so a plain HTTP
 * server reading it as a request line and headers meets their end and answers (400) at once
 * instead of waiting for more bytes. The random is fixed: this connection never carries data, no
 * handshake is completed on it.
 */
const CLIENT_HELLO = (() => {
  const hex = (...parts: string[]) => Buffer.from(parts.join('').replaceAll(' ', ''), 'hex');
  const sized = (bytes: Buffer, width: number) => {
    const length = Buffer.alloc(width);
    length.writeUIntBE(bytes.length, 0, width);
    return Buffer.concat([length, bytes]);
  };
  const extensions = hex(
    '000a 0004 0002 0017', // supported_groups: secp256r1
    '000b 0002 01 00', // ec_point_formats: uncompressed
    '000d 0006 0004 0403 0401', // signature_algorithms: ECDSA and RSA with SHA-256
  );
  const hello = Buffer.concat([
    hex('0303', '00'.repeat(28), '0d0a0d0a'), // TLS 1.2, random
    hex('00'), // no session id
    hex('0004 c02b c02f'), // ECDHE-ECDSA and ECDHE-RSA with AES-128-GCM
    hex('01 00'), // no compression
    sized(extensions, 2),
  ]);
  const handshake = Buffer.concat([hex('01'), sized(hello, 3)]);
  return Buffer.concat([hex('16 0301'), sized(handshake, 2)]);
})();

/** How long the plain-TCP TLS question may take before the https probe decides instead. */
const SNIFF_TIMEOUT_MS = 2_000;

/**
 * Whether the server at `HOST:PORT` speaks TLS, asked over a plain TCP connection with a
 * ClientHello (see `CLIENT_HELLO`): true when the answer is a TLS record (a handshake or an
 * alert), false when it is plain HTTP (`HTTP/`), undefined when it cannot tell (no port, no
 * answer, a refused or reset connection, anything else): the caller then probes https as usual.
 * Written here because no library asks this without loading `node:tls`, which is the cost this
 * avoids. `lookup` is the connection's resolver (`loopbackOnlyLookup` for a relaxed `localhost`).
 * A proxied registry must not be asked this way: the connection would bypass the proxy.
 */
export function speaksTls(
  hostAndPort: string,
  options: { lookup?: typeof loopbackOnlyLookup; signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<boolean | undefined> {
  const port = /:(\d{1,5})$/.exec(hostAndPort)?.[1];
  const host = hostnameOf(hostAndPort);
  // A bare IPv6 address ends in digits after a colon but names no port.
  if (port === undefined || (isIPv6Literal(hostAndPort) && !hostAndPort.startsWith('['))) {
    return Promise.resolve(undefined);
  }
  // A port out of range (or 0) is left to the https probe and its errors.
  const number = Number(port);
  if (options.signal?.aborted || number < 1 || number > 65_535) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    let socket: Socket;
    try {
      socket = connect({ host, port: number, ...(options.lookup ? { lookup: options.lookup } : {}) });
    } catch {
      resolve(undefined);
      return;
    }
    const done = (answer: boolean | undefined) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', aborted);
      socket.destroy();
      resolve(answer);
    };
    const aborted = () => done(undefined);
    const timer = setTimeout(aborted, options.timeoutMs ?? SNIFF_TIMEOUT_MS);
    options.signal?.addEventListener('abort', aborted, { once: true });
    let head = Buffer.alloc(0);
    socket.on('connect', () => socket.write(CLIENT_HELLO));
    socket.on('data', (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]).subarray(0, 5);
      const first = head[0];
      // TLS record types: 0x16 handshake (ServerHello), 0x15 alert (a refusal, still TLS).
      if (first === 0x16 || first === 0x15) return done(true);
      if (head.length < 5) return;
      done(head.toString('latin1') === 'HTTP/' ? false : undefined);
    });
    socket.on('error', () => done(undefined));
    socket.on('close', () => done(undefined));
  });
}
