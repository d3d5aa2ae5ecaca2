import type * as openpgp from 'openpgp';
import { RampartError } from '../errors.js';
import { field, parseDeb822 } from './deb822.js';

/** One `SHA256:` line of a Release file. */
export interface ReleaseFileEntry {
  sha256: string;
  size: number;
}

/** The fields of a signed Release that the client relies on. */
export interface Release {
  origin?: string;
  suite?: string;
  codename?: string;
  date: string;
  validUntil?: string;
  acquireByHash: boolean;
  architectures: string[];
  components: string[];
  /** Path relative to `dists/SUITE/` → size and SHA-256. */
  files: Map<string, ReleaseFileEntry>;
}

/** openpgp takes longer to load than the rest of the library: loaded when a signature is first read. */
const loadOpenpgp = () => import('openpgp');

/** Reads a keyring file's bytes: binary OpenPGP (possibly several keys concatenated) or ASCII armour. */
export async function readKeyring(bytes: Uint8Array, name: string): Promise<openpgp.PublicKey[]> {
  const pgp = await loadOpenpgp();
  try {
    const text = Buffer.from(bytes.subarray(0, 64)).toString('latin1');
    const keys = text.includes('-----BEGIN PGP')
      ? await pgp.readKeys({ armoredKeys: Buffer.from(bytes).toString('utf8') })
      : await pgp.readKeys({ binaryKeys: bytes });
    return keys.map((key) => key.toPublic());
  } catch (error) {
    throw new RampartError(
      'SIGNATURE_INVALID',
      `cannot read OpenPGP keyring ${name}: ${(error as Error).message}`,
      { cause: error, details: {} },
    );
  }
}

/**
 * Verifies an InRelease (clear-signed) document against `keys` and returns the signed text.
 * Only this returned text may be trusted: anything outside the signed part is discarded.
 */
export async function verifyInRelease(
  armored: string,
  keys: openpgp.PublicKey[],
  opts: { url: string; keyringName: string; now: Date },
): Promise<{ text: string; signingKeyIds: string[] }> {
  const pgp = await loadOpenpgp();
  let message: openpgp.CleartextMessage;
  try {
    message = await pgp.readCleartextMessage({ cleartextMessage: armored });
  } catch (error) {
    throw new RampartError(
      'SIGNATURE_INVALID',
      `${opts.url} is not a clear-signed OpenPGP document (${(error as Error).message}); the mirror may be broken or tampered with`,
      { cause: error, details: { url: opts.url } },
    );
  }
  const result = await pgp.verify({ message, verificationKeys: keys, date: opts.now });
  const signingKeyIds: string[] = [];
  const failures: string[] = [];
  for (const signature of result.signatures) {
    try {
      await signature.verified;
      signingKeyIds.push(signature.keyID.toHex());
    } catch (error) {
      failures.push(`${signature.keyID.toHex()}: ${(error as Error).message}`);
    }
  }
  if (signingKeyIds.length > 0) return { text: result.data, signingKeyIds };
  if (result.signatures.length === 0) {
    throw new RampartError(
      'SIGNATURE_INVALID',
      `${opts.url} carries no OpenPGP signature; refusing to trust it`,
      { details: { url: opts.url, keyIds: [] } },
    );
  }
  const keyIds = result.signatures.map((s) => s.keyID.toHex());
  // Unknown key: no key of the keyring has the signature's key id (asked of the keys, not of
  // openpgp's message text).
  const unknownKey = result.signatures.every((s) => keys.every((k) => k.getKeys(s.keyID).length === 0));
  if (unknownKey) {
    throw new RampartError(
      'SIGNATURE_INVALID',
      `${opts.url} is signed by unknown key ${keyIds.join(', ')}, not in keyring ${opts.keyringName}; pass the right --keyring`,
      { details: { url: opts.url, keyIds } },
    );
  }
  throw new RampartError(
    'SIGNATURE_INVALID',
    `bad OpenPGP signature on ${opts.url} (${failures.join('; ')}); the file may have been tampered with`,
    { details: { url: opts.url, keyIds } },
  );
}

/** Parses a Release date (RFC 2822, `UTC` or `GMT` or an offset). */
export function parseReleaseDate(value: string, what: string, url: string): Date {
  const date = new Date(value.replace(/\bUTC$/, 'GMT'));
  if (Number.isNaN(date.getTime())) {
    throw new RampartError('MALFORMED_CONTROL', `${url}: cannot parse ${what} "${value}"`, {
      details: { url, field: what },
    });
  }
  return date;
}

/** Parses the signed Release text (one deb822 paragraph). */
export function parseRelease(text: string, url: string): Release {
  const paragraph = parseDeb822(text)[0];
  if (!paragraph) throw new RampartError('MALFORMED_CONTROL', `${url}: empty Release`, { details: { url } });
  const files = new Map<string, ReleaseFileEntry>();
  for (const line of (field(paragraph, 'sha256') ?? '').split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 3) continue;
    const [sha256, size, path] = parts as [string, string, string];
    if (!/^[0-9a-f]{64}$/.test(sha256) || !/^\d+$/.test(size)) continue;
    files.set(path, { sha256, size: Number(size) });
  }
  const date = field(paragraph, 'date')?.trim();
  if (!date) {
    throw new RampartError('MALFORMED_CONTROL', `${url}: Release has no Date field`, {
      details: { url, field: 'Date' },
    });
  }
  const validUntil = field(paragraph, 'valid-until')?.trim();
  const suite = field(paragraph, 'suite')?.trim();
  const codename = field(paragraph, 'codename')?.trim();
  const origin = field(paragraph, 'origin')?.trim();
  const list = (name: string) => (field(paragraph, name) ?? '').split(/\s+/).filter(Boolean);
  return {
    ...(origin ? { origin } : {}),
    ...(suite ? { suite } : {}),
    ...(codename ? { codename } : {}),
    date,
    ...(validUntil ? { validUntil } : {}),
    acquireByHash: (field(paragraph, 'acquire-by-hash') ?? '').trim().toLowerCase() === 'yes',
    architectures: list('architectures'),
    components: list('components'),
    files,
  };
}

/** Refuses a Release whose Valid-Until has passed (replay of an old, signed index). */
export function checkReleaseFreshness(release: Release, now: Date, url: string): void {
  if (!release.validUntil) return;
  const validUntil = parseReleaseDate(release.validUntil, 'Valid-Until', url);
  if (validUntil.getTime() < now.getTime()) {
    throw new RampartError(
      'RELEASE_EXPIRED',
      `${url} expired at ${release.validUntil} (now ${now.toUTCString()}); the mirror is stale or replaying an old Release — use another mirror`,
      { details: { url, validUntil: release.validUntil } },
    );
  }
}

/**
 * Refuses a Release whose Suite and Codename both differ from the requested suite: one key
 * signs every suite of an archive, so a mirror could otherwise answer a request for one suite
 * with another suite's (older, validly signed) Release.
 */
export function checkReleaseSuite(release: Release, requested: string, url: string): void {
  if (release.suite === undefined && release.codename === undefined) return;
  if (release.suite === requested || release.codename === requested) return;
  throw new RampartError(
    'SIGNATURE_INVALID',
    `${url} is signed for suite ${release.suite ?? '-'} (codename ${release.codename ?? '-'}), not ${requested}; the mirror serves the wrong Release — use another mirror`,
    { details: { url } },
  );
}

/** How far a Release `Date` may be ahead of the clock before it is refused. */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 5 * 60_000;
/** A Release without Valid-Until older than this gets a warning. */
export const DEFAULT_MAX_RELEASE_AGE_MS = 30 * 86_400_000;

/**
 * The replay and clock checks on a verified Release's `Date`: refuses a date further in the
 * future than `maxClockSkewMs` (a forged clock, or a signed Release from a broken archive), and
 * one older than `newestSeen` — the newest Date this cache has verified for the suite — since
 * a mirror or man in the middle could otherwise serve an older, validly signed Release and hide
 * every fix published since (a downgrade), unless `allowDowngrade`. Returns a warning when the
 * Release has no Valid-Until and is older than `maxAgeMs`: nothing else bounds its replay.
 */
export function checkReleaseDate(
  release: Release,
  opts: {
    url: string;
    now: Date;
    newestSeen?: string;
    allowDowngrade?: boolean;
    maxClockSkewMs?: number;
    maxAgeMs?: number;
  },
): { warning?: string } {
  const { url, now } = opts;
  const date = parseReleaseDate(release.date, 'Date', url);
  const skew = opts.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
  if (date.getTime() > now.getTime() + skew) {
    throw new RampartError(
      'RELEASE_DATE_INVALID',
      `${url} is dated ${release.date}, in the future (now ${now.toUTCString()}); check this machine's clock, or the mirror is broken or hostile`,
      { details: { url, date: release.date, reason: 'future' } },
    );
  }
  if (opts.newestSeen !== undefined && !opts.allowDowngrade) {
    const newest = parseReleaseDate(opts.newestSeen, 'Date', url);
    if (date.getTime() < newest.getTime()) {
      throw new RampartError(
        'RELEASE_DATE_INVALID',
        `${url} is dated ${release.date}, older than the ${opts.newestSeen} already verified for this suite: the mirror is stale or replaying an old Release; use another mirror, or pass --allow-downgrade if the older archive is intended (e.g. a snapshot)`,
        { details: { url, date: release.date, newestSeen: opts.newestSeen, reason: 'downgrade' } },
      );
    }
  }
  const maxAgeMs = opts.maxAgeMs ?? DEFAULT_MAX_RELEASE_AGE_MS;
  const age = now.getTime() - date.getTime();
  if (release.validUntil === undefined && age > maxAgeMs) {
    return {
      warning: `${url} is dated ${release.date} (${Math.floor(age / 86_400_000)} days ago) and has no Valid-Until; if the mirror should be newer, it may be stale or replaying an old Release`,
    };
  }
  return {};
}
