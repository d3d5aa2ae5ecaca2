import type { Image } from '../oci/image.js';
import { selectImage } from '../oci/image.js';
import { openImage } from '../oci/open.js';
import type { Platform } from '../oci/types.js';
import type { RegistryOptions } from '../registry/types.js';

/**
 * The runnable image a reference names, for diff and lint: any transport (a `dir:` root is read as
 * a one-layer image); from an index, the given platform's image (default: the host's, else the
 * first).
 */
export async function openSubjectImage(
  reference: string,
  options: { platform?: Platform; registry?: RegistryOptions } = {},
): Promise<Image> {
  const opened = await openImage(reference, options.registry ? { registry: options.registry } : {});
  return selectImage(opened, options.platform);
}
