import { describe, expect, it } from 'vitest';
import { diffLockedPackages, findLockedInIndex } from '../../../src/debian/lock.js';
import { PackageIndex, parsePackagesFile } from '../../../src/debian/package-index.js';
import type { LockedPackage } from '../../../src/debian/resolver.js';
import { resolvePackageClosure } from '../../../src/debian/resolver.js';

const sha = (c: string) => c.repeat(64);
const stanza = (name: string, version: string, hash: string, depends = '') =>
  `Package: ${name}\nVersion: ${version}\nArchitecture: amd64\n${depends ? `Depends: ${depends}\n` : ''}Filename: pool/${name}_${version}.deb\nSize: 10\nSHA256: ${sha(hash)}\n`;

describe('findLockedInIndex', () => {
  const index = new PackageIndex(
    parsePackagesFile([stanza('app', '1.0', 'a', 'lib'), stanza('lib', '2.0', 'b')].join('\n'), {
      suite: 's',
    }),
  );
  const locked = resolvePackageClosure(index, { packages: ['app'], architecture: 'amd64' }).packages;

  it('maps a fresh lock back to the index entries', () => {
    expect(findLockedInIndex(index, locked).map((p) => `${p.name} ${p.version} ${p.sha256[0]}`)).toEqual([
      'app 1.0 a',
      'lib 2.0 b',
    ]);
  });

  it('reports a locked version the archive no longer has', () => {
    const moved = new PackageIndex(
      parsePackagesFile([stanza('app', '1.0', 'a', 'lib'), stanza('lib', '2.1', 'c')].join('\n'), {
        suite: 's',
      }),
    );
    expect(() => findLockedInIndex(moved, locked)).toThrowError(
      expect.objectContaining({
        code: 'LOCK_STALE',
        message: expect.stringMatching(/lib 2\.0 amd64.*2\.1 amd64/),
      }),
    );
  });

  it('reports a hash change for the same version', () => {
    const rebuilt = new PackageIndex(
      parsePackagesFile([stanza('app', '1.0', 'd', 'lib'), stanza('lib', '2.0', 'b')].join('\n'), {
        suite: 's',
      }),
    );
    expect(() => findLockedInIndex(rebuilt, locked)).toThrowError(
      expect.objectContaining({ code: 'LOCK_STALE', message: expect.stringContaining(sha('d')) }),
    );
  });
});

describe('diffLockedPackages', () => {
  const entry = (name: string, version: string, hash = 'a'): LockedPackage => ({
    name,
    version,
    architecture: 'amd64',
    source: name,
    sourceVersion: version,
    suite: 's',
    filename: `pool/${name}.deb`,
    size: 1,
    sha256: sha(hash),
  });

  it('lists added, removed and changed packages sorted by name', () => {
    const diff = diffLockedPackages(
      [entry('c', '1'), entry('a', '1'), entry('gone', '1'), entry('same', '1'), entry('rehash', '1', 'a')],
      [entry('same', '1'), entry('new', '1'), entry('c', '2'), entry('a', '1.1'), entry('rehash', '1', 'b')],
    );
    expect(diff.added.map((p) => p.name)).toEqual(['new']);
    expect(diff.removed.map((p) => p.name)).toEqual(['gone']);
    expect(diff.changed.map((c) => `${c.from.name} ${c.from.version}->${c.to.version}`)).toEqual([
      'a 1->1.1',
      'c 1->2',
      'rehash 1->1',
    ]);
  });
});
