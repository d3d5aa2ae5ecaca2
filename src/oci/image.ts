import type { Readable } from 'node:stream';
import { RampartError } from '../errors.js';
import type { Digest } from './digest.js';
import { isImageConfigMediaType, isIndexMediaType, MediaType } from './media-types.js';
import { formatPlatform, hostPlatform, platformMatches } from './platform.js';
import type { Descriptor, ImageConfig, ImageManifest, IndexManifest, Platform } from './types.js';
import type { VerifyBlobOptions } from './verified-blob.js';

/** One layer of an image (go-containerregistry's v1.Layer). */
export interface Layer {
  readonly descriptor: Descriptor;
  readonly diffID: Digest;
  /** compressed blob, digest-verified while streaming */
  blob(): Promise<Readable>;
  /**
   * Reads the compressed blob through its verifying stream and drops the bytes; with a record, a
   * blob file whose stat matches that of an earlier verification is not read again
   * (verified-blob.ts). Absent on some layers: `verifyLayerBlob` drains `blob()` for those.
   */
  verifyBlob?(options?: VerifyBlobOptions): Promise<void>;
  /** uncompressed tar stream (gzip/zstd/none by media type), diffID-verified */
  uncompressed(): Promise<Readable>;
}

/**
 * What every image manifest offers, runnable image or OCI artifact (a signature, an attestation, an
 * SBOM): the raw bytes are the truth, everything else is read from them. Nothing here reads the
 * config or a layer; blobs are fetched, verified, only when asked for.
 */
export interface ManifestFields {
  /** The descriptor this manifest was reached through (an index entry, index.json, or synthesised). */
  readonly descriptor: Descriptor;
  readonly digest: Digest;
  readonly mediaType: string;
  readonly rawManifest: Buffer;
  readonly manifest: ImageManifest;
  /** `artifactType`, or the config media type when that is not an image config (OCI 1.1 rule). */
  readonly artifactType: string | undefined;
  readonly subject: Descriptor | undefined;
  readonly annotations: Readonly<Record<string, string>>;
  readonly configDescriptor: Descriptor;
  /** Layers of any media type (tar layers, DSSE envelopes, SBOM documents...). */
  readonly layerDescriptors: readonly Descriptor[];
  /** A blob this manifest names (config or a layer), as a stream that fails unless size and digest match. */
  blob(digest: Digest): Promise<Readable>;
  /** The config blob, verified and bounded in size. */
  readConfig(): Promise<Buffer>;
}

/** A manifest not (yet) read as a runnable image: any artifact, or an image whose config is unread. */
export interface Manifest extends ManifestFields {
  readonly kind: 'manifest';
  /** Whether this is a runnable image: an OCI or Docker image config and tar layers only. */
  readonly isImage: boolean;
  /** Reads the config as a runnable image config (UNKNOWN_MEDIA_TYPE for an artifact). */
  toImage(): Promise<Image>;
}

/** A runnable image: its config (with `rootfs.diff_ids`) is read and checked against the layers. */
export interface Image extends ManifestFields {
  readonly kind: 'image';
  readonly rawConfig: Buffer;
  readonly config: ImageConfig;
  readonly layers: readonly Layer[];
}

export interface Index {
  readonly kind: 'index';
  readonly descriptor: Descriptor;
  readonly digest: Digest;
  readonly mediaType: string;
  readonly rawManifest: Buffer;
  readonly manifest: IndexManifest;
  readonly artifactType: string | undefined;
  readonly subject: Descriptor | undefined;
  readonly annotations: Readonly<Record<string, string>>;
  /** A child, read lazily: a manifest (config unread) or a nested index. */
  child(descriptor: Descriptor): Promise<Manifest | Index>;
  /** The runnable image a (manifest) descriptor of this index points to. */
  image(descriptor: Descriptor): Promise<Image>;
}

export type ImageOrIndex = Image | Index;
/** Anything a reference can name: a runnable image, an artifact (or unread image) manifest, an index. */
export type OciObject = Image | Manifest | Index;

/** The artifact type of a manifest per OCI image-spec 1.1. */
export function artifactTypeOf(manifest: {
  artifactType?: string | undefined;
  config?: Descriptor;
}): string | undefined {
  if (manifest.artifactType) return manifest.artifactType;
  const configType = manifest.config?.mediaType;
  if (!configType || isImageConfigMediaType(configType) || configType === MediaType.OciEmpty)
    return undefined;
  return configType;
}

/**
 * The manifest entry of an index to use: an explicit platform must match; otherwise the host's
 * platform is preferred and the first entry that can be an image is the fallback. Entries for
 * `unknown/unknown` (attestation manifests stored beside images) are never picked by default.
 */
export function selectIndexEntry(index: Index, platform?: Platform): Descriptor {
  const candidates = index.manifest.manifests.filter((entry) => !isIndexMediaType(entry.mediaType));
  const wanted = platform ?? hostPlatform();
  const match = candidates.find((entry) => entry.platform && platformMatches(entry.platform, wanted));
  if (match) return match;
  const available = candidates.map((entry) => (entry.platform ? formatPlatform(entry.platform) : '?'));
  if (platform) {
    throw new RampartError(
      'MANIFEST_NOT_FOUND',
      `index ${index.digest} has no image for ${formatPlatform(platform)} (available: ${available.join(', ') || 'none'})`,
      { details: { digest: index.digest, platform: formatPlatform(platform), available } },
    );
  }
  const first = candidates.find((entry) => entry.platform?.os !== 'unknown');
  if (!first) {
    throw new RampartError('MANIFEST_NOT_FOUND', `index ${index.digest} lists no image manifests`, {
      details: { digest: index.digest, available },
    });
  }
  return first;
}

/**
 * The image to use from what a reference names: an explicit platform must match; from an index the
 * host's platform is preferred and the first image entry is the fallback. An artifact is refused.
 */
export async function selectImage(x: OciObject, platform?: Platform): Promise<Image> {
  if (x.kind === 'index') return x.image(selectIndexEntry(x, platform));
  const image = x.kind === 'manifest' ? await resolveImage(x) : x;
  if (platform && !platformMatches(image.config, platform)) {
    throw new RampartError(
      'MANIFEST_NOT_FOUND',
      `image ${image.digest} is ${formatPlatform(image.config)}, not ${formatPlatform(platform)}`,
      {
        details: {
          digest: image.digest,
          platform: formatPlatform(platform),
          available: [formatPlatform(image.config)],
        },
      },
    );
  }
  return image;
}

/** Reads a manifest's config as a runnable image config and checks it against the layers. */
export async function resolveImage(manifest: Manifest): Promise<Image> {
  return manifest.toImage();
}

/** What `toImage()` of an artifact throws. */
export function notRunnableImage(manifest: ManifestFields): RampartError {
  return new RampartError(
    'UNKNOWN_MEDIA_TYPE',
    `${manifest.digest} is an artifact (${manifest.artifactType ?? manifest.configDescriptor.mediaType}), not a runnable image`,
    { details: { digest: manifest.digest, mediaType: manifest.configDescriptor.mediaType } },
  );
}

/**
 * The fields every manifest object derives from its raw bytes, with `blob(digest)` limited to the
 * blobs the manifest names (config and layers): `open` is asked only for those.
 */
export function manifestFields(parts: {
  descriptor: Descriptor;
  digest: Digest;
  mediaType: string;
  rawManifest: Buffer;
  manifest: ImageManifest;
  location: string;
  open(descriptor: Descriptor, what: string): Promise<Readable>;
  readConfig(): Promise<Buffer>;
}): ManifestFields {
  const { manifest, digest, location } = parts;
  const named = new Map<string, { descriptor: Descriptor; what: string }>();
  for (const layer of manifest.layers) named.set(layer.digest, { descriptor: layer, what: 'layer' });
  named.set(manifest.config.digest, { descriptor: manifest.config, what: 'config' });
  return {
    descriptor: parts.descriptor,
    digest,
    mediaType: parts.mediaType,
    rawManifest: parts.rawManifest,
    manifest,
    artifactType: artifactTypeOf(manifest),
    subject: manifest.subject,
    annotations: manifest.annotations ?? {},
    configDescriptor: manifest.config,
    layerDescriptors: manifest.layers,
    async blob(wanted) {
      const found = named.get(wanted);
      if (!found) {
        throw new RampartError(
          'BLOB_NOT_FOUND',
          `manifest ${digest} in ${location} names no blob ${wanted}`,
          {
            details: { digest: wanted, location },
          },
        );
      }
      return parts.open(found.descriptor, found.what);
    },
    readConfig: parts.readConfig,
  };
}

/** The descriptor of a top-level manifest that was not reached through one (synthesised or built). */
export function descriptorOf(
  rawManifest: Buffer,
  digest: Digest,
  mediaType: string,
  extra?: Partial<Descriptor>,
): Descriptor {
  return { mediaType, digest, size: rawManifest.length, ...extra };
}
