import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { RampartError } from '../errors.js';
import { writeFileAtomic, writeStreamAtomic } from '../util/atomic-file.js';
import type { Digest } from './digest.js';
import { digestHex } from './digest.js';
import type { ImageOrIndex } from './image.js';
import { directoryLayout, REF_NAME_ANNOTATION, readLayoutIndex } from './layout.js';
import { MediaType } from './media-types.js';
import type { Descriptor, IndexManifest } from './types.js';

/**
 * Writes an image or a whole index into an OCI layout directory, keeping every manifest byte-for-byte
 * (so digests are preserved). Blobs go first, each via temp file + rename; index.json is replaced last,
 * so an interrupted write leaves the previous, still valid layout.
 */
export async function writeLayout(dir: string, source: ImageOrIndex, tag?: string): Promise<Descriptor> {
  const files = directoryLayout(dir);
  const existing = await readExistingIndex(dir, files);
  const blobDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  for (const blob of await collectBlobs(source)) await putBlob(blobDir, blob.digest, blob.size, blob.open);
  if (!existing) await writeFileAtomic(join(dir, 'oci-layout'), OCI_LAYOUT_FILE);
  const descriptor = topDescriptor(source, tag);
  await writeFileAtomic(join(dir, 'index.json'), indexJson(updateIndex(existing, descriptor, tag)));
  return descriptor;
}

export const OCI_LAYOUT_FILE = '{"imageLayoutVersion":"1.0.0"}';

export function indexJson(index: IndexManifest): string {
  return `${JSON.stringify(index)}\n`;
}

async function readExistingIndex(
  dir: string,
  files: ReturnType<typeof directoryLayout>,
): Promise<IndexManifest | undefined> {
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
      { cause: error },
    );
  }
}

/** The index.json entry for `source`: its manifest, platform (of an image) and tag. */
export function topDescriptor(source: ImageOrIndex, tag?: string): Descriptor {
  const descriptor: Descriptor = {
    mediaType: source.mediaType,
    digest: source.digest,
    size: source.rawManifest.length,
  };
  if (source.kind === 'image') {
    const { os, architecture, variant } = source.config;
    if (os && architecture && os !== 'unknown') {
      descriptor.platform = variant ? { os, architecture, variant } : { os, architecture };
    }
  }
  if (tag) descriptor.annotations = { [REF_NAME_ANNOTATION]: tag };
  return descriptor;
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

export interface LayoutBlob {
  digest: Digest;
  size: number;
  /** the blob's bytes, unverified: writers check digest and size while copying */
  open(): Promise<Readable>;
}

/** Every blob of an image or index, each once: layers and config before the manifest naming them. */
export async function collectBlobs(source: ImageOrIndex): Promise<LayoutBlob[]> {
  const blobs = new Map<Digest, LayoutBlob>();
  const add = (digest: Digest, size: number, open: () => Promise<Readable>): void => {
    if (!blobs.has(digest)) blobs.set(digest, { digest, size, open });
  };
  const bytes = (data: Buffer) => async () => Readable.from([data]);
  const visit = async (x: ImageOrIndex): Promise<void> => {
    if (x.kind === 'index') {
      for (const descriptor of x.manifest.manifests) await visit(await x.child(descriptor));
    } else {
      for (const layer of x.layers) add(layer.descriptor.digest, layer.descriptor.size, () => layer.blob());
      add(x.manifest.config.digest, x.rawConfig.length, bytes(x.rawConfig));
    }
    add(x.digest, x.rawManifest.length, bytes(x.rawManifest));
  };
  await visit(source);
  return [...blobs.values()];
}

/** Writes a blob unless an entry of the right size is already there (content-addressed, so it is the same). */
export async function putBlob(
  blobDir: string,
  digest: Digest,
  size: number,
  open: () => Promise<Readable>,
): Promise<void> {
  const path = join(blobDir, digestHex(digest));
  const present = await stat(path).catch(() => undefined);
  if (present?.isFile() && present.size === size) return;
  // `open` gives verified bytes: layer blobs check digest and size while streaming (Layer.blob),
  // manifests and configs are the bytes their digests were computed or checked from.
  await writeStreamAtomic(path, await open());
}
