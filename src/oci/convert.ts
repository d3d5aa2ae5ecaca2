import { MediaType } from './media-types.js';
import type { Descriptor, ImageManifest, IndexManifest } from './types.js';

/**
 * Docker schema 2 media types and their OCI equivalents. Media types say the truth about each blob
 * (docker-archive reports a plain tar as a plain tar), so converting is a lookup, never a sniff.
 */
const OCI_TYPE_FOR_DOCKER: Readonly<Record<string, string>> = {
  [MediaType.DockerManifest]: MediaType.OciManifest,
  [MediaType.DockerManifestList]: MediaType.OciIndex,
  [MediaType.DockerConfig]: MediaType.OciConfig,
  [MediaType.DockerLayerGzip]: MediaType.OciLayerGzip,
  [MediaType.DockerLayer]: MediaType.OciLayer,
  [MediaType.DockerForeignLayerGzip]: MediaType.OciNondistributableLayerGzip,
};

export function ociMediaType(mediaType: string): string {
  return OCI_TYPE_FOR_DOCKER[mediaType] ?? mediaType;
}

export function needsOciConversion(mediaType: string): boolean {
  return mediaType === MediaType.DockerManifest || mediaType === MediaType.DockerManifestList;
}

/**
 * A Docker schema 2 manifest rewritten with OCI media types. OCI layout readers (skopeo,
 * containers/image) skip index.json entries with Docker media types, so images bound for a layout
 * need this. Config bytes and layer blobs are untouched, so config digest, diff_ids and layer
 * digests are kept; only the manifest digest changes.
 */
export function toOciManifest(manifest: ImageManifest): ImageManifest {
  const retype = (descriptor: Descriptor): Descriptor => ({
    ...descriptor,
    mediaType: ociMediaType(descriptor.mediaType),
  });
  return {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    ...(manifest.artifactType ? { artifactType: manifest.artifactType } : {}),
    config: retype(manifest.config),
    layers: manifest.layers.map(retype),
    ...(manifest.subject ? { subject: manifest.subject } : {}),
    ...(manifest.annotations ? { annotations: manifest.annotations } : {}),
  };
}

/** An index (or Docker manifest list) over converted children, with the OCI index media type. */
export function toOciIndex(index: IndexManifest, manifests: Descriptor[]): IndexManifest {
  return {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    ...(index.artifactType ? { artifactType: index.artifactType } : {}),
    manifests,
    ...(index.subject ? { subject: index.subject } : {}),
    ...(index.annotations ? { annotations: index.annotations } : {}),
  };
}
