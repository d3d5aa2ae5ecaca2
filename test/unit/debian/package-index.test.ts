import { describe, expect, it } from 'vitest';
import { PackageIndex, parsePackagesFile } from '../../../src/debian/package-index.js';

const SHA = (c: string) => c.repeat(64);

const PACKAGES = `Package: libc6
Source: glibc
Version: 2.36-9+deb12u4
Installed-Size: 12991
Maintainer: GNU Libc Maintainers <glibc-maintainers@example.org>
Architecture: amd64
Multi-Arch: same
Replaces: libc6-amd64
Depends: libgcc-s1
Recommends: libidn2-0 (>= 2.0.5~)
Suggests: glibc-doc, debconf | debconf-2.0, libc-l10n, locales (>= 2.36), libnss-nis, libnss-nisplus
Breaks: aide (<< 0.17.3-4+b3), busybox (<< 1.30.1-6)
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.
Homepage: https://www.gnu.org/software/libc/libc.html
Description-md5: fc3001b0b90a1c8e6690b283a619d57f
Tag: role::shared-lib
Section: libs
Priority: optional
Filename: pool/main/g/glibc/libc6_2.36-9+deb12u4_amd64.deb
Size: 2757936
MD5sum: 0ed1a6d2e1b9c2e2e7e7e0c5e0e0e0e0
SHA256: ${SHA('a')}

Package: libgcc-s1
Source: gcc-12 (12.2.0-14)
Version: 12.2.0-14
Architecture: amd64
Multi-Arch: same
Pre-Depends: libc6 (>= 2.35)
Provides: libgcc1 (= 1:12.2.0-14)
Essential: yes
Filename: pool/main/g/gcc-12/libgcc-s1_12.2.0-14_amd64.deb
Size: 49000
SHA256: ${SHA('b')}

Package: mawk
Version: 1.3.4.20200120-3.1
Architecture: amd64
Multi-Arch: foreign
Provides: awk
Filename: pool/main/m/mawk/mawk_1.3.4.20200120-3.1_amd64.deb
Size: 120000
SHA256: ${SHA('c')}
`;

describe('parsePackagesFile', () => {
  it('extracts the fields the resolver, lock and SBOM need', () => {
    const [libc6, libgcc, mawk] = parsePackagesFile(PACKAGES, { suite: 'bookworm', component: 'main' });
    expect(libc6).toMatchObject({
      name: 'libc6',
      version: '2.36-9+deb12u4',
      architecture: 'amd64',
      multiArch: 'same',
      source: 'glibc',
      sourceVersion: '2.36-9+deb12u4',
      depends: [[{ name: 'libgcc-s1' }]],
      preDepends: [],
      recommends: [[{ name: 'libidn2-0', version: { op: '>=', version: '2.0.5~' } }]],
      provides: [],
      essential: false,
      priority: 'optional',
      section: 'libs',
      filename: 'pool/main/g/glibc/libc6_2.36-9+deb12u4_amd64.deb',
      size: 2757936,
      sha256: SHA('a'),
      installedSize: 12991,
      description: 'GNU C Library: Shared libraries',
      suite: 'bookworm',
      component: 'main',
    });
    expect(libc6?.paragraph).toBeUndefined();
    expect(libgcc).toMatchObject({
      source: 'gcc-12',
      sourceVersion: '12.2.0-14',
      essential: true,
      preDepends: [[{ name: 'libc6', version: { op: '>=', version: '2.35' } }]],
      provides: [{ name: 'libgcc1', version: { op: '=', version: '1:12.2.0-14' } }],
    });
    // No Source field: the binary name and version stand in.
    expect(mawk).toMatchObject({ source: 'mawk', sourceVersion: '1.3.4.20200120-3.1', multiArch: 'foreign' });
  });

  it('keeps the raw paragraph on request', () => {
    const [libc6] = parsePackagesFile(PACKAGES, { suite: 'bookworm' }, { keepParagraph: true });
    expect(libc6?.paragraph?.get('breaks')).toBe('aide (<< 0.17.3-4+b3), busybox (<< 1.30.1-6)');
    expect(libc6?.component).toBeUndefined();
  });

  it('names the index and the stanza line when a required field is missing', () => {
    const text = `${PACKAGES}\nPackage: broken\nArchitecture: amd64\n`;
    expect(() => parsePackagesFile(text, { suite: 'trixie', component: 'main' })).toThrowError(
      expect.objectContaining({
        code: 'MALFORMED_CONTROL',
        message: expect.stringMatching(/trixie\/main.*line 47/),
      }),
    );
  });

  it('prefixes deb822 syntax errors with the index name', () => {
    expect(() => parsePackagesFile('Package: a\nnot a field\n', { suite: 'sid' })).toThrowError(
      expect.objectContaining({
        code: 'MALFORMED_CONTROL',
        message: expect.stringMatching(/^Packages index sid: .*line 2/),
      }),
    );
  });

  it('handles many stanzas in one pass with shared parsed relations', () => {
    const stanza = (i: number) =>
      `Package: p${i}\nVersion: 1.${i}\nArchitecture: all\nDepends: libc6 (>= 2.36), base\nFilename: f${i}\nSize: ${i}\nSHA256: ${SHA('d')}\n`;
    const text = Array.from({ length: 2000 }, (_, i) => stanza(i)).join('\n');
    const pkgs = parsePackagesFile(text, { suite: 's' });
    expect(pkgs).toHaveLength(2000);
    expect(pkgs[1999]).toMatchObject({ name: 'p1999', version: '1.1999', size: 1999 });
    expect(pkgs[0]?.depends).toEqual([
      [{ name: 'libc6', version: { op: '>=', version: '2.36' } }],
      [{ name: 'base' }],
    ]);
  });
});

describe('PackageIndex', () => {
  const pkg = (name: string, version: string, extra = '') =>
    `Package: ${name}\nVersion: ${version}\nArchitecture: amd64\n${extra}Filename: x\nSize: 1\nSHA256: ${SHA('e')}\n`;

  it('merges suites and returns real candidates highest version first', () => {
    const index = new PackageIndex(parsePackagesFile(pkg('foo', '1.0-1'), { suite: 'bookworm' }));
    index.add(parsePackagesFile(pkg('foo', '1.0-1+deb12u1'), { suite: 'bookworm-security' }));
    index.add(parsePackagesFile(pkg('foo', '1.0~rc1-1'), { suite: 'old' }));
    expect(index.size).toBe(3);
    expect(index.candidates('foo').map((p) => `${p.version}@${p.suite}`)).toEqual([
      '1.0-1+deb12u1@bookworm-security',
      '1.0-1@bookworm',
      '1.0~rc1-1@old',
    ]);
    expect(index.candidates('nope')).toEqual([]);
  });

  it('indexes providers, versioned and unversioned', () => {
    const text = [
      pkg('mawk', '1.3', 'Provides: awk\n'),
      pkg('gawk', '5.2', 'Provides: awk (= 5.2), gawk-ng\n'),
    ].join('\n');
    const index = new PackageIndex(parsePackagesFile(text, { suite: 's' }));
    expect(index.providers('awk').map((p) => [p.pkg.name, p.version])).toEqual([
      ['mawk', undefined],
      ['gawk', '5.2'],
    ]);
    expect(index.candidates('awk')).toEqual([]);
    expect([...index.names()].sort()).toEqual(['gawk', 'mawk']);
  });

  it('suggests similar names for a typo', () => {
    const text = ['python3', 'python3-dev', 'cython3', 'perl', 'python3.11-minimal-extra']
      .map((name) => pkg(name, '1'))
      .join('\n');
    const index = new PackageIndex(parsePackagesFile(text, { suite: 's' }));
    expect(index.similarNames('pyton3')).toEqual(['python3', 'cython3']);
    // Exact match, then edit distance 1 (cython3), then longer names sharing the prefix.
    expect(index.similarNames('python3', 4)).toEqual([
      'python3',
      'cython3',
      'python3-dev',
      'python3.11-minimal-extra',
    ]);
    expect(index.similarNames('zzz')).toEqual([]);
  });
});
