import { RampartError } from '../errors.js';
import { extend, optional, pick } from '../util/zod.js';
import type { Digest } from './digest.js';
import { digestHex } from './digest.js';
import type { Index, Manifest, OciObject } from './image.js';
import { artifactTypeOf } from './image.js';
import type { LayoutFiles } from './layout.js';
import { REF_NAME_ANNOTATION, readLayoutIndex } from './layout.js';
import { isIndexMediaType, isManifestMediaType } from './media-types.js';
import { loadManifest, readVerifiedBlob } from './source.js';
import type { Descriptor } from './types.js';
import { ImageManifestSchema, parseJsonBytes } from './types.js';

/**
 * Attachments of a manifest: what cosign stores under legacy tags beside it (`sha256-<hex>.sig`,
 * `.att`, `.sbom`) and OCI 1.1 referrers (manifests whose `subject` is it). Transport-neutral: an
 * `AttachmentStore` answers the two questions, whatever holds the manifests.
 */
export type AttachmentKind = 'signature' | 'attestation' | 'sbom' | 'referrer';

/** One attachment as `copy -o json` reports it. */
export interface Attachment {
  kind: AttachmentKind;
  digest: Digest;
  /** The legacy tag it is stored under (cosign's); referrers have none. */
  tag?: string;
  artifactType?: string;
}

/** An attachment found in a store, with what is needed to copy it. */
export interface FoundAttachment extends Attachment {
  /** The manifest it is attached to. */
  subject: Digest;
  descriptor: Descriptor;
}

/**
 * Where attachments are looked up. Storing them is the ImageSink's job (`putManifest` with the
 * legacy tag, or untagged for a referrer): an OCI layout lists an untagged referrer in index.json
 * without a ref.name (as oras-go's layout store keeps untagged manifests), a registry pushes it by
 * digest and keeps the referrers tag schema where it has no referrers API (registry/referrers.ts).
 */
export interface AttachmentStore {
  readonly location: string;
  /** The manifest a tag names, or undefined when there is no such tag. */
  resolveTag(tag: string): Promise<Descriptor | undefined>;
  /** The descriptors of manifests whose `subject` is `digest`, optionally of one artifact type. */
  referrers(digest: Digest, artifactType?: string): Promise<Descriptor[]>;
  /** The manifest or index a descriptor (from this store) names, unresolved (config unread). */
  open(descriptor: Descriptor): Promise<Manifest | Index>;
  /**
   * `resolveTag` then `open` in one read where the store can (a registry: one GET by tag, not a
   * HEAD then a GET by digest): the manifest or index a tag names, or undefined when there is no
   * such tag. Optional: a caller falls back to `resolveTag` and `open`.
   */
  openTag?(tag: string): Promise<Manifest | Index | undefined>;
}

const LEGACY_SUFFIXES: ReadonlyArray<readonly [string, AttachmentKind]> = [
  ['sig', 'signature'],
  ['att', 'attestation'],
  ['sbom', 'sbom'],
];

/** cosign's legacy tag for an attachment of `digest`: `sha256-<hex>.<suffix>`. */
export function legacyAttachmentTag(digest: Digest, suffix: 'sig' | 'att' | 'sbom'): string {
  return `sha256-${digestHex(digest)}.${suffix}`;
}

/** The referrers tag schema's tag for `digest` (OCI distribution-spec 1.1): `sha256-<hex>`. */
export function referrersTag(digest: Digest): string {
  return `sha256-${digestHex(digest)}`;
}

/** Bound on attachments followed from one copy: a hostile store could otherwise chain forever. */
export const MAX_ATTACHMENTS = 1000;
/** Referrer descriptors read over one walk, all subjects together (see `findAttachments`). */
export const MAX_REFERRERS_WALKED = 10 * MAX_ATTACHMENTS;

/**
 * Every attachment of `digests`, and of those attachments, recursively (a signature of an SBOM):
 * breadth first, each manifest visited once, so a cycle (A's subject is B, B's is A) ends.
 * Attachments of an index's children are included when the caller lists the children.
 */
export async function findAttachments(
  store: AttachmentStore,
  digests: readonly Digest[],
  options: { signal?: AbortSignal } = {},
): Promise<FoundAttachment[]> {
  const visited = new Set<Digest>(digests);
  const queue = [...digests];
  const found: FoundAttachment[] = [];
  const keys = new Set<string>();
  let listed = 0;
  const add = (attachment: FoundAttachment): void => {
    const key = `${attachment.digest} ${attachment.tag ?? ''}`;
    if (keys.has(key)) return;
    keys.add(key);
    if (found.length >= MAX_ATTACHMENTS) {
      throw new RampartError(
        'TOO_LARGE',
        `${store.location} holds more than ${MAX_ATTACHMENTS} attachments of ${digests[0]}; refusing to follow more`,
        { details: { limit: MAX_ATTACHMENTS, ...(digests[0] ? { digest: digests[0] } : {}) } },
      );
    }
    found.push(attachment);
    if (!visited.has(attachment.digest)) {
      visited.add(attachment.digest);
      queue.push(attachment.digest);
    }
  };
  for (let subject = queue.shift(); subject; subject = queue.shift()) {
    options.signal?.throwIfAborted();
    for (const [suffix, kind] of LEGACY_SUFFIXES) {
      const tag = legacyAttachmentTag(subject, suffix as 'sig' | 'att' | 'sbom');
      const descriptor = await store.resolveTag(tag);
      if (!descriptor) continue;
      add({ kind, digest: descriptor.digest, tag, subject, descriptor, ...artifactTypeField(descriptor) });
    }
    const referrers = await store.referrers(subject);
    // Every subject's listing costs requests: a chain of attachments each listing ~1,000 referrers
    // (the same ones, which `add` would not count) is bounded here, over the whole walk.
    listed += referrers.length;
    if (listed > MAX_REFERRERS_WALKED) {
      throw new RampartError(
        'TOO_LARGE',
        `${store.location} lists more than ${MAX_REFERRERS_WALKED} referrers for the attachments of ${digests[0]}; refusing to follow more`,
        { details: { limit: MAX_REFERRERS_WALKED, ...(digests[0] ? { digest: digests[0] } : {}) } },
      );
    }
    for (const descriptor of referrers) {
      // A listed blob (a hostile or broken index) is not a manifest to copy.
      if (!isManifestMediaType(descriptor.mediaType) && !isIndexMediaType(descriptor.mediaType)) continue;
      add({
        kind: 'referrer',
        digest: descriptor.digest,
        subject,
        descriptor,
        ...artifactTypeField(descriptor),
      });
    }
  }
  return found;
}

function artifactTypeField(descriptor: Descriptor): { artifactType?: string } {
  return descriptor.artifactType ? { artifactType: descriptor.artifactType } : {};
}

/** The manifest digests a copy of `object` writes: the root and, for an index, its children (nested too). */
export function copiedManifestDigests(object: OciObject): Digest[] {
  if (object.kind !== 'index') return [object.digest];
  const digests: Digest[] = [object.digest];
  // Nested indexes are listed by their descriptor; their own children are not read here.
  for (const entry of object.manifest.manifests) digests.push(entry.digest);
  return digests;
}

/**
 * An OCI layout (directory or archive) as an attachment store: legacy tags are index.json
 * ref.names; referrers are index.json entries (tagged or not) whose manifest names the subject.
 */
export function layoutAttachmentStore(files: LayoutFiles): AttachmentStore {
  let subjects: Promise<Array<{ entry: Descriptor; subject?: Digest; artifactType?: string }>> | undefined;
  const scan = async () => {
    const index = await readLayoutIndex(files);
    const out: Array<{ entry: Descriptor; subject?: Digest; artifactType?: string }> = [];
    for (const entry of index.manifests) {
      if (!isManifestMediaType(entry.mediaType) && !isIndexMediaType(entry.mediaType)) continue;
      const raw = await readVerifiedBlob(files, entry, 'manifest');
      const parsed = parseSubject(raw, `manifest ${entry.digest} in ${files.location}`);
      out.push({
        entry,
        ...(parsed.subject ? { subject: parsed.subject } : {}),
        ...(parsed.artifactType ? { artifactType: parsed.artifactType } : {}),
      });
    }
    return out;
  };
  return {
    location: files.location,
    async resolveTag(tag) {
      const index = await readLayoutIndex(files);
      return (
        index.manifests.find((entry) => entry.annotations?.[REF_NAME_ANNOTATION] === tag) ??
        cosignSavedAttachment(index.manifests, tag)
      );
    },
    async referrers(digest, artifactType) {
      subjects ??= scan();
      const seen = new Set<Digest>();
      const out: Descriptor[] = [];
      for (const { entry, subject, artifactType: type } of await subjects) {
        if (subject !== digest || seen.has(entry.digest)) continue;
        if (artifactType && type !== artifactType) continue;
        seen.add(entry.digest);
        // A referrers-API descriptor: no ref.name, the artifact type of the manifest.
        const { annotations, ...rest } = entry;
        const { [REF_NAME_ANNOTATION]: _tag, ...kept } = annotations ?? {};
        out.push({
          ...rest,
          ...(type ? { artifactType: type } : {}),
          ...(Object.keys(kept).length > 0 ? { annotations: kept } : {}),
        });
      }
      return out;
    },
    open: (descriptor) => loadManifest(files, descriptor),
  };
}

/** The `kind` annotations of the layout `cosign save` writes (sigstore/cosign `pkg/oci/layout`). */
const COSIGN_KIND = 'kind';
const COSIGN_SAVED_IMAGE_KINDS = ['dev.cosignproject.cosign/image', 'dev.cosignproject.cosign/imageIndex'];
const COSIGN_SAVED_KINDS = {
  sig: 'dev.cosignproject.cosign/sigs',
  att: 'dev.cosignproject.cosign/atts',
} as const;

/**
 * `cosign save` writes one image, its `.sig` and `.att` manifests into a layout with no ref.names,
 * each entry marked by a `kind` annotation: the `sha256-<hex>.sig|.att` of that image's digest is
 * the entry of that kind. Only in a layout holding exactly one such image (else whose they are is
 * not known); what the signatures sign is still checked by the verifier.
 */
function cosignSavedAttachment(entries: readonly Descriptor[], tag: string): Descriptor | undefined {
  const match = /^sha256-([0-9a-f]{64})\.(sig|att)$/.exec(tag);
  if (!match) return undefined;
  const images = entries.filter((e) => COSIGN_SAVED_IMAGE_KINDS.includes(e.annotations?.[COSIGN_KIND] ?? ''));
  if (images.length !== 1 || images[0]?.digest !== `sha256:${match[1]}`) return undefined;
  const kind = COSIGN_SAVED_KINDS[match[2] as 'sig' | 'att'];
  const found = entries.filter((e) => e.annotations?.[COSIGN_KIND] === kind);
  return found.length === 1 ? found[0] : undefined;
}

/** The `subject` and artifact type of a manifest or index, from its raw bytes. */
export function parseSubject(raw: Buffer, what: string): { subject?: Digest; artifactType?: string } {
  // Only the fields read here are checked: an index or manifest with a subject both qualify.
  const value = parseJsonBytes(SubjectFieldsSchema, raw, what);
  const artifactType = value.config ? artifactTypeOf(value) : value.artifactType;
  return {
    ...(value.subject ? { subject: value.subject.digest } : {}),
    ...(artifactType ? { artifactType } : {}),
  };
}

const SubjectFieldsSchema = extend(pick(ImageManifestSchema, { subject: true, artifactType: true }), {
  config: optional(ImageManifestSchema.shape.config),
});
