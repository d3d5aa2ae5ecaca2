import { describe, expect, it } from 'vitest';
import { groupFile, passwdFile, resolveAccounts } from '../../../src/builder/accounts.js';
import { installCaBundle, pemLinkName } from '../../../src/builder/ca-bundle.js';
import {
  addAlternatives,
  addBusyboxApplets,
  addOpensslDefaults,
  addUsrMergedLinks,
} from '../../../src/builder/generated.js';
import { imageMd5sums, statusStanza } from '../../../src/builder/status-d.js';
import { FileTree } from '../../../src/builder/tree.js';
import { parseDeb822 } from '../../../src/debian/deb822.js';

const pem = (n: string, newline = true) =>
  `-----BEGIN CERTIFICATE-----\n${n}\n-----END CERTIFICATE-----${newline ? '\n' : ''}`;

describe('installCaBundle', () => {
  it('concatenates the certificates in C-sorted order, fixing a missing final newline', () => {
    const tree = new FileTree();
    const add = (rel: string, text: string) =>
      tree.add(`usr/share/ca-certificates/${rel}`, {
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        content: Buffer.from(text),
        owner: 'ca-certificates',
      });
    add('mozilla/b_Root.crt', pem('B'));
    add('mozilla/A_Root (2020).crt', pem('A', false));
    add('mozilla/a_lower.crt', pem('a'));
    add('mozilla/README', 'not a cert');
    expect(installCaBundle(tree)).toBe(3);
    // Byte order puts uppercase before lowercase, as `sort` does in the C locale.
    expect(tree.get('etc/ssl/certs/ca-certificates.crt')?.content?.toString()).toBe(
      `${pem('A')}${pem('a')}${pem('B')}`,
    );
    const conf = tree.get('etc/ca-certificates.conf')?.content?.toString() ?? '';
    expect(conf.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual([
      'mozilla/A_Root (2020).crt',
      'mozilla/a_lower.crt',
      'mozilla/b_Root.crt',
    ]);
    expect(tree.get('etc/ssl/certs/A_Root_=2020=.pem')).toMatchObject({
      type: 'symlink',
      target: '/usr/share/ca-certificates/mozilla/A_Root (2020).crt',
    });
  });

  it('does nothing without certificates', () => {
    expect(installCaBundle(new FileTree())).toBe(0);
  });

  it('mangles names like update-ca-certificates', () => {
    expect(pemLinkName('mozilla/Hellenic_Academic, Root (2011).crt')).toBe(
      'Hellenic_Academic__Root_=2011=.pem',
    );
  });
});

describe('accounts', () => {
  it('writes the distroless passwd and group files', () => {
    const accounts = resolveAccounts({ runAs: 'nonroot', users: [], groups: [] });
    // The expected text is distroless base/BUILD's, as quoted in the shared spec notes.
    expect(passwdFile(accounts)).toBe(
      'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n',
    );
    expect(groupFile(accounts)).toBe('root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n');
    expect(accounts.user).toBe('65532:65532');
    expect(accounts.home).toBe('/home/nonroot');
  });

  it('resolves root, numeric ids and spec users, and rejects unknown names', () => {
    expect(resolveAccounts({ runAs: 'root', users: [], groups: [] }).user).toBe('0:0');
    expect(resolveAccounts({ runAs: '1000:2000', users: [], groups: [] }).user).toBe('1000:2000');
    const app = resolveAccounts({ runAs: 'app', users: [{ name: 'app', uid: 1000, gid: 1000 }], groups: [] });
    expect(app.user).toBe('1000:1000');
    expect(groupFile(app)).toContain('app:x:1000:\n');
    expect(() => resolveAccounts({ runAs: 'ghost', users: [], groups: [] })).toThrow(/unknown user 'ghost'/);
    expect(() =>
      resolveAccounts({ runAs: 'root', users: [{ name: 'dup', uid: 65532, gid: 1 }], groups: [] }),
    ).toThrow(/clashes with the existing user 'nonroot'/);
  });
});

describe('status.d', () => {
  const control = `Package: libfoo1
Source: foo (1.2-3)
Version: 1.2-3+b1
Architecture: amd64
Maintainer: Someone <x@example.invalid>
Installed-Size: 100
Depends: libc6 (>= 2.34)
Homepage: https://example.invalid/foo
Multi-Arch: same
Section: libs
Priority: optional
Description: the foo library
 A longer description.
 .
 Second paragraph.
`;

  it('adds Status and orders the fields as dpkg does, keeping the text', () => {
    const stanza = statusStanza(control);
    expect(
      stanza
        .split('\n')
        .map((l) => l.split(':')[0])
        .filter((f) => f && !f.startsWith(' ')),
    ).toEqual([
      'Package',
      'Status',
      'Priority',
      'Section',
      'Installed-Size',
      'Maintainer',
      'Architecture',
      'Multi-Arch',
      'Source',
      'Version',
      'Depends',
      'Description',
      'Homepage',
    ]);
    const [parsed] = parseDeb822(stanza);
    expect(parsed?.get('status')).toBe('install ok installed');
    expect(parsed?.get('version')).toBe('1.2-3+b1');
    expect(parsed?.get('source')).toBe('foo (1.2-3)');
    expect(stanza).toContain(
      'Description: the foo library\n A longer description.\n .\n Second paragraph.\n',
    );
  });

  it('rewrites md5sums into /usr and drops files that are not in the image', () => {
    const md5 = new Map([
      ['lib/x86_64-linux-gnu/libfoo.so.1', 'a'.repeat(32)],
      ['usr/share/doc/libfoo1/changelog.gz', 'b'.repeat(32)],
      ['usr/share/doc/libfoo1/copyright', 'c'.repeat(32)],
    ]);
    const present = new Set(['usr/lib/x86_64-linux-gnu/libfoo.so.1', 'usr/share/doc/libfoo1/copyright']);
    expect(imageMd5sums(md5, (p) => present.has(p))).toBe(
      `${'a'.repeat(32)}  usr/lib/x86_64-linux-gnu/libfoo.so.1\n${'c'.repeat(32)}  usr/share/doc/libfoo1/copyright\n`,
    );
  });
});

describe('post-install links', () => {
  it('links merged-/usr directories, alternatives and busybox applets without clobbering', () => {
    const tree = new FileTree();
    const dir = { type: 'directory' as const, mode: 0o755, uid: 0, gid: 0, owner: 'base-files' };
    tree.add('usr/bin', dir);
    tree.add('usr/lib', dir);
    tree.add('usr/bin/busybox', { ...dir, type: 'file', content: Buffer.from('ELF'), owner: 'busybox' });
    tree.add('usr/bin/ls', {
      ...dir,
      type: 'file',
      content: Buffer.from('coreutils ls'),
      owner: 'coreutils',
    });
    addUsrMergedLinks(tree);
    expect(tree.get('bin')).toMatchObject({ type: 'symlink', target: 'usr/bin' });
    expect(tree.get('lib')).toMatchObject({ type: 'symlink', target: 'usr/lib' });
    expect(tree.has('lib64')).toBe(false);
    const applets = addBusyboxApplets(tree);
    expect(applets).toContain('usr/bin/sh');
    expect(tree.get('usr/bin/sh')).toMatchObject({ type: 'symlink', target: 'busybox', owner: 'busybox' });
    expect(tree.get('usr/bin/ls')?.type).toBe('file');
    expect(addAlternatives(tree, new Set(['nodejs']))).toEqual(['usr/bin/js']);
    expect(addAlternatives(new FileTree(), new Set(['python3']))).toEqual([]);
  });
});

describe('addOpensslDefaults', () => {
  it("links OpenSSL's default CA paths to the bundle only when libssl and the bundle are there", () => {
    const tree = new FileTree();
    expect(addOpensslDefaults(tree, ['libssl3t64'])).toEqual([]);
    tree.add('etc/ssl/certs/ca-certificates.crt', {
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      content: Buffer.from('pem'),
      owner: 'ca-certificates',
    });
    expect(addOpensslDefaults(tree, ['libc6'])).toEqual([]);
    expect(addOpensslDefaults(tree, ['libc6', 'libssl3t64'])).toEqual([
      'usr/lib/ssl/cert.pem',
      'usr/lib/ssl/certs',
    ]);
    expect(tree.get('usr/lib/ssl/cert.pem')).toMatchObject({
      type: 'symlink',
      target: '/etc/ssl/certs/ca-certificates.crt',
      owner: 'libssl3t64',
    });
  });
});
