import type { Digest } from '../oci/digest.js';
import type { Image } from '../oci/image.js';
import { selectImage } from '../oci/image.js';
import { openImage } from '../oci/open.js';
import type { Platform } from '../oci/types.js';
import type { RegistryOptions } from '../registry/types.js';

export interface OpenSubjectOptions {
  platform?: Platform;
  registry?: RegistryOptions;
}

/**
 * The runnable image a reference names, for diff and lint: any transport (a `dir:` root is read as
 * a one-layer image); from an index, the given platform's image (default: the host's, else the
 * first). `named` is the digest the reference itself resolved to (the index's, for an index):
 * signatures and tags usually point there.
 */
export async function openSubject(
  reference: string,
  options: OpenSubjectOptions = {},
): Promise<{ image: Image; named: Digest }> {
  const opened = await openImage(reference, options.registry ? { registry: options.registry } : {});
  return { image: await selectImage(opened, options.platform), named: opened.digest };
}

export async function openSubjectImage(reference: string, options: OpenSubjectOptions = {}): Promise<Image> {
  return (await openSubject(reference, options)).image;
}
