import { RampartError } from '../errors.js';

/** A parsed `[epoch:]upstream[-revision]` Debian version (Debian Policy §5.6.12). */
export interface DebianVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

export type VersionOp = '<<' | '<=' | '=' | '>=' | '>>';

/**
 * Parse like dpkg's parseversion(): the epoch runs to the first ':', the revision starts
 * after the last '-'. Like dpkg we are lenient about upstream versions that do not start
 * with a digit (dpkg only warns), but reject empty parts and whitespace.
 */
export function parseVersion(v: string): DebianVersion {
  const text = v.trim();
  if (text === '') throw malformedVersion(v, 'empty Debian version string');
  if (/\s/.test(text)) {
    throw malformedVersion(v, `Debian version ${JSON.stringify(v)} contains whitespace`);
  }
  let epoch = 0;
  let rest = text;
  const colon = text.indexOf(':');
  if (colon !== -1) {
    const epochText = text.slice(0, colon);
    // dpkg reads the epoch with strtol(), which accepts a sign; '-0' is still epoch 0.
    const value = Number(epochText);
    if (!/^[+-]?[0-9]+$/.test(epochText) || value < 0 || value > 0x7fffffff) {
      throw malformedVersion(v, `Debian version ${JSON.stringify(v)} has an invalid epoch`);
    }
    epoch = value === 0 ? 0 : value;
    rest = text.slice(colon + 1);
  }
  let upstream = rest;
  let revision = '';
  const dash = rest.lastIndexOf('-');
  if (dash !== -1) {
    upstream = rest.slice(0, dash);
    revision = rest.slice(dash + 1);
    if (revision === '') {
      throw malformedVersion(v, `Debian version ${JSON.stringify(v)} has an empty revision`);
    }
  }
  if (upstream === '') {
    throw malformedVersion(v, `Debian version ${JSON.stringify(v)} has an empty upstream part`);
  }
  return { epoch, upstream, revision };
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

// dpkg's order(): '~' sorts before everything, even the end of the string; letters sort
// before all other characters.
function order(c: number): number {
  if (Number.isNaN(c) || isDigit(c)) return 0;
  if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) return c;
  if (c === 0x7e) return -1;
  return c + 256;
}

/** dpkg's verrevcmp(): alternating non-digit and digit runs. */
export function compareVersionParts(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(a.charCodeAt(i))) || (j < b.length && !isDigit(b.charCodeAt(j)))) {
      const ac = order(a.charCodeAt(i));
      const bc = order(b.charCodeAt(j));
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a.charCodeAt(i) === 0x30) i++;
    while (b.charCodeAt(j) === 0x30) j++;
    // Compare digit runs of any length without converting to numbers: the longer run wins,
    // and for equal lengths the first differing digit decides.
    while (i < a.length && isDigit(a.charCodeAt(i)) && j < b.length && isDigit(b.charCodeAt(j))) {
      if (firstDiff === 0) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < a.length && isDigit(a.charCodeAt(i))) return 1;
    if (j < b.length && isDigit(b.charCodeAt(j))) return -1;
    if (firstDiff !== 0) return firstDiff;
  }
  return 0;
}

export function compareParsedVersions(a: DebianVersion, b: DebianVersion): number {
  if (a.epoch !== b.epoch) return a.epoch < b.epoch ? -1 : 1;
  return compareVersionParts(a.upstream, b.upstream) || compareVersionParts(a.revision, b.revision);
}

// Versions repeat a lot in indexes and resolution; parsing once per string is worth a cache.
const parsedCache = new Map<string, DebianVersion>();

function cachedParse(v: string): DebianVersion {
  let parsed = parsedCache.get(v);
  if (parsed === undefined) {
    parsed = parseVersion(v);
    if (parsedCache.size > 100_000) parsedCache.clear();
    parsedCache.set(v, parsed);
  }
  return parsed;
}

/** Negative if a < b, 0 if equal (as dpkg sees them), positive if a > b. */
export function compareVersions(a: string, b: string): number {
  if (a === b) return 0;
  const result = compareParsedVersions(cachedParse(a), cachedParse(b));
  return result < 0 ? -1 : result > 0 ? 1 : 0;
}

export function satisfiesConstraint(version: string, op: VersionOp, target: string): boolean {
  const c = compareVersions(version, target);
  switch (op) {
    case '<<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '=':
      return c === 0;
    case '>=':
      return c >= 0;
    case '>>':
      return c > 0;
  }
}

function malformedVersion(v: string, message: string): RampartError<'MALFORMED_CONTROL'> {
  return new RampartError('MALFORMED_CONTROL', message, { details: { field: 'Version', value: v } });
}
