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
      {
        cause: error,
      },
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
      { cause: error },
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
    );
  }
  const unknownKey = failures.every((f) => /could not find signing key/i.test(f));
  if (unknownKey) {
    const ids = result.signatures.map((s) => s.keyID.toHex()).join(', ');
    throw new RampartError(
      'SIGNATURE_INVALID',
      `${opts.url} is signed by unknown key ${ids}, not in keyring ${opts.keyringName}; pass the right --keyring`,
    );
  }
  throw new RampartError(
    'SIGNATURE_INVALID',
    `bad OpenPGP signature on ${opts.url} (${failures.join('; ')}); the file may have been tampered with`,
  );
}

function parseReleaseDate(value: string, what: string, url: string): Date {
  const date = new Date(value.replace(/\bUTC$/, 'GMT'));
  if (Number.isNaN(date.getTime())) {
    throw new RampartError('MALFORMED_CONTROL', `${url}: cannot parse ${what} "${value}"`);
  }
  return date;
}

/** Parses the signed Release text (one deb822 paragraph). */
export function parseRelease(text: string, url: string): Release {
  const paragraph = parseDeb822(text)[0];
  if (!paragraph) throw new RampartError('MALFORMED_CONTROL', `${url}: empty Release`);
  const files = new Map<string, ReleaseFileEntry>();
  for (const line of (field(paragraph, 'sha256') ?? '').split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 3) continue;
    const [sha256, size, path] = parts as [string, string, string];
    if (!/^[0-9a-f]{64}$/.test(sha256) || !/^\d+$/.test(size)) continue;
    files.set(path, { sha256, size: Number(size) });
  }
  const date = field(paragraph, 'date')?.trim();
  if (!date) throw new RampartError('MALFORMED_CONTROL', `${url}: Release has no Date field`);
  const validUntil = field(paragraph, 'valid-until')?.trim();
  const suite = field(paragraph, 'suite')?.trim();
  const codename = field(paragraph, 'codename')?.trim();
  const list = (name: string) => (field(paragraph, name) ?? '').split(/\s+/).filter(Boolean);
  return {
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
  );
}
