import type { AttachmentStore } from '../../oci/attachments.js';
import { findAttachments } from '../../oci/attachments.js';
import type { Digest } from '../../oci/digest.js';
import { BUNDLE_MEDIA_TYPE, BUNDLE_PREDICATE_ANNOTATION, COSIGN_SIGN_PREDICATE } from '../../sign/formats.js';
import type { AttachmentsSeen, LintCheck } from './types.js';
import { findingOf } from './types.js';

const SBOM_TYPE = /spdx|cyclonedx/i;
const PROVENANCE_TYPE = /^https:\/\/slsa\.dev\/provenance\//;
const SIGNATURE_ARTIFACTS = new Set([
  'application/vnd.dev.cosign.artifact.sig.v1+json',
  'application/vnd.cncf.notary.signature',
]);

/**
 * What is attached to the image (and to the index it was reached through): cosign legacy tags
 * (`.sig`, `.att`, `.sbom`) and OCI referrers (sigstore bundles, notation signatures, SBOM
 * artifacts). Presence only, from manifests and their unsigned annotations: whether a signature
 * verifies is `rampart verify`'s question, with a key.
 */
export async function seeAttachments(
  store: AttachmentStore,
  subjects: readonly Digest[],
  signal?: AbortSignal,
): Promise<AttachmentsSeen> {
  const seen: AttachmentsSeen = { signature: false, sbom: false, provenance: false };
  const found = await findAttachments(store, subjects, signal ? { signal } : {});
  const predicate = (type: string | undefined) => {
    if (!type) return;
    if (type === COSIGN_SIGN_PREDICATE) seen.signature = true;
    if (SBOM_TYPE.test(type)) seen.sbom = true;
    if (PROVENANCE_TYPE.test(type)) seen.provenance = true;
  };
  for (const attachment of found) {
    if (!subjects.includes(attachment.subject)) continue;
    if (attachment.kind === 'signature') seen.signature = true;
    else if (attachment.kind === 'sbom') seen.sbom = true;
    const artifactType = attachment.artifactType ?? '';
    if (SIGNATURE_ARTIFACTS.has(artifactType)) seen.signature = true;
    if (SBOM_TYPE.test(artifactType)) seen.sbom = true;
    if (attachment.kind === 'attestation' || artifactType === BUNDLE_MEDIA_TYPE) {
      const manifest = await store.open(attachment.descriptor);
      if (manifest.kind !== 'manifest') continue;
      predicate(manifest.annotations[BUNDLE_PREDICATE_ANNOTATION]);
      for (const layer of manifest.layerDescriptors) predicate(layer.annotations?.predicateType);
    }
  }
  return seen;
}

function attachmentCheck(
  id: string,
  what: keyof AttachmentsSeen,
  title: string,
  fix: string,
  describe: string,
): LintCheck {
  return {
    id,
    group: 'attachments',
    // info: an image straight out of a local build is unsigned until it is published.
    severity: 'info',
    title,
    fix,
    requires: ['attachments'],
    run(context) {
      if (!context.attachments || context.attachments[what]) return [];
      return [findingOf(this, describe, { kind: 'image' })];
    },
  };
}

export const ATTACHMENT_CHECKS: readonly LintCheck[] = [
  attachmentCheck(
    'no-signature',
    'signature',
    'No signature is attached',
    'Sign the image: `rampart sign --key cosign.key IMAGE` (or `rampart build --sign-key`).',
    'no signature (cosign .sig, sigstore bundle or notation) is attached to the image',
  ),
  attachmentCheck(
    'no-sbom',
    'sbom',
    'No SBOM is attached',
    'Attach an SBOM attestation: `rampart attest --type spdxjson --predicate sbom.spdx.json --key cosign.key IMAGE`.',
    'no SBOM (attestation or artifact) is attached to the image',
  ),
  attachmentCheck(
    'no-provenance',
    'provenance',
    'No provenance is attached',
    'Attach SLSA provenance: `rampart build --sign-key cosign.key` records and attests it.',
    'no SLSA provenance attestation is attached to the image',
  ),
];
