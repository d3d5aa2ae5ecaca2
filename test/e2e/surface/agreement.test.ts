import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PATH_DIRS } from '../../../src/surface/classify.js';
import { measureSurface } from '../../../src/surface/metrics.js';
import type { SurfaceMetrics } from '../../../src/surface/types.js';
import { ensureMinbaseRoot, ensureTrixieRootWith } from '../sbom/minbase-root.js';

/**
 * The metrics of a real `mmdebstrap --variant=minbase trixie` root against independent counts of
 * the same root: dpkg-query, find, du --apparent-size, file(1).
 */
let root: string;
let metrics: SurfaceMetrics;

const sh = (script: string) =>
  execFileSync('sh', ['-c', script], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
const count = (script: string) => Number(sh(`${script} | wc -l`).trim());
/** What dpkg-query lists as installed in a root's dpkg database. */
const dpkgInstalled = (at: string) =>
  count(
    `dpkg-query --admindir=${join(at, 'var/lib/dpkg')} -W -f='\${db:Status-Abbrev} \${Package}\\n' | grep '^ii '`,
  );

beforeAll(async () => {
  root = ensureMinbaseRoot();
  metrics = await measureSurface(`dir:${root}`);
});

describe('measureSurface agrees with independent tools on a minbase root', () => {
  it('packages: dpkg-query --admindir', () => {
    const dpkg = dpkgInstalled(root);
    expect(dpkg).toBeGreaterThan(50);
    expect(metrics.packages.byEcosystem.deb).toBe(dpkg);
    expect(metrics.packages.total).toBe(dpkg);
  });

  it('files and bytes: find -type f and du --apparent-size over the same files', () => {
    expect(metrics.files).toBe(count('find . -type f'));
    const du = sh(
      'find . -type f -print0 | du --apparent-size --block-size=1 --count-links --total --files0-from=- | tail -1',
    );
    expect(metrics.bytes.uncompressed).toBe(Number(du.split(/\s+/)[0]));
  });

  it('ELF files: file(1)', () => {
    const elf = count(
      "find . -type f -print0 | xargs -0 file -N | grep -E ': +((setuid|setgid|sticky) )*ELF '",
    );
    expect(elf).toBeGreaterThan(100);
    expect(metrics.elf.executables + metrics.elf.sharedLibraries).toBe(elf);
  });

  it('setuid/setgid: find -perm /6000', () => {
    const found = sh('find . -type f -perm /6000')
      .trim()
      .split('\n')
      .map((p) => p.slice(1))
      .sort();
    expect(found.length).toBeGreaterThan(0);
    expect([...new Set([...metrics.setuid.paths, ...metrics.setgid.paths])].sort()).toEqual(found);
    expect(metrics.setuid.total).toBe(count('find . -type f -perm /4000'));
  });

  it('executables on PATH: find DIR -maxdepth 1 -type f -perm /111 over the default PATH', () => {
    const dirs = DEFAULT_PATH_DIRS.map((d) => `.${d}`).join(' ');
    expect(metrics.executablesOnPath.total).toBe(
      count(`find ${dirs} -maxdepth 1 -type f -perm /111 2>/dev/null`),
    );
    expect(metrics.shells.paths).toEqual(
      expect.arrayContaining(['/usr/bin/bash', '/usr/bin/dash', '/usr/bin/sh']),
    );
    expect(metrics.packageManagers.paths).toEqual(expect.arrayContaining(['/usr/bin/apt', '/usr/bin/dpkg']));
  });
});

describe('the package figure is what dpkg-query lists, on a root with language packages too', () => {
  let nodejs: string;
  let measured: SurfaceMetrics;
  beforeAll(async () => {
    // minbase + nodejs (mmdebstrap, dpkg's own install): node-* debs ship npm modules, which the
    // SBOM lists as well; they are language packages, not more distribution packages.
    nodejs = ensureTrixieRootWith(['nodejs']);
    measured = await measureSurface(`dir:${nodejs}`);
  });

  it('packages.total = dpkg-query; npm modules counted apart in packages.language', () => {
    const dpkg = dpkgInstalled(nodejs);
    expect(dpkg).toBeGreaterThan(50);
    expect(measured.packages.language).toBeGreaterThan(0);
    expect(measured.packages.byEcosystem.npm).toBe(measured.packages.language);
    expect(measured.packages.total).toBe(dpkg);
  });
});
