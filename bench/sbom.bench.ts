/**
 * rampart sbom vs `cdxgen -t rootfs` vs debsbom (sid, `--with-licenses`) on the same
 * multi-ecosystem trixie root (debs, Debian's npm and Python packages, an npm application in /app,
 * jars, Rust and Go programs), in one run. Each runs as a child process under /usr/bin/time -v for
 * wall time and peak RSS; debsbom runs in the sid chroot on a copy of the root (copied first, not
 * timed), through chroot(8), whose own cost is a few milliseconds.
 * Targets (issue 16): rampart ≥ 30× faster than cdxgen and no slower than debsbom's full run
 * (debsbom reads debs only; rampart covers every ecosystem); issue 5: ≤ 1/4 of cdxgen's peak memory.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTrixieRoot } from '../test/e2e/sbom/minbase-root.js';
import { ensureCdxgen } from '../test/helpers/cdxgen.js';
import { sidToolsChroot } from '../test/helpers/peer-tools.js';
import type { BenchFigure } from './run.js';

/** Debian packages of the bench root, one or more per ecosystem rampart catalogs. */
const ROOT_PACKAGES = [
  'python3',
  'python3-requests',
  'python3-yaml',
  'nodejs',
  'node-express',
  'node-semver',
  'ripgrep',
  'fd-find',
  'fzf',
  'libcommons-lang3-java',
  'libslf4j-java',
];

/**
 * The multi-ecosystem root: the Debian packages above plus an npm application in /app whose
 * node_modules are copies of Debian's express tree (written once; the root is cached).
 */
function ensureMultiEcosystemRoot(): string {
  const root = ensureTrixieRoot('trixie-multi-ecosystem', ROOT_PACKAGES);
  const app = join(root, 'app');
  if (existsSync(join(app, 'package.json'))) return root;
  mkdirSync(join(app, 'node_modules'), { recursive: true });
  const deps: Record<string, string> = {};
  for (const name of ['express', 'semver']) {
    const from = join(root, 'usr/share/nodejs', name);
    if (!existsSync(from)) continue;
    cpSync(from, join(app, 'node_modules', name), { recursive: true, dereference: true });
    deps[name] = (
      JSON.parse(readFileSync(join(from, 'package.json'), 'utf8')) as { version: string }
    ).version;
  }
  const manifest = { name: 'orders-web', version: '2.0.0', private: true, dependencies: deps };
  writeFileSync(join(app, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return root;
}

function countComponents(file: string): number {
  return ((JSON.parse(readFileSync(file, 'utf8')) as { components?: unknown[] }).components ?? []).length;
}

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
  const root = ensureMultiEcosystemRoot();
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
  const chroot = await sidToolsChroot();
  const inChroot = mkdtempSync(join(chroot, 'tmp', 'bench-'));
  try {
    const rampartOut = join(work, 'rampart.cdx.json');
    const rampart = measure(
      process.execPath,
      [
        join(repo, 'bin/rampart.js'),
        'sbom',
        `dir:${root}`,
        '-o',
        `cyclonedx-json=${rampartOut}`,
        '-o',
        `spdx-json=${join(work, 'rampart.spdx.json')}`,
      ],
      process.env,
      work,
    );
    const home = join(work, 'home');
    mkdirSync(home);
    const cdxgenOut = join(work, 'cdxgen.cdx.json');
    const cdxgen = measure(
      ensureCdxgen(),
      ['-t', 'rootfs', '-o', cdxgenOut, root],
      { ...process.env, HOME: home },
      work,
    );
    // debsbom reads the status, apt lists and (--with-licenses) every copyright file of the root.
    cpSync(root, join(inChroot, 'root'), { recursive: true, verbatimSymlinks: true });
    const inside = `/tmp/${inChroot.split('/').pop()}`;
    const debsbom = measure(
      'chroot',
      [
        chroot,
        '/usr/bin/debsbom',
        'generate',
        '--with-licenses',
        '-t',
        'cdx',
        '-t',
        'spdx',
        '-r',
        `${inside}/root`,
        '-o',
        `${inside}/debsbom`,
      ],
      { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8' },
      work,
    );
    const counts = {
      rampart: countComponents(rampartOut),
      cdxgen: countComponents(cdxgenOut),
      debsbom: countComponents(join(inChroot, 'debsbom.cdx.json')),
    };
    const speedup = cdxgen.wallSeconds / rampart.wallSeconds;
    const memoryRatio = rampart.peakRssMiB / cdxgen.peakRssMiB;
    const line = (name: string, m: Measured, n: number) =>
      console.log(
        `  ${name.padEnd(8)} ${m.wallSeconds.toFixed(2)} s  ${m.peakRssMiB.toFixed(0)} MiB peak RSS  ${n} components`,
      );
    console.log('sbom: multi-ecosystem trixie root (debs, npm + /app, PyPI, jars, Go, Rust)');
    line('rampart', rampart, counts.rampart);
    line('cdxgen', cdxgen, counts.cdxgen);
    line('debsbom', debsbom, counts.debsbom);
    console.log(
      `  speed-up vs cdxgen ${speedup.toFixed(1)}× (target ≥ 30×), vs debsbom --with-licenses ${(debsbom.wallSeconds / rampart.wallSeconds).toFixed(1)}× (target ≥ 1×); memory ${(memoryRatio * 100).toFixed(0)}% of cdxgen (target ≤ 25%)`,
    );
    return [
      { name: 'sbom multi-ecosystem: rampart wall time', value: rampart.wallSeconds, unit: 's' },
      { name: 'sbom multi-ecosystem: cdxgen -t rootfs wall time', value: cdxgen.wallSeconds, unit: 's' },
      {
        name: 'sbom multi-ecosystem: debsbom --with-licenses wall time',
        value: debsbom.wallSeconds,
        unit: 's',
      },
      { name: 'sbom multi-ecosystem: rampart peak RSS', value: rampart.peakRssMiB, unit: 'MiB' },
      { name: 'sbom multi-ecosystem: cdxgen peak RSS', value: cdxgen.peakRssMiB, unit: 'MiB' },
      { name: 'sbom multi-ecosystem: debsbom peak RSS', value: debsbom.peakRssMiB, unit: 'MiB' },
      { name: 'sbom multi-ecosystem: rampart components', value: counts.rampart, unit: 'count' },
      { name: 'sbom multi-ecosystem: cdxgen components', value: counts.cdxgen, unit: 'count' },
      { name: 'sbom multi-ecosystem: debsbom components', value: counts.debsbom, unit: 'count' },
      // Targets are ratios: rampart's time ≤ 1/30 of cdxgen's and ≤ debsbom's, its memory ≤ 1/4 of cdxgen's.
      {
        name: 'sbom: rampart time / cdxgen time (≤ 1/30)',
        value: 1 / speedup,
        unit: 'ratio',
        target: 1 / 30,
      },
      {
        name: 'sbom: rampart time / debsbom --with-licenses time (≤ 1)',
        value: rampart.wallSeconds / debsbom.wallSeconds,
        unit: 'ratio',
        target: 1,
      },
      {
        name: 'sbom: rampart peak RSS / cdxgen peak RSS (≤ 1/4)',
        value: memoryRatio,
        unit: 'ratio',
        target: 0.25,
      },
    ];
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(inChroot, { recursive: true, force: true });
  }
}
