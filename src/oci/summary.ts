import type { Digest } from './digest.js';
import type { Manifest, OciObject } from './image.js';
import { selectImage } from './image.js';
import { formatPlatform, hostPlatform } from './platform.js';
import { collectRootfsEntries } from './rootfs-source.js';
import type { Descriptor, Platform } from './types.js';

/** What `rampart inspect -o json` prints; the shape is a public contract. */
export interface ImageSummary {
  reference: string;
  digest: Digest;
  mediaType: string;
  manifests?: Array<{ digest: Digest; platform: string | null }>;
  config: {
    platform: string;
    created: string | null;
    user: string | null;
    entrypoint: string[] | null;
    cmd: string[] | null;
    env: string[];
    workdir: string | null;
    labels: Record<string, string>;
  };
  layers: Array<{ digest: Digest; size: number; diffID: Digest; mediaType: string }>;
}

/**
 * Summarises an image, or an index plus the image chosen for `platform` (default: the host's, else
 * the first entry).
 */
export async function summarizeImage(
  reference: string,
  x: OciObject,
  platform?: Platform,
): Promise<ImageSummary> {
  const image = await selectImage(x, platform);
  const container = image.config.config ?? {};
  return {
    reference,
    digest: x.digest,
    mediaType: x.mediaType,
    ...(x.kind === 'index'
      ? {
          manifests: x.manifest.manifests.map((entry) => ({
            digest: entry.digest,
            platform: entry.platform ? formatPlatform(entry.platform) : null,
          })),
        }
      : {}),
    config: {
      platform: formatPlatform(image.config),
      created: image.config.created ?? null,
      user: container.User || null,
      entrypoint: container.Entrypoint ?? null,
      cmd: container.Cmd ?? null,
      env: container.Env ?? [],
      workdir: container.WorkingDir || null,
      labels: container.Labels ?? {},
    },
    layers: image.layers.map((layer) => ({
      digest: layer.descriptor.digest,
      size: layer.descriptor.size,
      diffID: layer.diffID,
      mediaType: layer.descriptor.mediaType,
    })),
  };
}

/** Bytes of the layer blobs of the summarised image (what a pull transfers, config excluded). */
export function totalLayerSize(summary: ImageSummary): number {
  return summary.layers.reduce((sum, layer) => sum + layer.size, 0);
}

/** What `rampart inspect dir:PATH` prints: a root filesystem's shape, without building its layer. */
export interface RootfsSummary {
  reference: string;
  kind: 'rootfs';
  /** The platform a copy of this directory gets (the host's). */
  platform: string;
  entries: { files: number; directories: number; symlinks: number; hardlinks: number };
  /** Bytes of the regular files. */
  size: number;
}

/**
 * Summarises a root filesystem directory from one walk. Its image digest needs the whole tree
 * packed and compressed, so it is computed only when asked for (`--raw`, `copy`).
 */
export async function summarizeRootfsDirectory(reference: string, root: string): Promise<RootfsSummary> {
  const entries = { files: 0, directories: 0, symlinks: 0, hardlinks: 0 };
  let size = 0;
  for (const entry of await collectRootfsEntries(root)) {
    if (entry.type === 'file') {
      entries.files++;
      size += entry.size ?? 0;
    } else if (entry.type === 'directory') entries.directories++;
    else if (entry.type === 'symlink') entries.symlinks++;
    else entries.hardlinks++;
  }
  return { reference, kind: 'rootfs', platform: formatPlatform(hostPlatform()), entries, size };
}

/** What `rampart inspect -o json` prints for an OCI artifact (a signature, an attestation, an SBOM). */
export interface ArtifactSummary {
  reference: string;
  digest: Digest;
  mediaType: string;
  artifactType: string | null;
  subject: { digest: Digest; mediaType: string } | null;
  annotations: Record<string, string>;
  config: { digest: Digest; size: number; mediaType: string };
  blobs: Array<{ digest: Digest; size: number; mediaType: string; annotations?: Record<string, string> }>;
}

/** Summarises an artifact manifest from its raw manifest alone (no blob is read). */
export function summarizeArtifact(reference: string, artifact: Manifest): ArtifactSummary {
  const describe = (d: Descriptor) => ({ digest: d.digest, size: d.size, mediaType: d.mediaType });
  return {
    reference,
    digest: artifact.digest,
    mediaType: artifact.mediaType,
    artifactType: artifact.artifactType ?? null,
    subject: artifact.subject
      ? { digest: artifact.subject.digest, mediaType: artifact.subject.mediaType }
      : null,
    annotations: { ...artifact.annotations },
    config: describe(artifact.configDescriptor),
    blobs: artifact.layerDescriptors.map((d) => ({
      ...describe(d),
      ...(d.annotations ? { annotations: { ...d.annotations } } : {}),
    })),
  };
}
