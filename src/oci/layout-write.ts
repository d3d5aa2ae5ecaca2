import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { RampartError } from '../errors.js';
import { writeFileAtomic, writeStreamAtomic } from '../util/atomic-file.js';
import type { Digest } from './digest.js';
import { digestHex, verifyingStream } from './digest.js';
import type { Image, ImageOrIndex, Index } from './image.js';
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
  await writeTree(blobDir, source);
  if (!existing) await writeFileAtomic(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const descriptor = topDescriptor(source, tag);
  const index = updateIndex(existing, descriptor, tag);
  await writeFileAtomic(join(dir, 'index.json'), `${JSON.stringify(index)}\n`);
  return descriptor;
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

function topDescriptor(source: ImageOrIndex, tag?: string): Descriptor {
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

async function writeTree(blobDir: string, source: ImageOrIndex): Promise<void> {
  if (source.kind === 'index') await writeIndexChildren(blobDir, source);
  else await writeImageBlobs(blobDir, source);
  await putBlob(blobDir, source.digest, source.rawManifest.length, async () =>
    Readable.from([source.rawManifest]),
  );
}

async function writeIndexChildren(blobDir: string, index: Index): Promise<void> {
  for (const descriptor of index.manifest.manifests) {
    await writeTree(blobDir, await index.child(descriptor));
  }
}

async function writeImageBlobs(blobDir: string, image: Image): Promise<void> {
  for (const layer of image.layers) {
    await putBlob(blobDir, layer.descriptor.digest, layer.descriptor.size, () => layer.blob());
  }
  await putBlob(blobDir, image.manifest.config.digest, image.rawConfig.length, async () =>
    Readable.from([image.rawConfig]),
  );
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
  await writeStreamAtomic(
    path,
    await open(),
    verifyingStream(digest, size, `blob ${digest} written to ${path}`),
  );
}
