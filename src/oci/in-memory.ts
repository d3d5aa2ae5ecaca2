import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { RampartError } from '../errors.js';
import type { Digest } from './digest.js';
import { sha256Digest } from './digest.js';
import type { Image, Index, Layer, Manifest, OciObject } from './image.js';
import { descriptorOf, manifestFields } from './image.js';
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
        const handle = await open(path, 'r');
        return { stream: handle.createReadStream(), size: (await handle.stat()).size };
      } catch (error) {
        const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
        const message = `${what} for ${descriptor.digest} ${missing ? 'is missing' : `cannot be read: ${(error as Error).message}`}`;
        throw missing
          ? new RampartError('BLOB_NOT_FOUND', message, {
              cause: error,
              details: { digest: descriptor.digest, location: path },
            })
          : new RampartError('IO', message, { cause: error, details: { path } });
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
  return imageFromParts({ rawManifest, manifest, rawConfig, config, layers: [...opts.layers] });
}

/** An Image over bytes and layers held in memory (built, or converted from another image). */
export function imageFromParts(parts: {
  rawManifest: Buffer;
  manifest: ImageManifest;
  rawConfig: Buffer;
  config: ImageConfig;
  layers: readonly Layer[];
  descriptor?: Descriptor;
}): Image {
  const { rawManifest, manifest, rawConfig, layers } = parts;
  const digest = sha256Digest(rawManifest);
  const mediaType = manifest.mediaType ?? MediaType.OciManifest;
  const byDigest = new Map(layers.map((layer) => [layer.descriptor.digest, layer]));
  const fields = manifestFields({
    descriptor: parts.descriptor ?? descriptorOf(rawManifest, digest, mediaType),
    digest,
    mediaType,
    rawManifest,
    manifest,
    location: `image ${digest}`,
    async open(descriptor) {
      if (descriptor.digest === manifest.config.digest) return Readable.from([rawConfig]);
      const layer = byDigest.get(descriptor.digest);
      if (!layer) {
        throw new RampartError('BLOB_NOT_FOUND', `image ${digest} has no layer ${descriptor.digest}`, {
          details: { digest: descriptor.digest, location: `image ${digest}` },
        });
      }
      return layer.blob();
    },
    readConfig: async () => rawConfig,
  });
  return { ...fields, kind: 'image', rawConfig, config: parts.config, layers };
}

/** The manifest level of an image already resolved (an in-memory child of an index). */
export function manifestOfImage(image: Image): Manifest {
  const { kind: _kind, rawConfig: _rawConfig, config: _config, layers: _layers, ...fields } = image;
  return { ...fields, kind: 'manifest', isImage: true, toImage: async () => image };
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
  children: ReadonlyMap<string, OciObject>,
): Index {
  const digest = sha256Digest(rawManifest);
  const find = (descriptor: Descriptor): OciObject => {
    const found = children.get(descriptor.digest);
    if (!found) {
      throw new RampartError('MANIFEST_NOT_FOUND', `index ${digest} has no manifest ${descriptor.digest}`, {
        details: { digest: descriptor.digest },
      });
    }
    return found;
  };
  const mediaType = manifest.mediaType ?? MediaType.OciIndex;
  return {
    kind: 'index',
    descriptor: descriptorOf(rawManifest, digest, mediaType),
    digest,
    mediaType,
    rawManifest,
    manifest,
    artifactType: manifest.artifactType,
    subject: manifest.subject,
    annotations: manifest.annotations ?? {},
    async child(descriptor) {
      const found = find(descriptor);
      return found.kind === 'image' ? manifestOfImage(found) : found;
    },
    async image(descriptor) {
      const found = find(descriptor);
      if (found.kind === 'index') {
        throw new RampartError('UNKNOWN_MEDIA_TYPE', `${descriptor.digest} is an index, not an image`, {
          details: { digest: descriptor.digest, mediaType: found.mediaType },
        });
      }
      return found.kind === 'image' ? found : found.toImage();
    },
  };
}
