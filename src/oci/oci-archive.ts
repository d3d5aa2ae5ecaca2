import { digestHex } from './digest.js';
import { comparePaths } from './fs-tree.js';
import type { ImageOrIndex } from './image.js';
import type { LayoutSelector } from './layout.js';
import { archivedLayout, openLayout } from './layout.js';
import { collectBlobs, indexJson, OCI_LAYOUT_FILE, topDescriptor, updateIndex } from './layout-write.js';
import { TarIndex } from './tar-index.js';
import type { PackEntry } from './tar-pack.js';
import { writeTarAtomic } from './tar-pack.js';
import type { Descriptor } from './types.js';

/** Reads an image from a tar of an OCI layout without extracting it. */
export async function openOciArchive(file: string, selector: LayoutSelector): Promise<ImageOrIndex> {
  return openLayout(archivedLayout(await TarIndex.open(file)), selector);
}

/**
 * Writes a fresh oci-archive holding `source` (an existing archive at `file` is replaced, as skopeo
 * does). Blobs are streamed from the source straight into the tar, each checked against its digest
 * and size on the way; the tar goes to a temp file beside `file` and is renamed over it at the end.
 */
export async function writeOciArchive(file: string, source: ImageOrIndex, tag?: string): Promise<Descriptor> {
  const descriptor = topDescriptor(source, tag);
  const blobs = (await collectBlobs(source)).sort((a, b) => comparePaths(a.digest, b.digest));
  const entries: PackEntry[] = [
    { name: 'blobs/', type: 'directory' },
    { name: 'blobs/sha256/', type: 'directory' },
    ...blobs.map(({ digest, size, open }) => ({
      name: `blobs/sha256/${digestHex(digest)}`,
      size,
      // Verified while streaming (see collectBlobs); a short or corrupt blob fails the tar.
      open,
    })),
    { name: 'index.json', open: async () => Buffer.from(indexJson(updateIndex(undefined, descriptor, tag))) },
    { name: 'oci-layout', open: async () => Buffer.from(OCI_LAYOUT_FILE) },
  ];
  await writeTarAtomic(file, entries);
  return descriptor;
}
