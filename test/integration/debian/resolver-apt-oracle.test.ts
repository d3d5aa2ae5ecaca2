import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PackageIndex, parsePackagesFile } from '../../../src/debian/package-index.js';
import { resolvePackageClosure } from '../../../src/debian/resolver.js';

// apt-get as the independent oracle: with an empty dpkg status file, `apt-get -s install X`
// prints the full closure apt would install from the host's package lists. We compare our
// resolver on the very same lists. Skipped where the host has no (lz4 or plain) amd64 lists.
const LISTS = '/var/lib/apt/lists';
const listFiles = existsSync(LISTS)
  ? readdirSync(LISTS).filter((f) => /_dists_.+_main_binary-amd64_Packages(\.lz4)?$/.test(f))
  : [];
const haveTools =
  spawnSync('apt-get', ['--version']).status === 0 && spawnSync('lz4', ['--version']).status === 0;
const hostArch = spawnSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).stdout?.trim();
const enabled = listFiles.length > 0 && haveTools && hostArch === 'amd64';

function loadHostIndex(): PackageIndex {
  const index = new PackageIndex([]);
  for (const file of listFiles) {
    const suite = /_dists_(.+?)_main_binary-amd64_/.exec(file)?.[1] ?? 'unknown';
    const path = join(LISTS, file);
    const text = file.endsWith('.lz4')
      ? spawnSync('lz4', ['-dc', path], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 }).stdout
      : spawnSync('cat', [path], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 }).stdout;
    index.add(parsePackagesFile(text, { suite, component: 'main' }));
  }
  return index;
}

describe.skipIf(!enabled)('resolvePackageClosure agrees with apt-get on the host package lists', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-apt-oracle-'));
  const status = join(dir, 'status');
  writeFileSync(status, '');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let index: PackageIndex | undefined;

  function aptClosure(packages: string[]): string[] {
    const run = spawnSync(
      'apt-get',
      [
        '-s',
        '-o',
        `Dir::State::status=${status}`,
        // Private binary caches: built on the first call, reused by the next ones.
        '-o',
        `Dir::Cache::pkgcache=${join(dir, 'pkgcache.bin')}`,
        '-o',
        `Dir::Cache::srcpkgcache=${join(dir, 'srcpkgcache.bin')}`,
        '-o',
        'APT::Install-Recommends=false',
        '-o',
        'Debug::NoLocking=1',
        '-o',
        'APT::Architectures=amd64',
        'install',
        ...packages,
      ],
      { encoding: 'utf8' },
    );
    expect(run.status, run.stderr).toBe(0);
    return run.stdout
      .split('\n')
      .filter((line) => line.startsWith('Inst '))
      .map((line) => {
        const [, name, version] = /^Inst (\S+) \((\S+)/.exec(line) ?? [];
        return `${name?.replace(/:amd64$/, '')}=${version}`;
      })
      .sort();
  }

  // bash pulls awk, a virtual package with several providers; the others are typical image contents.
  it.each([['python3'], ['bash'], ['openssh-server'], ['curl', 'ca-certificates', 'tzdata']])(
    'closure of %s',
    (...packages: string[]) => {
      index ??= loadHostIndex();
      const ours = resolvePackageClosure(index, { packages, architecture: 'amd64' })
        .packages.map((p) => `${p.name}=${p.version}`)
        .sort();
      expect(ours).toEqual(aptClosure(packages));
    },
    60_000,
  );
});
