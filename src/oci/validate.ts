import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { RampartError } from '../errors.js';
import type { Digest } from './digest.js';
import type { Image, Index, Manifest, OciObject } from './image.js';
import type { Descriptor } from './types.js';

/**
 * go-containerregistry's `validate`, for any source: recomputes, from the bytes the source serves,
 * the manifest digest (sha256 of the raw bytes, equal to the descriptor it was reached through),
 * every blob's digest and size (config and layers of any media type, so artifacts too) and, for a
 * runnable image, the config digest and every layer's diff_id. Indexes recurse into every child.
 * Throws the first violation as a RampartError naming the digest and what differed.
 */
export async function validate(x: OciObject, options: { signal?: AbortSignal } = {}): Promise<void> {
  checkManifestBytes(x);
  if (x.kind === 'index') {
    await validateIndex(x, options);
    return;
  }
  const image = x.kind === 'image' ? x : x.isImage ? await x.toImage() : undefined;
  if (image) await validateImage(image, options);
  else await validateArtifact(x as Manifest, options);
}

function checkManifestBytes(x: OciObject): void {
  const where = `manifest ${x.digest}`;
  const actual = hashOf(x.rawManifest);
  if (actual !== x.digest) throw digestMismatch(where, x.digest, actual);
  if (x.descriptor.digest !== x.digest)
    throw digestMismatch(`${where} (its descriptor)`, x.descriptor.digest, actual);
  if (x.descriptor.size !== x.rawManifest.length) {
    throw sizeMismatch(where, x.digest, x.descriptor.size, x.rawManifest.length);
  }
  const declared = (JSON.parse(x.rawManifest.toString('utf8')) as { mediaType?: unknown }).mediaType;
  if (typeof declared === 'string' && declared !== x.mediaType) {
    throw new RampartError(
      'MALFORMED_MANIFEST',
      `${where} says mediaType ${declared}, read as ${x.mediaType}`,
      {
        details: { digest: x.digest, field: 'mediaType' },
      },
    );
  }
}

async function validateIndex(index: Index, options: { signal?: AbortSignal }): Promise<void> {
  for (const entry of index.manifest.manifests) {
    options.signal?.throwIfAborted();
    const child = await index.child(entry);
    if (child.digest !== entry.digest)
      throw digestMismatch(`child of index ${index.digest}`, entry.digest, child.digest);
    await validate(child, options);
  }
}

async function validateArtifact(manifest: Manifest, options: { signal?: AbortSignal }): Promise<void> {
  for (const descriptor of [manifest.configDescriptor, ...manifest.layerDescriptors]) {
    options.signal?.throwIfAborted();
    await checkBlob(manifest.digest, descriptor, await manifest.blob(descriptor.digest));
  }
}

async function validateImage(image: Image, options: { signal?: AbortSignal }): Promise<void> {
  const { config, layers } = image.manifest;
  const where = `image ${image.digest}`;
  const configDigest = hashOf(image.rawConfig);
  if (configDigest !== config.digest) throw digestMismatch(`config of ${where}`, config.digest, configDigest);
  if (image.rawConfig.length !== config.size) {
    throw sizeMismatch(`config of ${where}`, config.digest, config.size, image.rawConfig.length);
  }
  const diffIDs = image.config.rootfs.diff_ids;
  if (image.layers.length !== layers.length || diffIDs.length !== layers.length) {
    throw new RampartError(
      'MALFORMED_MANIFEST',
      `${where} has ${layers.length} layers, ${image.layers.length} Layer objects and ${diffIDs.length} diff_ids`,
      { details: { digest: image.digest, field: 'rootfs.diff_ids' } },
    );
  }
  for (const [i, layer] of image.layers.entries()) {
    options.signal?.throwIfAborted();
    const descriptor = layers[i] as Descriptor;
    if (layer.descriptor.digest !== descriptor.digest) {
      throw digestMismatch(`layer ${i} of ${where}`, descriptor.digest, layer.descriptor.digest);
    }
    if (layer.diffID !== diffIDs[i])
      throw digestMismatch(`diff_id ${i} of ${where}`, diffIDs[i] as string, layer.diffID);
    await checkBlob(image.digest, descriptor, await layer.blob());
    const uncompressed = await hashStream(await layer.uncompressed());
    if (uncompressed.digest !== layer.diffID) {
      throw digestMismatch(`uncompressed layer ${i} of ${where}`, layer.diffID, uncompressed.digest);
    }
  }
}

async function checkBlob(owner: Digest, descriptor: Descriptor, stream: Readable): Promise<void> {
  const where = `blob ${descriptor.digest} of manifest ${owner}`;
  const { digest, size } = await hashStream(stream);
  if (size !== descriptor.size) throw sizeMismatch(where, descriptor.digest, descriptor.size, size);
  if (digest !== descriptor.digest) throw digestMismatch(where, descriptor.digest, digest);
}

function hashOf(bytes: Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

async function hashStream(stream: Readable): Promise<{ digest: Digest; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

function digestMismatch(what: string, expected: string, actual: string): RampartError {
  return new RampartError('DIGEST_MISMATCH', `${what}: digest is ${actual}, expected ${expected}`, {
    details: { expected, actual, location: what },
  });
}

function sizeMismatch(what: string, digest: string, expected: number, actual: number): RampartError {
  return new RampartError('SIZE_MISMATCH', `${what}: ${actual} bytes, expected ${expected}`, {
    details: { digest, expected, actual, location: what },
  });
}
