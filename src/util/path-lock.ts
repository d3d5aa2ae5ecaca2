/**
 * An advisory lock on a destination (an OCI layout, a build output) for a read-modify-write such as
 * index.json's: a lock file beside the path, created with O_EXCL, holding who holds it
 * (`{pid, host, started, command}`). A waiter polls until the holder releases it or a deadline
 * passes (LOCKED, naming the holder); a lock whose holder process is gone (same host only: a pid
 * means nothing on another machine) is taken over. Only rampart's own writers take it: it orders
 * them, it does not keep anyone else out.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, link, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fromSystemError, RampartError } from '../errors.js';

export type LockHolder = { pid: number; host: string; started: string; command: string };

export type LockOptions = {
  /** How long to wait for another holder; default 60 s. */
  timeoutMs?: number;
  /** How often to look again; default 100 ms. */
  pollMs?: number;
  /** What the holder is doing, for the message a waiter gets; default this process's arguments. */
  command?: string;
  signal?: AbortSignal;
};

export type HeldLock = { path: string; release(): Promise<void> };

export const DEFAULT_LOCK_TIMEOUT_MS = 60_000;

/** The lock file of a destination: beside it, so a destination that does not exist yet has one too. */
export function lockPathFor(path: string): string {
  const absolute = resolve(path);
  return join(dirname(absolute), `.${basename(absolute)}.rampart-lock`);
}

/**
 * Beside `path`, or inside it when `path` is a directory whose parent may not be written (a layout
 * bind-mounted into a read-only tree): every writer of such a directory finds the same read-only
 * parent, so all of them agree on the place.
 */
async function lockPathOf(path: string): Promise<string> {
  const beside = lockPathFor(path);
  const parentWritable = await access(dirname(beside), constants.W_OK).then(
    () => true,
    (error: NodeJS.ErrnoException) => error.code === 'ENOENT',
  );
  if (parentWritable) return beside;
  const isDir = await stat(path).then(
    (info) => info.isDirectory(),
    () => false,
  );
  return isDir ? join(resolve(path), '.rampart-lock') : beside;
}

/** Whether a process of this host is alive (EPERM: alive, someone else's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Waits for, then takes, the lock on `path`. Release it in a `finally`. */
export async function acquirePathLock(path: string, options: LockOptions = {}): Promise<HeldLock> {
  const lockPath = await lockPathOf(path);
  const timeoutMs = options.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const pollMs = options.pollMs ?? 100;
  const holder: LockHolder = {
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
    command: options.command ?? process.argv.slice(1).join(' '),
  };
  const body = `${JSON.stringify(holder)}\n`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (options.signal?.aborted) {
      throw new RampartError('CANCELLED', `waiting for the lock on ${path} was cancelled`, {
        cause: options.signal.reason,
        details: { operation: 'lock' },
      });
    }
    if (await tryCreate(lockPath, body, path)) {
      return { path: lockPath, release: () => releaseIfOurs(lockPath, body) };
    }
    const current = await readHolder(lockPath);
    if (current.kind === 'gone') continue;
    if (
      current.kind === 'stale' ||
      (current.holder.host === holder.host && !processAlive(current.holder.pid))
    ) {
      await takeOver(lockPath, current.raw);
      continue;
    }
    if (Date.now() >= deadline) throw lockedBy(path, lockPath, current.holder, timeoutMs);
    await sleep(pollMs, options.signal);
  }
}

async function tryCreate(lockPath: string, body: string, path: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(lockPath, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw fromSystemError(error, { path, operation: 'lock' });
  }
  try {
    await handle.writeFile(body);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(lockPath).catch(() => undefined);
    throw fromSystemError(error, { path, operation: 'lock' });
  }
  await handle.close();
  return true;
}

type Current =
  | { kind: 'gone' }
  | { kind: 'held'; raw: string; holder: LockHolder }
  // Unreadable content: a holder killed between creating and writing the file. An empty file is
  // also what a live holder shows for an instant, so only an old one counts (see readHolder).
  | { kind: 'stale'; raw: string };

async function readHolder(lockPath: string): Promise<Current> {
  let raw: string;
  try {
    raw = await readFile(lockPath, 'utf8');
  } catch {
    return { kind: 'gone' };
  }
  try {
    const parsed = JSON.parse(raw) as Partial<LockHolder>;
    if (typeof parsed.pid === 'number' && typeof parsed.host === 'string') {
      return {
        kind: 'held',
        raw,
        holder: {
          pid: parsed.pid,
          host: parsed.host,
          started: String(parsed.started ?? ''),
          command: String(parsed.command ?? ''),
        },
      };
    }
  } catch {
    // Written half or not at all: judged below.
  }
  // Give a holder between open and write a moment before calling its lock stale.
  await sleep(200);
  const again = await readFile(lockPath, 'utf8').catch(() => undefined);
  if (again === undefined) return { kind: 'gone' };
  if (again !== raw) return readHolder(lockPath);
  return { kind: 'stale', raw };
}

/**
 * Removes a dead holder's lock. Renaming it away first makes this safe between two waiters: only
 * one gets the file, and one that got a fresh lock instead (the other waiter's) puts it back.
 */
async function takeOver(lockPath: string, staleRaw: string): Promise<void> {
  const aside = `${lockPath}.stale-${randomBytes(4).toString('hex')}`;
  try {
    await rename(lockPath, aside);
  } catch {
    return; // someone else moved it: look again
  }
  const moved = await readFile(aside, 'utf8').catch(() => undefined);
  if (moved !== undefined && moved !== staleRaw) await link(aside, lockPath).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
}

async function releaseIfOurs(lockPath: string, body: string): Promise<void> {
  // A lock taken over from us (we looked dead, which should not happen on one host) is not ours.
  const current = await readFile(lockPath, 'utf8').catch(() => undefined);
  if (current === body) await unlink(lockPath).catch(() => undefined);
}

function lockedBy(path: string, lockPath: string, holder: LockHolder, timeoutMs: number): RampartError {
  const who = `pid ${holder.pid} on ${holder.host}${holder.command ? ` (${holder.command})` : ''}${holder.started ? ` since ${holder.started}` : ''}`;
  return new RampartError(
    'LOCKED',
    `${path} is being written by ${who}; waited ${timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`}. Wait for it to finish, or remove ${lockPath} if that process is gone`,
    { details: { path, holder: `${holder.host}:${holder.pid}`, pid: holder.pid } },
  );
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(finish, ms);
    function finish(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', finish);
      done();
    }
    signal?.addEventListener('abort', finish, { once: true });
  });
}
