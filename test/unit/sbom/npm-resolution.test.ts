import { describe, expect, it } from 'vitest';
import { catalogFileSource } from '../../../src/sbom/catalog.js';
import { lookupDirs, resolveNodeDependencies } from '../../../src/sbom/catalogers/npm/node-resolution.js';
import { memoryFileSource } from '../../../src/sbom/source/file-source.js';

const manifest = (name: string, version: string, dependencies: string[] = []) =>
  JSON.stringify({ name, version, dependencies: Object.fromEntries(dependencies.map((d) => [d, '*'])) });

async function edges(source: ReturnType<typeof memoryFileSource>) {
  const { packages, warnings } = await catalogFileSource(source);
  expect(warnings).toEqual([]);
  return Object.fromEntries(packages.map((p) => [p.purl, p.dependsOn]));
}

describe('npm dependency edges follow Node module resolution', () => {
  it('links each dependant to the copy require() would load, scoped names included', async () => {
    const source = memoryFileSource({
      '/app/node_modules/a/package.json': manifest('a', '1.0.0', ['b']),
      '/app/node_modules/a/node_modules/b/package.json': manifest('b', '1.0.0', ['d']),
      '/app/node_modules/b/package.json': manifest('b', '2.0.0'),
      '/app/node_modules/c/package.json': manifest('c', '1.0.0', ['b', '@s/y']),
      '/app/node_modules/d/package.json': manifest('d', '1.0.0'),
      '/app/node_modules/@s/x/package.json': manifest('@s/x', '1.0.0', ['@s/y', 'b']),
      '/app/node_modules/@s/x/node_modules/@s/y/package.json': manifest('@s/y', '1.0.0'),
      '/app/node_modules/@s/y/package.json': manifest('@s/y', '2.0.0', ['b']),
      // Debian's tree is flat, with no node_modules to walk: the name decides.
      '/usr/share/nodejs/e/package.json': manifest('e', '1.0.0', ['f']),
      '/usr/share/nodejs/f/package.json': manifest('f', '3.0.0'),
    });
    expect(await edges(source)).toEqual({
      'pkg:npm/a@1.0.0': ['pkg:npm/b@1.0.0'],
      // Two levels up from the nested copy.
      'pkg:npm/b@1.0.0': ['pkg:npm/d@1.0.0'],
      'pkg:npm/b@2.0.0': [],
      'pkg:npm/c@1.0.0': ['pkg:npm/%40s/y@2.0.0', 'pkg:npm/b@2.0.0'],
      'pkg:npm/d@1.0.0': [],
      'pkg:npm/%40s/x@1.0.0': ['pkg:npm/%40s/y@1.0.0', 'pkg:npm/b@2.0.0'],
      'pkg:npm/%40s/y@1.0.0': [],
      'pkg:npm/%40s/y@2.0.0': ['pkg:npm/b@2.0.0'],
      'pkg:npm/e@1.0.0': ['pkg:npm/f@3.0.0'],
      'pkg:npm/f@3.0.0': [],
    });
  });

  it('follows symlinked module directories (pnpm) to the real copy', async () => {
    const store = '/app/node_modules/.pnpm';
    const source = memoryFileSource(
      {
        [`${store}/a@1.0.0/node_modules/a/package.json`]: manifest('a', '1.0.0', ['b']),
        [`${store}/b@1.0.0/node_modules/b/package.json`]: manifest('b', '1.0.0'),
        [`${store}/b@2.0.0/node_modules/b/package.json`]: manifest('b', '2.0.0'),
        [`${store}/c@1.0.0/node_modules/c/package.json`]: manifest('c', '1.0.0', ['b']),
      },
      [
        {
          path: `${store}/a@1.0.0/node_modules/b`,
          kind: 'symlink',
          size: 0,
          mode: 0o777,
          linkTarget: '../../b@1.0.0/node_modules/b',
        },
        {
          path: `${store}/c@1.0.0/node_modules/b`,
          kind: 'symlink',
          size: 0,
          mode: 0o777,
          linkTarget: '../../b@2.0.0/node_modules/b',
        },
      ],
    );
    const found = await edges(source);
    expect(found['pkg:npm/a@1.0.0']).toEqual(['pkg:npm/b@1.0.0']);
    expect(found['pkg:npm/c@1.0.0']).toEqual(['pkg:npm/b@2.0.0']);
  });

  it('resolves package-lock.json entries by their install paths, workspace links included', async () => {
    const source = memoryFileSource({
      '/srv/app/package-lock.json': JSON.stringify({
        lockfileVersion: 3,
        packages: {
          '': { name: 'app', version: '1.0.0' },
          'node_modules/a': { version: '1.0.0', dependencies: { b: '^1' } },
          'node_modules/a/node_modules/b': { version: '1.0.0' },
          'node_modules/b': { version: '2.0.0' },
          'node_modules/c': { version: '1.0.0', dependencies: { b: '^2', '@app/ui': '*' } },
          'node_modules/@app/ui': { resolved: 'packages/ui', link: true },
          'packages/ui': { name: '@app/ui', version: '0.2.0', dependencies: { a: '*' } },
        },
      }),
    });
    expect(await edges(source)).toEqual({
      'pkg:npm/a@1.0.0': ['pkg:npm/b@1.0.0'],
      'pkg:npm/b@1.0.0': [],
      'pkg:npm/b@2.0.0': [],
      'pkg:npm/c@1.0.0': ['pkg:npm/%40app/ui@0.2.0', 'pkg:npm/b@2.0.0'],
      'pkg:npm/%40app/ui@0.2.0': ['pkg:npm/a@1.0.0'],
    });
  });
});

describe('resolveNodeDependencies', () => {
  it('walks the ancestors like Module._nodeModulePaths, never looking inside node_modules/node_modules', () => {
    expect(lookupDirs('/app/node_modules/@s/x', '@s/y')).toEqual([
      '/app/node_modules/@s/x/node_modules/@s/y',
      '/app/node_modules/@s/node_modules/@s/y',
      '/app/node_modules/@s/y',
      '/node_modules/@s/y',
    ]);
  });

  it('pins the real name of an aliased install and leaves unresolvable names bare, without changing its input', () => {
    const a = {
      type: 'npm' as const,
      name: 'a',
      version: '1.0.0',
      locations: [],
      depends: [['b'], ['missing']],
    };
    const modules = [
      { dir: '/app/node_modules/a', pkg: a },
      {
        dir: '/app/node_modules/b',
        pkg: { type: 'npm' as const, name: 'real-b', version: '4.0.0', locations: [] },
      },
    ];
    expect(resolveNodeDependencies(modules)[0]!.depends).toEqual([
      [{ name: 'real-b', version: '4.0.0' }],
      ['missing'],
    ]);
    expect(a.depends).toEqual([['b'], ['missing']]);
  });
});
