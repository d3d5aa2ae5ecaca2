import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PackageIndex } from '../../../src/debian/package-index.js';
import { loadRepositories } from '../../../src/debian/repository.js';
import { resolvePackageClosure } from '../../../src/debian/resolver.js';
import { isRampartError } from '../../../src/errors.js';
import { type AptRepo, createAptRepo } from '../../helpers/apt-repo.js';

// Resolver scenarios on indexes that went through the real client: dpkg-deb built packages,
// signed Release, Packages.xz fetched by hash and parsed.
let repo: AptRepo;
let cacheDir: string;
let amd64: PackageIndex;
let arm64: PackageIndex;

beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'rampart-resolve-cache-'));
  repo = await createAptRepo([
    {
      name: 'stable',
      architectures: ['amd64', 'arm64'],
      packages: [
        { name: 'broken', version: '1', depends: 'libmissing' },
        { name: 'alt-app', version: '1', depends: 'mta-a | mta-b' },
        { name: 'mta-b', version: '1' },
        { name: 'virt-app', version: '1', depends: 'www-browser' },
        { name: 'lynx', version: '2.9', provides: 'www-browser' },
        { name: 'vp-app', version: '1', depends: 'libfoo-abi (>= 2)' },
        { name: 'foo-old', version: '1', provides: 'libfoo-abi (= 1)' },
        { name: 'foo-new', version: '3', provides: 'libfoo-abi (= 2.5)' },
        { name: 'needs-perl', version: '1', depends: 'perl-base' },
        { name: 'perl-base', version: '5.40', essential: true },
        { name: 'cyc-a', version: '1', depends: 'cyc-b' },
        { name: 'cyc-b', version: '1', preDepends: 'cyc-a' },
        { name: 'ma-app', version: '1', depends: 'libma, ma-tool:any, ma-data' },
        { name: 'libma', version: '1', multiArch: 'same' },
        { name: 'libma', version: '1', architecture: 'arm64', multiArch: 'same' },
        { name: 'ma-tool', version: '1', multiArch: 'allowed' },
        { name: 'ma-data', version: '1', architecture: 'all', multiArch: 'foreign' },
        { name: 'ma-app', version: '1', architecture: 'arm64', depends: 'libma, ma-tool:any, ma-data' },
        { name: 'ma-tool', version: '1', architecture: 'arm64', multiArch: 'allowed' },
        { name: 'ver-app', version: '1', depends: 'libver (>= 2)' },
        { name: 'libver', version: '1' },
      ],
    },
    {
      name: 'stable-updates',
      architectures: ['amd64', 'arm64'],
      packages: [{ name: 'libver', version: '2' }],
    },
  ]);
  const loaded = await loadRepositories({
    suites: ['stable', 'stable-updates'],
    architectures: ['amd64', 'arm64'],
    mirror: repo.url,
    keyring: repo.key.keyring,
    cacheDir,
    etcApt: '/nonexistent',
  });
  amd64 = loaded.indexes.get('amd64')!;
  arm64 = loaded.indexes.get('arm64')!;
});

afterAll(async () => {
  await repo?.close();
  await rm(cacheDir, { recursive: true, force: true });
});

const names = (
  index: PackageIndex,
  packages: string[],
  extra: { exclude?: string[] } = {},
  architecture = 'amd64',
) =>
  resolvePackageClosure(index, { packages, architecture, ...extra }).packages.map(
    (p) => `${p.name}:${p.architecture}`,
  );

function failure(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

describe('resolver through the verified client', () => {
  it('reports a missing dependency with the chain', () => {
    const error = failure(() => names(amd64, ['broken']));
    expect(isRampartError(error, 'UNSATISFIABLE')).toBe(true);
    expect((error as Error).message).toMatch(/libmissing/);
  });

  it('takes the first satisfiable alternative', () => {
    expect(names(amd64, ['alt-app'])).toEqual(['alt-app:amd64', 'mta-b:amd64']);
  });

  it('satisfies a virtual package through its provider', () => {
    expect(names(amd64, ['virt-app'])).toEqual(['lynx:amd64', 'virt-app:amd64']);
  });

  it('honours versioned provides', () => {
    expect(names(amd64, ['vp-app'])).toEqual(['foo-new:amd64', 'vp-app:amd64']);
  });

  it('refuses to exclude a package that is required', () => {
    const error = failure(() => names(amd64, ['needs-perl'], { exclude: ['perl-base'] }));
    expect(isRampartError(error, 'EXCLUDED_REQUIRED')).toBe(true);
    expect((error as Error).message).toMatch(/perl-base/);
  });

  it('terminates on dependency cycles', () => {
    expect(names(amd64, ['cyc-a'])).toEqual(['cyc-a:amd64', 'cyc-b:amd64']);
  });

  it('resolves Multi-Arch packages per architecture, with arch:all from the same index', () => {
    expect(names(amd64, ['ma-app'])).toEqual(['libma:amd64', 'ma-app:amd64', 'ma-data:all', 'ma-tool:amd64']);
    expect(names(arm64, ['ma-app'], {}, 'arm64')).toEqual([
      'libma:arm64',
      'ma-app:arm64',
      'ma-data:all',
      'ma-tool:arm64',
    ]);
  });

  it('picks a newer version from a second suite when a dependency needs it', () => {
    const resolution = resolvePackageClosure(amd64, { packages: ['ver-app'], architecture: 'amd64' });
    const libver = resolution.packages.find((p) => p.name === 'libver');
    expect(libver).toMatchObject({ version: '2', suite: 'stable-updates' });
    expect(resolution.why('libver')).toEqual(['ver-app', 'libver']);
  });
});
