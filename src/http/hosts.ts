/**
 * Host names as rampart's network rules read them (`HOST[:PORT]`, `[V6]:PORT`): which name a
 * registry or URL host is, and whether it is this machine (loopback). One place for both, used by
 * the registry transport's relaxed-TLS rule and by the HTTP client's choice of reader.
 */
import { isIPv4, isIPv6 } from 'node:net';

/**
 * Whether `value` is an IPv6 literal. Node's IPv6 pattern is costly on other strings (~10 ms to
 * compile, then ~2 ms a call on a `HOST:PORT`, and every registry command asks several times), and
 * a string with fewer than two colons cannot be one, so it is not run there.
 */
export function isIPv6Literal(value: string): boolean {
  return value.indexOf(':') !== value.lastIndexOf(':') && isIPv6(value);
}

/** The host name of `HOST[:PORT]` or `[V6]:PORT`, lowercased, without brackets. */
export function hostnameOf(registry: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(registry);
  if (bracketed?.[1]) return bracketed[1].toLowerCase();
  if (isIPv6Literal(registry)) return registry.toLowerCase();
  return registry.replace(/:\d+$/, '').toLowerCase();
}

/** 127.0.0.0/8, ::1 (and its IPv4-mapped form), `localhost`: traffic that never leaves the machine. */
export function isLoopbackHost(registry: string): boolean {
  const host = hostnameOf(registry);
  if (host === 'localhost') return true;
  if (isIPv4(host)) return host.split('.')[0] === '127';
  if (isIPv6Literal(host)) {
    if (host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host);
    return mapped?.[1] !== undefined && mapped[1].split('.')[0] === '127';
  }
  return false;
}
