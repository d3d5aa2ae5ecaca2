/**
 * Host names as rampart's network rules read them (`HOST[:PORT]`, `[V6]:PORT`): which name a
 * registry or URL host is, and whether it is this machine (loopback). One place for both, used by
 * the registry transport's relaxed-TLS rule and by the HTTP client's choice of reader.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

let loopback: BlockList | undefined;
function loopbackBlock(): BlockList {
  if (!loopback) {
    loopback = new BlockList();
    loopback.addSubnet('127.0.0.0', 8, 'ipv4');
    loopback.addAddress('::1', 'ipv6');
  }
  return loopback;
}

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
  // ::1 and 127.0.0.0/8 in IPv6 forms too: `::ffff:127.0.0.1`, and the `::ffff:7f00:1` that URL
  // parsing writes for it (BlockList matches IPv4-mapped addresses against IPv4 ranges).
  if (isIPv6Literal(host)) return loopbackBlock().check(host, 'ipv6');
  return false;
}
