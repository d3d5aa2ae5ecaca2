import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');

export interface CliRun {
  /** Peak RSS of the whole process, in MiB. */
  peakMiB: number;
  /** CPU time, user + system: on a machine shared by many jobs, the figure load affects least. */
  cpuMs: number;
  status: number | null;
  /** What the command wrote on stderr, without the measurement line. */
  stderr: string;
  elapsedMs: number;
}

/**
 * Runs `rampart ARGS` (the built CLI, dist/) in a fresh Node process and measures its peak RSS,
 * CPU time and wall time from the process's own resource usage, whatever its exit status; the
 * one helper of the bench modules that measure whole CLI runs. Asynchronous, so that a server in
 * the calling process keeps answering.
 */
export async function measureCli(args: string[]): Promise<CliRun> {
  const script = [
    `import { main } from ${JSON.stringify(join(ROOT, 'dist/cli/main.js'))};`,
    `const code = await main(['node', 'rampart', ...${JSON.stringify(args)}]);`,
    'const u = process.resourceUsage();',
    'process.stderr.write("\\nmeasured " + u.maxRSS + " " + (u.userCPUTime + u.systemCPUTime) + "\\n");',
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
  const match = /measured (\d+) (\d+)/.exec(stderr);
  if (!match)
    throw new Error(
      `rampart ${args.join(' ')} could not be measured (${status}): ${stderr.trim().slice(-500)}`,
    );
  return {
    peakMiB: Number(match[1]) / 1024,
    cpuMs: Number(match[2]) / 1000,
    status,
    stderr: stderr.slice(0, match.index).trim(),
    elapsedMs,
  };
}
