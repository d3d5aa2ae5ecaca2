import type { KeyObject } from 'node:crypto';
import { RampartError } from '../errors.js';
import type { AttachmentStore } from '../oci/attachments.js';
import { legacyAttachmentTag } from '../oci/attachments.js';
import type { Digest } from '../oci/digest.js';
import type { Manifest } from '../oci/image.js';
import { MediaType } from '../oci/media-types.js';
import type { OpenOptions } from '../oci/open.js';
import { openAttachmentStore, openImage } from '../oci/open.js';
import { parseImageReference } from '../oci/reference.js';
import type { Descriptor } from '../oci/types.js';
import {
  ATTESTATION_PREDICATE_ANNOTATION,
  BUNDLE_MEDIA_TYPE,
  BUNDLE_PREDICATE_ANNOTATION,
  COSIGN_SIGN_PREDICATE,
  DSSE_ENVELOPE_MEDIA_TYPE,
  predicateTypeOf,
} from './formats.js';
import type { SignatureReport } from './verify.js';
import {
  checkEnvelope,
  checkStatementSubject,
  type EnvelopeAnswers,
  MAX_SIGNATURES,
  openBundle,
  openSignatureManifest,
  parseEnvelope,
  readLayer,
  readReferrers,
} from './verify.js';

/**
 * `rampart verify-attestation`: the attestations of an image in both formats (cosign 2's `.att`
 * DSSE layers, cosign 3's bundle referrers), each checked against one public key: the blob's
 * digest, the DSSE signature over the envelope's pre-authentication encoding, the statement's
 * shape, and a subject naming the image's digest. The statements of the valid ones are returned.
 */

/** Bound on one attestation blob: an 8 MiB predicate in base64 inside a bundle. */
export const MAX_ATTESTATION_BLOB = 16 * 1024 * 1024;

export interface AttestationReport extends SignatureReport {
  /** The signed statement's predicate type (when its signature is valid), else the one claimed. */
  predicateType?: string;
  /** Whether the signed statement names the image's digest (absent when it was not reached). */
  subjectMatches?: boolean;
  /** The verified in-toto statement (valid reports only). */
  statement?: Record<string, unknown>;
}

export interface VerifyAttestationResult {
  verified: boolean;
  digest: Digest;
  /** The predicate type required (`--type`, resolved to its URI). */
  predicateType?: string;
  attestations: AttestationReport[];
}

export interface VerifyAttestationOptions extends OpenOptions {
  /** Only attestations of this predicate type (a cosign short name or a URI). */
  type?: string;
  signal?: AbortSignal;
}

export async function verifyAttestations(
  ref: string,
  key: KeyObject,
  options: VerifyAttestationOptions = {},
): Promise<VerifyAttestationResult> {
  return verifyAttestationsWith(ref, options, (store, digest) =>
    verifyAttestationsOfDigest(store, digest, key, options),
  );
}

/**
 * The attestations of the image `ref` names, each checked by `check` (by a key, or keylessly:
 * keyless-verify.ts), those of `options.type` kept.
 */
export async function verifyAttestationsWith(
  ref: string,
  options: VerifyAttestationOptions,
  check: (store: AttachmentStore, digest: Digest) => Promise<AttestationReport[]>,
): Promise<VerifyAttestationResult> {
  const predicateType = options.type === undefined ? undefined : resolveType(options.type);
  const reference = parseImageReference(ref);
  const open = options.registry ? { registry: options.registry } : {};
  const object = await openImage(reference, open);
  const store = await openAttachmentStore(reference, open);
  const reports = await check(store, object.digest);
  // With a type: those of that type, and the failures whose type is not known (kept as reasons).
  const wanted =
    predicateType === undefined
      ? reports
      : reports.filter((r) => r.predicateType === predicateType || r.predicateType === undefined);
  return {
    verified: wanted.some((report) => report.valid),
    digest: object.digest,
    ...(predicateType ? { predicateType } : {}),
    attestations: wanted,
  };
}

/** The attestations of one manifest digest in a store (both formats), each checked against `key`. */
export async function verifyAttestationsOfDigest(
  store: AttachmentStore,
  digest: Digest,
  key: KeyObject,
  options: { signal?: AbortSignal; answers?: EnvelopeAnswers } = {},
): Promise<AttestationReport[]> {
  // Shared by the caller across the digests it walks with this key (a policy's subjects).
  const answers = options.answers ?? new Map();
  return walkAttestations(
    store,
    digest,
    {
      legacy: (manifest, layer) => checkLegacyAttestation(manifest, layer, digest, key, answers),
      bundle: async (manifest, claimed) => {
        const opened = await openBundle(manifest, digest, key, MAX_ATTESTATION_BLOB, answers);
        if ('report' in opened) {
          // Not signed by this key: an image signature (cosign/sign/v1) is `verify`'s, not reported here.
          if (claimed === COSIGN_SIGN_PREDICATE) return undefined;
          return { ...opened.report, ...(claimed ? { predicateType: claimed } : {}) };
        }
        const { statement, base, layer } = opened;
        if (statement.predicateType === COSIGN_SIGN_PREDICATE) return undefined;
        return withStatement(
          checkStatementSubject(statement, digest, base, `the statement in bundle ${layer.digest}`),
          statement.predicateType,
          statement.value,
        );
      },
    },
    options,
  );
}

/** How one signer's attestations are decided: a `.att` DSSE layer, and a bundle referrer. */
export interface AttestationChecks {
  legacy(manifest: Manifest, layer: Descriptor): Promise<AttestationReport>;
  /** `claimed` is the referrer's predicate-type annotation; undefined skips it (an image signature). */
  bundle(manifest: Manifest, claimed: string | undefined): Promise<AttestationReport | undefined>;
}

/**
 * The one walk over the attestations of a manifest digest, in both formats: the DSSE layers of its
 * `.att` tag (cosign 2) and its sigstore bundle referrers (cosign 3), at most MAX_SIGNATURES of
 * each, cancellable between them; an unreadable manifest is a report, not an error. `checks`
 * decides each one for a signer (a key, a keyless trust).
 */
export async function walkAttestations(
  store: AttachmentStore,
  digest: Digest,
  checks: AttestationChecks,
  options: { signal?: AbortSignal } = {},
): Promise<AttestationReport[]> {
  const reports: AttestationReport[] = [];
  const attTag = await store.resolveTag(legacyAttachmentTag(digest, 'att'));
  if (attTag) {
    const manifest = await openSignatureManifest(store, attTag, 'legacy', reports);
    for (const layer of manifest?.layerDescriptors.slice(0, MAX_SIGNATURES) ?? []) {
      options.signal?.throwIfAborted();
      reports.push(await checks.legacy(manifest as Manifest, layer));
    }
  }
  const referrers = await readReferrers(store, digest, reports);
  for (const descriptor of referrers.slice(0, MAX_SIGNATURES)) {
    options.signal?.throwIfAborted();
    if (descriptor.mediaType !== MediaType.OciManifest) continue;
    const manifest = await openSignatureManifest(store, descriptor, 'bundle', reports);
    if (manifest?.artifactType !== BUNDLE_MEDIA_TYPE) continue;
    const report = await checks.bundle(manifest, manifest.annotations[BUNDLE_PREDICATE_ANNOTATION]);
    if (report) reports.push(report);
  }
  return reports;
}

function resolveType(type: string): string {
  const uri = predicateTypeOf(type);
  if (uri) return uri;
  throw new RampartError('USAGE', `--type ${type}: expected a cosign predicate name or a URI`, {
    details: { option: '--type', value: type },
  });
}

function withStatement(
  report: SignatureReport,
  predicateType: string,
  statement: Record<string, unknown>,
): AttestationReport {
  return {
    ...report,
    predicateType,
    subjectMatches: report.valid,
    ...(report.valid ? { statement } : {}),
  };
}

/** One layer of a `.att` manifest: a DSSE envelope of an in-toto statement about the image. */
async function checkLegacyAttestation(
  manifest: Manifest,
  layer: Descriptor,
  digest: Digest,
  key: KeyObject,
  answers?: EnvelopeAnswers,
): Promise<AttestationReport> {
  const claimed = layer.annotations?.[ATTESTATION_PREDICATE_ANNOTATION];
  const base = {
    format: 'legacy' as const,
    manifest: manifest.digest,
    layer: layer.digest,
    annotations: {},
    ...(claimed ? { predicateType: claimed } : {}),
  };
  if (layer.mediaType !== DSSE_ENVELOPE_MEDIA_TYPE) {
    return {
      ...base,
      valid: false,
      failed: 'media-type',
      reason: `layer ${layer.digest} is ${layer.mediaType}, not ${DSSE_ENVELOPE_MEDIA_TYPE}`,
    };
  }
  const raw = await readLayer(manifest, layer, MAX_ATTESTATION_BLOB);
  if (typeof raw === 'string') return { ...base, valid: false, failed: 'blob', reason: raw };
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    value = undefined;
  }
  const envelope = parseEnvelope(value);
  if (typeof envelope === 'string') {
    return { ...base, valid: false, failed: 'payload', reason: `envelope ${layer.digest}: ${envelope}` };
  }
  const checked = checkEnvelope(envelope, key, base, layer, `envelope ${layer.digest}`, answers);
  if ('report' in checked) return { ...base, ...checked.report };
  const { statement } = checked;
  return withStatement(
    checkStatementSubject(statement, digest, base, `the statement in envelope ${layer.digest}`),
    statement.predicateType,
    statement.value,
  );
}
