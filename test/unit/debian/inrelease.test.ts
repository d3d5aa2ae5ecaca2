import { describe, expect, it } from 'vitest';
import {
  checkReleaseDate,
  checkReleaseFreshness,
  checkReleaseSuite,
  parseRelease,
} from '../../../src/debian/inrelease.js';
import { isRampartError } from '../../../src/errors.js';

// Trimmed from the shape of a Debian Release file; hashes are made up.
const RELEASE = `Origin: Debian
Label: Debian-Security
Suite: stable-security
Codename: trixie-security
Date: Sat, 21 Nov 2026 09:15:44 UTC
Valid-Until: Sat, 28 Nov 2026 09:15:44 UTC
Acquire-By-Hash: yes
Architectures: amd64 arm64
Components: updates/main
Description: Debian 13 - Security Updates
MD5Sum:
 00000000000000000000000000000000  1234 main/binary-amd64/Packages
SHA256:
 ${'a'.repeat(64)}  1234567 main/binary-amd64/Packages
 ${'b'.repeat(64)}   234567 main/binary-amd64/Packages.xz
 ${'c'.repeat(63)}   234567 main/binary-amd64/Bad
`;

describe('Release parsing', () => {
  it('reads the fields and the SHA256 list', () => {
    const release = parseRelease(RELEASE, 'http://m.example/InRelease');
    expect(release).toMatchObject({
      suite: 'stable-security',
      codename: 'trixie-security',
      date: 'Sat, 21 Nov 2026 09:15:44 UTC',
      validUntil: 'Sat, 28 Nov 2026 09:15:44 UTC',
      acquireByHash: true,
      architectures: ['amd64', 'arm64'],
      components: ['updates/main'],
    });
    expect([...release.files]).toEqual([
      ['main/binary-amd64/Packages', { sha256: 'a'.repeat(64), size: 1234567 }],
      ['main/binary-amd64/Packages.xz', { sha256: 'b'.repeat(64), size: 234567 }],
    ]);
  });

  it('enforces Valid-Until against the given clock', () => {
    const release = parseRelease(RELEASE, 'u');
    expect(() => checkReleaseFreshness(release, new Date('2026-11-28T09:15:43Z'), 'u')).not.toThrow();
    let error: unknown;
    try {
      checkReleaseFreshness(release, new Date('2026-11-28T09:15:45Z'), 'http://m.example/dists/x/InRelease');
    } catch (e) {
      error = e;
    }
    expect(isRampartError(error, 'RELEASE_EXPIRED')).toBe(true);
    expect((error as Error).message).toContain('http://m.example/dists/x/InRelease');
    const noExpiry = parseRelease(RELEASE.replace(/^Valid-Until:.*\n/m, ''), 'u');
    expect(() => checkReleaseFreshness(noExpiry, new Date('2100-01-01'), 'u')).not.toThrow();
  });

  it('refuses a Release without Date or with an unreadable Valid-Until', () => {
    expect(() => parseRelease(RELEASE.replace(/^Date:.*\n/m, ''), 'u')).toThrow(/no Date/);
    const bad = parseRelease(RELEASE.replace(/^Valid-Until:.*$/m, 'Valid-Until: someday'), 'u');
    expect(() => checkReleaseFreshness(bad, new Date(), 'u')).toThrow(/Valid-Until/);
  });
});

describe('Release suite check', () => {
  const release = parseRelease(RELEASE, 'u');

  it('accepts the requested suite by Suite or by Codename', () => {
    expect(() => checkReleaseSuite(release, 'stable-security', 'u')).not.toThrow();
    expect(() => checkReleaseSuite(release, 'trixie-security', 'u')).not.toThrow();
  });

  it("refuses another suite's signed Release served for the requested one", () => {
    let error: unknown;
    try {
      checkReleaseSuite(release, 'forky-security', 'http://m.example/dists/forky-security/InRelease');
    } catch (e) {
      error = e;
    }
    expect(isRampartError(error, 'SIGNATURE_INVALID')).toBe(true);
    expect((error as Error).message).toMatch(
      /forky-security.*trixie-security|trixie-security.*forky-security/,
    );
  });
});

describe('Release date checks', () => {
  const url = 'http://mirror.example/debian/dists/trixie/InRelease';
  const release = (date: string, validUntil?: string) =>
    parseRelease(`Origin: Debian\nDate: ${date}\n${validUntil ? `Valid-Until: ${validUntil}\n` : ''}`, url);
  const now = new Date('2026-06-01T12:00:00Z');
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      return isRampartError(error) ? { code: error.code, details: error.details } : error;
    }
    return undefined;
  };

  it('accepts a date within the skew and refuses one beyond it', () => {
    expect(checkReleaseDate(release('Mon, 01 Jun 2026 12:04:00 UTC'), { url, now })).toEqual({});
    expect(code(() => checkReleaseDate(release('Mon, 01 Jun 2026 12:06:00 UTC'), { url, now }))).toEqual({
      code: 'RELEASE_DATE_INVALID',
      details: { url, date: 'Mon, 01 Jun 2026 12:06:00 UTC', reason: 'future' },
    });
    expect(
      checkReleaseDate(release('Tue, 01 Jun 2027 12:00:00 UTC'), {
        url,
        now,
        maxClockSkewMs: 400 * 86_400_000,
      }),
    ).toEqual({});
  });

  it('refuses a date older than the newest seen; the same date (a 304, a rerun) passes', () => {
    const newestSeen = 'Sat, 30 May 2026 09:00:00 UTC';
    expect(checkReleaseDate(release(newestSeen), { url, now, newestSeen })).toEqual({});
    expect(
      code(() => checkReleaseDate(release('Fri, 29 May 2026 09:00:00 UTC'), { url, now, newestSeen })),
    ).toEqual({
      code: 'RELEASE_DATE_INVALID',
      details: { url, date: 'Fri, 29 May 2026 09:00:00 UTC', newestSeen, reason: 'downgrade' },
    });
    expect(
      checkReleaseDate(release('Fri, 29 May 2026 09:00:00 UTC'), {
        url,
        now,
        newestSeen,
        allowDowngrade: true,
      }),
    ).toEqual({});
  });

  it('warns about an old Release only when it has no Valid-Until', () => {
    const old = 'Thu, 01 Jan 2026 00:00:00 UTC';
    expect(checkReleaseDate(release(old), { url, now }).warning).toContain(url);
    expect(checkReleaseDate(release(old, 'Tue, 01 Dec 2026 00:00:00 UTC'), { url, now })).toEqual({});
    expect(checkReleaseDate(release(old), { url, now, maxAgeMs: 365 * 86_400_000 })).toEqual({});
  });

  it('refuses an unparseable date as MALFORMED_CONTROL', () => {
    expect(code(() => checkReleaseDate(release('yesterday-ish'), { url, now }))).toMatchObject({
      code: 'MALFORMED_CONTROL',
      details: { url, field: 'Date' },
    });
  });
});
