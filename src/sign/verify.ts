import type { KeyObject } from 'node:crypto';
import { isRampartError, RampartError } from '../errors.js';
import type { AttachmentStore } from '../oci/attachments.js';
import { legacyAttachmentTag } from '../oci/attachments.js';
import type { Digest } from '../oci/digest.js';
import { digestHex, readAll, sha256Digest } from '../oci/digest.js';
import type { Manifest } from '../oci/image.js';
import { COSIGN_SIGNATURE_ANNOTATION, MediaType } from '../oci/media-types.js';
import type { OpenOptions } from '../oci/open.js';
import { openAttachmentStore, openManifest } from '../oci/open.js';
import type { ImageReference } from '../oci/reference.js';
import { parseImageReference } from '../oci/reference.js';
import type { Descriptor } from '../oci/types.js';
import { duplicateJsonKey } from '../util/json-duplicates.js';
import { mapBounded } from '../util/map-bounded.js';
import { allSettledOrThrow } from '../util/settle.js';
import {
  BUNDLE_MEDIA_TYPE,
  BUNDLE_PREDICATE_ANNOTATION,
  COSIGN_SIGN_PREDICATE,
  decodeBase64,
  IN_TOTO_PAYLOAD_TYPE,
  MAX_JSON_DEPTH,
  nestsDeeperThan,
  pae,
  SIMPLE_SIGNING_TYPE,
  STATEMENT_V1,
  STATEMENT_V01,
} from './formats.js';
import { verifySignature } from './keys.js';
import type { SignatureFormat } from './sign.js';

/**
 * `rampart verify`: every signature of an image, in both formats, checked against one public key
 * (cosign's `verify --key`): the stored blob's digest, the signature over exactly those bytes, the
 * signed digest against the image's, and `docker-reference` (or the statement subject's name) when
 * an identity is required. Nothing is re-serialised; nothing but the given key is trusted.
 */

/** Which check a signature failed, for callers to match on. */
export type SignatureCheck =
  | 'manifest' // the signature manifest (or bundle referrer) cannot be read or is not its digest
  | 'blob' // the payload or bundle blob is missing, too large, or not the digest the manifest names
  | 'media-type' // the layer or manifest is not of the signature's type
  | 'signature' // the signature is absent, malformed, or not the key's over these bytes
  | 'payload' // the signed document is not a well-formed simple-signing payload / statement / bundle
  | 'digest' // the signed digest is not the image's
  | 'identity' // docker-reference (or the statement's subject name) is not the required identity
  | 'subject' // a bundle referrer whose subject is not this image
  // Keyless (certificate) signatures:
  | 'certificate' // the certificate does not chain to a CA of the trusted root (at the signing time), or lacks a required SCT
  | 'tlog' // no transparency-log entry, or one the trusted root's logs did not sign, or not of this signature
  | 'timestamp' // no verified time of signing (log entry or timestamp authority)
  | 'certificate-identity' // the certificate names another identity than the one required
  | 'certificate-issuer'; // the certificate names another OIDC issuer than the one required

export interface SignatureReport {
  format: SignatureFormat;
  valid: boolean;
  /** What failed, in words (absent when valid). */
  reason?: string;
  failed?: SignatureCheck;
  /** The signed identity (docker-reference, or the statement subject's name), when there is one. */
  identity?: string;
  /** The payload's `optional` (legacy) or the statement subject's annotations (bundle). */
  annotations: Record<string, unknown>;
  /** The manifest holding this signature (`.sig` manifest or bundle referrer). */
  manifest: Digest;
  /** The layer (payload or bundle blob) that was checked. */
  layer?: Digest;
  /** A bundle given as a file (`verify --bundle`): its path; `manifest` and `layer` are its digest. */
  file?: string;
  /** A bundle file's signed predicate type (an image signature's is cosign/sign/v1). */
  predicateType?: string;
  /**
   * Keyless: the signing certificate's identity (subject alternative name), OIDC issuer, and `key`:
   * base64(sha256(DER SPKI)) of its (ephemeral) public key, the same for one signing's bundle and `.sig`.
   */
  certificate?: { identity?: string; issuer?: string; key?: string };
}

export interface VerifyResult {
  verified: boolean;
  digest: Digest;
  signatures: SignatureReport[];
}

export interface VerifyOptions extends OpenOptions {
  /** Require this `docker-reference` (cosign: the repository). */
  identity?: string;
  signal?: AbortSignal;
}

/** Bound on one signature blob (a payload or a bundle: a few KiB in practice). */
export const MAX_SIGNATURE_BLOB = 1024 * 1024;
/** Bound on signatures checked for one image: a hostile store could list millions. */
export const MAX_SIGNATURES = 1000;
/**
 * Bound on the signatures of one DSSE envelope (cosign writes one; a multi-signer envelope a few).
 * Each is checked over the whole PAE, up to an attestation's 16 MiB: the bound caps how much work
 * one downloaded envelope can ask for.
 */
export const MAX_ENVELOPE_SIGNATURES = 16;
/** Signatures fetched and checked at once (per kind: `.sig` layers, bundle referrers). */
const SIGNATURE_JOBS = 8;

export async function verifyImage(
  ref: string,
  key: KeyObject,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const reference = verifiableReference(ref);
  const open = options.registry ? { registry: options.registry } : {};
  // The manifest only: a signature covers its digest, and the image's config is not read (cosign
  // reads no config either); the manifest's bytes must still hash to a pinned digest.
  const opening = openManifest(reference, open);
  opening.catch(() => undefined);
  const store = await openAttachmentStore(reference, open);
  // A pinned digest is known before the image is read: its signatures are looked up meanwhile.
  // The image must still open (and be that digest) for the result to count.
  const early = reference.digest ? verifyDigest(store, reference.digest, key, options) : undefined;
  early?.catch(() => undefined);
  const object = await opening;
  const signatures =
    early && object.digest === reference.digest
      ? await early
      : await verifyDigest(store, object.digest, key, options);
  return { verified: signatures.some((signature) => signature.valid), digest: object.digest, signatures };
}

/**
 * The reference of an image to verify: docker://, oci: or oci-archive:. Others are refused before
 * anything is read (a dir: would otherwise be packed whole as a root filesystem).
 */
export function verifiableReference(ref: string): ImageReference {
  const reference = parseImageReference(ref);
  if (reference.transport === 'docker-archive' || reference.transport === 'dir') {
    throw new RampartError(
      'UNSUPPORTED_TRANSPORT',
      `${reference.transport}: holds no signatures beside an image; verify in a registry (docker://), an OCI layout (oci:) or an OCI archive (oci-archive:)`,
      { details: { reference: ref, transport: reference.transport } },
    );
  }
  return reference;
}

/** The signatures of one manifest digest in a store, each checked. */
export async function verifyDigest(
  store: AttachmentStore,
  digest: Digest,
  key: KeyObject,
  options: { identity?: string; signal?: AbortSignal } = {},
): Promise<SignatureReport[]> {
  return checkSignatures(
    store,
    digest,
    {
      legacy: (manifest, layer) => checkLegacy(manifest, layer, digest, key, options.identity),
      bundle: (manifest) => checkBundle(manifest, digest, key, options.identity),
    },
    options.signal,
  );
}

/** How one signature is checked: by a key (here), by a certificate and trusted root (keyless-verify.ts). */
export interface SignatureChecker {
  /** A layer of the `.sig` manifest. */
  legacy(manifest: Manifest, layer: Descriptor): Promise<SignatureReport>;
  /** A sigstore bundle referrer; undefined when it holds no image signature (an attestation). */
  bundle(manifest: Manifest): Promise<SignatureReport | undefined>;
}

/** Every signature of one manifest digest in a store (`.sig` layers, bundle referrers), each checked. */
export async function checkSignatures(
  store: AttachmentStore,
  digest: Digest,
  checker: SignatureChecker,
  signal?: AbortSignal,
): Promise<SignatureReport[]> {
  // The `.sig` tag and the referrers are independent lookups, and each signature is checked on its
  // own: all are fetched at once (at most SIGNATURE_JOBS requests per kind in flight). The reports
  // keep the order of a one-by-one walk: the legacy layers, then the referrers'.
  const referrerReports: SignatureReport[] = [];
  const listing = readReferrers(store, digest, referrerReports);
  listing.catch(() => undefined);
  const legacy = (async () => {
    const reports: SignatureReport[] = [];
    const manifest = await openTaggedSignatureManifest(store, legacyAttachmentTag(digest, 'sig'), reports);
    if (manifest) {
      const layers = manifest.layerDescriptors.slice(0, MAX_SIGNATURES);
      reports.push(
        ...(await mapBounded(layers, SIGNATURE_JOBS, (layer) => {
          signal?.throwIfAborted();
          return checker.legacy(manifest, layer);
        })),
      );
    }
    return reports;
  })();
  // Every referrer is opened: a listing's artifactType is not to be trusted (cosign 3's tag-schema
  // entries even say the empty config's type); the manifest's own decides.
  const bundles = (async () =>
    mapBounded((await listing).slice(0, MAX_SIGNATURES), SIGNATURE_JOBS, async (descriptor) => {
      signal?.throwIfAborted();
      const reports: SignatureReport[] = [];
      if (descriptor.mediaType !== MediaType.OciManifest) return reports;
      const manifest = await openSignatureManifest(store, descriptor, 'bundle', reports);
      if (manifest?.artifactType !== BUNDLE_MEDIA_TYPE) return reports;
      // A referrer that says it holds an attestation is verify-attestation's: skipped, not reported as
      // a failed signature (the annotation is unsigned, so trusting it can only hide, never validate).
      const claimed = manifest.annotations[BUNDLE_PREDICATE_ANNOTATION];
      if (claimed !== undefined && claimed !== COSIGN_SIGN_PREDICATE) return reports;
      const report = await checker.bundle(manifest);
      if (report) reports.push(report);
      return reports;
    }))();
  // Both settle before a failure (a cancellation) is thrown: nothing keeps fetching behind it.
  const [legacyReports, bundleReports] = await allSettledOrThrow<[SignatureReport[], SignatureReport[][]]>([
    legacy,
    bundles,
  ]);
  return [...legacyReports, ...referrerReports, ...bundleReports.flat()];
}

/**
 * The referrers of `digest` in a store; when the listing cannot be read (a layout whose index lists a
 * damaged manifest, a registry answering nonsense) a failed 'manifest' report is added and none are
 * returned, so the legacy signatures found beside still count.
 */
export async function readReferrers(
  store: AttachmentStore,
  digest: Digest,
  reports: SignatureReport[],
): Promise<Descriptor[]> {
  try {
    return await store.referrers(digest);
  } catch (error) {
    if (!isRampartError(error) || error.code === 'CANCELLED') throw error;
    reports.push({
      format: 'bundle',
      valid: false,
      failed: 'manifest',
      reason: `the referrers of ${digest} in ${store.location} cannot be read: ${error.code}: ${error.message}`,
      annotations: {},
      manifest: digest,
    });
    return [];
  }
}

/**
 * A signature manifest, or undefined with a failed report added when it cannot be read (missing,
 * not its digest, too large, not a manifest): one broken entry does not hide the valid others.
 */
export async function openSignatureManifest(
  store: AttachmentStore,
  descriptor: Descriptor,
  format: SignatureFormat,
  reports: SignatureReport[],
): Promise<Manifest | undefined> {
  try {
    const manifest = await store.open(descriptor);
    if (manifest.kind === 'manifest') return manifest;
    reports.push({
      format,
      valid: false,
      failed: 'manifest',
      reason: `${descriptor.digest} in ${store.location} is an index, not a signature manifest`,
      annotations: {},
      manifest: descriptor.digest,
    });
  } catch (error) {
    if (!isRampartError(error) || error.code === 'CANCELLED') throw error;
    reports.push({
      format,
      valid: false,
      failed: 'manifest',
      reason: `the signature manifest ${descriptor.digest} in ${store.location} cannot be read: ${error.code}: ${error.message}`,
      annotations: {},
      manifest: descriptor.digest,
    });
  }
  return undefined;
}

/** Failures of a manifest's bytes (not of reaching them). */
const UNREADABLE_CONTENT: ReadonlySet<string> = new Set([
  'MALFORMED_MANIFEST',
  'UNKNOWN_MEDIA_TYPE',
  'DIGEST_MISMATCH',
  'SIZE_MISMATCH',
  'TOO_LARGE',
]);

/**
 * The signature manifest a tag names (cosign's `.sig`), in one read where the store can; undefined
 * when there is no such tag. One that is not a signature manifest, or whose bytes are no manifest, is read again
 * the two-step way (`resolveTag`, then `openSignatureManifest`), which reports it by its digest.
 */
async function openTaggedSignatureManifest(
  store: AttachmentStore,
  tag: string,
  reports: SignatureReport[],
): Promise<Manifest | undefined> {
  if (store.openTag) {
    try {
      const object = await store.openTag(tag);
      if (object === undefined) return undefined;
      if (object.kind === 'manifest') return object;
    } catch (error) {
      // Bytes that are no signature manifest are read again the two-step way below, which reports
      // them by their digest. Anything else (the registry unreachable, a timeout, a cancellation)
      // is thrown, as the tag's HEAD would throw it: not waited for twice.
      if (!isRampartError(error) || !UNREADABLE_CONTENT.has(error.code)) throw error;
    }
  }
  const descriptor = await store.resolveTag(tag);
  return descriptor && openSignatureManifest(store, descriptor, 'legacy', reports);
}

/** A signature or attestation blob (at most `limit` bytes), or why it cannot be read. */
export async function readLayer(
  manifest: Manifest,
  layer: Descriptor,
  limit = MAX_SIGNATURE_BLOB,
): Promise<Buffer | string> {
  if (layer.size > limit) return `the blob ${layer.digest} is ${layer.size} bytes, over ${limit}`;
  try {
    // Streamed through a digest and size check: bytes that are not the layer's digest fail here.
    return await readAll(await manifest.blob(layer.digest));
  } catch (error) {
    if (isRampartError(error))
      return `the blob ${layer.digest} cannot be read: ${error.code}: ${error.message}`;
    throw error;
  }
}

async function checkLegacy(
  manifest: Manifest,
  layer: Descriptor,
  digest: Digest,
  key: KeyObject,
  identity: string | undefined,
): Promise<SignatureReport> {
  const base = { format: 'legacy' as const, manifest: manifest.digest, layer: layer.digest, annotations: {} };
  const fail = (
    failed: SignatureCheck,
    reason: string,
    extra: Partial<SignatureReport> = {},
  ): SignatureReport => ({
    ...base,
    ...extra,
    valid: false,
    failed,
    reason,
  });
  if (layer.mediaType !== MediaType.CosignSimpleSigning) {
    return fail('media-type', `layer ${layer.digest} is ${layer.mediaType}, not a simple-signing payload`);
  }
  const signature = decodeBase64(layer.annotations?.[COSIGN_SIGNATURE_ANNOTATION]);
  if (!signature || signature.length === 0) {
    return fail(
      'signature',
      `layer ${layer.digest} has no ${COSIGN_SIGNATURE_ANNOTATION} annotation in base64`,
    );
  }
  const payload = await readLayer(manifest, layer);
  if (typeof payload === 'string') return fail('blob', payload);
  if (!verifySignature(key, payload, signature)) {
    return fail('signature', `the signature on layer ${layer.digest} is not this key's over the payload`);
  }
  // Signed by the key: now what it says.
  const parsed = parseSimpleSigning(payload);
  if (typeof parsed === 'string') return fail('payload', `payload ${layer.digest}: ${parsed}`);
  const extra = { identity: parsed.identity, annotations: parsed.optional };
  if (parsed.digest !== digest) {
    return fail('digest', `payload ${layer.digest} signs ${parsed.digest}, not the image ${digest}`, extra);
  }
  if (identity !== undefined && parsed.identity !== identity) {
    return fail('identity', `payload ${layer.digest} names ${parsed.identity}, not ${identity}`, extra);
  }
  return { ...base, ...extra, valid: true };
}

/** A simple-signing payload, as strictly as containers/image reads it. */
export function parseSimpleSigning(
  payload: Buffer,
): { identity: string; digest: string; optional: Record<string, unknown> } | string {
  let value: unknown;
  const text = payload.toString('utf8');
  try {
    value = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  const twice = duplicateJsonKey(text);
  if (twice !== undefined) return `the key ${JSON.stringify(twice)} appears twice in one object`;
  if (!isObject(value) || !isObject(value.critical)) return 'no critical object';
  const { critical, optional } = value;
  if (!hasExactly(critical, ['identity', 'image', 'type']))
    return 'critical must hold exactly identity, image, type';
  if (critical.type !== SIMPLE_SIGNING_TYPE) return `critical.type is not '${SIMPLE_SIGNING_TYPE}'`;
  if (!isObject(critical.image) || !hasExactly(critical.image, ['docker-manifest-digest'])) {
    return 'critical.image must hold exactly docker-manifest-digest';
  }
  if (!isObject(critical.identity) || !hasExactly(critical.identity, ['docker-reference'])) {
    return 'critical.identity must hold exactly docker-reference';
  }
  const digest = critical.image['docker-manifest-digest'];
  const identity = critical.identity['docker-reference'];
  if (typeof digest !== 'string' || typeof identity !== 'string')
    return 'digest and reference must be strings';
  if (optional !== undefined && optional !== null && !isObject(optional)) return 'optional is not an object';
  return { identity, digest, optional: isObject(optional) ? optional : {} };
}

async function checkBundle(
  manifest: Manifest,
  digest: Digest,
  key: KeyObject,
  identity: string | undefined,
): Promise<SignatureReport | undefined> {
  const opened = await openBundle(manifest, digest, key);
  if ('report' in opened) return opened.report;
  const { statement, base, layer } = opened;
  // An attestation of another predicate is not an image signature: not reported here.
  if (statement.predicateType !== COSIGN_SIGN_PREDICATE) return undefined;
  return requireIdentity(
    checkStatementSubject(statement, digest, base, `the statement in bundle ${layer.digest}`),
    identity,
    `the statement in bundle ${layer.digest}`,
  );
}

/** A valid report turned into an 'identity' failure when `identity` is required and not the one signed. */
function requireIdentity(
  checked: SignatureReport,
  identity: string | undefined,
  what: string,
): SignatureReport {
  if (!checked.valid || identity === undefined || checked.identity === identity) return checked;
  return {
    ...checked,
    valid: false,
    failed: 'identity',
    reason: `${what} names ${checked.identity ?? 'no identity'}, not ${identity}`,
  };
}

/** Bound on a bundle file given to `verify --bundle` (an attestation's: a predicate of 8 MiB in base64). */
export const MAX_BUNDLE_FILE = 16 * 1024 * 1024;

/**
 * `rampart verify IMAGE --bundle FILE`: the sigstore bundle in `bundle` (the bytes of the file
 * `file`, as `sign --bundle` or `attest --bundle` wrote them, or cosign's `--bundle`) checked
 * against the image: the DSSE signature by `key`, the statement's shape, a subject naming the
 * image's digest, and with `identity` that subject's name. The registry or layout is read only for
 * the image's digest; no signature stored there is consulted.
 */
export async function verifyImageBundle(
  ref: string,
  bundle: Buffer,
  key: KeyObject,
  options: VerifyOptions & { file?: string } = {},
): Promise<VerifyResult> {
  const reference = verifiableReference(ref);
  const open = options.registry ? { registry: options.registry } : {};
  const object = await openManifest(reference, open);
  const report = checkBundleBytes(bundle, object.digest, key, options.identity, options.file);
  return { verified: report.valid, digest: object.digest, signatures: [report] };
}

/** One bundle's bytes checked against an image digest (see verifyImageBundle). */
export function checkBundleBytes(
  bytes: Buffer,
  digest: Digest,
  key: KeyObject,
  identity?: string,
  file?: string,
): SignatureReport {
  const own = sha256Digest(bytes);
  const what = `bundle ${file ?? own}`;
  const base: ReportBase = {
    format: 'bundle',
    manifest: own,
    layer: own,
    annotations: {},
    ...(file !== undefined ? { file } : {}),
  };
  const bundle = parseBundle(bytes);
  if (typeof bundle === 'string') return failure(base, 'payload', `${what}: ${bundle}`);
  const layer: Descriptor = { mediaType: BUNDLE_MEDIA_TYPE, digest: own, size: bytes.length };
  const checked = checkEnvelope(bundle, key, base, layer, what);
  if ('report' in checked) return checked.report;
  const { statement } = checked;
  return {
    ...requireIdentity(
      checkStatementSubject(statement, digest, base, `the statement in ${what}`),
      identity,
      `the statement in ${what}`,
    ),
    predicateType: statement.predicateType,
  };
}

export type ReportBase = Pick<SignatureReport, 'format' | 'manifest' | 'layer' | 'annotations' | 'file'>;

export function failure(base: ReportBase, failed: SignatureCheck, reason: string): SignatureReport {
  return { ...base, valid: false, failed, reason };
}

/**
 * A bundle referrer of `digest` checked up to its statement: the referrer's subject, its one
 * bundle layer (at most `limit` bytes), the bundle, the DSSE signature by `key`, the statement's
 * shape. Either a failed report or the signed statement.
 */
export async function openBundle(
  manifest: Manifest,
  digest: Digest,
  key: KeyObject,
  limit = MAX_SIGNATURE_BLOB,
  answers?: EnvelopeAnswers,
): Promise<
  { report: SignatureReport } | { statement: ParsedStatement; base: ReportBase; layer: Descriptor }
> {
  const read = await readBundleLayer(manifest, digest, limit);
  if ('report' in read) return read;
  const { raw, base, layer } = read;
  const bundle = parseBundle(raw);
  if (typeof bundle === 'string')
    return { report: failure(base, 'payload', `bundle ${layer.digest}: ${bundle}`) };
  return checkEnvelope(bundle, key, base, layer, `bundle ${layer.digest}`, answers);
}

/**
 * The bundle blob of a referrer of `digest`: its subject must be `digest`, it must hold exactly one
 * bundle layer (at most `limit` bytes). Either a failed report or the bytes.
 */
export async function readBundleLayer(
  manifest: Manifest,
  digest: Digest,
  limit = MAX_SIGNATURE_BLOB,
): Promise<{ report: SignatureReport } | { raw: Buffer; base: ReportBase; layer: Descriptor }> {
  const layer = manifest.layerDescriptors[0];
  const base: ReportBase = {
    format: 'bundle',
    manifest: manifest.digest,
    ...(layer ? { layer: layer.digest } : {}),
    annotations: {},
  };
  if (manifest.subject?.digest !== digest) {
    return {
      report: failure(
        base,
        'subject',
        `referrer ${manifest.digest} names ${manifest.subject?.digest ?? 'no subject'}, not ${digest}`,
      ),
    };
  }
  if (!layer || manifest.layerDescriptors.length !== 1 || layer.mediaType !== BUNDLE_MEDIA_TYPE) {
    return {
      report: failure(
        base,
        'media-type',
        `referrer ${manifest.digest} does not hold exactly one ${BUNDLE_MEDIA_TYPE} layer`,
      ),
    };
  }
  const raw = await readLayer(manifest, layer, limit);
  if (typeof raw === 'string') return { report: failure(base, 'blob', raw) };
  return { raw, base, layer };
}

/**
 * Whether the envelope in a blob was signed by the one key of a walk, by how the blob was read
 * (its format: a legacy layer is an envelope, a bundle holds one under `dsseEnvelope`) and its
 * verified digest: a store that lists one large envelope many times costs one check of it, not one
 * per listing. The format is part of the key: one blob can hold a signed envelope at its top and a
 * forged one in a bundle's place, and the answer for one must never stand for the other.
 */
export type EnvelopeAnswers = Map<string, boolean>;

/** The DSSE signatures of an envelope by `key` over its PAE, then the statement it carries. */
export function checkEnvelope(
  envelope: ParsedEnvelope,
  key: KeyObject,
  base: ReportBase,
  layer: Descriptor,
  what: string,
  answers?: EnvelopeAnswers,
): { report: SignatureReport } | { statement: ParsedStatement; base: ReportBase; layer: Descriptor } {
  const read = `${base.format} ${layer.digest}`;
  let signedByKey = answers?.get(read);
  if (signedByKey === undefined) {
    const signed = pae(envelope.payloadType, envelope.payload);
    signedByKey = envelope.signatures.some((signature) => verifySignature(key, signed, signature));
    answers?.set(read, signedByKey);
  }
  if (!signedByKey) {
    return {
      report: failure(
        base,
        'signature',
        `the DSSE signature in ${what} is not this key's over the statement`,
      ),
    };
  }
  const statement = parseStatement(envelope.payload);
  if (typeof statement === 'string') return { report: failure(base, 'payload', `${what}: ${statement}`) };
  return { statement, base, layer };
}

/** Valid when the signed statement names `digest` as a subject ('digest' failure otherwise). */
export function checkStatementSubject(
  statement: ParsedStatement,
  digest: Digest,
  base: ReportBase,
  what: string,
): SignatureReport {
  const subject = statement.subjects.find((entry) => entry.sha256 === digestHex(digest));
  const shown = subject ?? statement.subjects[0];
  const extra = {
    ...(shown?.name ? { identity: shown.name } : {}),
    annotations: shown?.annotations ?? {},
  };
  if (!subject) return { ...failure(base, 'digest', `${what} does not name the image ${digest}`), ...extra };
  return { ...base, ...extra, valid: true };
}

export interface ParsedEnvelope {
  payloadType: string;
  payload: Buffer;
  signatures: Buffer[];
}

function parseBundle(raw: Buffer): ParsedEnvelope | string {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    return 'not JSON';
  }
  if (!isObject(value) || value.mediaType !== BUNDLE_MEDIA_TYPE)
    return `mediaType is not ${BUNDLE_MEDIA_TYPE}`;
  // A sigstore bundle carries exactly one signature.
  return parseEnvelope(value.dsseEnvelope, 1);
}

/** A DSSE envelope of an in-toto statement; `exactly`: the number of signatures it must hold. */
export function parseEnvelope(envelope: unknown, exactly?: number): ParsedEnvelope | string {
  if (!isObject(envelope)) return 'no DSSE envelope';
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) return `payloadType is not ${IN_TOTO_PAYLOAD_TYPE}`;
  const payload = decodeBase64(envelope.payload);
  if (!payload) return 'the payload is not base64';
  const list = envelope.signatures;
  if (!Array.isArray(list) || (exactly !== undefined && list.length !== exactly)) {
    return exactly === 1
      ? 'the envelope does not hold exactly one signature'
      : 'the envelope has no signature list';
  }
  if (list.length === 0) return 'the envelope holds no signatures';
  if (list.length > MAX_ENVELOPE_SIGNATURES) {
    return `the envelope holds ${list.length} signatures, more than the ${MAX_ENVELOPE_SIGNATURES} checked`;
  }
  const signatures: Buffer[] = [];
  for (const entry of list) {
    const signature = isObject(entry) ? decodeBase64(entry.sig) : undefined;
    if (!signature || signature.length === 0) return 'a signature is not base64';
    signatures.push(signature);
  }
  return { payloadType: envelope.payloadType, payload, signatures };
}

export interface StatementSubject {
  name?: string;
  sha256?: string;
  annotations?: Record<string, unknown>;
}

export interface ParsedStatement {
  predicateType: string;
  subjects: StatementSubject[];
  /** The whole statement as signed (parsed JSON). */
  value: Record<string, unknown>;
}

export function parseStatement(payload: Buffer): ParsedStatement | string {
  let value: unknown;
  const text = payload.toString('utf8');
  try {
    value = JSON.parse(text);
  } catch {
    return 'the statement is not JSON';
  }
  // What JSON.parse makes of a repeated key (the last) is not what every verifier makes of it.
  const twice = duplicateJsonKey(text);
  if (twice !== undefined)
    return `the key ${JSON.stringify(twice)} appears twice in one object of the statement`;
  if (!isObject(value) || (value._type !== STATEMENT_V1 && value._type !== STATEMENT_V01))
    return `the statement's _type is not ${STATEMENT_V1} (or ${STATEMENT_V01})`;
  if (typeof value.predicateType !== 'string') return 'the statement has no predicateType';
  if (nestsDeeperThan(value)) return `the statement nests deeper than ${MAX_JSON_DEPTH} levels`;
  if (!Array.isArray(value.subject) || value.subject.length === 0) return 'the statement has no subject';
  const subjects: StatementSubject[] = [];
  for (const entry of value.subject) {
    if (!isObject(entry) || !isObject(entry.digest)) return 'a statement subject has no digest';
    subjects.push({
      ...(typeof entry.name === 'string' ? { name: entry.name } : {}),
      ...(typeof entry.digest.sha256 === 'string' ? { sha256: entry.digest.sha256.toLowerCase() } : {}),
      ...(isObject(entry.annotations) ? { annotations: entry.annotations } : {}),
    });
  }
  return { predicateType: value.predicateType, subjects, value };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasExactly(value: Record<string, unknown>, keys: string[]): boolean {
  const own = Object.keys(value).sort();
  return own.length === keys.length && own.every((name, i) => name === keys[i]);
}
