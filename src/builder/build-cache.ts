import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { readCacheFile, touchCacheEntry } from '../debian/cache.js';
import { type DebControl, type DebEntry, readDeb, readDebData } from '../debian/deb-reader.js';
import type { BuiltLayer, LayerEntry } from '../oci/layer-writer.js';
import { writeFileAtomic } from '../util/atomic-file.js';

/**
 * Two caches that make a warm build fast, both under `<cacheDir>/build/`:
 * - unpacked packages, keyed by the .deb's sha256 (verified when it was downloaded): the
 *   control data and data.tar entries, so xz is decompressed once per package version;
 * - built layer blobs, keyed by a hash of everything that goes into the tar (paths,
 *   metadata, content hashes, mtime), so an unchanged layer is not gzipped again.
 * Entries appear by atomic rename and a corrupt one is ignored, so concurrent builds are safe.
 */
const FORMAT = 'build-cache-v1';

export type UnpackedDeb = { control: DebControl; entries: DebEntry[] };

export async function readDebCached(
  path: string,
  sha256: string,
  cacheDir: string | undefined,
): Promise<UnpackedDeb> {
  const file = cacheDir ? join(cacheDir, 'build', 'unpacked', `${sha256}.v8`) : undefined;
  if (file) {
    const cached = await readCacheFile(file).catch(() => undefined);
    if (cached) {
      try {
        const value = deserialize(cached.bytes) as UnpackedDeb & { format: string };
        if (value.format === FORMAT) {
          // A hit counts as use, so `rampart cache prune` keeps what builds still read.
          await touchCacheEntry(file, cached.mtimeMs);
          return { control: value.control, entries: value.entries.map(toBuffers) };
        }
      } catch {
        // unreadable: unpack again and overwrite
      }
    }
  }
  const control = await readDeb(path);
  const entries: DebEntry[] = [];
  for await (const entry of readDebData(path)) entries.push(entry);
  if (file) await writeFileAtomic(file, serialize({ format: FORMAT, control, entries }));
  return { control, entries };
}

/** v8 round-trips Buffers as plain Uint8Arrays; give callers Buffers back. */
function toBuffers(entry: DebEntry): DebEntry {
  return entry.content && !Buffer.isBuffer(entry.content)
    ? { ...entry, content: Buffer.from(entry.content as Uint8Array) }
    : entry;
}

/** A hash of exactly what determines the layer's bytes. */
export function layerCacheKey(entries: readonly LayerEntry[], sourceDateEpoch: number): string {
  const hash = createHash('sha256').update(`${FORMAT}\0${sourceDateEpoch}\0`);
  for (const e of entries) {
    hash.update(`${e.path}\0${e.type}\0${e.mode}\0${e.uid}\0${e.gid}\0${e.target ?? ''}\0`);
    if (Buffer.isBuffer(e.content)) {
      hash.update(`${e.content.length}\0`);
      hash.update(createHash('sha256').update(e.content).digest());
    }
    hash.update('\n');
  }
  return hash.digest('hex');
}

export async function cachedLayer(cacheDir: string, key: string): Promise<BuiltLayer | undefined> {
  const dir = join(cacheDir, 'build', 'layers');
  try {
    const metaFile = await readCacheFile(join(dir, `${key}.json`));
    const meta = JSON.parse(metaFile.bytes.toString('utf8')) as BuiltLayer;
    const blob = join(dir, 'blobs', meta.descriptor.digest.slice('sha256:'.length));
    const info = await stat(blob);
    if (info.size !== meta.descriptor.size) return undefined;
    await touchCacheEntry(join(dir, `${key}.json`), metaFile.mtimeMs);
    await touchCacheEntry(blob, info.mtimeMs);
    // The layer is later read through layerFromFile, which verifies the digest while streaming.
    return { ...meta, path: blob };
  } catch {
    return undefined;
  }
}

export async function storeLayer(cacheDir: string, key: string, layer: BuiltLayer): Promise<BuiltLayer> {
  const dir = join(cacheDir, 'build', 'layers');
  const blob = join(dir, 'blobs', layer.descriptor.digest.slice('sha256:'.length));
  await mkdir(join(dir, 'blobs'), { recursive: true });
  const temp = `${blob}.tmp-${randomBytes(6).toString('hex')}`;
  await copyFile(layer.path, temp);
  await rename(temp, blob);
  await writeFileAtomic(join(dir, `${key}.json`), JSON.stringify({ ...layer, path: '' }));
  return { ...layer, path: blob };
}
