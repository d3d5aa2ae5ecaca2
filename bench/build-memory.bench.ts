/**
 * Peak RSS of a warm `rampart build images/nodejs.yaml` (both architectures, the real archive via
 * the host's apt sources, the default cache), as a child process under /usr/bin/time -v: plain,
 * and with a 500 MB `files:` entry added. The build holds file contents as references (the
 * unpacked-.deb cache, the spool of `files:`) and streams them into the layers, so memory should
 * not grow with the image. Each build runs once to warm the caches, then once measured.
 * Run with `npm run bench -- build-memory` (after `npm run build`: it runs bin/rampart.js).
 */
import { spawnSync } from 'node:child_process';
import { appendFile, copyFile, mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BenchFigure } from './run.js';

/**
 * Measured the same way on the `foundation` commit (a temp clone, same machine, warm cache,
 * 2026-12-05), when file contents were Buffers held for the whole build. Resolving (`build`
 * without `--locked`) loads the suites' package indexes, which dominates that figure; `--locked`
 * builds from the lock and shows what the build itself holds.
 */
const BASELINE = { plain: 720, bigFile: 1771, locked: 362, lockedBigFile: 1363 } as const;

const REPO = resolve(import.meta.dirname, '..');
const MIB = 1024 * 1024;
const BIG_BYTES = 500 * 1000 * 1000;

function peakRssMiB(args: string[], cwd: string): { peakMiB: number; seconds: number } {
  const result = spawnSync('/usr/bin/time', ['-v', process.execPath, join(REPO, 'bin/rampart.js'), ...args], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 * MIB,
  });
  if (result.status !== 0) throw new Error(`rampart ${args.join(' ')} failed: ${result.stderr.slice(-2000)}`);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(result.stderr);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(
    result.stderr,
  );
  if (!rss || !wall) throw new Error('could not read /usr/bin/time -v output');
  return {
    peakMiB: Number(rss[1]) / 1024,
    seconds: Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]),
  };
}

/** Builds once to warm the caches, then measures a second build. */
function warmPeak(spec: string, work: string, name: string, locked: boolean) {
  const args = (tag: string) => [
    'build',
    spec,
    ...(locked ? ['--locked'] : []),
    '--output',
    `oci:${join(work, 'out', name)}:${tag}`,
    '-q',
  ];
  peakRssMiB(args('warm'), work);
  return peakRssMiB(args('measured'), work);
}

/** Incompressible bytes written in 1 MiB chunks (the bench itself stays small). */
async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const { randomFillSync } = await import('node:crypto');
  const handle = await open(path, 'wx');
  try {
    const chunk = Buffer.alloc(MIB);
    for (let left = bytes; left > 0; left -= chunk.length) {
      randomFillSync(chunk);
      await handle.write(chunk, 0, Math.min(chunk.length, left));
    }
  } finally {
    await handle.close();
  }
}

export default async function buildMemoryBench(): Promise<BenchFigure[]> {
  const work = await mkdtemp(join(tmpdir(), 'rampart-bench-memory-'));
  try {
    const plainDir = join(work, 'plain');
    const bigDir = join(work, 'big');
    await mkdir(plainDir);
    await mkdir(bigDir);
    for (const dir of [plainDir, bigDir]) {
      await copyFile(join(REPO, 'images/nodejs.yaml'), join(dir, 'nodejs.yaml'));
      await copyFile(join(REPO, 'images/nodejs.lock.json'), join(dir, 'nodejs.lock.json')).catch(
        () => undefined,
      );
    }
    await writeRandomFile(join(bigDir, 'big.bin'), BIG_BYTES);
    await appendFile(
      join(bigDir, 'nodejs.yaml'),
      'files:\n  - source: big.bin\n    destination: /opt/big.bin\n',
    );

    const figures: BenchFigure[] = [];
    for (const locked of [false, true]) {
      const mode = locked ? 'build --locked' : 'build';
      const plain = warmPeak(join(plainDir, 'nodejs.yaml'), work, `plain-${locked}`, locked);
      const big = warmPeak(join(bigDir, 'nodejs.yaml'), work, `big-${locked}`, locked);
      const before = locked ? BASELINE.locked : BASELINE.plain;
      const beforeBig = locked ? BASELINE.lockedBigFile : BASELINE.bigFile;
      figures.push(
        { name: `${mode} nodejs (warm): peak RSS, foundation`, value: before, unit: 'MiB' },
        {
          name: `${mode} nodejs (warm): peak RSS`,
          value: plain.peakMiB,
          unit: 'MiB',
          target: before / 2,
          note: `${plain.seconds.toFixed(1)} s`,
        },
        {
          name: `${mode} nodejs + 500 MB files: (warm): peak RSS, foundation`,
          value: beforeBig,
          unit: 'MiB',
        },
        {
          name: `${mode} nodejs + 500 MB files: (warm): peak RSS`,
          value: big.peakMiB,
          unit: 'MiB',
          target: before / 2,
          note: `${big.seconds.toFixed(1)} s`,
        },
        // Flat: the big file costs at most a few buffers.
        {
          name: `${mode}: peak RSS growth from the 500 MB file`,
          value: big.peakMiB - plain.peakMiB,
          unit: 'MiB',
          target: 64,
        },
      );
    }
    return figures;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
