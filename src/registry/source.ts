import { RampartError } from '../errors.js';
import type { Index, Manifest, OciObject } from '../oci/image.js';
import type { ImageReference } from '../oci/reference.js';
import type { BlobSource } from '../oci/source.js';
import { manifestFromRaw, resolveIfImage } from '../oci/source.js';
import type { Descriptor } from '../oci/types.js';
import type { RegistryClient } from './types.js';

/** Where an object opened from a registry came from: a sink on the same registry can mount its blobs. */
export interface RegistryOrigin {
  registry: string;
  repository: string;
}

const origins = new WeakMap<object, RegistryOrigin>();

/** The registry and repository a root object was opened from (`openRegistryImage`), if any. */
export function registryOrigin(object: OciObject): RegistryOrigin | undefined {
  return origins.get(object);
}

/**
 * The blobs and manifests of one repository as a `BlobSource`: everything after the raw bytes
 * (parsing, verification, layers, platform selection) is the shared code of src/oci/source.ts.
 * Children of an index are manifests fetched by digest; blobs stream, checked by the client.
 */
export function registryBlobSource(client: RegistryClient, repository: string): BlobSource {
  const location = `${client.registry}/${repository}`;
  return {
    location,
    async openBlob(digest, descriptor) {
      // The client verifies size and digest against the descriptor while streaming.
      if (!descriptor) {
        throw new RampartError(
          'BLOB_NOT_FOUND',
          `blob ${digest} of ${location} needs its descriptor (size)`,
          {
            details: { digest, location },
          },
        );
      }
      const stream = await client.openBlob(repository, descriptor);
      return { stream, size: descriptor.size, verified: true };
    },
    async readManifest(descriptor) {
      const fetched = await client.getManifest(repository, descriptor.digest);
      checkFetched(fetched.digest, fetched.raw.length, descriptor, location);
      return fetched.raw;
    },
  };
}

/** A manifest served for a digest must be that digest and the declared size (the client checks too). */
function checkFetched(digest: string, size: number, descriptor: Descriptor, location: string): void {
  if (digest !== descriptor.digest) {
    throw new RampartError(
      'DIGEST_MISMATCH',
      `manifest ${descriptor.digest} of ${location}: the registry served ${digest}`,
      { details: { expected: descriptor.digest, actual: digest, location } },
    );
  }
  if (size !== descriptor.size) {
    throw new RampartError(
      'SIZE_MISMATCH',
      `manifest ${descriptor.digest} of ${location} is ${size} bytes, the descriptor says ${descriptor.size}`,
      { details: { digest: descriptor.digest, expected: descriptor.size, actual: size, location } },
    );
  }
}

/**
 * Opens `docker://REG/REPO:TAG|@DIGEST`: the manifest the reference names (by digest when pinned,
 * which the served bytes must hash to), as an image (config read and checked), an artifact or an
 * index (children fetched by digest when asked for).
 */
export async function openRegistryImage(
  reference: ImageReference,
  client: RegistryClient,
): Promise<OciObject> {
  const object = await resolveIfImage(await openRegistryManifest(reference, client));
  origins.set(object, { registry: client.registry, repository: reference.repository ?? '' });
  return object;
}

/**
 * As `openRegistryImage`, unresolved: the manifest or index the reference names (by digest when
 * pinned, which the served bytes must hash to), an image's config not read.
 */
export async function openRegistryManifest(
  reference: ImageReference,
  client: RegistryClient,
): Promise<Manifest | Index> {
  const repository = reference.repository ?? '';
  const source = registryBlobSource(client, repository);
  const wanted = reference.digest ?? reference.tag ?? 'latest';
  const fetched = await client.getManifest(repository, wanted);
  if (reference.digest && fetched.digest !== reference.digest) {
    throw new RampartError(
      'DIGEST_MISMATCH',
      `${reference.raw}: the registry served manifest ${fetched.digest}, not the pinned ${reference.digest}`,
      { details: { expected: reference.digest, actual: fetched.digest, location: source.location } },
    );
  }
  const descriptor: Descriptor = {
    mediaType: fetched.mediaType,
    digest: fetched.digest,
    size: fetched.raw.length,
  };
  return manifestFromRaw(source, fetched.raw, descriptor);
}
