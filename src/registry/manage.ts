import { RampartError } from '../errors.js';
import type { Digest } from '../oci/digest.js';
import { parseImageReference } from '../oci/reference.js';
import { createRegistryClient } from './client.js';
import { forgetReferrer } from './referrers.js';
import type { RegistryClient, RegistryOptions } from './types.js';

/** Options of `ls`/`rm`: how registries are reached, or a client to use as is. */
export type ManageOptions = RegistryOptions & { client?: RegistryClient };

/** `ls`/`rm` take a registry name with or without `docker://`. */
export function asDockerReference(value: string): string {
  return value.startsWith('docker://') ? value : `docker://${value}`;
}

/** A repository (`[docker://]HOST/NAME`, Docker Hub names normalised) without a tag or digest. */
export function parseRepository(value: string): { registry: string; repository: string } {
  const reference = parseImageReference(asDockerReference(value));
  // parseImageReference adds :latest to a bare name; only an explicit tag or digest is refused.
  const named = value.replace(/^docker:\/\//, '');
  const lastSlash = named.lastIndexOf('/');
  if (reference.digest || named.slice(lastSlash + 1).includes(':')) {
    throw new RampartError(
      'USAGE',
      `'${value}' names an image; ls takes a repository (HOST/NAME, no :TAG or @DIGEST)`,
      {
        details: { value },
      },
    );
  }
  return { registry: reference.registry as string, repository: reference.repository as string };
}

/** `rampart ls`: every tag of a repository, following the registry's pagination. */
export async function listRepositoryTags(
  value: string,
  options: ManageOptions = {},
): Promise<{ registry: string; repository: string; tags: string[] }> {
  const { registry, repository } = parseRepository(value);
  const client = options.client ?? createRegistryClient(registry, options);
  try {
    return { registry, repository, tags: await client.listTags(repository) };
  } finally {
    if (!options.client) await client.close();
  }
}

/**
 * `rampart rm`: deletes a manifest by digest. Only a digest: a tag can be moved meanwhile, and
 * deleting by tag is not in every registry. A registry that does not allow deletes (docker-registry
 * without `storage.delete.enabled`) answers UNSUPPORTED_OPERATION, from the client.
 */
export async function deleteManifestByDigest(
  value: string,
  options: ManageOptions = {},
): Promise<{ registry: string; repository: string; digest: Digest }> {
  const reference = parseImageReference(asDockerReference(value));
  const { registry, repository, digest } = reference;
  if (!digest || !registry || !repository) {
    throw new RampartError(
      'USAGE',
      `'${value}' has no @sha256: digest; rm deletes by digest only (\`rampart inspect docker://${value.replace(/^docker:\/\//, '')}\` prints it)`,
      { details: { value } },
    );
  }
  const client = options.client ?? createRegistryClient(registry, options);
  try {
    const manifest = await client.getManifest(repository, digest);
    await client.deleteManifest(repository, digest);
    // Only once deleted: a refused delete leaves the referrers index as it was.
    await forgetReferrer(client, repository, manifest);
    return { registry, repository, digest };
  } finally {
    if (!options.client) await client.close();
  }
}
