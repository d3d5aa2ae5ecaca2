import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { constants } from 'node:os';

/**
 * Child processes for test harnesses. Background processes are not reaped by PID 1 on these
 * machines, so everything started here is tracked by PID and stopped by PID, never by name.
 */

export interface TrackedProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** resolves when the process has exited (and Node has reaped it) */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** stdout and stderr collected so far (kept short: the last 64 KiB each) */
  output(): { stdout: string; stderr: string };
}

const OUTPUT_LIMIT = 64 * 1024;
const live = new Map<number, TrackedProcess>();

export function spawnTracked(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; stdin?: 'ignore' | 'pipe' } = {},
): TrackedProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) {
    // spawn reports ENOENT/EACCES as an 'error' event a tick later; unheard, it would crash the run.
    child.once('error', () => undefined);
    throw new Error(`could not start ${command}: not found or not executable (is it installed and on PATH?)`);
  }
  const pid = child.pid;
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout = (stdout + chunk.toString()).slice(-OUTPUT_LIMIT);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-OUTPUT_LIMIT);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(pid);
      resolve({ code, signal });
    });
  });
  const tracked: TrackedProcess = { pid, child, exited, output: () => ({ stdout, stderr }) };
  live.set(pid, tracked);
  return tracked;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(tracked: TrackedProcess, graceMs = 5_000): Promise<void> {
  if (!isRunning(tracked)) return;
  signalPid(tracked.pid, 'SIGTERM');
  const timer = setTimeout(() => signalPid(tracked.pid, 'SIGKILL'), graceMs);
  try {
    await tracked.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Stops every process started through this module that is still running (for afterAll hooks). */
export async function stopAllTracked(): Promise<void> {
  await Promise.all([...live.values()].map((tracked) => stopProcess(tracked)));
}

function isRunning(tracked: TrackedProcess): boolean {
  return tracked.child.exitCode === null && tracked.child.signalCode === null;
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** True while a process with this PID exists (signal 0 only checks). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface CommandResult {
  stdout: string;
  stderr: string;
  /** the exit status, or 128 + signal number when killed (as a shell reports it) */
  exitCode: number;
  timedOut: boolean;
}

/**
 * Runs a command to completion with stdin from /dev/null; after `timeoutMs` it is killed by PID (if
 * still running) and output that processes it left behind still write is no longer waited for.
 */
export async function runCommand(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CommandResult> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    // Only while it runs: once reaped, its PID may already belong to an unrelated process.
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined)
      signalPid(child.pid, 'SIGKILL');
    // A grandchild (a container's process after runc is killed, a daemon) can hold the pipes open,
    // and 'close' waits for them: stop reading once the command itself is gone.
    const detach = (): void => {
      child.stdout.destroy();
      child.stderr.destroy();
    };
    if (child.exitCode !== null || child.signalCode !== null) detach();
    else child.once('exit', detach);
  }, options.timeoutMs ?? 60_000);
  try {
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    return {
      stdout: Buffer.concat(stdout).toString(),
      stderr: Buffer.concat(stderr).toString(),
      exitCode: code ?? 128 + signalNumber(signal),
      timedOut,
    };
  } finally {
    clearTimeout(timer);
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (constants.signals[signal] ?? 0) : 0;
}

/** A port that was free a moment ago on 127.0.0.1 (callers retry if they lose the race). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no TCP port assigned');
  return address.port;
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
