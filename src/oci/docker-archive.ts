import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { RampartError } from '../errors.js';
import { writeStreamAtomic } from '../util/atomic-file.js';
import type { Digest } from './digest.js';
import { digestHex, digestStream, readAll, sha256Digest } from './digest.js';
import type { Image } from './image.js';
import type { LayerCompression } from './media-types.js';
import { MediaType } from './media-types.js';
import { formatImageReference, parseImageReference } from './reference.js';
import type { BlobSource } from './source.js';
import { compressionFromMagic, loadFromRawManifest } from './source.js';
import type { TarEntry } from './tar-index.js';
import { TarIndex } from './tar-index.js';
import type { PackEntry } from './tar-pack.js';
import { writeTarAtomic } from './tar-pack.js';
import type { Descriptor } from './types.js';
import { ImageConfigSchema, parseJsonBytes } from './types.js';

/**
 * skopeo (containers/image) labels every docker-archive layer with the gzip media type, even the
 * uncompressed tars; doing the same makes our synthesised manifest digest equal to skopeo's. The real
 * compression is sniffed and used for decompression.
 */
const DOCKER_ARCHIVE_LAYER_TYPE = MediaType.DockerLayerGzip;

const DockerSaveManifestSchema = z.array(
  z.looseObject({
    Config: z.string(),
    RepoTags: z.array(z.string()).nullish(),
    Layers: z.array(z.string()),
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

/** Opens a `docker save` archive; `reference` (NAME[:TAG]) picks among several images. */
export async function openDockerArchive(file: string, reference?: string): Promise<Image> {
  const archive = await TarIndex.open(file);
  const manifestEntry = archive.find('manifest.json');
  if (!manifestEntry) {
    throw new RampartError(
      'MALFORMED_ARCHIVE',
      `${file} has no manifest.json; is it a 'docker save' archive?`,
    );
  }
  const entries = parseJsonBytes(
    DockerSaveManifestSchema,
    await readAll(archive.openEntry(manifestEntry)),
    `manifest.json of ${file}`,
  );
  const chosen = chooseEntry(entries, file, reference);
  const configEntry = requireEntry(archive, chosen.Config, file);
  const rawConfig = await readAll(archive.openEntry(configEntry));
  const config = parseJsonBytes(ImageConfigSchema, rawConfig, `config ${chosen.Config} in ${file}`);
  const blobs = new Map<Digest, { entry: TarEntry; compression: LayerCompression }>();
  const configDescriptor: Descriptor = {
    mediaType: MediaType.DockerConfig,
    size: rawConfig.length,
    digest: sha256Digest(rawConfig),
  };
  blobs.set(configDescriptor.digest, { entry: configEntry, compression: 'none' });
  const layers: Descriptor[] = [];
  for (const [i, path] of chosen.Layers.entries()) {
    const entry = requireEntry(archive, path, file);
    const compression = compressionFromMagic(await archive.peek(entry, 4));
    const diffID = config.rootfs.diff_ids[i];
    let descriptor: Descriptor;
    if (compression === 'none') {
      // An uncompressed layer's blob digest is its diff_id; reading verifies it.
      if (!diffID)
        throw new RampartError('MALFORMED_ARCHIVE', `${file}: config has no diff_id for layer ${path}`);
      descriptor = { mediaType: DOCKER_ARCHIVE_LAYER_TYPE, size: entry.size, digest: diffID };
    } else {
      const mediaType = compression === 'zstd' ? MediaType.OciLayerZstd : MediaType.DockerLayerGzip;
      descriptor = { mediaType, ...(await digestStream(archive.openEntry(entry))) };
    }
    blobs.set(descriptor.digest, { entry, compression });
    layers.push(descriptor);
  }
  const source: BlobSource = {
    location: `docker archive ${file}`,
    async openBlob(digest) {
      const blob = blobs.get(digest);
      if (!blob) throw new RampartError('BLOB_NOT_FOUND', `blob ${digest} is not in docker archive ${file}`);
      return archive.openEntry(blob.entry);
    },
    actualCompression: (digest) => blobs.get(digest)?.compression,
  };
  const image = await loadFromRawManifest(source, synthesizeDockerManifest(configDescriptor, layers));
  if (image.kind !== 'image') throw new RampartError('MALFORMED_ARCHIVE', `${file}: expected a single image`);
  return image;
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
    if (!match) throw new RampartError('MANIFEST_NOT_FOUND', `${file} has no image tagged '${reference}'`);
    return match;
  }
  const [only, ...rest] = entries;
  if (!only) throw new RampartError('MALFORMED_ARCHIVE', `${file}: manifest.json lists no images`);
  if (rest.length > 0) {
    const tags = entries.flatMap((entry) => entry.RepoTags ?? []);
    throw new RampartError(
      'MANIFEST_NOT_FOUND',
      `${file} holds ${entries.length} images; pick one with docker-archive:${file}:NAME:TAG (tags: ${tags.join(', ') || 'none'})`,
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
    );
  return entry;
}

/**
 * Writes one image as a `docker save` archive (loadable by `docker load`/`podman load`). The config
 * bytes are kept (same image ID and diff_ids); layers are stored uncompressed, so the layer blob
 * digests become the diff_ids and the synthesised manifest digest differs from the source's.
 * Returns the manifest digest that reading the archive back yields.
 */
export async function writeDockerArchive(file: string, image: Image, repoTag?: string): Promise<Digest> {
  const staging = await mkdtemp(join(dirname(resolve(file)), '.rampart-docker-'));
  try {
    const configName = `${digestHex(sha256Digest(image.rawConfig))}.json`;
    const entries: PackEntry[] = [{ name: configName, open: async () => image.rawConfig }];
    const layerNames: string[] = [];
    const layerDescriptors: Descriptor[] = [];
    // An image may repeat a layer (same diff_id); the archive stores it once.
    const sizeByName = new Map<string, number>();
    for (const layer of image.layers) {
      const name = `${digestHex(layer.diffID)}.tar`;
      let size = sizeByName.get(name);
      if (size === undefined) {
        const path = join(staging, name);
        await writeStreamAtomic(path, await layer.uncompressed());
        size = (await stat(path)).size;
        sizeByName.set(name, size);
        entries.push({ name, size, open: async () => createReadStream(path) });
      }
      layerNames.push(name);
      layerDescriptors.push({ mediaType: DOCKER_ARCHIVE_LAYER_TYPE, digest: layer.diffID, size });
    }
    const hasTag = repoTag !== undefined && repoTag.lastIndexOf(':') > repoTag.lastIndexOf('/');
    const repoTags = repoTag ? [hasTag ? repoTag : `${repoTag}:latest`] : null;
    const saveManifest = [{ Config: configName, RepoTags: repoTags, Layers: layerNames }];
    entries.push({ name: 'manifest.json', open: async () => Buffer.from(JSON.stringify(saveManifest)) });
    await writeTarAtomic(file, entries);
    const config: Descriptor = {
      mediaType: MediaType.DockerConfig,
      size: image.rawConfig.length,
      digest: sha256Digest(image.rawConfig),
    };
    return sha256Digest(synthesizeDockerManifest(config, layerDescriptors));
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
