import type { Digest } from './digest.js';
import { sha256Digest } from './digest.js';
import type { Image, ImageOrIndex, Index, Layer } from './image.js';
import { indexOverChildren } from './in-memory.js';
import { MediaType } from './media-types.js';
import { sniffCompression } from './source.js';
import type { Descriptor, ImageManifest, IndexManifest } from './types.js';

const OCI_LAYER_BY_COMPRESSION = {
  gzip: MediaType.OciLayerGzip,
  zstd: MediaType.OciLayerZstd,
  none: MediaType.OciLayer,
} as const;

/** Docker layer types do not reliably say the compression (docker-archive), so look at the bytes. */
async function ociLayerType(layer: Layer): Promise<string> {
  const { mediaType } = layer.descriptor;
  if (mediaType === MediaType.DockerLayerGzip || mediaType === MediaType.DockerLayer) {
    return OCI_LAYER_BY_COMPRESSION[await sniffCompression(await layer.blob())];
  }
  if (mediaType === 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip') {
    return 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';
  }
  return mediaType;
}

/**
 * Rewrites Docker schema 2 manifests/lists with OCI media types. OCI layout readers (skopeo,
 * containers/image) skip index.json entries with Docker media types, so images bound for a layout
 * need this. Config bytes and layer blobs are untouched, so config digest, diff_ids and layer
 * digests are kept; only manifest digests change. OCI input is returned as is.
 */
export async function toOciMediaTypes(x: ImageOrIndex): Promise<ImageOrIndex> {
  return x.kind === 'image' ? imageToOci(x) : indexToOci(x);
}

async function imageToOci(image: Image): Promise<Image> {
  if (image.mediaType === MediaType.OciManifest) return image;
  const layers: Layer[] = [];
  for (const layer of image.layers) {
    const mediaType = await ociLayerType(layer);
    const descriptor: Descriptor = { ...layer.descriptor, mediaType };
    layers.push({
      descriptor,
      diffID: layer.diffID,
      blob: () => layer.blob(),
      uncompressed: () => layer.uncompressed(),
    });
  }
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { ...image.manifest.config, mediaType: MediaType.OciConfig },
    layers: layers.map((layer) => layer.descriptor),
    ...(image.manifest.annotations ? { annotations: image.manifest.annotations } : {}),
  };
  const rawManifest = Buffer.from(JSON.stringify(manifest));
  return {
    ...image,
    kind: 'image',
    digest: sha256Digest(rawManifest),
    mediaType: MediaType.OciManifest,
    rawManifest,
    manifest,
    layers,
  };
}

async function indexToOci(index: Index): Promise<Index> {
  const children = new Map<Digest, ImageOrIndex>();
  const manifests: Descriptor[] = [];
  let changed = index.mediaType !== MediaType.OciIndex;
  for (const descriptor of index.manifest.manifests) {
    const original = await index.child(descriptor);
    const converted = await toOciMediaTypes(original);
    if (converted !== original) changed = true;
    children.set(converted.digest, converted);
    manifests.push({
      ...descriptor,
      mediaType: converted.mediaType,
      digest: converted.digest,
      size: converted.rawManifest.length,
    });
  }
  if (!changed) return index;
  const manifest: IndexManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests,
    ...(index.manifest.annotations ? { annotations: index.manifest.annotations } : {}),
  };
  return indexOverChildren(manifest, Buffer.from(JSON.stringify(manifest)), children);
}
