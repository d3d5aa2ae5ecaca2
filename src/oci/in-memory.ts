import { open } from 'node:fs/promises';
import { RampartError } from '../errors.js';
import type { Digest } from './digest.js';
import { sha256Digest } from './digest.js';
import type { Image, ImageOrIndex, Index, Layer } from './image.js';
import { MediaType } from './media-types.js';
import type { BlobSource } from './source.js';
import { decompressLayer, openVerifiedBlob } from './source.js';
import type { Descriptor, ImageConfig, ImageManifest, IndexManifest, Platform } from './types.js';

/** JSON with object keys sorted recursively, so equal values always give equal bytes (and digests). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const child = (value as Record<string, unknown>)[key];
      if (child !== undefined) sorted[key] = sortKeys(child);
    }
    return sorted;
  }
  return value;
}

/** A layer whose (compressed) blob is a local file, e.g. one produced by the layer writer. */
export function layerFromFile(path: string, descriptor: Descriptor, diffID: Digest): Layer {
  const what = `layer file ${path}`;
  const file: BlobSource = {
    location: what,
    async openBlob() {
      try {
        return (await open(path, 'r')).createReadStream();
      } catch (error) {
        const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
        throw new RampartError(
          missing ? 'BLOB_NOT_FOUND' : 'IO',
          `${what} for ${descriptor.digest} ${missing ? 'is missing' : `cannot be read: ${(error as Error).message}`}`,
          { cause: error },
        );
      }
    },
  };
  const blob = () => openVerifiedBlob(file, descriptor, 'layer');
  return {
    descriptor,
    diffID,
    blob,
    uncompressed: async () => decompressLayer(await blob(), descriptor, diffID, what),
  };
}

/**
 * Assembles an OCI image from a config and layers. `rootfs.diff_ids` is always set from the layers so
 * config and manifest cannot disagree; config and manifest bytes are canonical JSON.
 */
export function newImage(opts: {
  config: ImageConfig;
  layers: Layer[];
  annotations?: Record<string, string>;
  mediaType?: 'oci';
}): Image {
  const config: ImageConfig = {
    ...opts.config,
    rootfs: { type: 'layers', diff_ids: opts.layers.map((layer) => layer.diffID) },
  };
  const rawConfig = Buffer.from(canonicalJson(config));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: sha256Digest(rawConfig), size: rawConfig.length },
    layers: opts.layers.map((layer) => ({
      mediaType: layer.descriptor.mediaType,
      digest: layer.descriptor.digest,
      size: layer.descriptor.size,
      ...(layer.descriptor.annotations ? { annotations: layer.descriptor.annotations } : {}),
    })),
    ...(opts.annotations && Object.keys(opts.annotations).length > 0
      ? { annotations: opts.annotations }
      : {}),
  };
  const rawManifest = Buffer.from(canonicalJson(manifest));
  return {
    kind: 'image',
    digest: sha256Digest(rawManifest),
    mediaType: MediaType.OciManifest,
    rawManifest,
    manifest,
    rawConfig,
    config,
    layers: [...opts.layers],
  };
}

/** An OCI index over in-memory images, each entry carrying its platform. */
export function newIndex(
  entries: Array<{ image: Image; platform: Platform }>,
  annotations?: Record<string, string>,
): Index {
  const manifest: IndexManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: entries.map(({ image, platform }) => ({
      mediaType: image.mediaType,
      digest: image.digest,
      size: image.rawManifest.length,
      platform: { ...platform },
    })),
    ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
  const rawManifest = Buffer.from(canonicalJson(manifest));
  return indexOverChildren(manifest, rawManifest, new Map(entries.map(({ image }) => [image.digest, image])));
}

/** An Index whose children are already in memory (built or converted images), keyed by digest. */
export function indexOverChildren(
  manifest: IndexManifest,
  rawManifest: Buffer,
  children: ReadonlyMap<string, ImageOrIndex>,
): Index {
  const digest = sha256Digest(rawManifest);
  const child = async (descriptor: Descriptor): Promise<ImageOrIndex> => {
    const found = children.get(descriptor.digest);
    if (!found)
      throw new RampartError('MANIFEST_NOT_FOUND', `index ${digest} has no manifest ${descriptor.digest}`);
    return found;
  };
  return {
    kind: 'index',
    digest,
    mediaType: manifest.mediaType ?? MediaType.OciIndex,
    rawManifest,
    manifest,
    child,
    async image(descriptor) {
      const found = await child(descriptor);
      if (found.kind !== 'image')
        throw new RampartError('UNKNOWN_MEDIA_TYPE', `${descriptor.digest} is an index, not an image`);
      return found;
    },
  };
}
