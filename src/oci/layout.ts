import { type BigIntStats, constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { RampartError } from '../errors.js';
import type { Digest } from './digest.js';
import { digestHex, readAll } from './digest.js';
import type { OciObject } from './image.js';
import type { BlobFile, BlobSource } from './source.js';
import { loadFromDescriptor, MAX_MANIFEST_SIZE } from './source.js';
import type { TarIndex } from './tar-index.js';
import type { Descriptor, IndexManifest } from './types.js';
import { IndexManifestSchema, parseJsonBytes } from './types.js';

/** Bytes per read of a blob file. */
export const BLOB_READ_SIZE = 1024 * 1024;

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** File access to an OCI image layout, either a directory or an archive of one. */
export interface LayoutFiles extends BlobSource {
  /** The layout directory or archive file. */
  readonly path: string;
  /** Reads a small top-level file (`oci-layout`, `index.json`); undefined when absent. */
  readFile(name: string): Promise<Buffer | undefined>;
}

export interface LayoutSelector {
  tag?: string;
  digest?: Digest;
}

/** Largest `index.json` (or `oci-layout`) read: an index is a manifest, and registries cap those at 4 MiB. */
const MAX_LAYOUT_FILE_SIZE = MAX_MANIFEST_SIZE;

/**
 * Opens a file of a layout for reading: no symlink is followed (it could point anywhere on the host),
 * O_NONBLOCK so a FIFO cannot hang the open, and anything but a regular file is refused.
 */
export async function openRegularFile(
  path: string,
  what: string,
): Promise<{ handle: FileHandle; size: number; stat: BigIntStats }> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') {
      throw new RampartError(
        'UNSAFE_LINK',
        `${what} ${path} is a symbolic link; layouts hold regular files`,
        {
          cause: error,
          details: { path },
        },
      );
    }
    throw error;
  }
  // bigint: the nanosecond times a record of verified blobs compares (verified-blob.ts).
  const info = await handle.stat({ bigint: true });
  if (!info.isFile()) {
    await handle.close();
    throw new RampartError('MALFORMED_LAYOUT', `${what} ${path} is not a regular file`, {
      details: { path },
    });
  }
  return { handle, size: Number(info.size), stat: info };
}

export function directoryLayout(dir: string): LayoutFiles & Required<Pick<BlobSource, 'openBlobFile'>> {
  const openBlobFile = async (digest: Digest): Promise<BlobFile> => {
    const path = join(dir, 'blobs', 'sha256', digestHex(digest));
    try {
      const { handle, stat } = await openRegularFile(path, 'blob');
      return { path, handle, stat };
    } catch (error) {
      if (error instanceof RampartError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        throw new RampartError(
          'BLOB_NOT_FOUND',
          `blob ${digest} is missing from OCI layout ${dir} (expected ${path})`,
          { cause: error, details: { digest, location: `OCI layout ${dir}` } },
        );
      }
      throw new RampartError('IO', `cannot read blob ${path}: ${(error as Error).message}`, {
        cause: error,
        details: { path, ...(code ? { errno: code } : {}) },
      });
    }
  };
  return {
    path: dir,
    location: `OCI layout ${dir}`,
    async readFile(name) {
      const path = join(dir, name);
      try {
        const { handle, size } = await openRegularFile(path, 'layout file');
        try {
          if (size > MAX_LAYOUT_FILE_SIZE) {
            throw new RampartError(
              'TOO_LARGE',
              `${path} is ${size} bytes; at most ${MAX_LAYOUT_FILE_SIZE} are read`,
              { details: { limit: MAX_LAYOUT_FILE_SIZE, path } },
            );
          }
          // At most the size just checked, even if the file grows meanwhile.
          const buffer = Buffer.alloc(size);
          const { bytesRead } = await handle.read(buffer, 0, size, 0);
          return buffer.subarray(0, bytesRead);
        } finally {
          await handle.close();
        }
      } catch (error) {
        if (error instanceof RampartError) throw error;
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return undefined;
        throw new RampartError('IO', `cannot read ${path}: ${(error as Error).message}`, {
          cause: error,
          details: { path, ...(code ? { errno: code } : {}) },
        });
      }
    },
    async openBlob(digest) {
      const { handle, stat } = await openBlobFile(digest);
      // Large reads: one 64 KiB read per chunk costs several times the CPU of 1 MiB reads.
      return { stream: handle.createReadStream({ highWaterMark: BLOB_READ_SIZE }), size: Number(stat.size) };
    },
    openBlobFile,
  };
}

export function archivedLayout(archive: TarIndex): LayoutFiles {
  return {
    path: archive.file,
    location: `OCI archive ${archive.file}`,
    async readFile(name) {
      const entry = archive.find(name);
      if (!entry) return undefined;
      if (entry.size > MAX_LAYOUT_FILE_SIZE) {
        throw new RampartError(
          'TOO_LARGE',
          `${name} in ${archive.file} is ${entry.size} bytes; at most ${MAX_LAYOUT_FILE_SIZE} are read`,
          { details: { limit: MAX_LAYOUT_FILE_SIZE, path: `${archive.file}:${name}` } },
        );
      }
      return readAll(archive.openEntry(entry));
    },
    async openBlob(digest) {
      const entry = archive.find(`blobs/sha256/${digestHex(digest)}`);
      if (!entry) {
        throw new RampartError(
          'BLOB_NOT_FOUND',
          `blob ${digest} is missing from OCI archive ${archive.file}`,
          { details: { digest, location: `OCI archive ${archive.file}` } },
        );
      }
      return { stream: archive.openEntry(entry), size: entry.size };
    },
  };
}

/** Reads and validates `oci-layout` and `index.json`. */
export async function readLayoutIndex(files: LayoutFiles): Promise<IndexManifest> {
  const marker = await files.readFile('oci-layout');
  if (!marker) {
    throw new RampartError(
      'MALFORMED_LAYOUT',
      `${files.location} has no oci-layout file; is this an OCI image layout?`,
      { details: { path: files.path } },
    );
  }
  try {
    const version = (JSON.parse(marker.toString('utf8')) as { imageLayoutVersion?: unknown })
      .imageLayoutVersion;
    if (typeof version !== 'string') throw new Error('imageLayoutVersion missing');
  } catch (error) {
    throw new RampartError('MALFORMED_LAYOUT', `${files.location}: oci-layout is malformed`, {
      cause: error,
      details: { path: files.path },
    });
  }
  const indexBytes = await files.readFile('index.json');
  if (!indexBytes) {
    throw new RampartError('MALFORMED_LAYOUT', `${files.location} has no index.json`, {
      details: { path: files.path },
    });
  }
  try {
    return parseJsonBytes(IndexManifestSchema, indexBytes, `index.json of ${files.location}`);
  } catch (error) {
    throw new RampartError('MALFORMED_LAYOUT', (error as Error).message, {
      cause: error,
      details: { path: files.path },
    });
  }
}

/** Picks the index.json entry for a tag or digest; with neither, the layout must hold exactly one entry. */
export function selectLayoutEntry(
  index: IndexManifest,
  selector: LayoutSelector,
  location: string,
): Descriptor {
  const { tag, digest } = selector;
  if (digest) {
    const byDigest = index.manifests.find((entry) => entry.digest === digest);
    if (!byDigest)
      throw new RampartError('MANIFEST_NOT_FOUND', `${location} has no manifest ${digest} in index.json`, {
        details: { digest, reference: location },
      });
    return byDigest;
  }
  const tags = index.manifests.map((entry) => entry.annotations?.[REF_NAME_ANNOTATION]).filter(Boolean);
  if (tag) {
    const byTag = index.manifests.find((entry) => entry.annotations?.[REF_NAME_ANNOTATION] === tag);
    if (!byTag) {
      throw new RampartError(
        'MANIFEST_NOT_FOUND',
        `${location} has no tag '${tag}' (tags: ${tags.join(', ') || 'none'})`,
        { details: { reference: `${location}:${tag}`, available: tags as string[] } },
      );
    }
    return byTag;
  }
  const [only, ...rest] = index.manifests;
  if (!only)
    throw new RampartError('MANIFEST_NOT_FOUND', `${location} is empty (index.json lists no manifests)`, {
      details: { reference: location, available: [] },
    });
  if (rest.length > 0) {
    throw new RampartError(
      'MANIFEST_NOT_FOUND',
      `${location} holds ${index.manifests.length} manifests; name one with :TAG or @DIGEST (tags: ${tags.join(', ') || 'none'})`,
      { details: { reference: location, available: tags as string[] } },
    );
  }
  return only;
}

/** The object a layout entry names; a runnable image is resolved (config read and checked). */
export async function openLayout(files: LayoutFiles, selector: LayoutSelector): Promise<OciObject> {
  const index = await readLayoutIndex(files);
  return loadFromDescriptor(files, selectLayoutEntry(index, selector, files.location));
}
