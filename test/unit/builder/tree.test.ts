import { describe, expect, it } from 'vitest';
import { hardenModes } from '../../../src/builder/assemble.js';
import { pathFilter } from '../../../src/builder/prune.js';
import { canonicalPath, FileTree, movedSymlinkTarget, type TreeNode } from '../../../src/builder/tree.js';
import { isRampartError } from '../../../src/errors.js';

const file = (owner: string, text: string, mode = 0o644): TreeNode => ({
  type: 'file',
  mode,
  uid: 0,
  gid: 0,
  content: Buffer.from(text),
  owner,
});

describe('canonicalPath', () => {
  it('moves merged-/usr aliases into /usr', () => {
    expect(canonicalPath('./lib/x86_64-linux-gnu/libc.so.6')).toBe('usr/lib/x86_64-linux-gnu/libc.so.6');
    expect(canonicalPath('bin/sh')).toBe('usr/bin/sh');
    expect(canonicalPath('/sbin/ldconfig')).toBe('usr/sbin/ldconfig');
    expect(canonicalPath('lib64/ld-linux-x86-64.so.2')).toBe('usr/lib64/ld-linux-x86-64.so.2');
    expect(canonicalPath('./lib/', 'directory')).toBe('usr/lib');
    expect(canonicalPath('usr/libexec/x')).toBe('usr/libexec/x');
    expect(canonicalPath('library/x')).toBe('library/x');
  });

  it('keeps the top-level alias symlinks themselves', () => {
    expect(canonicalPath('./bin', 'symlink')).toBe('bin');
  });

  it('refuses .. components', () => {
    expect(() => canonicalPath('usr/../../etc/passwd')).toThrow(/contains '\.\.'/);
  });
});

describe('movedSymlinkTarget', () => {
  it('keeps relative links pointing at the same file after the move into /usr', () => {
    expect(movedSymlinkTarget('lib/x/libz.so', 'usr/lib/x/libz.so', '../../usr/lib/x/libz.so.1')).toBe(
      'libz.so.1',
    );
    expect(movedSymlinkTarget('lib64/ld.so', 'usr/lib64/ld.so', '../lib/x86_64-linux-gnu/ld.so')).toBe(
      '../lib/x86_64-linux-gnu/ld.so',
    );
    expect(movedSymlinkTarget('bin/sh', 'usr/bin/sh', '../etc/alternatives/sh')).toBe(
      '../../etc/alternatives/sh',
    );
    expect(movedSymlinkTarget('sbin/x', 'usr/sbin/x', '/usr/bin/y')).toBe('/usr/bin/y');
    expect(movedSymlinkTarget('usr/bin/a', 'usr/bin/a', '../lib/b')).toBe('../lib/b');
  });
});

describe('FileTree', () => {
  it('reports two packages shipping different content at one path, naming both', () => {
    const tree = new FileTree();
    tree.add('usr/bin/tool', file('pkg-a', 'one'));
    let caught: unknown;
    try {
      tree.add('usr/bin/tool', file('pkg-b', 'two'));
    } catch (error) {
      caught = error;
    }
    expect(isRampartError(caught, 'FILE_CONFLICT')).toBe(true);
    expect((caught as Error).message).toContain('/usr/bin/tool');
    expect((caught as Error).message).toContain('pkg-a');
    expect((caught as Error).message).toContain('pkg-b');
  });

  it('accepts identical files and merges directories, keeping the first metadata', () => {
    const tree = new FileTree();
    tree.add('usr/share/a', file('pkg-a', 'same'));
    tree.add('usr/share/a', file('pkg-b', 'same'));
    expect(tree.get('usr/share/a')?.owner).toBe('pkg-a');
    tree.add('etc/x', { type: 'directory', mode: 0o750, uid: 0, gid: 0, owner: 'pkg-a' });
    tree.add('etc/x', { type: 'directory', mode: 0o755, uid: 0, gid: 0, owner: 'pkg-b' });
    expect(tree.get('etc/x')?.mode).toBe(0o750);
    expect([...(tree.directoryOwners.get('etc/x') ?? [])]).toEqual(['pkg-a', 'pkg-b']);
  });

  it('treats a mode difference as a conflict', () => {
    const tree = new FileTree();
    tree.add('usr/bin/t', file('a', 'x', 0o755));
    expect(() => tree.add('usr/bin/t', file('b', 'x', 0o644))).toThrow(/both a and b/);
  });

  it('creates missing parents and refuses a file below a non-directory', () => {
    const tree = new FileTree();
    tree.add('a/b/c', file('p', 'x'));
    expect(tree.get('a')?.type).toBe('directory');
    expect(tree.get('a/b')?.type).toBe('directory');
    expect(() => tree.add('a/b/c/d', file('q', 'y'))).toThrow(/needs \/a\/b\/c to be a directory/);
  });

  it('lists paths parents first, in byte order', () => {
    const tree = new FileTree();
    for (const p of ['a-b/x', 'a/z', 'a/b']) tree.add(p, file('p', p));
    expect(tree.paths()).toEqual(['a', 'a/b', 'a/z', 'a-b', 'a-b/x']);
  });
});

describe('pathFilter', () => {
  const keep = pathFilter({ keepLocales: ['C'], keepDocs: false, drop: ['usr/share/zoneinfo/right'] });
  it('keeps copyright files and drops other docs, man, info and foreign locales', () => {
    expect(keep('usr/share/doc/libc6/copyright', 'file')).toBe(true);
    expect(keep('usr/share/doc/libc6', 'directory')).toBe(true);
    expect(keep('usr/share/doc/libstdc++6', 'symlink')).toBe(true);
    expect(keep('usr/share/doc/libc6/changelog.Debian.gz', 'file')).toBe(false);
    expect(keep('usr/share/doc/libc6/examples', 'directory')).toBe(false);
    expect(keep('usr/share/man/man1/node.1.gz', 'file')).toBe(false);
    expect(keep('usr/share/man', 'directory')).toBe(false);
    expect(keep('usr/share/info/dir', 'file')).toBe(false);
    expect(keep('usr/share/locale/de/LC_MESSAGES/x.mo', 'file')).toBe(false);
    expect(keep('usr/share/locale/de', 'directory')).toBe(false);
    expect(keep('usr/share/locale/C/LC_MESSAGES/x.mo', 'file')).toBe(true);
    expect(keep('usr/share/locale/locale.alias', 'file')).toBe(true);
    expect(keep('usr/share/zoneinfo/right/UTC', 'file')).toBe(false);
    expect(keep('usr/share/zoneinfo/UTC', 'file')).toBe(true);
    expect(keep('usr/bin/node', 'file')).toBe(true);
  });

  it('keeps all docs when asked', () => {
    const docs = pathFilter({ keepLocales: [], keepDocs: true, drop: [] });
    expect(docs('usr/share/doc/libc6/changelog.Debian.gz', 'file')).toBe(true);
  });
});

describe('hardenModes', () => {
  it('clears setuid/setgid and world-write everywhere but /tmp', () => {
    const tree = new FileTree();
    tree.add('usr/bin/su', file('p', 'x', 0o4755));
    tree.add('usr/bin/wall', file('p', 'y', 0o2755));
    tree.add('var/tmp', { type: 'directory', mode: 0o1777, uid: 0, gid: 0, owner: 'p' });
    tree.add('tmp', { type: 'directory', mode: 0o1777, uid: 0, gid: 0, owner: 'p' });
    tree.add('etc/open', file('p', 'z', 0o666));
    const changed = hardenModes(tree);
    expect(changed.map((c) => c.path).sort()).toEqual([
      '/etc/open',
      '/usr/bin/su',
      '/usr/bin/wall',
      '/var/tmp',
    ]);
    // what was cleared is reported, so the build summary can tell the user
    expect(changed).toContainEqual({ path: '/usr/bin/su', change: 'setuid cleared (4755 -> 0755)' });
    expect(changed).toContainEqual({ path: '/usr/bin/wall', change: 'setgid cleared (2755 -> 0755)' });
    expect(changed).toContainEqual({ path: '/var/tmp', change: 'world-write cleared (1777 -> 1775)' });
    expect(tree.get('usr/bin/su')?.mode).toBe(0o755);
    expect(tree.get('usr/bin/wall')?.mode).toBe(0o755);
    expect(tree.get('etc/open')?.mode).toBe(0o664);
    expect(tree.get('var/tmp')?.mode).toBe(0o1775);
    expect(tree.get('tmp')?.mode).toBe(0o1777);
  });
});
