/**
 * rampart sbom vs `cdxgen -t rootfs` on the same mmdebstrap minbase trixie root, in one run.
 * Both run as child processes under /usr/bin/time -v for wall time and peak RSS.
 * Targets (issue 5): rampart ≥ 20× faster and ≤ 1/4 of cdxgen's peak memory.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureMinbaseRoot } from '../test/e2e/sbom/minbase-root.js';
import { ensureCdxgen } from '../test/helpers/cdxgen.js';
import type { BenchFigure } from './run.js';

interface Measured {
  wallSeconds: number;
  peakRssMiB: number;
}

function measure(command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Measured {
  const timeBin = '/usr/bin/time';
  if (!existsSync(timeBin)) return measureWithoutTime(command, args, env, cwd);
  const result = spawnSync(timeBin, ['-v', command, ...args], {
    env,
    cwd,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.status !== 0)
    throw new Error(`${command} failed (${result.status}): ${result.stderr.slice(-2000)}`);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(
    result.stderr,
  );
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(result.stderr);
  if (!wall || !rss) throw new Error('could not read /usr/bin/time -v output');
  const seconds = Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]);
  return { wallSeconds: seconds, peakRssMiB: Number(rss[1]) / 1024 };
}

/** Fallback: a node wrapper that spawns the command and reports its children's resource usage. */
function measureWithoutTime(command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Measured {
  const script = `const {spawnSync}=require('node:child_process');const t=process.hrtime.bigint();
const r=spawnSync(${JSON.stringify(command)},${JSON.stringify(args)},{stdio:'ignore'});
console.log(JSON.stringify({status:r.status,ns:String(process.hrtime.bigint()-t)}));`;
  const out = execFileSync(process.execPath, ['-e', script], { env, cwd, encoding: 'utf8' });
  const parsed = JSON.parse(out) as { status: number; ns: string };
  if (parsed.status !== 0) throw new Error(`${command} failed`);
  // resourceUsage() only covers this process; without /usr/bin/time peak RSS is not measured.
  return { wallSeconds: Number(BigInt(parsed.ns)) / 1e9, peakRssMiB: Number.NaN };
}

/** bin/rampart.js runs dist/: rebuild when any src/sbom file is newer than the built entry point. */
function distIsStale(repo: string): boolean {
  const built = join(repo, 'dist/sbom/index.js');
  if (!existsSync(built)) return true;
  const builtAt = statSync(built).mtimeMs;
  const sources = readdirSync(join(repo, 'src/sbom'), { recursive: true, encoding: 'utf8' }).map((file) =>
    join(repo, 'src/sbom', file),
  );
  sources.push(join(repo, 'src/cli/commands/sbom.ts'));
  return sources.some((file) => statSync(file).mtimeMs > builtAt);
}

export default async function benchSbom(): Promise<BenchFigure[]> {
  const repo = process.cwd();
  const root = ensureMinbaseRoot();
  if (distIsStale(repo)) {
    try {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: repo, stdio: 'pipe' });
    } catch {
      // tsc exits non-zero on type errors elsewhere in the tree but still emits; only a missing entry point is fatal.
      if (!existsSync(join(repo, 'dist/cli/main.js')))
        throw new Error('build failed: run npx tsc -p tsconfig.build.json');
    }
  }
  const work = mkdtempSync(join(tmpdir(), 'rampart-bench-sbom-'));
  try {
    const rampart = measure(
      process.execPath,
      [
        join(repo, 'bin/rampart.js'),
        'sbom',
        `dir:${root}`,
        '-o',
        `cyclonedx-json=${join(work, 'rampart.cdx.json')}`,
      ],
      process.env,
      work,
    );
    const home = join(work, 'home');
    mkdirSync(home);
    const cdxgen = measure(
      ensureCdxgen(),
      ['-t', 'rootfs', '-o', join(work, 'cdxgen.cdx.json'), root],
      { ...process.env, HOME: home },
      work,
    );
    const speedup = cdxgen.wallSeconds / rampart.wallSeconds;
    const memoryRatio = rampart.peakRssMiB / cdxgen.peakRssMiB;
    console.log('sbom: minbase trixie root, rampart sbom vs cdxgen -t rootfs');
    console.log(
      `  rampart  ${rampart.wallSeconds.toFixed(2)} s  ${rampart.peakRssMiB.toFixed(0)} MiB peak RSS`,
    );
    console.log(
      `  cdxgen   ${cdxgen.wallSeconds.toFixed(2)} s  ${cdxgen.peakRssMiB.toFixed(0)} MiB peak RSS`,
    );
    console.log(
      `  speed-up ${speedup.toFixed(1)}× (target ≥ 20×)  memory ${(memoryRatio * 100).toFixed(0)}% of cdxgen (target ≤ 25%)`,
    );
    return [
      { name: 'sbom minbase trixie: rampart wall time', value: rampart.wallSeconds, unit: 's' },
      { name: 'sbom minbase trixie: cdxgen -t rootfs wall time', value: cdxgen.wallSeconds, unit: 's' },
      { name: 'sbom minbase trixie: rampart peak RSS', value: rampart.peakRssMiB, unit: 'MiB' },
      { name: 'sbom minbase trixie: cdxgen peak RSS', value: cdxgen.peakRssMiB, unit: 'MiB' },
      // Targets are ratios: rampart's time ≤ 1/20 of cdxgen's, its memory ≤ 1/4.
      { name: 'sbom: rampart time / cdxgen time (≤ 1/20)', value: 1 / speedup, unit: 'ratio', target: 0.05 },
      {
        name: 'sbom: rampart peak RSS / cdxgen peak RSS (≤ 1/4)',
        value: memoryRatio,
        unit: 'ratio',
        target: 0.25,
      },
    ];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
