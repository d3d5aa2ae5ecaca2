import { describe, expect, it } from 'vitest';
import { PackageIndex, parsePackagesFile } from '../../../src/debian/package-index.js';
import { type ResolveRequest, resolvePackageClosure } from '../../../src/debian/resolver.js';
import { isRampartError } from '../../../src/errors.js';

type Fields = Record<string, string>;

/** A Packages stanza: Version defaults to 1.0, Architecture to amd64. */
function stanza(name: string, fields: Fields = {}): string {
  const all: Fields = { Package: name, Version: '1.0', Architecture: 'amd64', ...fields };
  const arch = all.Architecture;
  all.Filename ??= `pool/main/${name[0]}/${name}/${name}_${all.Version}_${arch}.deb`;
  all.Size ??= String(name.length * 100);
  all.SHA256 ??= Buffer.from(`${name}${all.Version}${arch}`).toString('hex').padEnd(64, '0').slice(0, 64);
  return Object.entries(all)
    .map(([k, v]) => `${k}: ${v}\n`)
    .join('');
}

function indexOf(suites: Record<string, string[]>): PackageIndex {
  const index = new PackageIndex([]);
  for (const [suite, stanzas] of Object.entries(suites))
    index.add(parsePackagesFile(stanzas.join('\n'), { suite }));
  return index;
}

function resolve(index: PackageIndex, packages: string[], extra: Partial<ResolveRequest> = {}) {
  return resolvePackageClosure(index, { packages, architecture: 'amd64', ...extra });
}

const names = (r: { packages: Array<{ name: string; version: string; architecture: string }> }) =>
  r.packages.map((p) => `${p.name}=${p.version}:${p.architecture}`);

function errorOf(fn: () => unknown) {
  try {
    fn();
  } catch (err) {
    if (isRampartError(err)) return err;
    throw err;
  }
  throw new Error('expected a RampartError');
}

describe('resolvePackageClosure: closure', () => {
  const index = indexOf({
    bookworm: [
      stanza('app', {
        Depends: 'libfoo (>= 1.0), tool',
        'Pre-Depends': 'prelib',
        Recommends: 'extra, ghost',
      }),
      stanza('libfoo', { Version: '1.2-1', Source: 'foo (1.2-1)', Depends: 'libc6' }),
      stanza('tool', { Architecture: 'all', Source: 'tools' }),
      stanza('prelib', { Depends: 'libc6 (>= 2.36)' }),
      stanza('libc6', { Version: '2.36-9+deb12u4', Source: 'glibc', 'Multi-Arch': 'same' }),
      stanza('extra', { Depends: 'libc6' }),
      stanza('bash', { Essential: 'yes', Version: '5.2.15-2+b2', Source: 'bash (5.2.15-2)' }),
    ],
  });

  it('follows Depends and Pre-Depends, not Recommends by default, and adds no Essential packages', () => {
    const r = resolve(index, ['app']);
    expect(names(r)).toEqual([
      'app=1.0:amd64',
      'libc6=2.36-9+deb12u4:amd64',
      'libfoo=1.2-1:amd64',
      'prelib=1.0:amd64',
      'tool=1.0:all',
    ]);
    expect(r.selected.map((p) => p.name)).toEqual(r.packages.map((p) => p.name));
    expect(r.skipped).toEqual([]);
  });

  it('follows Recommends when asked and ignores unsatisfiable ones', () => {
    expect(names(resolve(index, ['app'], { withRecommends: true }))).toContain('extra=1.0:amd64');
  });

  it('fills the lock fields, taking the source from the Source field or the binary', () => {
    const r = resolve(index, ['app', 'bash']);
    const byName = Object.fromEntries(r.packages.map((p) => [p.name, p]));
    expect(byName.libfoo).toEqual({
      name: 'libfoo',
      version: '1.2-1',
      architecture: 'amd64',
      source: 'foo',
      sourceVersion: '1.2-1',
      suite: 'bookworm',
      filename: 'pool/main/l/libfoo/libfoo_1.2-1_amd64.deb',
      size: 600,
      sha256: Buffer.from('libfoo1.2-1amd64').toString('hex').padEnd(64, '0').slice(0, 64),
    });
    expect(byName.bash).toMatchObject({ source: 'bash', sourceVersion: '5.2.15-2', version: '5.2.15-2+b2' });
    expect(byName.tool).toMatchObject({ source: 'tools', sourceVersion: '1.0' });
    expect(byName.app).toMatchObject({ source: 'app', sourceVersion: '1.0' });
  });

  it('explains why a package was pulled in with the shortest chain', () => {
    const r = resolve(index, ['app']);
    // libc6 is reachable via libfoo and via prelib (both depth 2); either 3-element chain is shortest.
    expect(r.why('libc6')).toHaveLength(3);
    expect(r.why('libc6')?.[0]).toBe('app');
    expect(r.why('tool')).toEqual(['app', 'tool']);
    expect(r.why('app')).toEqual(['app']);
    expect(r.why('libc6:amd64')).toHaveLength(3);
    expect(r.why('bash')).toBeUndefined();
  });

  it('is deterministic regardless of index order', () => {
    const stanzas = [
      stanza('z', { Depends: 'a | b, c' }),
      stanza('a', { Depends: 'c' }),
      stanza('b'),
      stanza('c', { Architecture: 'all' }),
    ];
    const forward = resolve(indexOf({ s: stanzas }), ['z']);
    const backward = resolve(indexOf({ s: [...stanzas].reverse() }), ['z']);
    expect(backward.packages).toEqual(forward.packages);
    expect(names(forward)).toEqual(['a=1.0:amd64', 'c=1.0:all', 'z=1.0:amd64']);
  });

  it('terminates on dependency cycles', () => {
    const cyclic = indexOf({
      s: [
        stanza('a', { Depends: 'b' }),
        stanza('b', { Depends: 'c' }),
        stanza('c', { 'Pre-Depends': 'a, c' }),
      ],
    });
    const r = resolve(cyclic, ['a']);
    expect(names(r)).toEqual(['a=1.0:amd64', 'b=1.0:amd64', 'c=1.0:amd64']);
    expect(r.why('c')).toEqual(['a', 'b', 'c']);
  });
});

describe('resolvePackageClosure: alternatives and virtual packages', () => {
  const index = indexOf({
    s: [
      stanza('app', { Depends: 'missing | second | third' }),
      stanza('second'),
      stanza('third'),
      stanza('mailer', { Depends: 'default-mta | mail-transport-agent' }),
      stanza('exim4', { Provides: 'mail-transport-agent' }),
      stanza('postfix', { Provides: 'mail-transport-agent' }),
      stanza('needs-awk', { Depends: 'awk' }),
      stanza('mawk', { Provides: 'awk', 'Multi-Arch': 'foreign' }),
      stanza('gawk', { Version: '5.2', Provides: 'awk (= 5.2)' }),
      stanza('needs-awk5', { Depends: 'awk (>= 5)' }),
      stanza('needs-awk6', { Depends: 'awk (>= 6)' }),
      stanza('real-and-virtual', { Depends: 'awk-real' }),
      stanza('awk-real', { Version: '2.0' }),
      stanza('fake-awk-real', { Provides: 'awk-real' }),
    ],
  });

  it('takes the first satisfiable alternative', () => {
    expect(names(resolve(index, ['app']))).toEqual(['app=1.0:amd64', 'second=1.0:amd64']);
  });

  it('prefers an alternative that is already requested or chosen', () => {
    expect(names(resolve(index, ['app', 'third']))).toEqual(['app=1.0:amd64', 'third=1.0:amd64']);
    expect(names(resolve(index, ['mailer', 'postfix']))).toEqual(['mailer=1.0:amd64', 'postfix=1.0:amd64']);
  });

  it('satisfies a virtual package through a provider, deterministically', () => {
    expect(names(resolve(index, ['mailer']))).toEqual(['exim4=1.0:amd64', 'mailer=1.0:amd64']);
    // Requested directly, a virtual package needs a single provider, as with apt-get install.
    expect(names(resolve(index, ['awk-real']))).toEqual(['awk-real=2.0:amd64']);
    const single = indexOf({ s: [stanza('exim4', { Provides: 'mail-transport-agent' })] });
    expect(names(resolve(single, ['mail-transport-agent']))).toEqual(['exim4=1.0:amd64']);
    const err = errorOf(() => resolve(index, ['mail-transport-agent']));
    expect(err.code).toBe('PACKAGE_NOT_FOUND');
    expect(err.message).toContain('provided by exim4, postfix');
  });

  it('lets a versioned provide satisfy a versioned dependency, never an unversioned provide', () => {
    expect(names(resolve(index, ['needs-awk5']))).toEqual(['gawk=5.2:amd64', 'needs-awk5=1.0:amd64']);
    // mawk provides awk without a version, so it cannot satisfy awk (>= 6); gawk's 5.2 is too low.
    const err = errorOf(() => resolve(index, ['needs-awk6']));
    expect(err.code).toBe('UNSATISFIABLE');
    expect(err.message).toContain('"awk (>= 6)"');
    expect(err.message).toContain('needs-awk6 -> awk');
  });

  it('keeps an already chosen unversioned provider for an unversioned dependency', () => {
    expect(names(resolve(index, ['mawk', 'needs-awk']))).toEqual(['mawk=1.0:amd64', 'needs-awk=1.0:amd64']);
  });

  it('prefers the more important provider, as apt does for awk', () => {
    const awk = indexOf({
      s: [
        stanza('base-files', { 'Pre-Depends': 'awk' }),
        stanza('aawk', { Provides: 'awk', Priority: 'optional' }),
        stanza('mawk', { Provides: 'awk', Priority: 'required' }),
      ],
    });
    expect(names(resolve(awk, ['base-files']))).toEqual(['base-files=1.0:amd64', 'mawk=1.0:amd64']);
  });

  it('prefers the real package over providers of the same name', () => {
    expect(names(resolve(index, ['real-and-virtual']))).toEqual([
      'awk-real=2.0:amd64',
      'real-and-virtual=1.0:amd64',
    ]);
  });
});

describe('resolvePackageClosure: errors', () => {
  const index = indexOf({
    s: [
      stanza('python3', { Depends: 'libpython3-stdlib' }),
      stanza('libpython3-stdlib', { Depends: 'libpython3.13-stdlib' }),
      stanza('libpython3.13-stdlib', { Depends: 'mime-support | media-types, libdb, bash' }),
      stanza('media-types', { Architecture: 'all' }),
      stanza('libdb', { Depends: 'libnothere (>= 2)' }),
      stanza('bash'),
      stanza('libnothere', { Version: '1.5' }),
      stanza('postinst-user', { Depends: 'adduser, media-types' }),
      stanza('adduser', { Architecture: 'all', Depends: 'passwd' }),
      stanza('passwd'),
    ],
  });

  it('reports an unsatisfiable dependency with the chain and the relation text', () => {
    const err = errorOf(() => resolve(index, ['python3']));
    expect(err.code).toBe('UNSATISFIABLE');
    expect(err.message).toContain('"libnothere (>= 2)"');
    expect(err.message).toContain(
      'python3 -> libpython3-stdlib -> libpython3.13-stdlib -> libdb -> libnothere',
    );
    expect(err.message).toContain('1.5');
  });

  it('reports an excluded package that something needs, with the chain', () => {
    const fixed = indexOf({
      s: [
        stanza('python3', { Depends: 'libpython3-stdlib' }),
        stanza('libpython3-stdlib', { Depends: 'libpython3.13-stdlib' }),
        stanza('libpython3.13-stdlib', { Depends: 'media-types, bash' }),
        stanza('media-types', { Architecture: 'all' }),
        stanza('bash'),
      ],
    });
    const err = errorOf(() => resolve(fixed, ['python3'], { exclude: ['bash'] }));
    expect(err.code).toBe('EXCLUDED_REQUIRED');
    expect(err.message).toContain('python3 -> libpython3-stdlib -> libpython3.13-stdlib -> bash');
    expect(errorOf(() => resolve(fixed, ['bash'], { exclude: ['bash'] })).code).toBe('EXCLUDED_REQUIRED');
  });

  it('uses another alternative when the first is excluded', () => {
    const r = resolve(indexOf({ s: [stanza('a', { Depends: 'b | c' }), stanza('b'), stanza('c')] }), ['a'], {
      exclude: ['b'],
    });
    expect(names(r)).toEqual(['a=1.0:amd64', 'c=1.0:amd64']);
  });

  it('reports an unknown requested package and suggests close names', () => {
    const err = errorOf(() => resolve(index, ['pyton3']));
    expect(err.code).toBe('PACKAGE_NOT_FOUND');
    expect(err.message).toContain('pyton3');
    expect(err.message).toContain('python3');
  });

  it('reports a requested version that does not exist with the versions that do', () => {
    const err = errorOf(() => resolve(index, ['bash=9.9']));
    expect(err.code).toBe('PACKAGE_NOT_FOUND');
    expect(err.message).toContain('1.0 amd64');
  });

  it('treats skipped packages as satisfied without installing them', () => {
    const r = resolve(index, ['postinst-user'], { skip: ['adduser'] });
    expect(names(r)).toEqual(['media-types=1.0:all', 'postinst-user=1.0:amd64']);
    expect(r.skipped).toEqual([{ name: 'adduser', requiredBy: 'postinst-user' }]);
    expect(r.why('adduser')).toEqual(['postinst-user', 'adduser']);
    expect(r.why('passwd')).toBeUndefined();
  });
});

describe('resolvePackageClosure: suites and versions', () => {
  const index = indexOf({
    bookworm: [
      stanza('foo', { Version: '1.5-1' }),
      stanza('bar', { Depends: 'foo (<< 2)' }),
      stanza('baz', { Depends: 'foo (>= 1.5)' }),
    ],
    'bookworm-backports': [stanza('foo', { Version: '2.1-1~bpo12+1' })],
    'bookworm-security': [stanza('foo', { Version: '1.5-1+deb12u1' })],
  });

  it('picks the highest version across suites', () => {
    const r = resolve(index, ['foo']);
    expect(r.packages).toMatchObject([
      { name: 'foo', version: '2.1-1~bpo12+1', suite: 'bookworm-backports' },
    ]);
  });

  it('lets a versioned constraint select the highest version that satisfies it', () => {
    const r = resolve(index, ['bar']);
    expect(r.packages.find((p) => p.name === 'foo')).toMatchObject({
      version: '1.5-1+deb12u1',
      suite: 'bookworm-security',
    });
  });

  it('re-pins a requested package when a dependent needs a lower version', () => {
    const r = resolve(index, ['foo', 'baz', 'bar']);
    expect(names(r)).toEqual(['bar=1.0:amd64', 'baz=1.0:amd64', 'foo=1.5-1+deb12u1:amd64']);
  });

  it('honours name=version requests', () => {
    expect(names(resolve(index, ['foo=1.5-1']))).toEqual(['foo=1.5-1:amd64']);
    const err = errorOf(() => resolve(index, ['foo=2.1-1~bpo12+1', 'bar']));
    expect(err.code).toBe('UNSATISFIABLE');
    expect(err.message).toContain('"foo (<< 2)"');
  });
});

describe('resolvePackageClosure: architectures and Multi-Arch', () => {
  const index = indexOf({
    s: [
      stanza('app', { Architecture: 'arm64', Depends: 'libx, tool, data, perl:any' }),
      stanza('app', { Architecture: 'amd64', Depends: 'libx, tool, data, perl:any' }),
      stanza('libx', { Architecture: 'amd64', 'Multi-Arch': 'same' }),
      stanza('libx', { Architecture: 'arm64', 'Multi-Arch': 'same' }),
      stanza('tool', { Architecture: 'amd64', 'Multi-Arch': 'foreign' }),
      stanza('data', { Architecture: 'all' }),
      stanza('perl', { Architecture: 'amd64', 'Multi-Arch': 'allowed' }),
      stanza('plain', { Architecture: 'amd64' }),
      stanza('needs-plain', { Architecture: 'arm64', Depends: 'plain' }),
      stanza('needs-plain-any', { Architecture: 'amd64', Depends: 'plain:any' }),
      stanza('needs-native', { Architecture: 'arm64', Depends: 'libx:native' }),
      stanza('needs-arm-libx', { Architecture: 'amd64', Depends: 'libx:arm64' }),
      stanza('arm-only', { Architecture: 'arm64' }),
    ],
  });

  it('builds a single-arch closure from target-arch and all packages only', () => {
    expect(names(resolve(index, ['app']))).toEqual([
      'app=1.0:amd64',
      'data=1.0:all',
      'libx=1.0:amd64',
      'perl=1.0:amd64',
      'tool=1.0:amd64',
    ]);
    expect(errorOf(() => resolve(index, ['arm-only'])).code).toBe('PACKAGE_NOT_FOUND');
  });

  it('resolves a foreign-arch request: same-arch libraries, foreign tools, allowed with :any, all for any arch', () => {
    const r = resolve(index, ['app:arm64']);
    expect(names(r)).toEqual([
      'app=1.0:arm64',
      'data=1.0:all',
      'libx=1.0:arm64',
      'perl=1.0:amd64',
      'tool=1.0:amd64',
    ]);
    expect(r.why('libx:arm64')).toEqual(['app:arm64', 'libx:arm64']);
  });

  it('finds Architecture: all packages requested with an explicit architecture', () => {
    expect(names(resolve(index, ['data:amd64']))).toEqual(['data=1.0:all']);
    expect(names(resolve(index, ['data:arm64']))).toEqual(['data=1.0:all']);
  });

  it('co-installs Multi-Arch: same packages once per architecture', () => {
    expect(names(resolve(index, ['libx', 'libx:arm64']))).toEqual(['libx=1.0:amd64', 'libx=1.0:arm64']);
    // app is not Multi-Arch: same, so only one instance of it can be installed.
    const err = errorOf(() => resolve(index, ['app:arm64', 'app']));
    expect(err.code).toBe('UNSATISFIABLE');
    expect(err.message).toContain('two instances of app');
  });

  it('does not let a foreign-arch package without Multi-Arch: foreign satisfy a dependency', () => {
    const err = errorOf(() => resolve(index, ['needs-plain:arm64']));
    expect(err.code).toBe('UNSATISFIABLE');
    expect(err.message).toContain('needs-plain:arm64 -> plain');
  });

  it('requires Multi-Arch: allowed (or foreign) for :any', () => {
    expect(errorOf(() => resolve(index, ['needs-plain-any'])).code).toBe('UNSATISFIABLE');
  });

  it('resolves :native and explicit architecture qualifiers', () => {
    expect(names(resolve(index, ['needs-native:arm64']))).toEqual([
      'libx=1.0:amd64',
      'needs-native=1.0:arm64',
    ]);
    expect(names(resolve(index, ['needs-arm-libx', 'libx:arm64']))).toEqual([
      'libx=1.0:arm64',
      'needs-arm-libx=1.0:amd64',
    ]);
  });
});

describe('resolvePackageClosure: Conflicts and Breaks', () => {
  const index = indexOf({
    trixie: [
      stanza('app', { Depends: 'mta' }),
      stanza('exim', { Provides: 'mta', Conflicts: 'mta' }),
      stanza('postfix', { Provides: 'mta', Conflicts: 'mta, sendmail' }),
      stanza('sendmail', { Provides: 'mta' }),
      // The first alternative conflicts with something chosen that does not satisfy the group.
      stanza('client', { Depends: 'exim | postfix' }),
      stanza('hates-exim', { Conflicts: 'exim' }),
      // Request order must not matter: mailer's pick is undone when libx turns out to conflict.
      stanza('mailer', { Depends: 'mta-a | mta-b' }),
      stanza('mta-a'),
      stanza('mta-b'),
      stanza('other', { Depends: 'libx' }),
      stanza('libx', { Conflicts: 'mta-a' }),
      stanza('old-tool', { Depends: 'libz' }),
      stanza('libz', { Version: '2.0', Breaks: 'old-tool (<< 3)' }),
      stanza('libz', { Version: '1.0' }),
      stanza('t64', { Provides: 'libfoo1 (= 1.5)', Breaks: 'libfoo1 (<< 1.5)' }),
      stanza('uses-foo', { Depends: 'libfoo1 (>= 1.2)' }),
      stanza('unversioned-foo', { Provides: 'libfoo1' }),
      stanza('old-foo', { Provides: 'libfoo1 (= 1.0)' }),
      // Qualified relations: arch-all counts as native, Multi-Arch: foreign meets any qualifier.
      stanza('hates-native-data', { Conflicts: 'data:native' }),
      stanza('data', { Architecture: 'all' }),
      stanza('hates-i386-tool', { Conflicts: 'tool:i386' }),
      stanza('tool', { 'Multi-Arch': 'foreign' }),
      stanza('hates-i386-plain', { Conflicts: 'plain:i386' }),
      stanza('plain'),
    ],
  });

  it('skips an alternative that conflicts with the selection and takes the next one', () => {
    expect(names(resolve(index, ['hates-exim', 'client']))).toEqual([
      'client=1.0:amd64',
      'hates-exim=1.0:amd64',
      'postfix=1.0:amd64',
    ]);
    expect(names(resolve(index, ['client']))).toEqual(['client=1.0:amd64', 'exim=1.0:amd64']);
  });

  it('undoes an earlier choice among alternatives, so request order does not matter', () => {
    const expected = ['libx=1.0:amd64', 'mailer=1.0:amd64', 'mta-b=1.0:amd64', 'other=1.0:amd64'];
    expect(names(resolve(index, ['mailer', 'other']))).toEqual(expected);
    expect(names(resolve(index, ['other', 'mailer']))).toEqual(expected);
  });

  it('a package conflicting with a virtual package it provides can still be installed', () => {
    expect(names(resolve(index, ['exim']))).toEqual(['exim=1.0:amd64']);
    expect(names(resolve(index, ['app']))).toEqual(['app=1.0:amd64', 'exim=1.0:amd64']);
  });

  it('refuses two requested packages that conflict, naming the relation', () => {
    const err = errorOf(() => resolve(index, ['sendmail', 'postfix']));
    expect(err.code).toBe('UNSATISFIABLE');
    expect(err.message).toContain('postfix Conflicts: mta');
    // In either order: the selected package's own Conflicts is found too.
    expect(errorOf(() => resolve(index, ['postfix', 'sendmail'])).message).toContain('postfix Conflicts:');
  });

  it('never falls back silently to an older version when the newest Breaks a chosen package', () => {
    const err = errorOf(() => resolve(index, ['old-tool']));
    expect(err.code).toBe('UNSATISFIABLE');
    expect(err.message).toContain('libz Breaks: old-tool (<< 3)');
    expect(err.message).toContain('old-tool -> libz');
    // Pinning the older version is the user's explicit choice.
    expect(names(resolve(index, ['old-tool', 'libz=1.0']))).toEqual(['libz=1.0:amd64', 'old-tool=1.0:amd64']);
  });

  it('a versioned Breaks matches providers through versioned provides only', () => {
    expect(names(resolve(index, ['t64', 'uses-foo']))).toEqual(['t64=1.0:amd64', 'uses-foo=1.0:amd64']);
    expect(names(resolve(index, ['t64', 'unversioned-foo']))).toEqual([
      't64=1.0:amd64',
      'unversioned-foo=1.0:amd64',
    ]);
    expect(errorOf(() => resolve(index, ['t64', 'old-foo'])).message).toContain(
      't64 Breaks: libfoo1 (<< 1.5)',
    );
  });

  it('matches arch-qualified Conflicts as dpkg does', () => {
    expect(errorOf(() => resolve(index, ['hates-native-data', 'data'])).code).toBe('UNSATISFIABLE');
    expect(errorOf(() => resolve(index, ['hates-i386-tool', 'tool'])).code).toBe('UNSATISFIABLE');
    // A plain amd64 package is not the i386 one the relation names.
    expect(names(resolve(index, ['hates-i386-plain', 'plain']))).toEqual([
      'hates-i386-plain=1.0:amd64',
      'plain=1.0:amd64',
    ]);
  });
});
