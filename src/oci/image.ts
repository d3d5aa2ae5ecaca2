import type { Readable } from 'node:stream';
import { RampartError } from '../errors.js';
import type { Digest } from './digest.js';
import { isIndexMediaType } from './media-types.js';
import { formatPlatform, hostPlatform, platformMatches } from './platform.js';
import type { Descriptor, ImageConfig, ImageManifest, IndexManifest, Platform } from './types.js';

/** One layer of an image (go-containerregistry's v1.Layer). */
export interface Layer {
  readonly descriptor: Descriptor;
  readonly diffID: Digest;
  /** compressed blob, digest-verified while streaming */
  blob(): Promise<Readable>;
  /** uncompressed tar stream (gzip/zstd/none by media type), diffID-verified */
  uncompressed(): Promise<Readable>;
}

export interface Image {
  readonly kind: 'image';
  readonly digest: Digest;
  readonly mediaType: string;
  readonly rawManifest: Buffer;
  readonly manifest: ImageManifest;
  readonly rawConfig: Buffer;
  readonly config: ImageConfig;
  readonly layers: readonly Layer[];
}

export interface Index {
  readonly kind: 'index';
  readonly digest: Digest;
  readonly mediaType: string;
  readonly rawManifest: Buffer;
  readonly manifest: IndexManifest;
  /** The image a (manifest) descriptor of this index points to. */
  image(descriptor: Descriptor): Promise<Image>;
  /** Any child, image or nested index. */
  child(descriptor: Descriptor): Promise<ImageOrIndex>;
}

export type ImageOrIndex = Image | Index;

/**
 * The image to use from an image or index: an explicit platform must match; otherwise the host's
 * platform is preferred and the first image entry is the fallback.
 */
export async function selectImage(x: ImageOrIndex, platform?: Platform): Promise<Image> {
  if (x.kind === 'image') {
    if (platform && !platformMatches(x.config, platform)) {
      throw new RampartError(
        'MANIFEST_NOT_FOUND',
        `image ${x.digest} is ${formatPlatform(x.config)}, not ${formatPlatform(platform)}`,
      );
    }
    return x;
  }
  const candidates = x.manifest.manifests.filter((entry) => !isIndexMediaType(entry.mediaType));
  const wanted = platform ?? hostPlatform();
  const match = candidates.find((entry) => entry.platform && platformMatches(entry.platform, wanted));
  if (match) return x.image(match);
  if (platform) {
    const available = candidates.map((entry) => (entry.platform ? formatPlatform(entry.platform) : '?'));
    throw new RampartError(
      'MANIFEST_NOT_FOUND',
      `index ${x.digest} has no image for ${formatPlatform(platform)} (available: ${available.join(', ') || 'none'})`,
    );
  }
  const first = candidates[0];
  if (!first) throw new RampartError('MANIFEST_NOT_FOUND', `index ${x.digest} lists no image manifests`);
  return x.image(first);
}
