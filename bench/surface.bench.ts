/**
 * `rampart compare IMAGE --against debian:trixie` for the catalog images (issue 15).
 * Each catalog image (images/*.yaml) is built for amd64 with bin/rampart.js from the real archive,
 * compared with its standard Debian root (minbase + its main packages, built once and cached),
 * then compared again warm, three times in process (the library) and three times end to end
 * (`rampart compare` in a fresh process): the medians are the timed figures (target < 3 s for
 * nodejs), with CPU time and the load average in the notes. The package figure is distribution
 * packages (what dpkg-query lists; see countPackages), language packages have their own figure.
 * Reductions are printed as "remaining %" (100 - reduction) so the runner's upper-bound targets
 * read as the issue's: ≥ 70% fewer packages = ≤ 30% remaining, ≥ 85% fewer executables on PATH =
 * ≤ 15% remaining, and 0 shells, package managers and setuid files left.
 * BENCH_SURFACE_IMAGES=nodejs,python3 limits the images (default: every catalog image).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
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
    // Warm, median of three: in-process (the library) and end to end (the CLI in a fresh process,
    // module load included), each with its CPU time (user+sys), which the machine's load moves less.
    const library: Array<{ seconds: number; cpu: number }> = [];
    let result: Awaited<ReturnType<typeof compareAgainst>> | undefined;
    for (let i = 0; i < 3; i++) {
      const cpu0 = process.cpuUsage();
      const start = performance.now();
      result = await compareAgainst(layout, 'debian:trixie');
      const cpu = process.cpuUsage(cpu0);
      library.push({ seconds: (performance.now() - start) / 1000, cpu: (cpu.user + cpu.system) / 1e6 });
    }
    const cli = [0, 1, 2].map(() => timeCli(layout, join(out, `${name}.compare.json`)));
    if (!result) throw new Error('no compare result');
    const r = result.reduction;
    const { a, b } = result;
    const load = loadavg()
      .map((l) => l.toFixed(1))
      .join(' ');
    const note = `vs ${a.subject.reference}; distribution packages ${a.packages.total} -> ${b.packages.total}, language packages ${a.packages.language} -> ${b.packages.language} (${JSON.stringify(b.packages.byEcosystem)}), PATH ${a.executablesOnPath.total} -> ${b.executablesOnPath.total}`;
    const strict = name === 'nodejs';
    const lib = median(library, (x) => x.seconds);
    const bin = median(cli, (x) => x.seconds);
    figures.push(
      {
        name: `${name}: compare --against debian:trixie, warm (library)`,
        value: lib.seconds,
        unit: 's',
        ...(strict ? { target: 3 } : {}),
        note: `median of 3; CPU ${lib.cpu.toFixed(2)} s; load ${load}`,
      },
      {
        name: `${name}: rampart compare --against debian:trixie, warm (CLI)`,
        value: bin.seconds,
        unit: 's',
        ...(strict ? { target: 3 } : {}),
        note: `median of 3; ${bin.cpu !== undefined ? `CPU ${bin.cpu.toFixed(2)} s, max RSS ${bin.rssMb} MB; ` : ''}load ${load}`,
      },
      {
        name: `${name}: packages remaining (distribution packages, 100 - reduction)`,
        value: 100 - r.packages,
        unit: '%',
        ...(strict ? { target: 30 } : {}),
        note,
      },
      {
        // A count, not "remaining %": most catalog images have none on either side (0 -> 0).
        name: `${name}: language packages (npm, PyPI, ...)`,
        value: b.packages.language,
        unit: 'packages',
        note: `standard root ${a.packages.language}; reduction ${r.languagePackages}%`,
      },
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
        value: b.shells.total,
        unit: 'files',
        ...(strict ? { target: 0 } : {}),
      },
      {
        name: `${name}: package managers`,
        value: b.packageManagers.total,
        unit: 'files',
        ...(strict ? { target: 0 } : {}),
      },
      {
        name: `${name}: setuid files`,
        value: b.setuid.total,
        unit: 'files',
        ...(strict ? { target: 0 } : {}),
      },
    );
  }
  return figures;
}

function median<T>(runs: T[], by: (run: T) => number): T {
  return [...runs].sort((x, y) => by(x) - by(y))[Math.floor(runs.length / 2)] as T;
}

/** One warm `rampart compare --against` in a fresh process; CPU and peak RSS from time(1) when present. */
function timeCli(layout: string, json: string): { seconds: number; cpu?: number; rssMb?: number } {
  const args = [
    join(repo, 'bin/rampart.js'),
    'compare',
    layout,
    '--against',
    'debian:trixie',
    '-o',
    `json=${json}`,
  ];
  const time = '/usr/bin/time';
  const start = performance.now();
  if (!existsSync(time)) {
    execFileSync(process.execPath, args, { cwd: repo, stdio: 'ignore' });
    return { seconds: (performance.now() - start) / 1000 };
  }
  const result = spawnSync(time, ['-f', 'rampart-time %U %S %M', process.execPath, ...args], {
    cwd: repo,
    encoding: 'utf8',
  });
  const seconds = (performance.now() - start) / 1000;
  if (result.status !== 0) throw new Error(`rampart compare failed: ${result.stderr}`);
  const match = /rampart-time (\S+) (\S+) (\d+)/.exec(result.stderr);
  if (!match) return { seconds };
  return { seconds, cpu: Number(match[1]) + Number(match[2]), rssMb: Math.round(Number(match[3]) / 1024) };
}
