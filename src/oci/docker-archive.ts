import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { PassThrough, Transform } from 'node:stream';
import type * as z from 'zod/mini';
import { RampartError } from '../errors.js';
import { writeStreamAtomic } from '../util/atomic-file.js';
import { decompressStream } from '../util/decompress.js';
import { stagingDirPrefix } from '../util/staging.js';
import { startOnRead } from '../util/start-on-read.js';
import { array, looseObject, nullish, string } from '../util/zod.js';
import type { Digest } from './digest.js';
import { digestHex, digestStream, readAll, sha256Digest, verifyingStream } from './digest.js';
import type { Image } from './image.js';
import type { LayerCompression } from './media-types.js';
import { isImageConfigMediaType, layerCompression, MediaType } from './media-types.js';
import { formatImageReference, parseImageReference } from './reference.js';
import type { ImageSink } from './sink.js';
import type { BlobSource } from './source.js';
import { compressionFromMagic, imageFrom, MAX_CONFIG_SIZE, manifestFromRaw } from './source.js';
import type { TarEntry } from './tar-index.js';
import { TarIndex } from './tar-index.js';
import type { PackEntry } from './tar-pack.js';
import { writeTarAtomic } from './tar-pack.js';
import type { Descriptor } from './types.js';
import { ImageConfigSchema, ImageManifestSchema, parseJsonBytes } from './types.js';

/**
 * The media type a docker-archive layer file really has, from its magic bytes: the archive says
 * nothing, and a reader (or writer) downstream must be able to trust the media type. skopeo labels
 * every layer gzip, so a synthesised manifest over plain tars differs from skopeo's by design.
 */
function dockerArchiveLayerType(compression: LayerCompression): string {
  if (compression === 'none') return MediaType.DockerLayer;
  return compression === 'zstd' ? MediaType.OciLayerZstd : MediaType.DockerLayerGzip;
}

const DockerSaveManifestSchema = array(
  looseObject({
    Config: string(),
    RepoTags: nullish(array(string())),
    Layers: array(string()),
  }),
);

/**
 * The Docker schema 2 manifest describing a `docker save` image: the archive has no manifest of its
 * own, so one is synthesised (as skopeo does). Key order is fixed so the digest is stable.
 */
export function synthesizeDockerManifest(config: Descriptor, layers: readonly Descriptor[]): Buffer {
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.DockerManifest,
    config: { mediaType: config.mediaType, size: config.size, digest: config.digest },
    layers: layers.map((layer) => ({ mediaType: layer.mediaType, size: layer.size, digest: layer.digest })),
  };
  return Buffer.from(JSON.stringify(manifest));
}

/** Reads a small archive member (manifest.json, a config), refusing one over the manifest ceiling. */
async function readSmallEntry(archive: TarIndex, entry: TarEntry, file: string): Promise<Buffer> {
  if (entry.size > MAX_CONFIG_SIZE) {
    throw new RampartError(
      'TOO_LARGE',
      `${entry.name} in ${file} is ${entry.size} bytes; at most ${MAX_CONFIG_SIZE} are read`,
      { details: { limit: MAX_CONFIG_SIZE, path: `${file}:${entry.name}` } },
    );
  }
  return readAll(archive.openEntry(entry));
}

/** Opens a `docker save` archive; `reference` (NAME[:TAG]) picks among several images. */
export async function openDockerArchive(file: string, reference?: string): Promise<Image> {
  const archive = await TarIndex.open(file);
  const manifestEntry = archive.find('manifest.json');
  if (!manifestEntry) {
    throw new RampartError(
      'MALFORMED_ARCHIVE',
      `${file} has no manifest.json; is it a 'docker save' archive?`,
      { details: { path: file, format: 'docker-archive' } },
    );
  }
  const entries = parseJsonBytes(
    DockerSaveManifestSchema,
    await readSmallEntry(archive, manifestEntry, file),
    `manifest.json of ${file}`,
  );
  const chosen = chooseEntry(entries, file, reference);
  const configEntry = requireEntry(archive, chosen.Config, file);
  const rawConfig = await readSmallEntry(archive, configEntry, file);
  const config = parseJsonBytes(ImageConfigSchema, rawConfig, `config ${chosen.Config} in ${file}`);
  const blobs = new Map<Digest, TarEntry>();
  const configDescriptor: Descriptor = {
    mediaType: MediaType.DockerConfig,
    size: rawConfig.length,
    digest: sha256Digest(rawConfig),
  };
  blobs.set(configDescriptor.digest, configEntry);
  const layers: Descriptor[] = [];
  for (const [i, path] of chosen.Layers.entries()) {
    const entry = requireEntry(archive, path, file);
    const compression = compressionFromMagic(await archive.peek(entry, 4));
    const diffID = config.rootfs.diff_ids[i];
    let descriptor: Descriptor;
    if (compression === 'none') {
      // An uncompressed layer's blob digest is its diff_id; reading verifies it.
      if (!diffID)
        throw new RampartError('MALFORMED_ARCHIVE', `${file}: config has no diff_id for layer ${path}`, {
          details: { path: file, format: 'docker-archive' },
        });
      descriptor = { mediaType: dockerArchiveLayerType(compression), size: entry.size, digest: diffID };
    } else {
      descriptor = {
        mediaType: dockerArchiveLayerType(compression),
        ...(await digestStream(archive.openEntry(entry))),
      };
    }
    blobs.set(descriptor.digest, entry);
    layers.push(descriptor);
  }
  const location = `docker archive ${file}`;
  const source: BlobSource = {
    location,
    async openBlob(digest) {
      const entry = blobs.get(digest);
      if (!entry) {
        throw new RampartError('BLOB_NOT_FOUND', `blob ${digest} is not in docker archive ${file}`, {
          details: { digest, location },
        });
      }
      return { stream: archive.openEntry(entry), size: entry.size };
    },
  };
  const manifest = manifestFromRaw(source, synthesizeDockerManifest(configDescriptor, layers));
  if (manifest.kind !== 'manifest') {
    throw new RampartError('MALFORMED_ARCHIVE', `${file}: expected a single image`, {
      details: { path: file, format: 'docker-archive' },
    });
  }
  // The config was read above (bounded); it is the image's own, digest computed from these bytes.
  return imageFrom(source, manifest, rawConfig);
}

function chooseEntry(
  entries: z.infer<typeof DockerSaveManifestSchema>,
  file: string,
  reference: string | undefined,
): z.infer<typeof DockerSaveManifestSchema>[number] {
  if (reference) {
    const wanted = normalizeRepoTag(reference);
    const match = entries.find((entry) =>
      (entry.RepoTags ?? []).some((tag) => normalizeRepoTag(tag) === wanted),
    );
    if (!match) {
      throw new RampartError('MANIFEST_NOT_FOUND', `${file} has no image tagged '${reference}'`, {
        details: { reference, available: entries.flatMap((entry) => entry.RepoTags ?? []) },
      });
    }
    return match;
  }
  const [only, ...rest] = entries;
  if (!only) {
    throw new RampartError('MALFORMED_ARCHIVE', `${file}: manifest.json lists no images`, {
      details: { path: file, format: 'docker-archive' },
    });
  }
  if (rest.length > 0) {
    const tags = entries.flatMap((entry) => entry.RepoTags ?? []);
    throw new RampartError(
      'MANIFEST_NOT_FOUND',
      `${file} holds ${entries.length} images; pick one with docker-archive:${file}:NAME:TAG (tags: ${tags.join(', ') || 'none'})`,
      { details: { reference: file, available: tags } },
    );
  }
  return only;
}

function normalizeRepoTag(value: string): string {
  try {
    return formatImageReference(parseImageReference(value));
  } catch {
    // A RepoTags entry we cannot parse can still be matched literally; it is not the user's error.
    return value;
  }
}

function requireEntry(archive: TarIndex, path: string, file: string): TarEntry {
  const entry = archive.find(path);
  if (!entry)
    throw new RampartError(
      'MALFORMED_ARCHIVE',
      `${file}: manifest.json names ${path}, which is not in the archive`,
      { details: { path: file, format: 'docker-archive' } },
    );
  return entry;
}

/**
 * A `docker save` archive (loadable by `docker load`/`podman load`) as a sink holding one image. The
 * config bytes are kept (same image ID and diff_ids); layers are stored uncompressed, as the format
 * wants: each layer blob is checked against its digest and decompressed by its media type into
 * staging beside `file`, and its tar checked against the config's diff_id. The archive is written
 * on close, to a temp file renamed over `file`. The manifest a reader synthesises labels each layer
 * as the plain tar it is, so its digest differs from the source's.
 */
export async function openDockerArchiveSink(file: string): Promise<ImageSink> {
  const staging = await mkdtemp(join(dirname(resolve(file)), stagingDirPrefix('docker')));
  const location = `docker archive ${file}`;
  const layers = new Map<Digest, { path: string; diffID: Digest; size: number }>();
  const configs = new Map<Digest, Buffer>();
  let pending: { entries: PackEntry[] } | undefined;

  return {
    location,
    storesIndex: false,
    wantsOciMediaTypes: false,
    async hasBlob(descriptor) {
      return layers.has(descriptor.digest) || configs.has(descriptor.digest);
    },
    async putBlob(descriptor, stream) {
      const what = `blob ${descriptor.digest} for ${location}`;
      if (isImageConfigMediaType(descriptor.mediaType)) {
        if (descriptor.size > MAX_CONFIG_SIZE) {
          stream.destroy();
          throw new RampartError('TOO_LARGE', `${what}: a config may be at most ${MAX_CONFIG_SIZE} bytes`, {
            details: { limit: MAX_CONFIG_SIZE, digest: descriptor.digest },
          });
        }
        const verified = stream.pipe(verifyingStream(descriptor.digest, descriptor.size, what));
        stream.on('error', (error) => verified.destroy(error));
        configs.set(descriptor.digest, await readAll(verified));
        return;
      }
      if (layerCompression(descriptor.mediaType) === undefined) {
        stream.destroy();
        throw new RampartError(
          'UNKNOWN_MEDIA_TYPE',
          `${location} holds runnable images only; blob ${descriptor.digest} is '${descriptor.mediaType}'`,
          { details: { mediaType: descriptor.mediaType, digest: descriptor.digest, location } },
        );
      }
      // The diff_id is checked when the manifest names this layer; here the tar is hashed as written.
      const path = join(staging, `${digestHex(descriptor.digest)}.tar`);
      const hashing = createHash('sha256');
      let size = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hashing.update(chunk);
          size += chunk.length;
          callback(null, chunk);
        },
      });
      // Started on the first read: writeStreamAtomic opens its temp file first, and an error
      // emitted before it listens would reach nobody.
      const tarStream = startOnRead(
        () => {
          const verified = stream.pipe(verifyingStream(descriptor.digest, descriptor.size, what));
          stream.on('error', (error) => verified.destroy(error));
          return decompressBlob(verified, descriptor, what);
        },
        () => stream.destroy(),
      );
      await writeStreamAtomic(path, tarStream, counter);
      layers.set(descriptor.digest, { path, diffID: `sha256:${hashing.digest('hex')}`, size });
    },
    async putManifest(raw, _mediaType, tag, options = {}) {
      if (options.child) {
        throw new RampartError('UNSUPPORTED_OPERATION', `${location} holds one image, not an index`, {
          details: { operation: 'write index', reference: file },
        });
      }
      const manifest = parseJsonBytes(ImageManifestSchema, raw, `manifest ${sha256Digest(raw)}`);
      const rawConfig = configs.get(manifest.config.digest);
      if (!rawConfig) {
        throw new RampartError(
          'BLOB_NOT_FOUND',
          `${location}: the config ${manifest.config.digest} was not written`,
          {
            details: { digest: manifest.config.digest, location },
          },
        );
      }
      const config = parseJsonBytes(ImageConfigSchema, rawConfig, `config ${manifest.config.digest}`);
      const configName = `${digestHex(manifest.config.digest)}.json`;
      const entries: PackEntry[] = [{ name: configName, open: async () => rawConfig }];
      const layerNames: string[] = [];
      const layerDescriptors: Descriptor[] = [];
      const named = new Set<string>();
      for (const [i, descriptor] of manifest.layers.entries()) {
        const layer = layers.get(descriptor.digest);
        const diffID = config.rootfs.diff_ids[i];
        if (!layer) {
          throw new RampartError(
            'BLOB_NOT_FOUND',
            `${location}: layer ${descriptor.digest} was not written`,
            {
              details: { digest: descriptor.digest, location },
            },
          );
        }
        if (layer.diffID !== diffID) {
          throw new RampartError(
            'DIGEST_MISMATCH',
            `${location}: layer ${descriptor.digest} uncompresses to ${layer.diffID}, but the config's diff_id ${i} is ${diffID ?? '(none)'}`,
            { details: { expected: diffID ?? '(none)', actual: layer.diffID, location } },
          );
        }
        // An image may repeat a layer (same diff_id); the archive stores it once.
        const name = `${digestHex(layer.diffID)}.tar`;
        if (!named.has(name)) {
          named.add(name);
          entries.push({ name, size: layer.size, open: async () => createReadStream(layer.path) });
        }
        layerNames.push(name);
        layerDescriptors.push({ mediaType: MediaType.DockerLayer, digest: layer.diffID, size: layer.size });
      }
      const hasTag = tag !== undefined && tag.lastIndexOf(':') > tag.lastIndexOf('/');
      const repoTags = tag ? [hasTag ? tag : `${tag}:latest`] : null;
      const saveManifest = [{ Config: configName, RepoTags: repoTags, Layers: layerNames }];
      entries.push({ name: 'manifest.json', open: async () => Buffer.from(JSON.stringify(saveManifest)) });
      pending = { entries };
      const configDescriptor: Descriptor = {
        mediaType: MediaType.DockerConfig,
        size: rawConfig.length,
        digest: manifest.config.digest,
      };
      return sha256Digest(synthesizeDockerManifest(configDescriptor, layerDescriptors));
    },
    async close() {
      try {
        if (!pending) {
          throw new RampartError('USAGE', `nothing was written to ${location}`, { details: { value: file } });
        }
        await writeTarAtomic(file, pending.entries);
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
    },
    async abort() {
      await rm(staging, { recursive: true, force: true });
    },
  };
}

/** A layer blob's tar stream, decompressed by its (true) media type; errors name the blob. */
function decompressBlob(blob: Readable, descriptor: Descriptor, what: string): Readable {
  const compression = layerCompression(descriptor.mediaType);
  if (compression === 'none' || compression === undefined) return blob;
  // Outside the pipeline, so the error it gets is the named one.
  const out = new PassThrough();
  decompressStream(
    blob,
    compression === 'gzip' ? 'gz' : 'zst',
    { label: what, digest: descriptor.digest },
    (error) => {
      if (!out.destroyed) out.destroy(error);
    },
  ).pipe(out);
  return out;
}
