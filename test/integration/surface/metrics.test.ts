import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRampartError } from '../../../src/errors.js';
import { writeImage } from '../../../src/oci/open.js';
import { compareMetrics } from '../../../src/surface/compare.js';
import { countPackages, measureSurface, resolveUser } from '../../../src/surface/metrics.js';
import { mainPackages } from '../../../src/surface/standard-root.js';
import type { CompareResult, SurfaceMetrics } from '../../../src/surface/types.js';
import { rampart } from '../../helpers/run-cli.js';
import {
  SURFACE_EXPECTED,
  SURFACE_LAYERS,
  surfaceImage,
  surfaceRoot,
} from '../../helpers/surface-fixtures.js';

let work: string;
let image: SurfaceMetrics;
let root: SurfaceMetrics;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'rampart-surface-'));
  const img = await surfaceImage(work);
  await writeImage(`oci:${join(work, 'layout')}:v1`, img);
  await writeImage(`docker-archive:${join(work, 'image.tar')}:v1`, img);
  await surfaceRoot(join(work, 'root'));
  image = await measureSurface(`oci:${join(work, 'layout')}:v1`);
  root = await measureSurface(`dir:${join(work, 'root')}`);
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

function paths(m: SurfaceMetrics, key: keyof typeof SURFACE_EXPECTED & keyof SurfaceMetrics): string[] {
  const list = m[key] as { total: number; paths: string[] };
  expect(list.total).toBe(list.paths.length);
  return list.paths;
}

describe('measureSurface on a generated image with known contents', () => {
  it('counts every metric of the merged view (a whited-out file is gone)', () => {
    expect(image.packages).toEqual({
      total: SURFACE_EXPECTED.packages,
      language: 0,
      byEcosystem: { deb: 2 },
    });
    for (const key of [
      'shells',
      'packageManagers',
      'interpreters',
      'setuid',
      'setgid',
      'worldWritable',
      'capabilities',
      'executablesOnPath',
    ] as const)
      expect(paths(image, key), key).toEqual(SURFACE_EXPECTED[key]);
    expect(image.elf).toEqual({
      executables: SURFACE_EXPECTED.elfExecutables,
      sharedLibraries: SURFACE_EXPECTED.elfSharedLibraries,
    });
    expect(image.user).toEqual({ name: 'nonroot', root: false });
    expect(image.exposedPorts).toEqual(['8080/tcp']);
    expect(image.subject).toMatchObject({
      platform: 'linux/amd64',
      digest: expect.stringMatching(/^sha256:/),
    });
    expect(image.bytes.compressed).toBeGreaterThan(0);
    expect(image.vulnerabilities).toBeUndefined();
    expect(image.warnings).toBeUndefined();
  });

  it('gives the same answer for the same tree as a root directory (capabilities: said unmeasured)', () => {
    const { subject: _s, user: _u, exposedPorts: _p, capabilities: _c, warnings, bytes, ...fromRoot } = root;
    const {
      subject: _s2,
      user: _u2,
      exposedPorts: _p2,
      capabilities: _c2,
      warnings: _w,
      bytes: b2,
      ...fromImage
    } = image;
    expect(fromRoot).toEqual(fromImage);
    expect(bytes.uncompressed).toBe(b2.uncompressed);
    expect(bytes.compressed).toBeUndefined();
    expect(root.user).toEqual({ name: '', root: true });
    expect(warnings).toHaveLength(1);
  });

  it('reads every transport the same (docker-archive)', async () => {
    const other = await measureSurface(`docker-archive:${join(work, 'image.tar')}`);
    expect({ ...other, subject: undefined, bytes: undefined }).toEqual({
      ...image,
      subject: undefined,
      bytes: undefined,
    });
  });

  it('calls the vulnerability hook with the SBOM and reports its counts', async () => {
    const m = await measureSurface(`oci:${join(work, 'layout')}:v1`, {
      vulnerabilities: async (sbom) => ({ high: sbom.packages.length, critical: 1 }),
    });
    expect(m.vulnerabilities).toEqual({ critical: 1, high: 2 });
  });

  it('leaves out a hostile entry, says so, and still measures the rest', async () => {
    const hostile = await surfaceImage(work, [
      ...SURFACE_LAYERS,
      [
        { path: '../../usr/bin/bash', mode: 0o755, content: 'escape' },
        { path: 'etc/passwd', type: 'symlink', target: '../../../../etc/shadow' },
      ],
    ]);
    await writeImage(`oci:${join(work, 'hostile')}:v1`, hostile);
    const m = await measureSurface(`oci:${join(work, 'hostile')}:v1`);
    expect(m.warnings?.length).toBe(1);
    expect(m.shells.paths).toEqual(SURFACE_EXPECTED.shells);
    expect(m.setuid.paths).toEqual(SURFACE_EXPECTED.setuid);
    // The /etc/passwd link out of the image resolves inside it, to nothing: the name is not resolved.
    expect(m.user).toEqual({ name: 'nonroot', root: false });
  });

  it('reads the files its one layer pass did not keep: a hardlinked manifest, /etc/passwd through a symlink', async () => {
    // The pass keeps entries by their own name; these are wanted under another name, so a second
    // read must find them (a missing npm package or an unresolved user would show it did not).
    const linked = await surfaceImage(
      work,
      [
        [
          { path: 'usr/share/base-passwd/passwd', content: 'admin:x:0:0::/:/bin/sh\n' },
          { path: 'etc/passwd', type: 'symlink', target: '../usr/share/base-passwd/passwd' },
          { path: 'srv/store/blob', content: '{"name":"left-pad","version":"1.3.0"}' },
          { path: 'usr/lib/node_modules/left-pad/package.json', type: 'hardlink', target: 'srv/store/blob' },
        ],
      ],
      'admin',
    );
    await writeImage(`oci:${join(work, 'linked')}:v1`, linked);
    const m = await measureSurface(`oci:${join(work, 'linked')}:v1`);
    expect(m.user).toEqual({ name: 'admin', root: true });
    expect(m.packages).toEqual({ total: 0, language: 1, byEcosystem: { npm: 1 } });
  });

  it('resolves the user: root by default, by uid, by name through /etc/passwd', () => {
    const passwd = 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/false\nadmin:x:0:0::/:/bin/sh\n';
    expect(resolveUser('', passwd)).toEqual({ name: '', root: true });
    expect(resolveUser('0:0', passwd).root).toBe(true);
    expect(resolveUser('65532', passwd).root).toBe(false);
    expect(resolveUser('app', passwd).root).toBe(false);
    expect(resolveUser('admin', passwd).root).toBe(true);
    expect(resolveUser('ghost', undefined).root).toBe(false);
  });

  it('fails with a code for a missing root', async () => {
    const error = await measureSurface(`dir:${join(work, 'missing')}`).catch((e: unknown) => e);
    expect(isRampartError(error)).toBe(true);
    expect((error as { code: string }).code).toBe('NOT_FOUND');
  });
});

describe('rampart compare', () => {
  it('-o json writes CompareResult exactly, reductions of B against A', async () => {
    const out = join(work, 'compare.json');
    const { code } = await rampart(
      'compare',
      `dir:${join(work, 'root')}`,
      `oci:${join(work, 'layout')}:v1`,
      '-o',
      `json=${out}`,
    );
    expect(code).toBe(0);
    const result = JSON.parse(readFileSync(out, 'utf8')) as CompareResult;
    expect(Object.keys(result)).toEqual(['a', 'b', 'reduction']);
    expect(result).toEqual(JSON.parse(JSON.stringify(compareMetrics(result.a, result.b))));
    expect(result.reduction).toEqual({
      packages: 0,
      languagePackages: 0,
      files: 0,
      bytes: 0,
      executables: 0,
    });
  });

  it('prints the side-by-side table and refuses bad usage with code 2', async () => {
    const text = await rampart('compare', `dir:${join(work, 'root')}`, `oci:${join(work, 'layout')}:v1`);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('executables on PATH');
    expect((await rampart('compare', `dir:${join(work, 'root')}`)).code).toBe(2);
    expect((await rampart('compare', `dir:${join(work, 'root')}`, `dir:${work}`, '-o', 'html')).code).toBe(2);
    expect((await rampart('compare', `dir:${join(work, 'root')}`, '--against', 'ubuntu:noble')).code).toBe(2);
  });
});

describe('compareMetrics', () => {
  it('computes (A - B) / A in percent, one decimal; a zero baseline gives 0 or -100', () => {
    const b = { ...image, packages: { total: 1, language: 4, byEcosystem: {} }, files: 0 };
    const r = compareMetrics(
      { ...image, packages: { total: 3, language: 4, byEcosystem: {} }, files: 0 },
      b,
    ).reduction;
    expect(r.packages).toBe(66.7);
    expect(r.languagePackages).toBe(0);
    expect(r.files).toBe(0);
    expect(compareMetrics({ ...image, files: 0 }, { ...image, files: 5 }).reduction.files).toBe(-100);
  });
});

describe('mainPackages', () => {
  it('takes the roots of the dependency graph, both members of a root cycle', () => {
    const pkg = (name: string, dependsOn: string[], type = 'deb') => ({ id: name, name, type, dependsOn });
    expect(
      mainPackages([
        pkg('nodejs', ['libnode', 'libc6']),
        pkg('libnode', ['nodejs', 'libc6']),
        pkg('libc6', []),
        pkg('netbase', []),
        pkg('undici', [], 'npm'),
        // a Built-Using source: nothing depends on it, but it is not an installable package
        { id: 'rustc-src', name: 'rustc', type: 'deb', architecture: 'source', dependsOn: [] },
      ]),
    ).toEqual(['libnode', 'netbase', 'nodejs']);
  });
});

describe('package counts', () => {
  it('count distribution packages as the package figure and language packages apart', () => {
    const pkg = (type: 'deb' | 'npm' | 'pypi' | 'golang', architecture?: string) => ({
      type,
      ...(architecture ? { architecture } : {}),
    });
    expect(
      countPackages([
        pkg('deb', 'amd64'),
        pkg('deb', 'all'),
        pkg('npm'), // e.g. the module a node-* deb ships: the same code, counted once in each figure
        pkg('npm'),
        pkg('pypi'),
        pkg('golang'),
        pkg('deb', 'source'), // Built-Using: neither
      ]),
    ).toEqual({ total: 2, language: 4, byEcosystem: { deb: 2, golang: 1, npm: 2, pypi: 1 } });
  });

  it('count installed packages, not the Debian source packages Built-Using names', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rampart-surface-builtusing-'));
    try {
      mkdirSync(join(root, 'var/lib/dpkg'), { recursive: true });
      writeFileSync(
        join(root, 'var/lib/dpkg/status'),
        [
          'Package: ripgrep',
          'Status: install ok installed',
          'Architecture: amd64',
          'Version: 14.1.1-1+b4',
          'Built-Using: rustc (= 1.85.0+dfsg3-1)',
          'X-Cargo-Built-Using: rust-regex (= 1.11.1-1), rust-memchr (= 2.7.4-1)',
          'Description: fast grep',
          '',
          'Package: base-files',
          'Status: install ok installed',
          'Architecture: amd64',
          'Version: 13.8',
          'Description: base system',
          '',
        ].join('\n'),
      );
      const metrics = await measureSurface(`dir:${root}`);
      expect(metrics.packages).toEqual({ total: 2, language: 0, byEcosystem: { deb: 2 } });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
