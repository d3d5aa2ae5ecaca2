/**
 * Names of rampart's own staging (temp files and directories beside a destination) carry the pid
 * of the process that made them, so a later run can tell an abandoned staging (its process is
 * gone: SIGKILL, a power cut) from one still being written, and remove it. Only names of this
 * shape are ever touched; anything else beside a destination is the user's.
 *
 * A pid says nothing about another host: a destination shared over the network between hosts that
 * write into it at the same moment could lose a live staging to the sweep. rampart's outputs are
 * not meant to be written that way (the layout lock is per host too).
 */
import { randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { processAlive } from './path-lock.js';

/** `.NAME.tmp-PID-HEX` (atomic-file, layout and skopeo-dir staging), `.rampart-KIND-PID-XXXXXX` (mkdtemp). */
const STAGING_NAME = /(?:\.tmp-(\d+)-[0-9a-f]{12}|^\.rampart-(?:docker|build)-(\d+)-[A-Za-z0-9]{6})$/;

/** The suffix of a temp name beside `NAME`: `.tmp-PID-HEX`. */
export function tempSuffix(): string {
  return `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/** The prefix given to mkdtemp for a staging directory of `kind` (`docker`, `build`). */
export function stagingDirPrefix(kind: 'docker' | 'build'): string {
  return `.rampart-${kind}-${process.pid}-`;
}

/** The pid that owns a staging name of rampart's, or undefined for any other name. */
export function stagingOwner(name: string): number | undefined {
  const match = STAGING_NAME.exec(name);
  const pid = match?.[1] ?? match?.[2];
  return pid === undefined ? undefined : Number(pid);
}

/** Whether `name` is rampart's staging whose process is gone (on this host). */
export function isAbandonedStaging(name: string): boolean {
  const pid = stagingOwner(name);
  return pid !== undefined && pid !== process.pid && !processAlive(pid);
}

/**
 * Removes the abandoned staging directly inside `dir` (not below it); returns the names removed.
 * A missing or unreadable directory has nothing to sweep.
 */
export async function sweepAbandonedStaging(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    if (!isAbandonedStaging(name)) continue;
    await rm(`${dir}/${name}`, { recursive: true, force: true }).then(
      () => removed.push(name),
      () => undefined,
    );
  }
  return removed;
}
