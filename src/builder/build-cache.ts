import { createHash } from 'node:crypto';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { readCacheFile, touchCacheEntry } from '../debian/cache.js';
import { type DebControl, type DebEntryHeader, readDeb, readDebData } from '../debian/deb-reader.js';
import type { BuiltLayer, LayerEntry } from '../oci/layer-writer.js';
import { tempPathFor, writeFileAtomic } from '../util/atomic-file.js';
import { ContentStore, type TreeContent } from './content.js';

/**
 * Two caches that make a warm build fast, both under `<cacheDir>/build/`:
 * - unpacked packages, keyed by the .deb's sha256 (verified when it was downloaded): the control
 *   data and data.tar entries, whose file bytes live in a content-addressed store
 *   (`build/files/<sha256>`) and are referenced, not loaded, so xz is decompressed once per package
 *   version and a build never holds the image's bytes in memory. The index is checked against its
 *   own sha256 when read and every file against its digest as the layer streams it;
 * - built layer blobs, keyed by a hash of everything that goes into the tar (paths,
 *   metadata, content hashes, mtime), so an unchanged layer is not gzipped again.
 * Entries appear by atomic rename and a corrupt one is ignored, so concurrent builds are safe.
 */
const FORMAT = 'build-cache-v2';

export type CachedDebEntry = { header: DebEntryHeader; content?: TreeContent };
export type UnpackedDeb = { control: DebControl; entries: CachedDebEntry[] };

export function contentStoreFor(cacheDir: string): ContentStore {
  return new ContentStore(join(cacheDir, 'build', 'files'));
}

export async function readDebCached(
  path: string,
  sha256: string,
  cacheDir: string | undefined,
): Promise<UnpackedDeb> {
  if (!cacheDir) {
    // No cache: the bytes stay in memory (tests and one-off library calls).
    const control = await readDeb(path);
    const entries: CachedDebEntry[] = [];
    for await (const entry of readDebData(path)) entries.push(entry);
    return { control, entries };
  }
  const store = contentStoreFor(cacheDir);
  const file = join(cacheDir, 'build', 'unpacked', `${sha256}.v2`);
  const cached = await readCacheFile(file).catch(() => undefined);
  if (cached) {
    const value = decodeIndex(cached.bytes);
    if (value && (await allPresent(store, value.entries))) {
      // A hit counts as use, so `rampart cache prune` keeps what builds still read.
      await touchCacheEntry(file, cached.mtimeMs);
      return {
        control: value.control,
        entries: value.entries.map(
          (e): CachedDebEntry =>
            e.content
              ? { header: e.header, content: { ...e.content, path: store.pathOf(e.content.sha256) } }
              : { header: e.header },
        ),
      };
    }
  }
  const control = await readDeb(path);
  const entries: CachedDebEntry[] = [];
  const stored: StoredEntry[] = [];
  for await (const entry of readDebData(path)) {
    if (entry.header.type === 'file') {
      const ref = await store.put(entry.content ?? Buffer.alloc(0));
      entries.push({ header: entry.header, content: ref });
      stored.push({ header: entry.header, content: { sha256: ref.sha256, size: ref.size } });
    } else {
      entries.push({ header: entry.header });
      stored.push({ header: entry.header });
    }
  }
  await writeFileAtomic(file, encodeIndex({ format: FORMAT, control, entries: stored }));
  return { control, entries };
}

type StoredEntry = { header: DebEntryHeader; content?: { sha256: string; size: number } };
type StoredIndex = { format: string; control: DebControl; entries: StoredEntry[] };

/** sha256 of the body, then the body (v8: Maps and Buffers of the control data survive). */
function encodeIndex(index: StoredIndex): Buffer {
  const body = serialize(index);
  return Buffer.concat([createHash('sha256').update(body).digest(), body]);
}

function decodeIndex(bytes: Buffer): StoredIndex | undefined {
  if (bytes.length < 32) return undefined;
  const body = bytes.subarray(32);
  if (!createHash('sha256').update(body).digest().equals(bytes.subarray(0, 32))) return undefined;
  try {
    const value = deserialize(body) as StoredIndex;
    if (value.format !== FORMAT || !Array.isArray(value.entries)) return undefined;
    if (value.entries.some((e) => e.content && !/^[0-9a-f]{64}$/.test(e.content.sha256))) return undefined;
    return { ...value, control: { ...value.control, controlFiles: toBufferMap(value.control.controlFiles) } };
  } catch {
    return undefined;
  }
}

/**
 * Every referenced file is there with its bytes (hashed, not just sized: a damaged file makes
 * this a miss, so the .deb is unpacked again and `put` replaces it, instead of every build
 * failing on it); each counts as used, so `rampart cache prune` keeps the files builds still
 * reference.
 */
async function allPresent(store: ContentStore, entries: readonly StoredEntry[]): Promise<boolean> {
  for (const e of entries) {
    if (!e.content) continue;
    const path = store.pathOf(e.content.sha256);
    const info = await stat(path).catch(() => undefined);
    if (!info || !(await store.holds(e.content.sha256, e.content.size))) return false;
    await touchCacheEntry(path, info.mtimeMs);
  }
  return true;
}

/** v8 round-trips Buffers as plain Uint8Arrays; give callers Buffers back. */
function toBufferMap(map: Map<string, Buffer>): Map<string, Buffer> {
  return new Map([...map].map(([k, v]) => [k, Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array)]));
}

/** A hash of exactly what determines the layer's bytes. */
export function layerCacheKey(
  entries: ReadonlyArray<LayerEntry & { sha256?: string }>,
  sourceDateEpoch: number,
): string {
  const hash = createHash('sha256').update(`${FORMAT}\0${sourceDateEpoch}\0`);
  for (const e of entries) {
    hash.update(`${e.path}\0${e.type}\0${e.mode}\0${e.uid}\0${e.gid}\0${e.target ?? ''}\0`);
    if (e.type === 'file') {
      // The tree's references name their digest; build-layers passes it, so nothing is re-read here.
      const sha256 =
        e.sha256 ??
        createHash('sha256')
          .update(Buffer.isBuffer(e.content) ? e.content : Buffer.alloc(0))
          .digest('hex');
      hash.update(`${e.size ?? (Buffer.isBuffer(e.content) ? e.content.length : 0)}\0${sha256}`);
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
  // Named with this process's pid (staging.ts), so a build killed mid-copy leaves a temp file the
  // next build or `rampart cache prune` knows to be abandoned.
  const temp = tempPathFor(blob);
  try {
    await copyFile(layer.path, temp);
    await rename(temp, blob);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
  await writeFileAtomic(join(dir, `${key}.json`), JSON.stringify({ ...layer, path: '' }));
  return { ...layer, path: blob };
}
