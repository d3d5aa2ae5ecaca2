import { createReadStream } from 'node:fs';
import { lstat, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { RampartError } from '../errors.js';
import { tempPathFor, writeFileAtomic, writeStreamAtomic, writeStreamStaged } from '../util/atomic-file.js';
import type { LockOptions } from '../util/path-lock.js';
import { acquirePathLock } from '../util/path-lock.js';
import { sweepAbandonedStaging } from '../util/staging.js';
import type { Digest } from './digest.js';
import { digestHex, digestStream, isVerifiedAs, sha256Digest, verifyingStream } from './digest.js';
import { directoryLayout, REF_NAME_ANNOTATION, readLayoutIndex } from './layout.js';
import { MediaType } from './media-types.js';
import type { ImageSink, PutManifestOptions } from './sink.js';
import type { Descriptor, IndexManifest } from './types.js';

export const OCI_LAYOUT_FILE = '{"imageLayoutVersion":"1.0.0"}';

export function indexJson(index: IndexManifest): string {
  return `${JSON.stringify(index)}\n`;
}

/** The index.json entry of a root manifest: its descriptor, platform (of an image) and tag. */
export function rootDescriptor(
  raw: Buffer,
  mediaType: string,
  tag: string | undefined,
  options: PutManifestOptions,
): Descriptor {
  const { platform, artifactType } = options;
  return {
    mediaType,
    digest: sha256Digest(raw),
    size: raw.length,
    ...(artifactType ? { artifactType } : {}),
    ...(platform ? { platform: { ...platform } } : {}),
    ...(tag ? { annotations: { [REF_NAME_ANNOTATION]: tag } } : {}),
  };
}

/** A tagged write replaces the entry with that tag; an untagged one replaces untagged entries of the same digest. */
export function updateIndex(
  existing: IndexManifest | undefined,
  entry: Descriptor,
  tag?: string,
): IndexManifest {
  const kept = (existing?.manifests ?? []).filter((old) => {
    const oldTag = old.annotations?.[REF_NAME_ANNOTATION];
    return tag ? oldTag !== tag : !(oldTag === undefined && old.digest === entry.digest);
  });
  return {
    ...(existing ?? {}),
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [...kept, entry],
  };
}

async function readExistingIndex(dir: string): Promise<IndexManifest | undefined> {
  const files = directoryLayout(dir);
  const marker = await files.readFile('oci-layout');
  const index = await files.readFile('index.json');
  if (!marker && !index) return undefined;
  // Refuse to overwrite something that is not a valid layout rather than clobber it.
  try {
    return await readLayoutIndex(files);
  } catch (error) {
    throw new RampartError(
      'MALFORMED_LAYOUT',
      `cannot write to ${dir}: ${(error as Error).message}; remove it or choose another directory`,
      { cause: error, details: { path: dir } },
    );
  }
}

/** Whether `path` is a regular file holding exactly the descriptor's bytes (hashed, not trusted). */
export async function holdsBlob(path: string, descriptor: Descriptor): Promise<boolean> {
  const present = await lstat(path).catch(() => undefined);
  if (!present?.isFile() || present.size !== descriptor.size) return false;
  const { digest } = await digestStream(createReadStream(path));
  return digest === descriptor.digest;
}

/** Blobs whose fsync and rename run while the next is written (`deferCommit`), at most. */
const MAX_PENDING_COMMITS = 2;

/**
 * The blob half of a directory sink (an OCI layout's `blobs/sha256`, a skopeo dir): a blob is
 * named by its hex digest, written atomically and checked against its descriptor while written,
 * and one already there counts only once it is hashed.
 *
 * With `deferCommit`, `putBlob` returns once a blob is written and verified, and its fsync and
 * rename into place run while the caller writes the next (a 64 MB blob's fsync took 0.1-0.15 s of
 * a pull's critical path); the rename still follows the fsync. `flush()` waits for them all (and
 * fails with the first failure), `settle()` only waits: a sink calls one before it commits or
 * drops what it staged.
 */
export function verifiedBlobFiles(
  dir: string,
  location: string,
  options: { deferCommit?: boolean } = {},
): { path(digest: Digest): string; flush(): Promise<void>; settle(): Promise<void> } & Pick<
  ImageSink,
  'hasBlob' | 'putBlob'
> {
  const path = (digest: Digest) => join(dir, digestHex(digest));
  const pending = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  const settle = async (): Promise<void> => {
    while (pending.size > 0) await Promise.all(pending);
  };
  return {
    path,
    hasBlob: (descriptor) => holdsBlob(path(descriptor.digest), descriptor),
    async putBlob(descriptor, stream) {
      if (failure) throw failure.error;
      // One already stored (and hashed to its digest) is kept: callers need not ask hasBlob first.
      if (await holdsBlob(path(descriptor.digest), descriptor)) {
        stream.destroy();
        return 'exists';
      }
      // A stream that already fails unless it is this blob (a verified source) is not hashed twice.
      const checks = isVerifiedAs(stream, descriptor.digest, descriptor.size)
        ? []
        : [verifyingStream(descriptor.digest, descriptor.size, `blob ${descriptor.digest} for ${location}`)];
      const staged = await writeStreamStaged(path(descriptor.digest), stream, ...checks);
      if (!options.deferCommit) {
        await staged.commit();
        return;
      }
      const committing: Promise<void> = staged.commit().then(
        () => undefined,
        (error: unknown) => {
          failure ??= { error };
        },
      );
      pending.add(committing);
      void committing.finally(() => pending.delete(committing));
      while (pending.size > MAX_PENDING_COMMITS) await Promise.race(pending);
    },
    settle,
    async flush() {
      await settle();
      if (failure) throw failure.error;
    },
  };
}

/**
 * An OCI image layout as a sink. A new layout is written beside its final path and renamed into
 * place on close, so a failed or interrupted copy leaves nothing; an existing layout (other tags) is
 * updated in place, blobs first and index.json last, so it stays valid throughout. Every manifest is
 * stored byte for byte (digests are preserved).
 *
 * Concurrent writers: blobs are content-addressed and renamed into place, so they never conflict;
 * index.json is a read-modify-write, done on close under an advisory lock beside the layout (see
 * path-lock.ts), re-reading index.json there so another writer's tags are kept. A layout that
 * another writer created while this one staged is joined (staged blobs moved in) rather than
 * renamed over.
 */
export async function openLayoutSink(dir: string, options: { lock?: LockOptions } = {}): Promise<ImageSink> {
  const existed = await exists(dir);
  // Refuse a directory that is not a layout before copying anything into it.
  if (existed) {
    await readExistingIndex(dir);
    // Blob temp files of an earlier run that was killed mid-write.
    await sweepAbandonedStaging(join(dir, 'blobs', 'sha256'));
  }
  let staging: string | undefined;
  if (!existed) {
    await mkdir(dirname(resolve(dir)), { recursive: true });
    staging = tempPathFor(dir);
  }
  let target = staging ?? dir;
  const blobDir = join(target, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  // A new layout's marker is written now: its fsync runs while the blobs download, not after them.
  // Settled before the staging folder is removed; a failure fails close.
  const marker = staging ? writeFileAtomic(join(staging, 'oci-layout'), OCI_LAYOUT_FILE) : undefined;
  marker?.catch(() => undefined);
  const location = `OCI layout ${dir}`;
  const roots: Array<{ entry: Descriptor; tag: string | undefined }> = [];
  const blobs = verifiedBlobFiles(blobDir, location, { deferCommit: true });
  const blobPath = blobs.path;

  return {
    location,
    storesIndex: true,
    wantsOciMediaTypes: true,
    hasBlob: blobs.hasBlob,
    putBlob: blobs.putBlob,
    async putManifest(raw, mediaType, tag, options = {}) {
      // In a layout that exists, the blobs a manifest names are in place before it is; a new one
      // is staged, and nothing in it is visible before close.
      if (!staging) await blobs.flush();
      const entry = rootDescriptor(raw, mediaType, tag, options);
      if (!(await holdsBlob(blobPath(entry.digest), entry))) {
        await writeStreamAtomic(blobPath(entry.digest), Readable.from([raw]));
      }
      if (!options.child) roots.push({ entry, tag });
      return entry.digest;
    },
    async close() {
      // Every blob durable and in place before index.json names it (before the staged layout is
      // renamed into place, for a new one: its last fsyncs overlap the writes of the index).
      if (!staging) await blobs.flush();
      const lock = await acquirePathLock(dir, options.lock);
      try {
        if (staging && (await exists(dir))) {
          await blobs.flush();
          await marker?.catch(() => undefined);
          // Another writer created the layout meanwhile: join it instead of renaming over it.
          await moveBlobs(join(staging, 'blobs', 'sha256'), join(dir, 'blobs', 'sha256'));
          await rm(staging, { recursive: true, force: true });
          staging = undefined;
          target = dir;
        }
        // Read again under the lock: what was read at open may be another writer's past.
        const current = staging ? undefined : await readExistingIndex(dir);
        let index = current;
        for (const { entry, tag } of roots) index = updateIndex(index, entry, tag);
        if (!current) await (staging ? marker : writeFileAtomic(join(target, 'oci-layout'), OCI_LAYOUT_FILE));
        if (index) await writeFileAtomic(join(target, 'index.json'), indexJson(index));
        if (staging) {
          await blobs.flush();
          await rename(staging, dir).catch(async (error: NodeJS.ErrnoException) => {
            await rm(staging as string, { recursive: true, force: true });
            throw new RampartError(
              'IO',
              `cannot move the new layout into place at ${dir}: ${error.message}`,
              {
                cause: error,
                details: { path: dir, ...(error.code ? { errno: error.code } : {}) },
              },
            );
          });
        }
      } finally {
        await lock.release();
      }
    },
    async abort() {
      await blobs.settle();
      await marker?.catch(() => undefined);
      if (staging) await rm(staging, { recursive: true, force: true });
    },
  };
}

function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Moves verified, content-addressed blobs into another layout: renaming over a same-named blob is harmless. */
async function moveBlobs(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const name of await readdir(from)) {
    if (name.startsWith('.')) continue;
    await rename(join(from, name), join(to, name));
  }
}
