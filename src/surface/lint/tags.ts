import type { Digest } from '../../oci/digest.js';
import { directoryLayout, REF_NAME_ANNOTATION, readLayoutIndex } from '../../oci/layout.js';
import type { ImageReference } from '../../oci/reference.js';
import type { RegistryClient } from '../../registry/types.js';

/** rampart's floating tags: `latest` and its per-platform/variant forms (`latest-amd64`, `latest-dev`). */
export function isFloatingTag(tag: string): boolean {
  return tag === 'latest' || tag.startsWith('latest-');
}

/**
 * The tags that name an image where it is stored, for `latest-only-tag`. An OCI layout: the
 * `ref.name` of every index.json entry whose digest is the image's or the index's it was reached
 * through. A registry: its tag list is read, but resolving every tag would cost a request each, so
 * only a repository whose tags are all floating answers (then those are the image's only possible
 * tags); otherwise undefined (not known). Other transports hold no tags: undefined.
 */
export async function tagsNaming(
  reference: ImageReference,
  digests: readonly Digest[],
  registry?: () => RegistryClient,
): Promise<string[] | undefined> {
  if (reference.transport === 'oci') {
    const index = await readLayoutIndex(directoryLayout(reference.path ?? ''));
    return index.manifests
      .filter((entry) => digests.includes(entry.digest))
      .flatMap((entry) => {
        const name = entry.annotations?.[REF_NAME_ANNOTATION];
        return name ? [name] : [];
      });
  }
  if (reference.transport === 'docker' && registry) {
    const tags = await registry().listTags(reference.repository ?? '');
    return tags.length > 0 && tags.every(isFloatingTag) ? tags : undefined;
  }
  return undefined;
}
