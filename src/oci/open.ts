import { RampartError } from '../errors.js';
import { toOciMediaTypes } from './convert.js';
import type { Digest } from './digest.js';
import { openDockerArchive, writeDockerArchive } from './docker-archive.js';
import type { ImageOrIndex } from './image.js';
import { selectImage } from './image.js';
import { directoryLayout, openLayout } from './layout.js';
import { writeLayout } from './layout-write.js';
import { openOciArchive, writeOciArchive } from './oci-archive.js';
import type { ImageReference } from './reference.js';
import { parseImageReference } from './reference.js';
import { openRootfsDirectory } from './rootfs-source.js';
import type { Platform } from './types.js';

function toReference(ref: string | ImageReference): ImageReference {
  return typeof ref === 'string' ? parseImageReference(ref) : ref;
}

function registryLater(ref: ImageReference): RampartError {
  return new RampartError(
    'UNSUPPORTED_TRANSPORT',
    `'${ref.raw}' needs the registry transport (docker://), which comes later; use oci:, oci-archive:, docker-archive: or dir:`,
  );
}

/** Opens an image or index from any supported transport. */
export async function openImage(ref: string | ImageReference): Promise<ImageOrIndex> {
  const reference = toReference(ref);
  return openReference(reference).catch((error: unknown) => {
    throw asRampartError(error, `cannot read ${reference.raw}`);
  });
}

async function openReference(reference: ImageReference): Promise<ImageOrIndex> {
  const path = reference.path ?? '';
  switch (reference.transport) {
    case 'oci':
      return openLayout(directoryLayout(path), selector(reference));
    case 'oci-archive':
      return openOciArchive(path, selector(reference));
    case 'docker-archive':
      return openDockerArchive(path, reference.tag);
    case 'dir':
      return openRootfsDirectory(path);
    case 'docker':
      throw registryLater(reference);
  }
}

function selector(ref: ImageReference): { tag?: string; digest?: Digest } {
  return { ...(ref.tag ? { tag: ref.tag } : {}), ...(ref.digest ? { digest: ref.digest } : {}) };
}

/**
 * Writes an image or index to a transport. oci/oci-archive keep every OCI manifest byte-for-byte (a
 * whole index included; Docker schema 2 manifests are converted to OCI media types, see convert.ts); docker-archive holds one image, chosen by `platform` (default: the host's).
 */
export async function writeImage(
  target: string | ImageReference,
  source: ImageOrIndex,
  opts: { platform?: Platform } = {},
): Promise<{ digest: Digest; reference: string }> {
  const reference = toReference(target);
  return writeReference(reference, source, opts).catch((error: unknown) => {
    throw asRampartError(error, `cannot write ${reference.raw}`);
  });
}

async function writeReference(
  reference: ImageReference,
  source: ImageOrIndex,
  opts: { platform?: Platform },
): Promise<{ digest: Digest; reference: string }> {
  const path = reference.path ?? '';
  switch (reference.transport) {
    case 'oci': {
      if (reference.digest) throw cannotWriteDigest(reference);
      const chosen = await toOciMediaTypes(opts.platform ? await selectImage(source, opts.platform) : source);
      const descriptor = await writeLayout(path, chosen, reference.tag);
      return { digest: descriptor.digest, reference: reference.raw };
    }
    case 'oci-archive': {
      if (reference.digest) throw cannotWriteDigest(reference);
      const chosen = await toOciMediaTypes(opts.platform ? await selectImage(source, opts.platform) : source);
      const descriptor = await writeOciArchive(path, chosen, reference.tag);
      return { digest: descriptor.digest, reference: reference.raw };
    }
    case 'docker-archive': {
      const image = await selectImage(source, opts.platform);
      const digest = await writeDockerArchive(path, image, reference.tag);
      return { digest, reference: reference.raw };
    }
    case 'dir':
      throw new RampartError(
        'USAGE',
        `dir: is read-only; write to oci:, oci-archive: or docker-archive: instead`,
      );
    case 'docker':
      throw registryLater(reference);
  }
}

function cannotWriteDigest(ref: ImageReference): RampartError {
  return new RampartError(
    'USAGE',
    `cannot write to '${ref.raw}': a destination takes a :TAG, not an @DIGEST`,
  );
}

/** Filesystem errors from deep inside a transport become one-line IO errors naming the reference. */
function asRampartError(error: unknown, context: string): RampartError {
  if (error instanceof RampartError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new RampartError('IO', `${context}: ${message}`, { cause: error });
}
