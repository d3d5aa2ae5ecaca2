import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { fromSystemError, RampartError } from '../errors.js';
import { compareText } from '../util/compare-text.js';
import { isAbandonedStaging, sweepAbandonedStaging, tempSuffix } from '../util/staging.js';
import { KEYED_JSON_SUFFIX, readCachedJsonKey, TOUCH_RESOLUTION_MS } from './cache.js';

/**
 * What is in a rampart cache directory, and removing what is no longer worth keeping.
 *
 * Only the folders rampart itself writes are looked at; anything else in the directory is
 * neither listed nor removed, and `pruneCache` refuses a directory that has none of them (a
 * mistyped `--cache` must not cost another program its files). In the file kinds (`blobs`,
 * `inrelease`, `parsed`, `build`) every file is an entry, content-addressed or keyed and usable
 * on its own; entry mtimes mean "last used", as cache hits refresh them (`touchCacheEntry`).
 * The tree kinds (`e2e`, `e2e-apt`, `tools`) hold trees made as a unit, one entry per child;
 * reads never touch them, so their mtimes say when they were made, and only `all` removes them.
 * A kind folder that is a symbolic link (a folder shared with another cache) is one entry,
 * kept unless `all`, which unlinks it and leaves what it points to alone.
 *
 * Pruning by age is safe beside running rampart processes: temp files younger than an hour
 * may be a write in progress and are never touched, unless their name says which process wrote
 * them and that process is gone; files go by unlink, so a reader that
 * already opened one keeps reading it; trees are renamed aside before they are removed, so
 * nobody sees half a tree under its real name; and symbolic links are never followed (a link
 * is an entry itself, removing it leaves its target alone). `all` is not: a build may be about
 * to open a blob it found a moment ago.
 */

export const DEFAULT_PRUNE_AGE_MS = 30 * 24 * 3600_000;
/**
 * The shortest `olderThanMs`: a hit refreshes an mtime only once it is TOUCH_RESOLUTION_MS old,
 * so an entry a build used minutes ago can look that much older than it is.
 */
export const MIN_PRUNE_AGE_MS = 3600_000;
/** A temp file younger than this may belong to a write in progress. */
export const TEMP_GRACE_MS = 3600_000;

/** Kinds whose every file is an entry. */
const FILE_KINDS: ReadonlySet<string> = new Set(['blobs', 'inrelease', 'parsed', 'build', 'sbom']);
/** Kinds of trees made as a unit (e2e Debian roots and apt state, test tools): only `all` removes them. */
const TREE_KINDS: ReadonlySet<string> = new Set(['e2e', 'e2e-apt', 'tools']);
/** Every top-level folder rampart (or its test suite) writes; nothing else is listed or pruned. */
export const CACHE_KINDS: readonly string[] = [...FILE_KINDS, ...TREE_KINDS];
/**
 * Kinds never listed or pruned: the newest verified InRelease date per suite (repository.ts), the
 * record that refuses a replayed older Release; pruning it would let one through. Its writes'
 * temps are still swept like every kind's.
 */
const KEPT_KINDS: ReadonlySet<string> = new Set(['release-date']);
/** Kinds whose files are keyed JSON values (`ContentCache.writeJson`). */
const KEYED_KINDS: ReadonlySet<string> = new Set(['inrelease', 'parsed']);

/**
 * Temp names: `.NAME.tmp-PID-HEX` (atomic-file, the layer cache, prune's asides), and the older
 * `NAME.tmp-HEX` (layer cache before it named its owner), `NAME.tmp-PID` (test roots).
 */
export function isTempName(name: string): boolean {
  return /\.tmp-[^/]*$/.test(name);
}

export interface CacheEntry {
  kind: string;
  /** Relative to the cache directory. */
  path: string;
  bytes: number;
  /** Last use, in ms since the epoch: the mtime (the newest in a tree). */
  lastUsedMs: number;
  temp: boolean;
  /** A temp name of rampart's whose writing process is gone (staging.ts): abandoned, whatever its age. */
  ownerGone?: boolean;
  /**
   * `file`: a file or symbolic link in a kind; `tree`: a directory in a tree kind;
   * `kind-link`: the kind folder itself is a symbolic link (never followed).
   */
  layout: 'file' | 'tree' | 'kind-link';
}

/** Every entry of the cache directory; an absent directory is an empty cache. */
export async function listCacheEntries(dir: string): Promise<CacheEntry[]> {
  return listKinds(dir, (await readKindFolders(dir)) ?? []);
}

/**
 * The kind folders (or links) at the top of `dir` (and those of `also`); undefined when `dir` does
 * not exist.
 */
async function readKindFolders(
  dir: string,
  also: ReadonlySet<string> = new Set(),
): Promise<Dirent[] | undefined> {
  try {
    const top = await readdir(dir, { withFileTypes: true });
    return top.filter(
      (d) => (CACHE_KINDS.includes(d.name) || also.has(d.name)) && (d.isDirectory() || d.isSymbolicLink()),
    );
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fromSystemError(error, { path: dir, operation: 'read the cache' });
  }
}

async function listKinds(dir: string, kinds: readonly Dirent[]): Promise<CacheEntry[]> {
  const lists = await Promise.all(
    kinds.map(async (dirent): Promise<CacheEntry[]> => {
      const path = join(dir, dirent.name);
      if (dirent.isSymbolicLink()) {
        const info = await lstat(path).catch(() => undefined);
        return info ? [{ ...(await fileEntry(dir, dirent.name, path, info)), layout: 'kind-link' }] : [];
      }
      if (FILE_KINDS.has(dirent.name)) return listFiles(dir, dirent.name, path);
      return listTrees(dir, dirent.name, path);
    }),
  );
  return lists.flat().sort((a, b) => compareText(a.path, b.path));
}

async function readdirOrEmpty(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

async function fileEntry(root: string, kind: string, path: string, info: Stats): Promise<CacheEntry> {
  return {
    kind,
    path: relative(root, path),
    bytes: info.size,
    lastUsedMs: info.mtimeMs,
    temp: isTempName(path),
    ...(isAbandonedStaging(basename(path)) ? { ownerGone: true } : {}),
    layout: 'file',
  };
}

/** Every non-directory below `path`; `readdir` file types come from lstat, so links stay links. */
async function listFiles(root: string, kind: string, path: string): Promise<CacheEntry[]> {
  const children = await readdirOrEmpty(path);
  const lists = await Promise.all(
    children.map(async (dirent) => {
      const child = join(path, dirent.name);
      if (dirent.isDirectory()) return listFiles(root, kind, child);
      try {
        return [await fileEntry(root, kind, child, await lstat(child))];
      } catch {
        return []; // removed meanwhile (a temp file renamed into place)
      }
    }),
  );
  return lists.flat();
}

async function listTrees(root: string, kind: string, path: string): Promise<CacheEntry[]> {
  const children = await readdirOrEmpty(path);
  const entries = await Promise.all(
    children.map(async (dirent): Promise<CacheEntry | undefined> => {
      const child = join(path, dirent.name);
      const size = await treeSize(child).catch(() => undefined);
      if (!size) return undefined;
      return {
        kind,
        path: relative(root, child),
        ...size,
        temp: isTempName(dirent.name),
        layout: dirent.isDirectory() ? 'tree' : 'file',
      };
    }),
  );
  return entries.filter((e): e is CacheEntry => e !== undefined);
}

/** Bytes of the files in a tree and its newest mtime, by lstat (no link is followed). */
async function treeSize(path: string): Promise<{ bytes: number; lastUsedMs: number }> {
  const info = await lstat(path);
  if (!info.isDirectory()) return { bytes: info.size, lastUsedMs: info.mtimeMs };
  let bytes = 0;
  let lastUsedMs = info.mtimeMs;
  const children = await readdir(path);
  const sizes = await Promise.all(children.map((name) => treeSize(join(path, name)).catch(() => undefined)));
  for (const size of sizes) {
    if (!size) continue;
    bytes += size.bytes;
    lastUsedMs = Math.max(lastUsedMs, size.lastUsedMs);
  }
  return { bytes, lastUsedMs };
}

export interface CacheKindUsage {
  kind: string;
  entries: number;
  bytes: number;
  /** ISO 8601 times of the least and the most recent use; null for an empty kind. */
  oldest: string | null;
  newest: string | null;
}

export interface CacheUsage {
  dir: string;
  kinds: CacheKindUsage[];
  bytes: number;
}

/** Entry count, bytes and oldest/newest use per kind. */
export async function cacheUsage(dir: string): Promise<CacheUsage> {
  return summarizeUsage(dir, await listCacheEntries(dir));
}

/** One pass over the entries: caches hold hundreds of thousands of blobs. */
export function summarizeUsage(dir: string, entries: readonly CacheEntry[]): CacheUsage {
  const byKind = new Map<string, { entries: number; bytes: number; oldestMs: number; newestMs: number }>();
  for (const entry of entries) {
    const kind = byKind.get(entry.kind);
    if (!kind) {
      const t = entry.lastUsedMs;
      byKind.set(entry.kind, { entries: 1, bytes: entry.bytes, oldestMs: t, newestMs: t });
      continue;
    }
    kind.entries++;
    kind.bytes += entry.bytes;
    if (entry.lastUsedMs < kind.oldestMs) kind.oldestMs = entry.lastUsedMs;
    if (entry.lastUsedMs > kind.newestMs) kind.newestMs = entry.lastUsedMs;
  }
  const kinds = [...byKind.entries()]
    .sort(([a], [b]) => compareText(a, b))
    .map(
      ([kind, k]): CacheKindUsage => ({
        kind,
        entries: k.entries,
        bytes: k.bytes,
        // Rounded as fs.Stats rounds `mtime`, so the times match what `stat` shows.
        oldest: new Date(Math.round(k.oldestMs)).toISOString(),
        newest: new Date(Math.round(k.newestMs)).toISOString(),
      }),
    );
  return { dir, kinds, bytes: kinds.reduce((n, k) => n + k.bytes, 0) };
}

export type PruneReason = 'stale-format' | 'unused' | 'abandoned-temp' | 'all';

export interface PruneOptions {
  /** Remove entries not used for longer than this; default 30 days, at least MIN_PRUNE_AGE_MS. */
  olderThanMs?: number;
  /**
   * Remove everything (but temp files younger than an hour), trees and kind links included.
   * Not while builds use the cache: one may be about to read what this removes.
   */
  all?: boolean;
  /** Report what would go, delete nothing. */
  dryRun?: boolean;
  /** The clock; default now. */
  now?: Date;
  /**
   * The current parsed-index format (the first `|` field of a `parsed` key); default the one
   * of this rampart (`parsedCacheFormat`). Parsed indexes of any other format are dead weight.
   */
  parsedFormat?: string;
}

export interface PrunedEntry {
  kind: string;
  path: string;
  bytes: number;
  reason: PruneReason;
}

export interface PruneResult {
  dir: string;
  removed: PrunedEntry[];
  bytesFreed: number;
  dryRun: boolean;
}

/**
 * Why an entry goes, or undefined when it stays. `staleFormat` says whether a parsed index
 * was made by another parser format. Pure, so the policy is testable on its own.
 */
export function pruneReason(
  entry: CacheEntry,
  opts: { nowMs: number; olderThanMs: number; all: boolean; staleFormat: boolean },
): PruneReason | undefined {
  const age = opts.nowMs - entry.lastUsedMs;
  if (entry.temp && age < TEMP_GRACE_MS && !entry.ownerGone) return undefined;
  // Their mtimes are not "last used": nothing refreshes them on a hit.
  if ((TREE_KINDS.has(entry.kind) || entry.layout === 'kind-link') && !opts.all) return undefined;
  if (entry.temp) return 'abandoned-temp';
  if (opts.all) return 'all';
  if (opts.staleFormat) return 'stale-format';
  if (age > opts.olderThanMs) return 'unused';
  return undefined;
}

/**
 * Removes (a) keyed files of an older layout and parsed indexes of another parser format,
 * (b) files unused for longer than `olderThanMs`, (c) with `all`, everything; temp files older
 * than an hour are abandoned writes and go too. Returns what was (with `dryRun`: would be)
 * removed. A directory that exists but has none of the CACHE_KINDS folders is refused.
 */
export async function pruneCache(dir: string, opts: PruneOptions = {}): Promise<PruneResult> {
  const nowMs = (opts.now ?? new Date()).getTime();
  const olderThanMs = opts.olderThanMs ?? DEFAULT_PRUNE_AGE_MS;
  if (!(olderThanMs >= MIN_PRUNE_AGE_MS)) {
    throw new RampartError(
      'USAGE',
      `cannot prune entries unused for ${olderThanMs} ms: the minimum is ${MIN_PRUNE_AGE_MS / 3600_000}h, as a cache hit refreshes an entry's use time only every ${TOUCH_RESOLUTION_MS / 60_000} minutes`,
      { details: { option: 'olderThanMs', value: String(olderThanMs) } },
    );
  }
  const all = opts.all ?? false;
  const dryRun = opts.dryRun ?? false;
  const kinds = await readKindFolders(dir);
  if (kinds?.length === 0) {
    throw new RampartError(
      'NOT_FOUND',
      `${dir} does not look like a rampart cache (it has none of ${CACHE_KINDS.join(', ')}); not pruning it`,
      { details: { path: dir } },
    );
  }
  // Loaded on demand: the repository client brings openpgp, which `cache info` does not need.
  const parsedFormat = opts.parsedFormat ?? (await import('./repository.js')).parsedCacheFormat();
  const removed: PrunedEntry[] = [];
  for (const entry of await listKinds(dir, kinds ?? [])) {
    const staleFormat = KEYED_KINDS.has(entry.kind) && (await isStaleKeyed(dir, entry, parsedFormat));
    const reason = pruneReason(entry, { nowMs, olderThanMs, all, staleFormat });
    if (!reason) continue;
    if (!dryRun && !(await removeEntry(dir, entry, reason, { nowMs, olderThanMs }))) continue;
    removed.push({ kind: entry.kind, path: entry.path, bytes: entry.bytes, reason });
  }
  return { dir, removed, bytesFreed: removed.reduce((n, e) => n + e.bytes, 0), dryRun };
}

/**
 * A keyed file not named `*.keyed.json`, or without a readable key, is of an older layout that
 * this rampart does not read. A parsed index is keyed `FORMAT|sha256|suite|component` (see
 * `loadPackages` in repository.ts); one of another parser format is dead weight too.
 */
async function isStaleKeyed(dir: string, entry: CacheEntry, parsedFormat: string): Promise<boolean> {
  if (entry.temp) return false;
  const path = join(dir, entry.path);
  if (!(await lstat(path).catch(() => undefined))?.isFile()) return false;
  if (!entry.path.endsWith(KEYED_JSON_SUFFIX)) return true;
  const key = await readCachedJsonKey(path).catch(() => undefined);
  if (key === undefined) return true;
  return entry.kind === 'parsed' && key.split('|')[0] !== parsedFormat;
}

/** Removes one entry; false when it vanished or was used since it was listed. */
async function removeEntry(
  dir: string,
  entry: CacheEntry,
  reason: PruneReason,
  clock: { nowMs: number; olderThanMs: number },
): Promise<boolean> {
  const path = join(dir, entry.path);
  try {
    const info = await lstat(path);
    // A hit between listing and now refreshed the mtime: the entry is in use again.
    if (reason === 'unused' && clock.nowMs - info.mtimeMs <= clock.olderThanMs) return false;
    if (!info.isDirectory()) {
      await unlink(path);
      return true;
    }
    // Aside first (a temp name, so a failed removal is pruned later), then remove.
    const aside = join(dirname(path), `.${basename(path)}${tempSuffix()}`);
    await rename(path, aside);
    await rm(aside, { recursive: true, force: true });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw fromSystemError(error, { path, operation: 'remove the cache entry' });
  }
}

/**
 * Removes, in every file kind (any depth, links not followed), the temp files and directories of
 * rampart processes that are gone (staging.ts decides, as for staging beside an output): what a
 * build or download killed mid-write left behind. Safe beside running rampart processes, whose
 * temps are kept whatever their age. Returns the removed paths, relative to `dir`. `build` runs
 * this at its start; `pruneCache` removes the same temps as `abandoned-temp` entries (not those
 * of the kinds it does not list, `KEPT_KINDS`: the next build's sweep does).
 */
export async function sweepAbandonedCacheTemps(dir: string): Promise<string[]> {
  const removed: string[] = [];
  const sweep = async (folder: string): Promise<void> => {
    for (const name of await sweepAbandonedStaging(folder)) removed.push(relative(dir, join(folder, name)));
    for (const child of await readdirOrEmpty(folder).catch(() => [])) {
      if (child.isDirectory() && !isTempName(child.name)) await sweep(join(folder, child.name));
    }
  };
  for (const kind of (await readKindFolders(dir, KEPT_KINDS).catch(() => undefined)) ?? []) {
    if ((FILE_KINDS.has(kind.name) || KEPT_KINDS.has(kind.name)) && kind.isDirectory())
      await sweep(join(dir, kind.name));
  }
  return removed.sort(compareText);
}

const DURATION = /^(\d+)(s|m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000, w: 604_800_000 };

/** `90s`, `15m`, `12h`, `30d`, `2w` in milliseconds. */
export function parseDuration(value: string): number {
  const match = DURATION.exec(value.trim());
  if (!match) {
    throw new RampartError(
      'USAGE',
      `not a duration: "${value}"; use a whole number with s, m, h, d or w, e.g. 12h, 30d, 2w`,
      { details: { value } },
    );
  }
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}
