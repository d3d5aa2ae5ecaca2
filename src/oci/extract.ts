import { createWriteStream } from 'node:fs';
import {
  chmod,
  chown,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  readdir,
  realpath,
  rm,
  symlink,
  utimes,
} from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isRampartError, RampartError } from '../errors.js';
import { readLayerEntries, type TarNodeEntry } from './tar-safety.js';

/**
 * Safe unpacking of layer tars onto disk, applying OCI whiteouts.
 *
 * The one rule that keeps this safe: every parent directory is checked with lstat and a symlink
 * is never followed while creating, replacing or removing entries (UNSAFE_LINK). Names with '..'
 * or a leading '/' are refused (PATH_TRAVERSAL), files are created with O_EXCL after removing
 * whatever was there, and hardlinks may only point at existing non-directories inside destDir.
 * Owners are applied only when running as root. Device nodes, fifos and xattrs are skipped
 * (Node cannot create them); use the FsTree for their metadata.
 */
export async function extractLayers(
  layers: ReadonlyArray<() => Promise<Readable>>,
  destDir: string,
): Promise<void> {
  await mkdir(destDir, { recursive: true });
  const root = await realpath(destDir);
  for (const [layer, open] of layers.entries()) {
    // Whiteouts hide lower layers only, so remember what this layer wrote (as containerd does).
    const writtenThisLayer = new Set<string>();
    try {
      await applyLayerToDisk(root, layer, await open(), writtenThisLayer);
    } catch (error) {
      throw asExtractError(error, layer, destDir);
    }
  }
}

/** A filesystem refusal (ENAMETOOLONG, ENOSPC, EACCES...) becomes a one-line IO error naming the layer. */
function asExtractError(error: unknown, layer: number, destDir: string): unknown {
  if (isRampartError(error)) return error;
  const errno = error as NodeJS.ErrnoException;
  if (typeof errno?.code !== 'string') return error;
  const path = errno.path ?? destDir;
  return new RampartError(
    'IO',
    `layer ${layer}: cannot extract into ${destDir}: ${errno.code} on ${errno.syscall ?? 'a file operation'}`,
    {
      cause: error,
      details: { path, errno: errno.code, ...(errno.syscall ? { syscall: errno.syscall } : {}) },
    },
  );
}

async function applyLayerToDisk(
  root: string,
  layer: number,
  tar: Readable,
  writtenThisLayer: Set<string>,
): Promise<void> {
  for await (const { entry, body } of readLayerEntries(tar)) {
    if (entry.kind === 'whiteout') {
      if (writtenThisLayer.has(entry.path)) continue;
      if (await existingParentIsDirectory(root, entry.path, layer)) {
        await rm(join(root, entry.path), { recursive: true, force: true });
      }
    } else if (entry.kind === 'opaque') {
      if (entry.dir !== '') await ensureParents(root, `${entry.dir}/x`, layer, writtenThisLayer);
      const dir = join(root, entry.dir);
      const stat = await lstatOrUndefined(dir);
      if (stat?.isDirectory()) await clearLowerChildren(dir, entry.dir, writtenThisLayer);
    } else {
      await writeNode(root, entry, body, layer, writtenThisLayer);
      writtenThisLayer.add(entry.path);
    }
  }
}

async function writeNode(
  root: string,
  entry: TarNodeEntry,
  body: AsyncIterable<Buffer>,
  layer: number,
  written: Set<string>,
): Promise<void> {
  if (entry.path === '') {
    if (entry.type !== 'directory') {
      throw new RampartError(
        'MALFORMED_ARCHIVE',
        `layer ${layer}: the root entry is a ${entry.type}, not a directory`,
      );
    }
    await applyOwnerAndMode(root, entry, false);
    return;
  }
  await ensureParents(root, entry.path, layer, written);
  const target = join(root, entry.path);
  const existing = await lstatOrUndefined(target);
  if (existing?.isDirectory() && entry.type === 'directory') {
    await applyOwnerAndMode(target, entry, false);
    return;
  }
  if (existing) await rm(target, { recursive: true, force: true });

  switch (entry.type) {
    case 'file':
      // 'wx' is O_CREAT|O_EXCL: never opens an existing path, so never writes through a symlink.
      await pipeline(body, createWriteStream(target, { flags: 'wx', mode: 0o600 }));
      await applyOwnerAndMode(target, entry, false);
      await utimes(target, entry.mtime, entry.mtime);
      break;
    case 'directory':
      await mkdir(target, { mode: 0o700 });
      await applyOwnerAndMode(target, entry, false);
      break;
    case 'symlink':
      await symlink(entry.symlinkTarget ?? '', target);
      await applyOwnerAndMode(target, entry, true);
      await lutimes(target, entry.mtime, entry.mtime);
      break;
    case 'hardlink':
      await link(await hardlinkSource(root, entry, layer), target);
      break;
    default:
      // char/block devices and fifos: Node has no mknod; their metadata lives in the FsTree.
      break;
  }
}

/** Resolves the hardlink target inside root without following symlinks; it must exist and not be a directory. */
async function hardlinkSource(root: string, entry: TarNodeEntry, layer: number): Promise<string> {
  const relative = entry.hardlinkTarget ?? '';
  if (!(await existingParentIsDirectory(root, relative, layer))) {
    throw new RampartError(
      'MALFORMED_ARCHIVE',
      `layer ${layer}: hardlink ${entry.path} points to ${relative}, whose directory does not exist`,
    );
  }
  const source = join(root, relative);
  const stat = await lstatOrUndefined(source);
  if (!stat || stat.isDirectory()) {
    throw new RampartError(
      'MALFORMED_ARCHIVE',
      `layer ${layer}: hardlink ${entry.path} points to ${relative}, which is ${stat ? 'a directory' : 'missing'}`,
    );
  }
  return source;
}

async function applyOwnerAndMode(path: string, entry: TarNodeEntry, isSymlink: boolean): Promise<void> {
  if (process.getuid?.() === 0) {
    if (isSymlink) await lchown(path, entry.uid, entry.gid);
    else await chown(path, entry.uid, entry.gid);
  }
  // chmod after chown: chown clears setuid/setgid. Symlink modes are meaningless on Linux.
  if (!isSymlink) await chmod(path, entry.mode);
}

/**
 * Walks the parents of `relative` with lstat, never following a symlink (UNSAFE_LINK) and refusing
 * non-directories. A missing parent is created (0755 root:root, recorded in `create.written` so an
 * opaque marker later in the same layer keeps it) when `create` is given; otherwise the walk stops
 * and answers false.
 */
async function walkParents(
  root: string,
  relative: string,
  layer: number,
  create?: { written: Set<string> },
): Promise<boolean> {
  const parts = relative.split('/').slice(0, -1);
  let current = root;
  let shown = '';
  for (const part of parts) {
    current = join(current, part);
    shown = shown === '' ? part : `${shown}/${part}`;
    const stat = await lstatOrUndefined(current);
    if (stat) {
      refuseNonDirectory(stat, shown, relative, layer);
      continue;
    }
    if (!create) return false;
    await mkdir(current, { mode: 0o755 });
    await chmod(current, 0o755);
    if (process.getuid?.() === 0) await chown(current, 0, 0);
    create.written.add(shown);
  }
  return true;
}

async function ensureParents(
  root: string,
  relative: string,
  layer: number,
  written: Set<string>,
): Promise<void> {
  await walkParents(root, relative, layer, { written });
}

/** True when every parent of `relative` exists as a real directory; false if one is missing. */
function existingParentIsDirectory(root: string, relative: string, layer: number): Promise<boolean> {
  return walkParents(root, relative, layer);
}

function refuseNonDirectory(
  stat: { isSymbolicLink(): boolean; isDirectory(): boolean },
  parent: string,
  entry: string,
  layer: number,
): void {
  if (stat.isSymbolicLink()) {
    throw new RampartError(
      'UNSAFE_LINK',
      `layer ${layer}: entry ${JSON.stringify(entry)} would go through symlink ${parent}; refusing to follow symlinks while extracting`,
      { details: { path: entry, target: parent, location: `layer ${layer}` } },
    );
  }
  if (!stat.isDirectory()) {
    throw new RampartError(
      'MALFORMED_ARCHIVE',
      `layer ${layer}: entry ${JSON.stringify(entry)} needs ${parent} to be a directory`,
    );
  }
}

/** Opaque directory: remove everything below `dir` that this layer did not write. */
async function clearLowerChildren(
  dir: string,
  relative: string,
  written: ReadonlySet<string>,
): Promise<void> {
  for (const name of await readdir(dir)) {
    const childRelative = relative === '' ? name : `${relative}/${name}`;
    const child = join(dir, name);
    if (!written.has(childRelative)) {
      await rm(child, { recursive: true, force: true });
      continue;
    }
    const stat = await lstat(child);
    if (stat.isDirectory()) await clearLowerChildren(child, childRelative, written);
  }
}

async function lstatOrUndefined(path: string): Promise<Awaited<ReturnType<typeof lstat>> | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
