/**
 * `rampart compare IMAGE --against debian:trixie` for the catalog images (issue 15).
 * Each catalog image (images/*.yaml) is built for amd64 with bin/rampart.js from the real archive,
 * compared with its standard Debian root (minbase + its main packages, built once and cached),
 * then compared again warm: that second run is the timed figure (target < 3 s for nodejs).
 * Reductions are printed as "remaining %" (100 - reduction) so the runner's upper-bound targets
 * read as the issue's: ≥ 70% fewer packages = ≤ 30% remaining, ≥ 85% fewer executables on PATH =
 * ≤ 15% remaining, and 0 shells, package managers and setuid files left.
 * BENCH_SURFACE_IMAGES=nodejs,python3 limits the images (default: every catalog image).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { compareAgainst } from '../src/surface/compare.js';
import type { BenchFigure } from './run.js';

const repo = join(import.meta.dirname, '..');

export default async function surfaceBench(): Promise<BenchFigure[]> {
  const all = readdirSync(join(repo, 'images'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -5))
    .sort();
  const wanted = process.env.BENCH_SURFACE_IMAGES?.split(',') ?? all;
  const out = join(repo, '.cache/bench-surface');
  mkdirSync(out, { recursive: true });
  const figures: BenchFigure[] = [];
  for (const name of all.filter((n) => wanted.includes(n))) {
    const layout = `oci:${join(out, name)}:latest`;
    execFileSync(
      process.execPath,
      [
        join(repo, 'bin/rampart.js'),
        'build',
        join(repo, 'images', `${name}.yaml`),
        layout,
        '--arch',
        'amd64',
      ],
      { cwd: repo, stdio: 'ignore' },
    );
    await compareAgainst(layout, 'debian:trixie'); // cold: builds and caches the standard root
    const start = performance.now();
    const result = await compareAgainst(layout, 'debian:trixie');
    const seconds = (performance.now() - start) / 1000;
    const r = result.reduction;
    const debA = result.a.packages.byEcosystem.deb ?? 0;
    const debB = result.b.packages.byEcosystem.deb ?? 0;
    const note = `vs ${result.a.subject.reference}; packages ${result.a.packages.total} -> ${result.b.packages.total} (deb ${debA} -> ${debB}), PATH ${result.a.executablesOnPath.total} -> ${result.b.executablesOnPath.total}`;
    const strict = name === 'nodejs';
    figures.push(
      {
        name: `${name}: compare --against debian:trixie, warm`,
        value: seconds,
        unit: 's',
        ...(strict ? { target: 3 } : {}),
      },
      {
        name: `${name}: packages remaining (100 - reduction)`,
        value: 100 - r.packages,
        unit: '%',
        ...(strict ? { target: 30 } : {}),
        note,
      },
      { name: `${name}: deb packages remaining`, value: debA ? (100 * debB) / debA : 0, unit: '%' },
      {
        name: `${name}: executables on PATH remaining`,
        value: 100 - r.executables,
        unit: '%',
        ...(strict ? { target: 15 } : {}),
      },
      { name: `${name}: files remaining`, value: 100 - r.files, unit: '%' },
      { name: `${name}: bytes remaining`, value: 100 - r.bytes, unit: '%' },
      {
        name: `${name}: shells`,
        value: result.b.shells.total,
        unit: 'files',
        ...(strict ? { target: 0 } : {}),
      },
      {
        name: `${name}: package managers`,
        value: result.b.packageManagers.total,
        unit: 'files',
        ...(strict ? { target: 0 } : {}),
      },
      {
        name: `${name}: setuid files`,
        value: result.b.setuid.total,
        unit: 'files',
        ...(strict ? { target: 0 } : {}),
      },
    );
  }
  return figures;
}
