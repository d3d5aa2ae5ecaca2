import type { BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RampartError } from '../errors.js';
import { decompressStream } from '../util/decompress.js';
import { startOnRead } from '../util/start-on-read.js';
import type { Digest } from './digest.js';
import { markVerified, sha256Digest, verifyingStream } from './digest.js';
import type { Image, Index, Layer, Manifest, ManifestFields, OciObject } from './image.js';
import { descriptorOf, manifestFields, notRunnableImage } from './image.js';
import type { LayerCompression } from './media-types.js';
import {
  isImageConfigMediaType,
  isIndexMediaType,
  isManifestMediaType,
  layerCompression,
  MediaType,
} from './media-types.js';
import type { Descriptor, ImageConfig, ImageManifest } from './types.js';
import { ImageConfigSchema, ImageManifestSchema, IndexManifestSchema, parseJsonBytes } from './types.js';

/** Registries refuse manifests (and configs) over 4 MiB; so does rampart, before reading them. */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;
export const MAX_CONFIG_SIZE = 4 * 1024 * 1024;

/** An opened blob: the stream, and its stored size when the transport knows it without reading. */
export interface OpenedBlob {
  stream: Readable;
  size: number | undefined;
  /**
   * The transport already checks this stream against the descriptor it was given (size and digest;
   * a registry client does while it downloads): it is not hashed a second time here.
   */
  verified?: boolean;
}

/** A blob stored as a regular file, opened (`BlobSource.openBlobFile`); the caller closes `handle`. */
export interface BlobFile {
  path: string;
  handle: FileHandle;
  /** Of the open file (bigint: nanosecond times), taken when it was opened. */
  stat: BigIntStats;
}

/**
 * What a transport must provide: raw, unverified blob bytes by digest. Everything else (verification,
 * parsing, layers) is derived here, once, for every transport.
 */
export interface BlobSource {
  /** Names the layout/archive in error messages. */
  readonly location: string;
  /**
   * Opens a blob; throws BLOB_NOT_FOUND when it is absent. Only regular files are blobs. The
   * descriptor, when given, is the one the blob is read through (its size and media type).
   */
  openBlob(digest: Digest, descriptor?: Descriptor): Promise<OpenedBlob>;
  /**
   * Reads a manifest by its descriptor where manifests are not blobs (a registry's
   * `/manifests/<digest>`): the bytes, size- and digest-checked. Absent: read as a blob.
   */
  readManifest?(descriptor: Descriptor): Promise<Buffer>;
  /**
   * Opens the regular file that holds a blob, where a transport stores each blob as one (an OCI
   * layout directory): `verifyBlob` (verified-blob.ts) stats the very file it hashes. Same errors
   * as `openBlob`.
   */
  openBlobFile?(digest: Digest): Promise<BlobFile>;
}

/**
 * Opens a blob whose stored size must be the declared one. A stored size that differs is found
 * before a byte is read: `readVerifiedBlob` throws it, `openVerifiedBlob` hands it to the reader.
 */
async function openSized(
  source: BlobSource,
  descriptor: Descriptor,
  what: string,
): Promise<{ stream: Readable; mismatch?: RampartError; verified?: boolean }> {
  const embedded = embeddedData(descriptor);
  if (embedded) return { stream: Readable.from([embedded]) };
  const { stream, size, verified } = await source.openBlob(descriptor.digest, descriptor);
  if (size === undefined || size === descriptor.size) return { stream, ...(verified ? { verified } : {}) };
  stream.destroy();
  const mismatch = new RampartError(
    'SIZE_MISMATCH',
    `${what} ${descriptor.digest} in ${source.location}: stored size is ${size} bytes, the descriptor says ${descriptor.size}`,
    {
      details: {
        digest: descriptor.digest,
        expected: descriptor.size,
        actual: size,
        location: source.location,
      },
    },
  );
  return { stream: Readable.from([]), mismatch };
}

/** A descriptor's `data` field (OCI 1.1 embedded content), when present and of the declared size. */
function embeddedData(descriptor: Descriptor): Buffer | undefined {
  if (descriptor.data === undefined) return undefined;
  const bytes = Buffer.from(descriptor.data, 'base64');
  // Wrong data is not trusted; the blob store is asked instead (and verified as usual).
  return bytes.length === descriptor.size && sha256Digest(bytes) === descriptor.digest ? bytes : undefined;
}

/**
 * Reads a small blob (manifest, config) fully: refused when its declared size is over `limit`, or its
 * stored size differs, before reading; read no further than the declared size; digest-checked.
 */
export async function readVerifiedBlob(
  source: BlobSource,
  descriptor: Descriptor,
  what: string,
  limit: number = MAX_MANIFEST_SIZE,
): Promise<Buffer> {
  const label = `${what} ${descriptor.digest} in ${source.location}`;
  if (descriptor.size > limit) {
    throw new RampartError(
      'TOO_LARGE',
      `${label} is ${descriptor.size} bytes; a ${what} may be at most ${limit} bytes`,
      { details: { limit, digest: descriptor.digest } },
    );
  }
  const { stream, mismatch } = await openSized(source, descriptor, what);
  if (mismatch) throw mismatch;
  const verifier = verifyingStream(descriptor.digest, descriptor.size, label);
  const chunks: Buffer[] = [];
  await pipeline(stream, verifier, async (verified: AsyncIterable<Buffer>) => {
    for await (const chunk of verified) chunks.push(chunk);
  });
  return Buffer.concat(chunks);
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
  const { stream: raw, mismatch, verified } = await openSized(source, descriptor, what);
  // Checked by the transport against this very descriptor: hashing it again would only cost CPU.
  if (verified && !mismatch) return raw;
  let earlyError: Error | undefined = mismatch;
  const holdError = (error: Error): void => {
    earlyError ??= error;
  };
  raw.on('error', holdError);
  const checked = startOnRead(
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
  // Fails unless the bytes match: a sink writing it need not hash it again.
  return markVerified(checked, descriptor.digest, descriptor.size);
}

/**
 * Reads what a descriptor points to, lazily: an index, or a manifest whose config and layers are not
 * read (an artifact, or an image to resolve with `toImage()`).
 */
export async function loadManifest(source: BlobSource, descriptor: Descriptor): Promise<Manifest | Index> {
  if (descriptor.size > MAX_MANIFEST_SIZE) {
    throw new RampartError(
      'TOO_LARGE',
      `manifest ${descriptor.digest} in ${source.location} is ${descriptor.size} bytes; a manifest may be at most ${MAX_MANIFEST_SIZE} bytes`,
      { details: { limit: MAX_MANIFEST_SIZE, digest: descriptor.digest } },
    );
  }
  const raw = source.readManifest
    ? await source.readManifest(descriptor)
    : await readVerifiedBlob(source, descriptor, 'manifest', MAX_MANIFEST_SIZE);
  return manifestFromRaw(source, raw, descriptor);
}

/** As loadManifest, but a runnable image is resolved (config read and checked) at once. */
export async function loadFromDescriptor(source: BlobSource, descriptor: Descriptor): Promise<OciObject> {
  return resolveIfImage(await loadManifest(source, descriptor));
}

export async function resolveIfImage(x: Manifest | Index): Promise<OciObject> {
  return x.kind === 'manifest' && x.isImage ? x.toImage() : x;
}

/** Parses raw manifest bytes from `source`; `descriptor` is the one they were reached through, if any. */
export function manifestFromRaw(
  source: BlobSource,
  rawManifest: Buffer,
  descriptor?: Descriptor,
): Manifest | Index {
  const digest = sha256Digest(rawManifest);
  const what = `manifest ${digest} in ${source.location}`;
  if (rawManifest.length > MAX_MANIFEST_SIZE) {
    throw new RampartError('TOO_LARGE', `${what} is over ${MAX_MANIFEST_SIZE} bytes`, {
      details: { limit: MAX_MANIFEST_SIZE, digest },
    });
  }
  const declared = peekMediaType(rawManifest, what) ?? descriptor?.mediaType;
  const reachedThrough = descriptor ?? descriptorOf(rawManifest, digest, declared ?? MediaType.OciManifest);
  if (isIndexMediaType(declared)) {
    return indexFrom(source, rawManifest, digest, declared as string, reachedThrough);
  }
  if (isManifestMediaType(declared)) {
    return manifestFrom(source, rawManifest, digest, declared as string, reachedThrough);
  }
  throw new RampartError(
    'UNKNOWN_MEDIA_TYPE',
    `${what} has unsupported media type '${declared ?? '(none)'}': expected an OCI or Docker schema 2 manifest or index`,
    { details: { ...(declared ? { mediaType: declared } : {}), digest, location: source.location } },
  );
}

function peekMediaType(raw: Buffer, what: string): string | undefined {
  try {
    const value = JSON.parse(raw.toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
    if (typeof value.mediaType === 'string') return value.mediaType;
    return undefined;
  } catch (error) {
    throw new RampartError('MALFORMED_MANIFEST', `${what} is not valid JSON`, {
      cause: error,
      details: { location: what },
    });
  }
}

function indexFrom(
  source: BlobSource,
  rawManifest: Buffer,
  digest: Digest,
  mediaType: string,
  descriptor: Descriptor,
): Index {
  const manifest = parseJsonBytes(IndexManifestSchema, rawManifest, `index ${digest} in ${source.location}`);
  const child = (entry: Descriptor) => loadManifest(source, entry);
  return {
    kind: 'index',
    descriptor,
    digest,
    mediaType,
    rawManifest,
    manifest,
    artifactType: manifest.artifactType,
    subject: manifest.subject,
    annotations: manifest.annotations ?? {},
    child,
    async image(entry) {
      const loaded = await child(entry);
      if (loaded.kind !== 'manifest') {
        throw new RampartError(
          'UNKNOWN_MEDIA_TYPE',
          `${entry.digest} in ${source.location} is an index, not an image`,
          { details: { digest: entry.digest, mediaType: loaded.mediaType, location: source.location } },
        );
      }
      return loaded.toImage();
    },
  };
}

function manifestFrom(
  source: BlobSource,
  rawManifest: Buffer,
  digest: Digest,
  mediaType: string,
  descriptor: Descriptor,
): Manifest {
  const what = `manifest ${digest} in ${source.location}`;
  const manifest: ImageManifest = parseJsonBytes(ImageManifestSchema, rawManifest, what);
  const readConfig = () => readVerifiedBlob(source, manifest.config, 'config', MAX_CONFIG_SIZE);
  const fields = manifestFields({
    descriptor,
    digest,
    mediaType,
    rawManifest,
    manifest,
    location: source.location,
    open: (blob, kind) => openVerifiedBlob(source, blob, kind),
    readConfig,
  });
  let image: Promise<Image> | undefined;
  // Runnable: an image config and tar layers only. cosign signatures and attestations use an image
  // config media type over simple-signing or DSSE layers: those are artifacts.
  const isImage =
    isImageConfigMediaType(manifest.config.mediaType) &&
    manifest.layers.every((layer) => layerCompression(layer.mediaType) !== undefined);
  const self: Manifest = {
    ...fields,
    kind: 'manifest',
    isImage,
    toImage() {
      if (!isImage) return Promise.reject(notRunnableImage(self));
      image ??= readConfig().then((rawConfig) => imageFrom(source, fields, rawConfig));
      return image;
    },
  };
  return self;
}

/** A runnable image from a manifest's fields and its (verified) config bytes: today's checks. */
export function imageFrom(source: BlobSource, fields: ManifestFields, rawConfig: Buffer): Image {
  const { manifest, digest } = fields;
  const config: ImageConfig = parseJsonBytes(
    ImageConfigSchema,
    rawConfig,
    `config ${manifest.config.digest} in ${source.location}`,
  );
  const diffIDs = config.rootfs.diff_ids;
  if (diffIDs.length !== manifest.layers.length) {
    throw new RampartError(
      'MALFORMED_MANIFEST',
      `manifest ${digest} in ${source.location} lists ${manifest.layers.length} layers but its config has ${diffIDs.length} diff_ids`,
      { details: { digest, location: source.location, field: 'rootfs.diff_ids' } },
    );
  }
  const layers = manifest.layers.map((descriptor, i) =>
    sourceLayer(source, descriptor, diffIDs[i] as Digest),
  );
  return { ...fields, kind: 'image', rawConfig, config, layers };
}

function sourceLayer(source: BlobSource, descriptor: Descriptor, diffID: Digest): Layer {
  const blob = () => openVerifiedBlob(source, descriptor, 'layer');
  return {
    descriptor,
    diffID,
    blob,
    verifyBlob: async (options) =>
      (await import('./verified-blob.js')).verifyBlob(source, descriptor, options),
    uncompressed: async () =>
      decompressLayer(await blob(), descriptor, diffID, `layer ${descriptor.digest} in ${source.location}`),
  };
}

/** Decompresses a layer blob by its media type and verifies the result against the diff_id. */
export function decompressLayer(
  blob: Readable,
  descriptor: Descriptor,
  diffID: Digest,
  what: string,
): Readable {
  const compression = layerCompression(descriptor.mediaType);
  if (compression === undefined) {
    blob.destroy();
    throw new RampartError(
      'UNKNOWN_MEDIA_TYPE',
      `${what} has unknown layer media type '${descriptor.mediaType}'`,
      { details: { mediaType: descriptor.mediaType, digest: descriptor.digest } },
    );
  }
  // Decompression starts on the first read, so a failure cannot fire before the consumer listens.
  return startOnRead(
    () => {
      const verifier = verifyingStream(diffID, undefined, `uncompressed ${what} (diff_id)`);
      // The verifier is what the consumer sees, so every failure upstream must reach it named: a raw
      // zlib error ("invalid distance too far back") says neither which layer nor what to do.
      const fail = (error: Error): void => {
        if (!verifier.destroyed) verifier.destroy(error);
      };
      let decompressed: Readable = blob;
      if (compression === 'none') blob.on('error', fail);
      else {
        decompressed = decompressStream(
          blob,
          compression === 'gzip' ? 'gz' : 'zst',
          { label: what, digest: descriptor.digest },
          fail,
        );
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
