import { createReadStream, open as openFd } from 'node:fs';
import { lstat, mkdtemp, readdir, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { RampartError } from '../errors.js';
import { sourceDateEpoch } from '../util/source-date-epoch.js';
import { startOnRead } from '../util/start-on-read.js';
import type { Digest } from './digest.js';
import { verifyingStream } from './digest.js';
import type { Image, Layer } from './image.js';
import { layerFromFile, newImage } from './in-memory.js';
import type { LayerEntry } from './layer-writer.js';
import { buildLayer } from './layer-writer.js';
import { hostPlatform } from './platform.js';
import { decompressLayer } from './source.js';
import type { Descriptor, ImageConfig } from './types.js';

/**
 * Collects a root filesystem's entries without following symlinks: owners and modes come from the
 * files; hardlinked files after the first (in walk order) become hardlink entries.
 */
export async function collectRootfsEntries(root: string): Promise<LayerEntry[]> {
  // The root itself may be a symlink the user named on purpose; nothing below it is followed.
  const rootStat = await stat(root).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT')
      throw new RampartError('NOT_FOUND', `dir: source ${root} does not exist`, { cause: error });
    throw new RampartError('IO', `cannot read dir: source ${root}: ${error.message}`, { cause: error });
  });
  if (!rootStat.isDirectory()) throw new RampartError('USAGE', `dir: source ${root} is not a directory`);
  const entries: LayerEntry[] = [];
  const firstPathByInode = new Map<string, string>();
  const walk = async (relative: string): Promise<void> => {
    const names = (await readdir(join(root, relative))).sort();
    for (const name of names) {
      const path = relative ? `${relative}/${name}` : name;
      const absolute = join(root, path);
      const info = await lstat(absolute);
      const base = { path, mode: info.mode & 0o7777, uid: info.uid, gid: info.gid };
      if (info.isDirectory()) {
        entries.push({ ...base, type: 'directory' });
        await walk(path);
      } else if (info.isSymbolicLink()) {
        entries.push({ ...base, type: 'symlink', target: await readlink(absolute) });
      } else if (info.isFile()) {
        const inode = `${info.dev}:${info.ino}`;
        const first = info.nlink > 1 ? firstPathByInode.get(inode) : undefined;
        if (first) {
          entries.push({ ...base, type: 'hardlink', target: first });
        } else {
          if (info.nlink > 1) firstPathByInode.set(inode, path);
          entries.push({ ...base, type: 'file', size: info.size, content: () => createReadStream(absolute) });
        }
      }
      // Sockets, fifos and devices have no place in an image layer built from a directory; skip them.
    }
  };
  await walk('');
  return entries;
}

/**
 * A layer served from an open, already unlinked file: the kernel frees the space when the process
 * ends, however it ends, so reading a dir: source leaves nothing behind in the temp directory.
 */
async function unlinkedLayer(path: string, descriptor: Descriptor, diffID: Digest): Promise<Layer> {
  // A plain numeric fd (not a FileHandle, which would be closed when garbage-collected).
  const fd = await promisify(openFd)(path, 'r');
  await rm(path);
  const blob = async (): Promise<Readable> =>
    startOnRead(() => {
      // Positional reads (start/end) keep concurrent streams over the one descriptor independent.
      const file = createReadStream('', { fd, start: 0, end: descriptor.size - 1, autoClose: false });
      const verifier = verifyingStream(descriptor.digest, descriptor.size, `layer of dir: source ${path}`);
      file.on('error', (error) => verifier.destroy(error));
      // No file.destroy() on early close: destroying an fs stream closes the shared fd even with autoClose off.
      verifier.on('close', () => file.unpipe(verifier));
      return file.pipe(verifier);
    });
  return {
    descriptor,
    diffID,
    blob,
    uncompressed: async () => decompressLayer(await blob(), descriptor, diffID, 'layer of dir: source'),
  };
}

/**
 * Presents a root filesystem directory as a single-layer OCI image for the host platform. The layer is
 * deterministic (sorted entries, mtime = SOURCE_DATE_EPOCH or 0), so the same tree gives the same digest.
 * The layer blob stays in `scratchDir` when given; otherwise it lives in an unlinked temp file.
 */
export async function openRootfsDirectory(
  root: string,
  opts: { sourceDateEpoch?: number; scratchDir?: string } = {},
): Promise<Image> {
  const epoch = opts.sourceDateEpoch ?? sourceDateEpoch(process.env) ?? 0;
  const entries = await collectRootfsEntries(root);
  const scratch = opts.scratchDir ?? (await mkdtemp(join(tmpdir(), 'rampart-dir-source-')));
  let layer: Layer;
  try {
    const built = await buildLayer(entries, { dir: scratch, sourceDateEpoch: epoch });
    layer = opts.scratchDir
      ? layerFromFile(built.path, built.descriptor, built.diffID)
      : await unlinkedLayer(built.path, built.descriptor, built.diffID);
  } finally {
    if (!opts.scratchDir) await rm(scratch, { recursive: true, force: true });
  }
  const created = new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');
  const { os, architecture, variant } = hostPlatform();
  const config: ImageConfig = {
    created,
    architecture,
    os,
    ...(variant ? { variant } : {}),
    config: {},
    rootfs: { type: 'layers', diff_ids: [layer.diffID] },
    history: [{ created, created_by: 'rampart: root filesystem directory' }],
  };
  return newImage({ config, layers: [layer] });
}
