import { RampartError } from '../errors.js';
import type { AttachmentKind, AttachmentStore, FoundAttachment } from '../oci/attachments.js';
import { findAttachments } from '../oci/attachments.js';
import type { Digest } from '../oci/digest.js';
import type { OciObject } from '../oci/image.js';
import type { OpenOptions } from '../oci/open.js';
import { openAttachmentStore, openImage } from '../oci/open.js';
import { formatPlatform } from '../oci/platform.js';
import { parseImageReference } from '../oci/reference.js';
import { printable } from '../util/printable.js';
import {
  ATTESTATION_PREDICATE_ANNOTATION,
  BUNDLE_MEDIA_TYPE,
  BUNDLE_PREDICATE_ANNOTATION,
  COSIGN_SIGN_PREDICATE,
} from './formats.js';

/**
 * `rampart tree`: what is attached to an image (cosign's `tree`, with more said): for the root and
 * each manifest of an index, its signatures, attestations (with their predicate types), SBOMs and
 * other referrers, each with what is attached to it in turn. Found through the one attachment walk
 * `copy --with-attachments` uses; each attachment manifest is opened to read its types. Nothing
 * is verified here (`verify`, `verify-attestation` do that).
 */

export interface TreeAttachment {
  /** signature / attestation / sbom by what it holds; `referrer` for any other artifact. */
  kind: AttachmentKind;
  /** `legacy` (a cosign tag), `bundle` (a sigstore bundle referrer) or `referrer` (any other). */
  format: 'legacy' | 'bundle' | 'referrer';
  digest: Digest;
  tag?: string;
  artifactType?: string;
  /** Predicate types of the attestations it holds (claimed by annotations; unverified). */
  predicateTypes?: string[];
  /** Media types of its layers, in order. */
  layers: string[];
  /** What is attached to this attachment (a signature of an SBOM, ...). */
  attachments: TreeAttachment[];
}

export interface TreeManifest {
  digest: Digest;
  mediaType: string;
  /** `os/arch[/variant]` of an index entry. */
  platform?: string;
  attachments: TreeAttachment[];
}

export interface AttachmentTree extends TreeManifest {
  reference: string;
  /** An index's manifests (nested indexes are listed, not descended). */
  manifests: TreeManifest[];
}

export interface TreeOptions extends OpenOptions {
  signal?: AbortSignal;
}

const SBOM_TYPES = [/spdx/i, /cyclonedx/i, /syft/i];

export async function attachmentTree(ref: string, options: TreeOptions = {}): Promise<AttachmentTree> {
  const reference = parseImageReference(ref);
  if (reference.transport === 'docker-archive' || reference.transport === 'dir') {
    throw new RampartError(
      'UNSUPPORTED_TRANSPORT',
      `${reference.transport}: holds one image and nothing attached to it; list the attachments of an oci:, oci-archive: or docker:// image`,
      { details: { reference: ref, transport: reference.transport } },
    );
  }
  const open = options.registry ? { registry: options.registry } : {};
  const object = await openImage(reference, open);
  const store = await openAttachmentStore(reference, open);
  const children = object.kind === 'index' ? object.manifest.manifests : [];
  const subjects = [object.digest, ...children.map((entry) => entry.digest)];
  const found = await findAttachments(store, subjects, options.signal ? { signal: options.signal } : {});
  const described = new Map<FoundAttachment, Omit<TreeAttachment, 'attachments'>>();
  for (const attachment of found) {
    options.signal?.throwIfAborted();
    described.set(attachment, await describe(store, attachment));
  }
  // Each attachment under its subject; a manifest reached twice is listed once (no cycles).
  const placed = new Set<string>();
  const under = (subject: Digest, path: ReadonlySet<Digest>): TreeAttachment[] =>
    found
      .filter((a) => a.subject === subject && !path.has(a.digest))
      .filter((a) => {
        const key = `${a.subject} ${a.digest} ${a.tag ?? ''}`;
        if (placed.has(key)) return false;
        placed.add(key);
        return true;
      })
      .map((a) => ({
        ...(described.get(a) as Omit<TreeAttachment, 'attachments'>),
        attachments: under(a.digest, new Set([...path, a.digest])),
      }));
  return {
    reference: ref,
    digest: object.digest,
    mediaType: object.mediaType,
    attachments: under(object.digest, new Set([object.digest])),
    manifests: children.map((entry) => ({
      digest: entry.digest,
      mediaType: entry.mediaType,
      ...(entry.platform ? { platform: formatPlatform(entry.platform) } : {}),
      attachments: under(entry.digest, new Set([entry.digest])),
    })),
  };
}

/** What an attachment is, from its manifest: the layers' media types and the predicate annotations. */
async function describe(
  store: AttachmentStore,
  attachment: FoundAttachment,
): Promise<Omit<TreeAttachment, 'attachments'>> {
  const base = {
    digest: attachment.digest,
    ...(attachment.tag ? { tag: attachment.tag } : {}),
  };
  let object: OciObject;
  try {
    object = await store.open(attachment.descriptor);
  } catch {
    // Listed but unreadable: still shown, as the store lists it.
    return {
      ...base,
      kind: attachment.kind,
      format: attachment.tag ? 'legacy' : 'referrer',
      ...(attachment.artifactType ? { artifactType: attachment.artifactType } : {}),
      layers: [],
    };
  }
  const layers = object.kind === 'index' ? [] : object.layerDescriptors;
  const artifactType = object.kind === 'index' ? object.artifactType : object.artifactType;
  const withType = artifactType ? { artifactType } : {};
  const mediaTypes = layers.map((layer) => layer.mediaType);
  if (attachment.tag) {
    const predicateTypes = unique(
      layers.map((layer) => layer.annotations?.[ATTESTATION_PREDICATE_ANNOTATION]).filter(isString),
    );
    return {
      ...base,
      kind: attachment.kind,
      format: 'legacy',
      ...withType,
      ...(predicateTypes.length ? { predicateTypes } : {}),
      layers: mediaTypes,
    };
  }
  if (artifactType === BUNDLE_MEDIA_TYPE) {
    const predicate = object.annotations[BUNDLE_PREDICATE_ANNOTATION];
    const isSignature = predicate === COSIGN_SIGN_PREDICATE;
    return {
      ...base,
      kind: isSignature ? 'signature' : isSbomType(predicate) ? 'sbom' : 'attestation',
      format: 'bundle',
      ...withType,
      ...(predicate && !isSignature ? { predicateTypes: [predicate] } : {}),
      layers: mediaTypes,
    };
  }
  const isSbom = isSbomType(artifactType) || mediaTypes.some(isSbomType);
  return { ...base, kind: isSbom ? 'sbom' : 'referrer', format: 'referrer', ...withType, layers: mediaTypes };
}

function isSbomType(type: string | undefined): boolean {
  return type !== undefined && SBOM_TYPES.some((pattern) => pattern.test(type));
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** The tree as text, as `rampart tree` prints it. */
export function formatAttachmentTree(tree: AttachmentTree): string {
  const lines = [`${tree.reference} (${tree.digest})`];
  const total = tree.attachments.length + tree.manifests.length;
  let index = 0;
  const attachmentLines = (items: readonly TreeAttachment[], prefix: string) => {
    items.forEach((item, i) => {
      const last = i === items.length - 1;
      lines.push(`${prefix}${last ? '└── ' : '├── '}${attachmentLabel(item)}`);
      attachmentLines(item.attachments, `${prefix}${last ? '    ' : '│   '}`);
    });
  };
  for (const item of tree.attachments) {
    const last = ++index === total;
    lines.push(`${last ? '└── ' : '├── '}${attachmentLabel(item)}`);
    attachmentLines(item.attachments, last ? '    ' : '│   ');
  }
  for (const manifest of tree.manifests) {
    const last = ++index === total;
    lines.push(`${last ? '└── ' : '├── '}${printable(manifest.platform ?? 'manifest')} ${manifest.digest}`);
    attachmentLines(manifest.attachments, last ? '    ' : '│   ');
  }
  if (total === 0) lines.push('└── (nothing attached)');
  return `${lines.join('\n')}\n`;
}

function attachmentLabel(item: TreeAttachment): string {
  const where = item.tag ? `${item.tag} ` : '';
  // Predicate and artifact types are what an (unsigned) annotation or manifest says: escaped.
  const types = item.predicateTypes?.length ? ` [${printable(item.predicateTypes.join(', '))}]` : '';
  const artifact = item.artifactType && item.format === 'referrer' ? ` ${printable(item.artifactType)}` : '';
  return `${item.kind} (${item.format}) ${where}${item.digest}${artifact}${types}`;
}
