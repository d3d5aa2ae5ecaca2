import type { Readable } from 'node:stream';
import { RampartError } from '../errors.js';
import type { Digest } from '../oci/digest.js';
import { sha256Digest } from '../oci/digest.js';
import type { ImageReference } from '../oci/reference.js';
import type { ImageSink } from '../oci/sink.js';
import { allSettledOrThrow } from '../util/settle.js';
import { probeReferrersApi, recordReferrer } from './referrers.js';
import type { RegistryClient } from './types.js';

/**
 * A repository of a registry as an `ImageSink` (go-containerregistry's remote.Write): blobs are
 * HEADed and uploaded (or mounted from another repository of the same registry), manifests go
 * children first by digest, the root last by its tag (by digest when the reference names none).
 */
export function registrySink(reference: ImageReference, client: RegistryClient): ImageSink {
  const repository = reference.repository ?? '';
  const location = `${client.registry}/${repository}`;
  // prepareReferrer's answers: whether the registry has the referrers API, by subject.
  const probes = new Map<Digest, Promise<boolean>>();
  return {
    location,
    storesIndex: true,
    // A registry stores Docker schema 2 and OCI manifests alike: bytes (and digests) are kept.
    wantsOciMediaTypes: false,
    hasBlob: (descriptor) => client.hasBlob(repository, descriptor),
    async putBlob(descriptor, stream, reopen) {
      let first: Readable | undefined = stream;
      const open = async (): Promise<Readable> => {
        if (first) {
          const given = first;
          first = undefined;
          return given;
        }
        if (!reopen) {
          throw new RampartError('IO', `blob ${descriptor.digest} cannot be sent again to ${location}`, {
            details: { path: location },
          });
        }
        return reopen();
      };
      try {
        // Callers ask `hasBlob` first (copy does, for every blob): no second HEAD. A blob that is
        // there after all is uploaded again, which the registry accepts as the same content.
        return await client.pushBlob(repository, descriptor, open, { skipCheck: true });
      } finally {
        // A stream the client never read (the blob was there) must not hold its file open.
        if (first) first.destroy();
      }
    },
    async mountBlob(descriptor, from) {
      if (from.registry !== client.registry || from.repository === repository) return false;
      return client.mountBlob(repository, descriptor, from.repository);
    },
    async putManifest(raw, mediaType, tag, options = {}): Promise<Digest> {
      const digest = sha256Digest(raw);
      const root = !options.child && !options.attachment && tag === undefined;
      if (root && reference.digest && reference.digest !== digest) {
        throw new RampartError(
          'DIGEST_MISMATCH',
          `${reference.raw}: the manifest to write is ${digest}, not the pinned ${reference.digest}`,
          { details: { expected: reference.digest, actual: digest, location } },
        );
      }
      // Children (and an untagged root) by digest; a tag is put last, so readers never see a half image.
      const written = client.putManifest(
        repository,
        options.child ? digest : (tag ?? digest),
        raw,
        mediaType,
      );
      // A manifest with a subject is listed as a referrer (the tag schema, without the referrers
      // API): the index is read while the manifest is stored, and written after (recordReferrer).
      const [stored] = await allSettledOrThrow([
        written,
        recordReferrer(client, repository, { raw, mediaType }, { stored: written, referrersApi: probes }),
      ]);
      return stored;
    },
    prepareReferrer(subject) {
      if (probes.has(subject)) return;
      const probe = probeReferrersApi(client, repository, subject);
      // Read at putManifest; a failure here (Ctrl-C while a key opens) is reported there, if at all.
      probe.catch(() => undefined);
      probes.set(subject, probe);
    },
    // Nothing is staged: the root manifest's tag is the commit, and it was the last write.
    async close() {},
    // Blobs and child manifests already uploaded cannot be unpublished (a registry has no
    // transaction; deleting blobs is not in the API every registry offers, and another image may
    // share them). Nothing is tagged before the root manifest, so no reader sees a half image; the
    // registry's garbage collection reclaims the untagged content.
    async abort() {},
  };
}
