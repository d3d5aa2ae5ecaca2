import { constants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RampartError } from '../errors.js';
import type { Digest } from './digest.js';
import { digestHex, readAll } from './digest.js';
import type { ImageOrIndex } from './image.js';
import type { BlobSource } from './source.js';
import { loadFromDescriptor } from './source.js';
import type { TarIndex } from './tar-index.js';
import type { Descriptor, IndexManifest } from './types.js';
import { IndexManifestSchema, parseJsonBytes } from './types.js';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** File access to an OCI image layout, either a directory or an archive of one. */
export interface LayoutFiles extends BlobSource {
  /** Reads a small top-level file (`oci-layout`, `index.json`); undefined when absent. */
  readFile(name: string): Promise<Buffer | undefined>;
}

export interface LayoutSelector {
  tag?: string;
  digest?: Digest;
}

export function directoryLayout(dir: string): LayoutFiles {
  return {
    location: `OCI layout ${dir}`,
    async readFile(name) {
      try {
        return await readFile(join(dir, name), { flag: constants.O_RDONLY | constants.O_NOFOLLOW });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new RampartError('IO', `cannot read ${join(dir, name)}: ${(error as Error).message}`, {
          cause: error,
        });
      }
    },
    async openBlob(digest) {
      const path = join(dir, 'blobs', 'sha256', digestHex(digest));
      try {
        // O_NOFOLLOW: a blob that is a symlink could point anywhere on the host.
        const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
        return handle.createReadStream();
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new RampartError(
          code === 'ENOENT' ? 'BLOB_NOT_FOUND' : 'IO',
          code === 'ENOENT'
            ? `blob ${digest} is missing from OCI layout ${dir} (expected ${path})`
            : `cannot read blob ${path}: ${(error as Error).message}`,
          { cause: error },
        );
      }
    },
  };
}

export function archivedLayout(archive: TarIndex): LayoutFiles {
  return {
    location: `OCI archive ${archive.file}`,
    async readFile(name) {
      const entry = archive.find(name);
      return entry ? readAll(archive.openEntry(entry)) : undefined;
    },
    async openBlob(digest) {
      const entry = archive.find(`blobs/sha256/${digestHex(digest)}`);
      if (!entry) {
        throw new RampartError(
          'BLOB_NOT_FOUND',
          `blob ${digest} is missing from OCI archive ${archive.file}`,
        );
      }
      return archive.openEntry(entry);
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
    );
  }
  try {
    const version = (JSON.parse(marker.toString('utf8')) as { imageLayoutVersion?: unknown })
      .imageLayoutVersion;
    if (typeof version !== 'string') throw new Error('imageLayoutVersion missing');
  } catch (error) {
    throw new RampartError('MALFORMED_LAYOUT', `${files.location}: oci-layout is malformed`, {
      cause: error,
    });
  }
  const indexBytes = await files.readFile('index.json');
  if (!indexBytes) throw new RampartError('MALFORMED_LAYOUT', `${files.location} has no index.json`);
  try {
    return parseJsonBytes(IndexManifestSchema, indexBytes, `index.json of ${files.location}`);
  } catch (error) {
    throw new RampartError('MALFORMED_LAYOUT', (error as Error).message, { cause: error });
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
      throw new RampartError('MANIFEST_NOT_FOUND', `${location} has no manifest ${digest} in index.json`);
    return byDigest;
  }
  const tags = index.manifests.map((entry) => entry.annotations?.[REF_NAME_ANNOTATION]).filter(Boolean);
  if (tag) {
    const byTag = index.manifests.find((entry) => entry.annotations?.[REF_NAME_ANNOTATION] === tag);
    if (!byTag) {
      throw new RampartError(
        'MANIFEST_NOT_FOUND',
        `${location} has no tag '${tag}' (tags: ${tags.join(', ') || 'none'})`,
      );
    }
    return byTag;
  }
  const [only, ...rest] = index.manifests;
  if (!only)
    throw new RampartError('MANIFEST_NOT_FOUND', `${location} is empty (index.json lists no manifests)`);
  if (rest.length > 0) {
    throw new RampartError(
      'MANIFEST_NOT_FOUND',
      `${location} holds ${index.manifests.length} manifests; name one with :TAG or @DIGEST (tags: ${tags.join(', ') || 'none'})`,
    );
  }
  return only;
}

export async function openLayout(files: LayoutFiles, selector: LayoutSelector): Promise<ImageOrIndex> {
  const index = await readLayoutIndex(files);
  return loadFromDescriptor(files, selectLayoutEntry(index, selector, files.location));
}
