import { memoryFileSource } from '../../../src/sbom/source/file-source.js';

/** A small Debian-like root: hand-written dpkg status, md5sums, DEP-5 copyright, symlinked doc dir. */
const OS_RELEASE =
  'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n';

const STATUS = `Package: libfoo1
Status: install ok installed
Architecture: amd64
Source: foo (1.2-1)
Version: 1.2-1+b1
Maintainer: Foo Team <foo@example.org>
Depends: libc6 (>= 2.34), mail-transport-agent | postfix
Description: foo library
 Multi-line description.

Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.41-12
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>

Package: broken
this line has no colon
Version: 1

Package: mta
Status: install ok installed
Architecture: all
Version: 1:4.0~rc1
Provides: mail-transport-agent
Depends: libc6

Package: removed-but-configured
Status: deinstall ok config-files
Architecture: amd64
Version: 3.0
`;

const COPYRIGHT = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: foo

Files: *
Copyright: 2020 Foo
License: GPL-2+

Files: debian/*
Copyright: 2021 Debian
License: Expat

License: GPL-2+
 The full text is in /usr/share/common-licenses/GPL-2.
`;

export function debianRoot(extra: Record<string, string | Buffer> = {}) {
  return memoryFileSource(
    {
      '/usr/lib/os-release': OS_RELEASE,
      '/var/lib/dpkg/status': STATUS,
      '/var/lib/dpkg/info/libfoo1.md5sums':
        'd41d8cd98f00b204e9800998ecf8427e  usr/lib/x86_64-linux-gnu/libfoo.so.1\n0123456789abcdef0123456789abcdef  usr/share/doc/foo-common/copyright\n',
      '/usr/share/doc/foo-common/copyright': COPYRIGHT,
      ...extra,
    },
    [
      // Debian points a library's doc dir at a shared one, and /etc/os-release at /usr/lib.
      { path: '/usr/share/doc/libfoo1', kind: 'symlink', size: 0, mode: 0o777, linkTarget: 'foo-common' },
      { path: '/etc/os-release', kind: 'symlink', size: 0, mode: 0o777, linkTarget: '../usr/lib/os-release' },
      { path: '/etc', kind: 'directory', size: 0, mode: 0o755 },
      { path: '/usr', kind: 'directory', size: 0, mode: 0o755 },
      { path: '/usr/lib', kind: 'directory', size: 0, mode: 0o755 },
      { path: '/usr/share', kind: 'directory', size: 0, mode: 0o755 },
      { path: '/usr/share/doc', kind: 'directory', size: 0, mode: 0o755 },
      { path: '/usr/share/doc/foo-common', kind: 'directory', size: 0, mode: 0o755 },
      { path: '/var', kind: 'directory', size: 0, mode: 0o755 },
      { path: '/var/lib', kind: 'directory', size: 0, mode: 0o755 },
      { path: '/var/lib/dpkg', kind: 'directory', size: 0, mode: 0o755 },
      { path: '/var/lib/dpkg/info', kind: 'directory', size: 0, mode: 0o755 },
    ],
  );
}
