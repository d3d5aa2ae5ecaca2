/**
 * Peak memory (max RSS) of whole CLI runs, each in its own process, warm cache: `apt resolve
 * python3` and a 4-package `static` build (issue 11, item 7). Each command runs once to warm the
 * cache, then once measured. Before the compact index (compact-index.ts) these were 517 MiB
 * and 509 MiB on the same machine.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { measureCli } from './measure-cli.js';
import type { BenchFigure } from './run.js';

const ROOT = resolve(import.meta.dirname, '..');

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
