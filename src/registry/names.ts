/**
 * The distribution grammar for what goes into a request path: repository names, tags, digests.
 * Checked before any request, so that `../` or `?` in a name can never address another endpoint.
 */
import { RampartError } from '../errors.js';
import { type Digest, isDigest } from '../oci/digest.js';

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const REPOSITORY = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const MAX_REPOSITORY_LENGTH = 255;

export function checkRepository(repository: string): string {
  if (repository.length > MAX_REPOSITORY_LENGTH || !REPOSITORY.test(repository)) {
    throw new RampartError(
      'INVALID_REFERENCE',
      `'${repository}' is not a valid repository name (lowercase path components of letters, digits and . _ -)`,
      { details: { reference: repository } },
    );
  }
  return repository;
}

/** A tag or a digest, as a manifest reference. */
export function checkReference(reference: string): string {
  if (!isDigest(reference) && !TAG.test(reference)) {
    throw new RampartError('INVALID_REFERENCE', `'${reference}' is neither a tag nor a sha256 digest`, {
      details: { reference },
    });
  }
  return reference;
}

/** Whether `tag` is a tag of the distribution grammar (what a registry may list). */
export function isTag(tag: string): boolean {
  return TAG.test(tag);
}

export function checkDigest(digest: string): Digest {
  if (!isDigest(digest)) {
    throw new RampartError('INVALID_REFERENCE', `'${digest}' is not a sha256 digest`, {
      details: { reference: digest },
    });
  }
  return digest;
}
