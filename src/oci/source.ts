import type { Readable } from 'node:stream';
import { pipeline as pipelineCallback } from 'node:stream';
import { RampartError } from '../errors.js';
import { createDecompressor } from '../util/decompress.js';
import { startOnRead } from '../util/start-on-read.js';
import type { Digest } from './digest.js';
import { readAll, sha256Digest, verifyingStream } from './digest.js';
import type { Image, ImageOrIndex, Index, Layer } from './image.js';
import type { LayerCompression } from './media-types.js';
import { isIndexMediaType, isManifestMediaType, layerCompression } from './media-types.js';
import type { Descriptor, ImageConfig, ImageManifest } from './types.js';
import { ImageConfigSchema, ImageManifestSchema, IndexManifestSchema, parseJsonBytes } from './types.js';

/**
 * What a transport must provide: raw, unverified blob bytes by digest. Everything else (verification,
 * parsing, layers) is derived here, once, for every transport.
 */
export interface BlobSource {
  /** Names the layout/archive in error messages. */
  readonly location: string;
  /** Opens a blob; throws BLOB_NOT_FOUND when it is absent. */
  openBlob(digest: Digest): Promise<Readable>;
  /**
   * The real compression of a layer blob when its media type does not say it (docker-archive labels
   * uncompressed layers as gzip, as skopeo does, so synthesised manifest digests agree).
   */
  actualCompression?(digest: Digest): LayerCompression | undefined;
}

/** Reads a small blob fully and checks its size and digest. */
export async function readVerifiedBlob(
  source: BlobSource,
  descriptor: Descriptor,
  what: string,
): Promise<Buffer> {
  const label = `${what} ${descriptor.digest} in ${source.location}`;
  const bytes = await readAll(await source.openBlob(descriptor.digest));
  if (bytes.length !== descriptor.size) {
    throw new RampartError(
      'SIZE_MISMATCH',
      `${label}: got ${bytes.length} bytes, expected ${descriptor.size} (truncated or corrupt blob)`,
    );
  }
  const actual = sha256Digest(bytes);
  if (actual !== descriptor.digest) {
    throw new RampartError(
      'DIGEST_MISMATCH',
      `${label}: content has digest ${actual}, expected ${descriptor.digest}`,
    );
  }
  return bytes;
}

/** Opens a blob as a stream that errors at the end if size or digest differ. */
export async function openVerifiedBlob(
  source: BlobSource,
  descriptor: Descriptor,
  what: string,
): Promise<Readable> {
  // Opened now, so a missing blob fails here where the source opens eagerly; read only when the
  // consumer reads. A source whose stream opens lazily may still fail before that: hold the error
  // and hand it to the reader.
  const raw = await source.openBlob(descriptor.digest);
  let earlyError: Error | undefined;
  const holdError = (error: Error): void => {
    earlyError ??= error;
  };
  raw.on('error', holdError);
  return startOnRead(
    () => {
      const verifier = verifyingStream(
        descriptor.digest,
        descriptor.size,
        `${what} ${descriptor.digest} in ${source.location}`,
      );
      raw.off('error', holdError);
      if (earlyError) {
        verifier.destroy(earlyError);
        return verifier;
      }
      raw.on('error', (error) => verifier.destroy(error));
      return raw.pipe(verifier);
    },
    // A consumer that stops early (e.g. sniffing magic bytes) must not leak the file descriptor.
    () => raw.destroy(),
  );
}

/** Loads whatever a descriptor points to: an image (manifest + config eagerly) or an index. */
export async function loadFromDescriptor(source: BlobSource, descriptor: Descriptor): Promise<ImageOrIndex> {
  const raw = await readVerifiedBlob(source, descriptor, 'manifest');
  return loadFromRawManifest(source, raw, descriptor.mediaType);
}

export async function loadFromRawManifest(
  source: BlobSource,
  rawManifest: Buffer,
  descriptorMediaType?: string,
): Promise<ImageOrIndex> {
  const digest = sha256Digest(rawManifest);
  const what = `manifest ${digest} in ${source.location}`;
  const declared = peekMediaType(rawManifest, what) ?? descriptorMediaType;
  if (isIndexMediaType(declared)) return indexFrom(source, rawManifest, digest, declared as string);
  if (isManifestMediaType(declared)) return imageFrom(source, rawManifest, digest, declared as string);
  throw new RampartError(
    'UNKNOWN_MEDIA_TYPE',
    `${what} has unsupported media type '${declared ?? '(none)'}': expected an OCI or Docker schema 2 manifest or index`,
  );
}

function peekMediaType(raw: Buffer, what: string): string | undefined {
  try {
    const value = JSON.parse(raw.toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
    if (typeof value.mediaType === 'string') return value.mediaType;
    return undefined;
  } catch (error) {
    throw new RampartError('MALFORMED_MANIFEST', `${what} is not valid JSON`, { cause: error });
  }
}

function indexFrom(source: BlobSource, rawManifest: Buffer, digest: Digest, mediaType: string): Index {
  const manifest = parseJsonBytes(IndexManifestSchema, rawManifest, `index ${digest} in ${source.location}`);
  const child = (descriptor: Descriptor) => loadFromDescriptor(source, descriptor);
  return {
    kind: 'index',
    digest,
    mediaType,
    rawManifest,
    manifest,
    child,
    async image(descriptor) {
      const loaded = await child(descriptor);
      if (loaded.kind !== 'image') {
        throw new RampartError(
          'UNKNOWN_MEDIA_TYPE',
          `${descriptor.digest} in ${source.location} is an index, not an image`,
        );
      }
      return loaded;
    },
  };
}

async function imageFrom(
  source: BlobSource,
  rawManifest: Buffer,
  digest: Digest,
  mediaType: string,
): Promise<Image> {
  const what = `manifest ${digest} in ${source.location}`;
  const manifest: ImageManifest = parseJsonBytes(ImageManifestSchema, rawManifest, what);
  const rawConfig = await readVerifiedBlob(source, manifest.config, 'config');
  const config: ImageConfig = parseJsonBytes(
    ImageConfigSchema,
    rawConfig,
    `config ${manifest.config.digest} in ${source.location}`,
  );
  const diffIDs = config.rootfs.diff_ids;
  if (diffIDs.length !== manifest.layers.length) {
    throw new RampartError(
      'MALFORMED_MANIFEST',
      `${what} lists ${manifest.layers.length} layers but its config has ${diffIDs.length} diff_ids`,
    );
  }
  const layers = manifest.layers.map((descriptor, i) =>
    sourceLayer(source, descriptor, diffIDs[i] as Digest),
  );
  return { kind: 'image', digest, mediaType, rawManifest, manifest, rawConfig, config, layers };
}

function sourceLayer(source: BlobSource, descriptor: Descriptor, diffID: Digest): Layer {
  const blob = () => openVerifiedBlob(source, descriptor, 'layer');
  return {
    descriptor,
    diffID,
    blob,
    uncompressed: async () =>
      decompressLayer(
        await blob(),
        descriptor,
        diffID,
        `layer ${descriptor.digest} in ${source.location}`,
        source.actualCompression?.(descriptor.digest),
      ),
  };
}

/** Decompresses a layer blob by its media type (or known actual compression) and verifies the result against the diff_id. */
export function decompressLayer(
  blob: Readable,
  descriptor: Descriptor,
  diffID: Digest,
  what: string,
  actualCompression?: LayerCompression,
): Readable {
  const compression = actualCompression ?? layerCompression(descriptor.mediaType);
  if (compression === undefined) {
    blob.destroy();
    throw new RampartError(
      'UNKNOWN_MEDIA_TYPE',
      `${what} has unknown layer media type '${descriptor.mediaType}'`,
    );
  }
  // Decompression starts on the first read, so a failure cannot fire before the consumer listens.
  return startOnRead(
    () => {
      const verifier = verifyingStream(diffID, undefined, `uncompressed ${what} (diff_id)`);
      // The verifier is what the consumer sees, so every failure upstream must reach it named: a raw
      // zlib error ("invalid distance too far back") says neither which layer nor what to do.
      const fail = (error: Error): void => {
        if (verifier.destroyed) return;
        verifier.destroy(
          error instanceof RampartError && error.code !== 'MALFORMED_ARCHIVE'
            ? error
            : new RampartError(
                'MALFORMED_ARCHIVE',
                `${what}: cannot decompress ${compression} data (${error.message}); the blob is corrupt`,
                { cause: error },
              ),
        );
      };
      let decompressed: Readable = blob;
      if (compression === 'none') blob.on('error', fail);
      else {
        const decoder = createDecompressor(compression === 'gzip' ? 'gz' : 'zst');
        decompressed = pipelineCallback(blob, decoder, (error) => {
          if (error) fail(error);
        });
        // pipeline() is done (and stops listening) once the decoder's writable side finishes, but
        // zlib reports a truncated stream ("unexpected end of file") only after that, while
        // flushing: without this listener that error was unhandled and killed the process.
        decoder.on('error', fail);
      }
      // A consumer that stops early must release the blob (and its file descriptor).
      verifier.on('close', () => decompressed.destroy());
      return decompressed.pipe(verifier);
    },
    () => blob.destroy(),
  );
}

/** Compression from a blob's magic bytes: gzip 1f 8b, zstd 28 b5 2f fd, otherwise a plain tar. */
export function compressionFromMagic(head: Uint8Array): LayerCompression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

/** Reads the first bytes of a stream to sniff its compression, then discards the stream. */
export async function sniffCompression(stream: Readable): Promise<LayerCompression> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
    length += (chunk as Buffer).length;
    if (length >= 4) break;
  }
  stream.destroy();
  return compressionFromMagic(Buffer.concat(chunks));
}
