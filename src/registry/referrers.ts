import { isRampartError, RampartError } from '../errors.js';
import type { AttachmentStore } from '../oci/attachments.js';
import { parseSubject, referrersTag } from '../oci/attachments.js';
import type { Digest } from '../oci/digest.js';
import { sha256Digest } from '../oci/digest.js';
import type { Index, Manifest } from '../oci/image.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor, IndexManifest } from '../oci/types.js';
import { IndexManifestSchema, parseJsonBytes } from '../oci/types.js';
import { serialised } from '../util/keyed-queue.js';
import { allSettledOrThrow } from '../util/settle.js';
import type { RegistryClient } from './types.js';

/**
 * Referrers on a registry (OCI distribution-spec 1.1): read through the referrers API where the
 * registry has one, else through the referrers tag schema (an index tagged `sha256-<hex>` of the
 * subject, listing its referrers), which rampart maintains when it pushes a manifest with a subject.
 */

/** How a pushed manifest's subject was recorded. */
export type ReferrerRecord = 'none' | 'api' | 'tag-schema';

/** Read-modify-write rounds of the tag-schema index before giving up (see `recordReferrer`). */
export const TAG_SCHEMA_ATTEMPTS = 5;

/**
 * After a manifest was pushed: when it has a `subject`, makes it findable as a referrer. A registry
 * with the referrers API (it answered the PUT with an `OCI-Subject` header, `subjectAccepted`, or
 * its referrers endpoint answers with an index) indexes it itself: no fallback tag is written.
 * Otherwise the `sha256-<hex>` tag-schema index is read, the descriptor added (with its artifactType
 * and annotations; an entry of the same digest replaced, others kept) and pushed back.
 *
 * Concurrent writers: a registry offers no compare-and-swap on a tag, so two writers can each read
 * the index and the second PUT would drop the first's entry. Within this process the updates of one
 * index are serialised (a queue per registry, repository and tag). Against other processes, the
 * index is read again after the PUT; when this entry is missing (another writer overwrote it) the
 * round is repeated, at most TAG_SCHEMA_ATTEMPTS times (CONCURRENT_UPDATE after that). That narrows
 * the window without closing it: a writer whose stale PUT lands after the other's check still wins.
 *
 * `stored`: the manifest's own PUT, still under way. The index is then read while it runs (the
 * read of the read-modify-write, in this writer's turn of the queue, one round trip before its
 * PUT as when read afterwards) and written only once the manifest is stored (a registry may refuse
 * an index listing a manifest it does not hold). `referrersApi`: answers of `probeReferrersApi`
 * asked earlier (before the manifest existed), by subject; a subject not in it is probed now.
 */
export async function recordReferrer(
  client: RegistryClient,
  repository: string,
  manifest: { raw: Buffer; mediaType: string },
  options: {
    subjectAccepted?: boolean;
    attempts?: number;
    stored?: Promise<unknown>;
    referrersApi?: ReadonlyMap<Digest, Promise<boolean>>;
  } = {},
): Promise<ReferrerRecord> {
  const digest = sha256Digest(manifest.raw);
  const { subject, artifactType, annotations } = parseReferrerFields(manifest.raw, digest);
  if (!subject) {
    await options.stored;
    return 'none';
  }
  if (options.subjectAccepted) return 'api';
  if (await (options.referrersApi?.get(subject) ?? probeReferrersApi(client, repository, subject))) {
    await options.stored;
    return 'api';
  }
  const entry: Descriptor = {
    mediaType: manifest.mediaType,
    digest,
    size: manifest.raw.length,
    ...(artifactType ? { artifactType } : {}),
    ...(annotations ? { annotations } : {}),
  };
  const tag = referrersTag(subject);
  return serialised(`${client.registry}/${repository}:${tag}`, () =>
    updateTagSchema(
      client,
      repository,
      subject,
      entry,
      options.attempts ?? TAG_SCHEMA_ATTEMPTS,
      options.stored,
    ),
  );
}

/**
 * Whether the registry answers the referrers API for `subject` (true: it indexes referrers itself,
 * none is recorded in the tag schema). A read only: a writer may ask it before it has anything to
 * write (`rampart sign` asks while its key is being opened).
 */
export async function probeReferrersApi(
  client: RegistryClient,
  repository: string,
  subject: Digest,
): Promise<boolean> {
  return (await client.referrers(repository, subject)) !== undefined;
}

async function updateTagSchema(
  client: RegistryClient,
  repository: string,
  subject: Digest,
  entry: Descriptor,
  attempts: number,
  stored: Promise<unknown> | undefined,
): Promise<ReferrerRecord> {
  const tag = referrersTag(subject);
  const { digest } = entry;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const reading = readTagSchemaIndex(client, repository, subject);
    // Settled both before either's failure is thrown: no read left running unobserved.
    const [current] = await allSettledOrThrow<[IndexManifest | undefined, unknown]>([reading, stored]);
    const updated = addReferrer(current, entry);
    await client.putManifest(repository, tag, Buffer.from(JSON.stringify(updated)), MediaType.OciIndex);
    const after = await readTagSchemaIndex(client, repository, subject);
    if (after?.manifests.some((descriptor) => descriptor.digest === digest)) return 'tag-schema';
  }
  throw concurrentUpdate(client, repository, tag, digest, attempts);
}

/**
 * Before a manifest with a subject is deleted (`rampart rm`): its entry leaves the tag-schema index,
 * so readers are not sent to a manifest that is gone. Nothing to do with the referrers API or when
 * no index lists it; the same queue and re-read as `recordReferrer`.
 */
export async function forgetReferrer(
  client: RegistryClient,
  repository: string,
  manifest: { raw: Buffer },
  attempts: number = TAG_SCHEMA_ATTEMPTS,
): Promise<void> {
  const digest = sha256Digest(manifest.raw);
  const { subject } = parseSubject(manifest.raw, `manifest ${digest}`);
  if (!subject) return;
  if ((await client.referrers(repository, subject)) !== undefined) return;
  const tag = referrersTag(subject);
  await serialised(`${client.registry}/${repository}:${tag}`, async () => {
    // Each round reads (the check of the previous write) and, while the entry is still there, writes.
    for (let attempt = 0; attempt <= attempts; attempt++) {
      const current = await readTagSchemaIndex(client, repository, subject);
      if (!current?.manifests.some((descriptor) => descriptor.digest === digest)) return;
      if (attempt === attempts) break;
      const updated = { ...current, manifests: current.manifests.filter((d) => d.digest !== digest) };
      await client.putManifest(repository, tag, Buffer.from(JSON.stringify(updated)), MediaType.OciIndex);
    }
    throw concurrentUpdate(client, repository, tag, digest, attempts);
  });
}

function concurrentUpdate(
  client: RegistryClient,
  repository: string,
  tag: string,
  digest: Digest,
  attempts: number,
): RampartError {
  return new RampartError(
    'CONCURRENT_UPDATE',
    `the referrers index ${client.registry}/${repository}:${tag} kept changing under other writers; ${digest} was not updated there after ${attempts} attempts; run it again`,
    { details: { reference: `${client.registry}/${repository}:${tag}`, attempts } },
  );
}

/** The tag-schema index with `entry` added: deduplicated by digest, other entries and fields kept. */
export function addReferrer(current: IndexManifest | undefined, entry: Descriptor): IndexManifest {
  const kept: Descriptor[] = [];
  const seen = new Set<Digest>([entry.digest]);
  for (const descriptor of current?.manifests ?? []) {
    if (seen.has(descriptor.digest)) continue;
    seen.add(descriptor.digest);
    kept.push(descriptor);
  }
  return {
    ...(current ?? {}),
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [...kept, entry],
  };
}

/** The `sha256-<hex>` tag-schema index of a subject, or undefined when the tag does not exist. */
export async function readTagSchemaIndex(
  client: RegistryClient,
  repository: string,
  subject: Digest,
): Promise<IndexManifest | undefined> {
  const tag = referrersTag(subject);
  let fetched: Awaited<ReturnType<RegistryClient['getManifest']>>;
  try {
    fetched = await client.getManifest(repository, tag);
  } catch (error) {
    if (isRampartError(error, 'MANIFEST_NOT_FOUND')) return undefined;
    throw error;
  }
  // Something else under that tag is not ours to overwrite or to read referrers from.
  if (fetched.mediaType !== MediaType.OciIndex) {
    throw new RampartError(
      'UNKNOWN_MEDIA_TYPE',
      `${client.registry}/${repository}:${tag} is a ${fetched.mediaType}, not the OCI index the referrers tag schema keeps there`,
      {
        details: {
          mediaType: fetched.mediaType,
          digest: fetched.digest,
          location: `${client.registry}/${repository}`,
        },
      },
    );
  }
  return parseJsonBytes(IndexManifestSchema, fetched.raw, `${client.registry}/${repository}:${tag}`);
}

function parseReferrerFields(
  raw: Buffer,
  digest: Digest,
): { subject?: Digest; artifactType?: string; annotations?: Record<string, string> } {
  const what = `manifest ${digest}`;
  const { subject, artifactType } = parseSubject(raw, what);
  const annotations = (JSON.parse(raw.toString('utf8')) as { annotations?: unknown }).annotations;
  const stringAnnotations =
    annotations && typeof annotations === 'object'
      ? Object.fromEntries(
          Object.entries(annotations as Record<string, unknown>).filter(
            (pair): pair is [string, string] => typeof pair[1] === 'string',
          ),
        )
      : undefined;
  return {
    ...(subject ? { subject } : {}),
    ...(artifactType ? { artifactType } : {}),
    ...(stringAnnotations && Object.keys(stringAnnotations).length > 0
      ? { annotations: stringAnnotations }
      : {}),
  };
}

/**
 * A repository of a registry as an attachment store: legacy tags by HEAD; referrers through the
 * API, else the tag schema. `open` reads a manifest of this repository (the registry source).
 */
export function registryAttachmentStore(
  client: RegistryClient,
  repository: string,
  open: (descriptor: Descriptor) => Promise<Manifest | Index>,
): AttachmentStore {
  return {
    location: `${client.registry}/${repository}`,
    resolveTag: (tag) => client.headManifest(repository, tag),
    async referrers(digest, artifactType) {
      // The tag schema is read beside the API, not after its 404: one round trip less where the
      // registry has no API (most), one small GET more where it has. Its answer (or failure)
      // counts only when the API has none.
      const tagSchema = readTagSchemaIndex(client, repository, digest);
      tagSchema.catch(() => undefined);
      const listed =
        (await client.referrers(repository, digest, artifactType)) ?? (await tagSchema)?.manifests ?? [];
      return artifactType ? listed.filter((descriptor) => descriptor.artifactType === artifactType) : listed;
    },
    open,
  };
}
