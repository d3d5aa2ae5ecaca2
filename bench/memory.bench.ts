/**
 * Peak memory (max RSS) of whole CLI runs, each in its own process, warm cache: `apt resolve
 * python3` and a 4-package `static` build (issue 11, item 7). Each command runs once to warm the
 * cache, then once measured. Before the compact index (compact-index.ts) these were 517 MiB
 * and 509 MiB on the same machine.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BenchFigure } from './run.js';

const ROOT = resolve(import.meta.dirname, '..');

export interface CliRun {
  /** Peak RSS of the whole process, in MiB. */
  peakMiB: number;
  status: number | null;
  stderr: string;
  elapsedMs: number;
}

/**
 * Runs `rampart ARGS` in a fresh Node process and measures its peak RSS and wall time, whatever
 * its exit status. Asynchronous, so that a server in the calling process keeps answering.
 */
export async function measureCli(args: string[]): Promise<CliRun> {
  const script = [
    `import { main } from ${JSON.stringify(join(ROOT, 'dist/cli/main.js'))};`,
    `const code = await main(['node', 'rampart', ...${JSON.stringify(args)}]);`,
    'process.stderr.write("\\nmaxRSS " + process.resourceUsage().maxRSS + "\\n");',
    'process.exitCode = code;',
  ].join('\n');
  const started = performance.now();
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    // Keeps the tail only: the measured line comes last.
    stderr = (stderr + chunk).slice(-64 * 1024);
  });
  const [status] = (await once(child, 'close')) as [number | null];
  const elapsedMs = performance.now() - started;
  const match = /maxRSS (\d+)/.exec(stderr);
  if (!match)
    throw new Error(
      `rampart ${args.join(' ')} could not be measured (${status}): ${stderr.trim().slice(-500)}`,
    );
  return { peakMiB: Number(match[1]) / 1024, status, stderr: stderr.slice(0, match.index).trim(), elapsedMs };
}

/** Runs `rampart ARGS` in a fresh Node process and returns its peak RSS in MiB; it must succeed. */
export async function peakRssMiB(args: string[]): Promise<number> {
  const run = await measureCli(args);
  if (run.status !== 0) {
    throw new Error(`rampart ${args.join(' ')} failed (${run.status}): ${run.stderr.slice(-500)}`);
  }
  return run.peakMiB;
}

export default async function memoryBench(): Promise<BenchFigure[]> {
  const work = await mkdtemp(join(tmpdir(), 'rampart-bench-memory-'));
  try {
    const resolveArgs = ['apt', 'resolve', 'python3'];
    await peakRssMiB(resolveArgs);
    const resolvePeak = await peakRssMiB(resolveArgs);
    await copyFile(join(ROOT, 'images/static.yaml'), join(work, 'static.yaml'));
    const buildArgs = [
      'build',
      join(work, 'static.yaml'),
      '--arch',
      'amd64',
      '--output',
      `oci:${join(work, 'out')}:latest`,
      '-q',
    ];
    await peakRssMiB(buildArgs);
    const buildPeak = await peakRssMiB(buildArgs);
    return [
      {
        name: 'peak RSS: rampart apt resolve python3 (warm)',
        value: resolvePeak,
        unit: 'MiB',
        target: 150,
        note: 'before: 517 MiB',
      },
      {
        name: 'peak RSS: rampart build images/static.yaml --arch amd64 (warm)',
        value: buildPeak,
        unit: 'MiB',
        target: 200,
        note: 'before: 509 MiB',
      },
    ];
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
