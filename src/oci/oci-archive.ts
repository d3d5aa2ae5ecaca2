import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { ImageOrIndex } from './image.js';
import type { LayoutSelector } from './layout.js';
import { archivedLayout, openLayout } from './layout.js';
import { writeLayout } from './layout-write.js';
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
 * does). The layout is staged in a temp directory beside the target so the final rename is atomic.
 */
export async function writeOciArchive(file: string, source: ImageOrIndex, tag?: string): Promise<Descriptor> {
  const staging = await mkdtemp(join(dirname(resolve(file)), '.rampart-oci-'));
  try {
    const descriptor = await writeLayout(staging, source, tag);
    const blobNames = (await readdir(join(staging, 'blobs', 'sha256'))).sort();
    const entries: PackEntry[] = [
      { name: 'blobs/', type: 'directory' },
      { name: 'blobs/sha256/', type: 'directory' },
    ];
    for (const name of blobNames) {
      const path = join(staging, 'blobs', 'sha256', name);
      const { size } = await stat(path);
      entries.push({ name: `blobs/sha256/${name}`, size, open: async () => createReadStream(path) });
    }
    for (const name of ['index.json', 'oci-layout']) {
      const path = join(staging, name);
      const { size } = await stat(path);
      entries.push({ name, size, open: async () => createReadStream(path) });
    }
    await writeTarAtomic(file, entries);
    return descriptor;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
