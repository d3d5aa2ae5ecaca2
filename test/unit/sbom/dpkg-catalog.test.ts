import { describe, expect, it } from 'vitest';
import { catalogFileSource } from '../../../src/sbom/catalog.js';
import { memoryFileSource } from '../../../src/sbom/source/file-source.js';
import { debianRoot } from './sample-roots.js';

describe('dpkg cataloger', () => {
  it('reads the distro through the os-release symlink', async () => {
    const result = await catalogFileSource(debianRoot());
    expect(result.distro).toEqual({
      id: 'debian',
      versionId: '13',
      versionCodename: 'trixie',
      prettyName: 'Debian GNU/Linux 13 (trixie)',
    });
  });

  it('finds installed packages with purls, skips config-files leftovers and warns about the broken stanza', async () => {
    const result = await catalogFileSource(debianRoot());
    expect(result.packages.map((p) => p.purl)).toEqual([
      'pkg:deb/debian/libc6@2.41-12?arch=amd64&distro=debian-13&upstream=glibc',
      'pkg:deb/debian/libfoo1@1.2-1%2Bb1?arch=amd64&distro=debian-13&upstream=foo%401.2-1',
      'pkg:deb/debian/mta@1:4.0~rc1?arch=all&distro=debian-13',
    ]);
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatchObject({ cataloger: 'dpkg', path: '/var/lib/dpkg/status' });
    expect(result.warnings[0]!.message).toContain('line 19');
  });

  it('carries source, supplier, files, licences (via the doc symlink) and a CPE', async () => {
    const { packages } = await catalogFileSource(debianRoot());
    const foo = packages.find((p) => p.name === 'libfoo1')!;
    expect(foo.source).toEqual({ name: 'foo', version: '1.2-1' });
    expect(foo.supplier).toBe('Foo Team <foo@example.org>');
    expect(foo.license).toEqual({ expression: 'GPL-2.0-or-later AND MIT' });
    expect(foo.files?.map((f) => f.path)).toEqual([
      '/usr/lib/x86_64-linux-gnu/libfoo.so.1',
      '/usr/share/doc/foo-common/copyright',
    ]);
    expect(foo.files?.[0]?.digest).toEqual({ algorithm: 'md5', value: 'd41d8cd98f00b204e9800998ecf8427e' });
    expect(foo.cpes).toEqual(['cpe:2.3:a:libfoo1:libfoo1:1.2-1\\+b1:*:*:*:*:*:*:*']);
    expect(foo.locations).toEqual(['/usr/share/doc/foo-common/copyright', '/var/lib/dpkg/status']);
  });

  it('resolves Depends within the found packages, through Provides for virtual names', async () => {
    const { packages } = await catalogFileSource(debianRoot());
    const id = (name: string) => packages.find((p) => p.name === name)!.id;
    expect(packages.find((p) => p.name === 'libfoo1')!.dependsOn).toEqual([id('libc6'), id('mta')].sort());
    expect(packages.find((p) => p.name === 'mta')!.dependsOn).toEqual([id('libc6')]);
    expect(packages.find((p) => p.name === 'libc6')!.dependsOn).toEqual([]);
  });

  it('reads distroless status.d stanzas and their md5sums', async () => {
    const source = memoryFileSource({
      '/etc/os-release': 'ID=debian\nVERSION_ID="12"\n',
      '/var/lib/dpkg/status.d/base-files':
        'Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n',
      '/var/lib/dpkg/status.d/base-files.md5sums': '0123456789abcdef0123456789abcdef  etc/debian_version\n',
      '/var/lib/dpkg/status.d/tzdata': 'Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n',
    });
    const { packages, warnings } = await catalogFileSource(source);
    expect(warnings).toEqual([]);
    expect(packages.map((p) => p.purl)).toEqual([
      'pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12',
      'pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12',
    ]);
    expect(packages[0]!.files).toEqual([
      {
        path: '/etc/debian_version',
        digest: { algorithm: 'md5', value: '0123456789abcdef0123456789abcdef' },
      },
    ]);
  });

  it('turns an unparseable status file into a warning and keeps the other catalogers going', async () => {
    const source = memoryFileSource({
      '/var/lib/dpkg/status': '\u0000\u0001garbage without structure\n more garbage\n',
      '/usr/lib/node_modules/left-pad/package.json':
        '{"name":"left-pad","version":"1.3.0","license":"WTFPL"}',
    });
    const { packages, warnings } = await catalogFileSource(source);
    expect(packages.map((p) => p.purl)).toEqual(['pkg:npm/left-pad@1.3.0']);
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings.every((w) => w.path === '/var/lib/dpkg/status')).toBe(true);
  });

  it('orders warnings by code unit, not by the process locale', async () => {
    const source = memoryFileSource({
      '/app/node_modules/a/package.json': '{ not json',
      '/App/node_modules/b/package.json': '{ not json',
    });
    const { warnings } = await catalogFileSource(source);
    // localeCompare (en-US) would put /app first; LANG must not change the document.
    expect(warnings.map((w) => w.path)).toEqual([
      '/App/node_modules/b/package.json',
      '/app/node_modules/a/package.json',
    ]);
  });
});
