import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_KEYRING,
  expandSuites,
  mirrorForSuite,
  parseDeb822Sources,
  parseOneLineSources,
  readHostAptSources,
  resolveMirrors,
  selectMirrors,
} from '../../../src/debian/apt-sources.js';
import { isRampartError } from '../../../src/errors.js';

// Shaped like Debian's default /etc/apt/sources.list.d/debian.sources, with placeholder hosts.
const DEB822 = `Types: deb
# a comment apt allows
URIs: http://archive.example/debian/
Suites: trixie trixie-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://src.example/debian
Suites: trixie
Components: main

Types: deb
URIs: http://security.example/debian-security
Suites: trixie-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
Enabled: no
URIs: http://disabled.example/debian
Suites: sid
Components: main
`;

describe('apt sources', () => {
  it('parses deb822 sources, skipping deb-src and disabled entries', () => {
    const sources = parseDeb822Sources(DEB822);
    expect(sources).toEqual([
      {
        uris: ['http://archive.example/debian/'],
        suites: ['trixie', 'trixie-updates'],
        components: ['main'],
        signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg',
      },
      {
        uris: ['http://security.example/debian-security'],
        suites: ['trixie-security'],
        components: ['main'],
        signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg',
      },
    ]);
    expect(selectMirrors(sources)).toEqual({
      mirror: 'http://archive.example/debian',
      securityMirror: 'http://security.example/debian-security',
      keyring: '/usr/share/keyrings/debian-archive-keyring.gpg',
    });
  });

  it('parses one-line sources.list with options and comments', () => {
    const sources = parseOneLineSources(
      [
        '# deb http://commented.example/debian sid main',
        'deb [arch=amd64 signed-by=/etc/apt/keyrings/x.gpg] http://one.example/debian bookworm main contrib',
        'deb-src http://one.example/debian bookworm main',
        'deb http://sec.example/debian-security bookworm-security main # trailing',
      ].join('\n'),
    );
    expect(sources).toEqual([
      {
        uris: ['http://one.example/debian'],
        suites: ['bookworm'],
        components: ['main', 'contrib'],
        signedBy: '/etc/apt/keyrings/x.gpg',
      },
      { uris: ['http://sec.example/debian-security'], suites: ['bookworm-security'], components: ['main'] },
    ]);
    expect(selectMirrors(sources).securityMirror).toBe('http://sec.example/debian-security');
  });

  it('routes -security suites to the security mirror', () => {
    const mirrors = { mirror: 'http://a.example/debian', securityMirror: 'http://s.example/debian-security' };
    expect(mirrorForSuite('trixie', mirrors)).toBe('http://a.example/debian');
    expect(mirrorForSuite('trixie-updates', mirrors)).toBe('http://a.example/debian');
    expect(mirrorForSuite('bookworm-security', mirrors)).toBe('http://s.example/debian-security');
    expect(mirrorForSuite('trixie-security', { mirror: 'http://a.example/debian' })).toBe(
      'http://a.example/debian',
    );
  });

  it('reads an apt config directory and lets options override it', async () => {
    const etc = await mkdtemp(join(tmpdir(), 'rampart-etc-apt-'));
    try {
      await mkdir(join(etc, 'sources.list.d'));
      await writeFile(join(etc, 'sources.list.d', 'debian.sources'), DEB822);
      await writeFile(join(etc, 'sources.list.d', 'ignored.txt'), 'deb http://nope.example/x sid main\n');
      expect(await readHostAptSources(etc)).toHaveLength(2);
      expect(await resolveMirrors({}, etc)).toEqual({
        mirror: 'http://archive.example/debian',
        securityMirror: 'http://security.example/debian-security',
        keyring: '/usr/share/keyrings/debian-archive-keyring.gpg',
      });
      expect(
        await resolveMirrors({ mirror: 'http://override.example/debian/', keyring: '/k.gpg' }, etc),
      ).toEqual({
        mirror: 'http://override.example/debian',
        securityMirror: 'http://security.example/debian-security',
        keyring: '/k.gpg',
      });
    } finally {
      await rm(etc, { recursive: true, force: true });
    }
  });

  it('fails clearly without any mirror, and defaults the keyring', async () => {
    const error = await resolveMirrors({}, '/nonexistent').catch((e: unknown) => e);
    expect(isRampartError(error, 'USAGE')).toBe(true);
    expect((error as Error).message).toMatch(/--mirror/);
    expect((await resolveMirrors({ mirror: 'http://m.example/debian' }, '/nonexistent')).keyring).toBe(
      DEFAULT_KEYRING,
    );
  });
});

describe('expandSuites', () => {
  const names = (list: Array<{ suite: string; implied: boolean }>) =>
    list.map((s) => `${s.suite}${s.implied ? '*' : ''}`);

  it('adds -updates and -security to each release suite, as a Debian host reads them', () => {
    expect(names(expandSuites(['trixie']))).toEqual(['trixie', 'trixie-updates*', 'trixie-security*']);
    expect(names(expandSuites(['stable', 'bookworm']))).toEqual([
      'stable',
      'stable-updates*',
      'stable-security*',
      'bookworm',
      'bookworm-updates*',
      'bookworm-security*',
    ]);
  });

  it('keeps suites named already, adds nothing to suffixed or companionless suites, and obeys updates: false', () => {
    expect(names(expandSuites(['trixie', 'trixie-updates', 'trixie-security']))).toEqual([
      'trixie',
      'trixie-updates',
      'trixie-security',
    ]);
    expect(names(expandSuites(['trixie-security', 'trixie']))).toEqual([
      'trixie-security',
      'trixie',
      'trixie-updates*',
    ]);
    expect(names(expandSuites(['trixie-backports', 'sid', 'unstable', 'experimental']))).toEqual([
      'trixie-backports',
      'sid',
      'unstable',
      'experimental',
    ]);
    expect(names(expandSuites(['trixie'], { updates: false }))).toEqual(['trixie']);
  });
});
