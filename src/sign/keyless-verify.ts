import { createHash, X509Certificate } from 'node:crypto';
import type { Bundle } from '@sigstore/bundle';
import type { TrustMaterial, VerificationError, Verifier } from '@sigstore/verify';
import { RampartError } from '../errors.js';
import type { AttachmentStore } from '../oci/attachments.js';
import { type Digest, sha256Digest } from '../oci/digest.js';
import type { Manifest } from '../oci/image.js';
import { COSIGN_SIGNATURE_ANNOTATION, MediaType } from '../oci/media-types.js';
import type { OpenOptions } from '../oci/open.js';
import { openAttachmentStore, openImage } from '../oci/open.js';
import type { Descriptor } from '../oci/types.js';
import {
  ATTESTATION_PREDICATE_ANNOTATION,
  COSIGN_SIGN_PREDICATE,
  DSSE_ENVELOPE_MEDIA_TYPE,
  decodeBase64,
  IN_TOTO_PAYLOAD_TYPE,
} from './formats.js';
import { COSIGN_BUNDLE_ANNOTATION, COSIGN_CERTIFICATE_ANNOTATION } from './keyless.js';
import { publicKeyHint } from './keys.js';
import {
  checkSignatures,
  checkStatementSubject,
  failure,
  parseEnvelope,
  parseSimpleSigning,
  parseStatement,
  type ReportBase,
  readBundleLayer,
  readLayer,
  type SignatureCheck,
  type SignatureReport,
  type VerifyResult,
  verifiableReference,
} from './verify.js';
import {
  type AttestationReport,
  MAX_ATTESTATION_BLOB,
  type VerifyAttestationOptions,
  type VerifyAttestationResult,
  verifyAttestationsWith,
  walkAttestations,
} from './verify-attestation.js';

/**
 * `rampart verify --certificate-identity ID --certificate-oidc-issuer ISS --trusted-root FILE`:
 * keyless signatures (a Fulcio certificate and a Rekor entry, as cosign writes them) checked
 * offline by @sigstore/verify against a trusted root file: the certificate chains to one of its
 * CAs at the time the log (or a timestamp authority) vouches for, with an SCT from one of its CT
 * logs when it lists any; the log entry is signed by one of its logs and is of this signature; the
 * signature is the certificate key's. Then the certificate's identity and issuer are the required
 * ones, and the signed document names the image's digest. Nothing is fetched (no TUF).
 */

export interface KeylessVerifyOptions extends OpenOptions {
  /** The trusted root (sigstore `trustedroot+json`): its bytes. */
  trustedRoot: Buffer;
  /** Its file, for errors. */
  trustedRootFile?: string;
  /** The certificate's subject alternative name, exactly (cosign `--certificate-identity`). */
  identity?: string;
  /** Or a regular expression it must match (cosign `--certificate-identity-regexp`: unanchored). */
  identityRegexp?: string;
  /** The OIDC issuer the certificate must name, exactly (cosign `--certificate-oidc-issuer`). */
  issuer: string;
  signal?: AbortSignal;
}

/** Bound on a trusted root file (the public-good one is about 10 KiB). */
export const MAX_TRUSTED_ROOT = 4 * 1024 * 1024;

export async function verifyImageKeyless(ref: string, options: KeylessVerifyOptions): Promise<VerifyResult> {
  const reference = verifiableReference(ref);
  const identities = identityPolicy(options);
  const verifier = await verifierFor(options.trustedRoot, options.trustedRootFile);
  const open = options.registry ? { registry: options.registry } : {};
  const object = await openImage(reference, open);
  const store = await openAttachmentStore(reference, open);
  const signatures = await verifyDigestKeyless(store, object.digest, { verifier, identities }, options);
  return { verified: signatures.some((signature) => signature.valid), digest: object.digest, signatures };
}

/**
 * `rampart verify-attestation IMAGE --trusted-root FILE --certificate-identity ID
 * --certificate-oidc-issuer ISS`: the keyless attestations of an image (bundle referrers and `.att`
 * layers), each checked as `verifyImageKeyless` checks signatures; those of `type` kept.
 */
export async function verifyAttestationsKeyless(
  ref: string,
  options: KeylessVerifyOptions & Pick<VerifyAttestationOptions, 'type'>,
): Promise<VerifyAttestationResult> {
  const identities = identityPolicy(options);
  const verifier = await verifierFor(options.trustedRoot, options.trustedRootFile);
  return verifyAttestationsWith(ref, options, (store, digest) =>
    verifyKeylessAttestationsOfDigest(store, digest, { verifier, identities }, options),
  );
}

/** What keyless verification trusts: a trusted root's verifier and the identities it accepts (any one). */
export interface KeylessTrust {
  verifier: Verifier;
  /** The certificate must name one of these (identity, or a match of the regexp, and the issuer). */
  identities: CertificateIdentity[];
}

/** Every keyless signature of one manifest digest in a store (`.sig` layers, bundle referrers), each checked. */
export async function verifyDigestKeyless(
  store: AttachmentStore,
  digest: Digest,
  trust: KeylessTrust,
  options: { signal?: AbortSignal } = {},
): Promise<SignatureReport[]> {
  const sigstore = await sigstoreModules();
  const { toSignedEntity } = sigstore;
  const { verifier, identities } = trust;
  return checkSignatures(
    store,
    digest,
    {
      legacy: async (manifest, layer) => {
        const base: ReportBase = {
          format: 'legacy',
          manifest: manifest.digest,
          layer: layer.digest,
          annotations: {},
        };
        const payload = await legacyPayload(manifest, layer, base);
        if ('report' in payload) return payload.report;
        const bundle = legacyBundle(layer, payload.bytes);
        if (typeof bundle === 'string')
          return failure(
            base,
            bundle.startsWith('no certificate') ? 'certificate' : 'payload',
            `layer ${layer.digest}: ${bundle}`,
          );
        const checked = verifyEntity(
          verifier,
          () => toSignedEntity(bundle, payload.bytes),
          identities,
          base,
          `layer ${layer.digest}`,
        );
        if (!checked.valid) return checked;
        const parsed = parseSimpleSigning(payload.bytes);
        if (typeof parsed === 'string') return failure(base, 'payload', `payload ${layer.digest}: ${parsed}`);
        const extra = { ...checked, identity: parsed.identity, annotations: parsed.optional };
        if (parsed.digest !== digest) {
          return {
            ...extra,
            valid: false,
            failed: 'digest',
            reason: `payload ${layer.digest} signs ${parsed.digest}, not the image ${digest}`,
          };
        }
        return extra;
      },
      bundle: async (manifest) => {
        const read = await readBundleLayer(manifest, digest);
        if ('report' in read) return read.report;
        const { raw, base, layer } = read;
        const checked = checkKeylessBundle(
          raw,
          digest,
          verifier,
          identities,
          base,
          `bundle ${layer.digest}`,
          sigstore,
        );
        if (!checked.valid) return checked;
        // An attestation of another predicate is not an image signature: not reported here.
        if (checked.predicateType !== COSIGN_SIGN_PREDICATE) return undefined;
        const { predicateType: _, statement: __, ...report } = checked;
        return report;
      },
    },
    options.signal,
  );
}

/**
 * The keyless attestations of one manifest digest (cosign 3's bundle referrers, cosign 2's `.att`
 * DSSE layers with a certificate), each checked against the trusted root and identities, as
 * `verifyAttestationsOfDigest` checks keyed ones; the valid ones carry their statement.
 */
export async function verifyKeylessAttestationsOfDigest(
  store: AttachmentStore,
  digest: Digest,
  trust: KeylessTrust,
  options: { signal?: AbortSignal } = {},
): Promise<AttestationReport[]> {
  const sigstore = await sigstoreModules();
  return walkAttestations(
    store,
    digest,
    {
      legacy: (manifest, layer) => checkKeylessLegacyAttestation(manifest, layer, digest, trust, sigstore),
      bundle: async (manifest, claimed) => {
        // An image signature (cosign/sign/v1) is `verify`'s, not an attestation.
        if (claimed === COSIGN_SIGN_PREDICATE) return undefined;
        const read = await readBundleLayer(manifest, digest, MAX_ATTESTATION_BLOB);
        if ('report' in read) return { ...read.report, ...(claimed ? { predicateType: claimed } : {}) };
        const { raw, base, layer } = read;
        const checked = checkKeylessBundle(
          raw,
          digest,
          trust.verifier,
          trust.identities,
          base,
          `bundle ${layer.digest}`,
          sigstore,
        );
        if (checked.predicateType === COSIGN_SIGN_PREDICATE) return undefined;
        return attestationReport(checked, claimed);
      },
    },
    options,
  );
}

/** One layer of a `.att` manifest made keylessly: a DSSE envelope with cosign's certificate annotations. */
async function checkKeylessLegacyAttestation(
  manifest: Manifest,
  layer: Descriptor,
  digest: Digest,
  trust: KeylessTrust,
  sigstore: Awaited<ReturnType<typeof sigstoreModules>>,
): Promise<AttestationReport> {
  const claimed = layer.annotations?.[ATTESTATION_PREDICATE_ANNOTATION];
  const base: ReportBase = {
    format: 'legacy',
    manifest: manifest.digest,
    layer: layer.digest,
    annotations: {},
  };
  const what = `envelope ${layer.digest}`;
  const failed = (check: SignatureCheck, reason: string) =>
    attestationReport(failure(base, check, reason), claimed);
  if (layer.mediaType !== DSSE_ENVELOPE_MEDIA_TYPE)
    return failed(
      'media-type',
      `layer ${layer.digest} is ${layer.mediaType}, not ${DSSE_ENVELOPE_MEDIA_TYPE}`,
    );
  const raw = await readLayer(manifest, layer, MAX_ATTESTATION_BLOB);
  if (typeof raw === 'string') return failed('blob', raw);
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    return failed('payload', `${what} is not JSON`);
  }
  const bundle = legacyAttestationBundle(layer, value);
  if (typeof bundle === 'string')
    return failed(bundle.startsWith('no certificate') ? 'certificate' : 'payload', `${what}: ${bundle}`);
  const checked = verifyEntity(
    trust.verifier,
    () => sigstore.toSignedEntity(bundle),
    trust.identities,
    base,
    what,
  );
  if (!checked.valid) return attestationReport(checked, claimed);
  if (bundle.content.$case !== 'dsseEnvelope') return failed('payload', `${what} is no DSSE envelope`);
  const statement = parseStatement(bundle.content.dsseEnvelope.payload);
  if (typeof statement === 'string') return failed('payload', `${what}: ${statement}`);
  return attestationReport(
    {
      ...checkStatementSubject(statement, digest, base, `the statement in ${what}`),
      certificate: checked.certificate,
      predicateType: statement.predicateType,
      statement: statement.value,
    },
    claimed,
  );
}

/** A checked keyless bundle as an attestation report: the statement only when valid. */
function attestationReport(checked: KeylessBundleReport, claimed: string | undefined): AttestationReport {
  const { statement, predicateType, ...report } = checked;
  const type = predicateType ?? claimed;
  return {
    ...report,
    ...(type !== undefined ? { predicateType: type } : {}),
    ...(statement !== undefined ? { subjectMatches: report.valid } : {}),
    ...(report.valid && statement ? { statement } : {}),
  };
}

/**
 * `rampart verify --bundle FILE --certificate-identity ... --trusted-root FILE`: one keyless bundle
 * file (sign/attest --keyless --bundle) checked as a stored one is (certificate, log entry,
 * identity, issuer), and its statement's subject against the image's digest; any predicate type.
 */
export async function verifyImageKeylessBundle(
  ref: string,
  bytes: Buffer,
  options: KeylessVerifyOptions & { file?: string },
): Promise<VerifyResult> {
  const reference = verifiableReference(ref);
  const identities = identityPolicy(options);
  const verifier = await verifierFor(options.trustedRoot, options.trustedRootFile);
  const object = await openImage(reference, options.registry ? { registry: options.registry } : {});
  const own = sha256Digest(bytes);
  const base: ReportBase = {
    format: 'bundle',
    manifest: own,
    layer: own,
    annotations: {},
    ...(options.file !== undefined ? { file: options.file } : {}),
  };
  const what = `bundle ${options.file ?? own}`;
  const report = checkKeylessBundle(
    bytes,
    object.digest,
    verifier,
    identities,
    base,
    what,
    await sigstoreModules(),
  );
  const { statement: _, ...signature } = report;
  return { verified: report.valid, digest: object.digest, signatures: [signature] };
}

async function sigstoreModules() {
  const [{ toSignedEntity }, { bundleFromJSON }] = await Promise.all([
    import('@sigstore/verify'),
    import('@sigstore/bundle'),
  ]);
  return { toSignedEntity, bundleFromJSON };
}

/** A checked keyless bundle: the report, with the signed statement once its signature is valid. */
type KeylessBundleReport = SignatureReport & { statement?: Record<string, unknown> };

/**
 * One keyless bundle's bytes checked: a DSSE envelope of an in-toto statement, signed under a
 * certificate (not a key), verified against the trusted root and the identity policy, whose
 * statement names `digest`. A failed report, or the valid one with the statement's predicate type.
 */
function checkKeylessBundle(
  raw: Buffer,
  digest: Digest,
  verifier: Verifier,
  identities: CertificateIdentity[],
  base: ReportBase,
  what: string,
  sigstore: Awaited<ReturnType<typeof sigstoreModules>>,
): KeylessBundleReport {
  let bundle: Bundle;
  try {
    bundle = sigstore.bundleFromJSON(JSON.parse(raw.toString('utf8')));
  } catch (error) {
    return failure(
      base,
      'payload',
      `${what} is not a sigstore bundle: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (
    bundle.content.$case !== 'dsseEnvelope' ||
    bundle.content.dsseEnvelope.payloadType !== IN_TOTO_PAYLOAD_TYPE
  ) {
    return failure(base, 'payload', `${what} does not hold a DSSE envelope of an in-toto statement`);
  }
  if (bundle.verificationMaterial.content.$case === 'publicKey') {
    return failure(
      base,
      'certificate',
      `${what} is signed with a key (no certificate); verify it with --key`,
    );
  }
  const checked = verifyEntity(verifier, () => sigstore.toSignedEntity(bundle), identities, base, what);
  if (!checked.valid) return checked;
  const statement = parseStatement(bundle.content.dsseEnvelope.payload);
  if (typeof statement === 'string') return failure(base, 'payload', `${what}: ${statement}`);
  return {
    ...checkStatementSubject(statement, digest, base, `the statement in ${what}`),
    certificate: checked.certificate,
    predicateType: statement.predicateType,
    statement: statement.value,
  };
}

/** One identity a keyless signature may be made by: the certificate's SAN (exactly, or a match) and OIDC issuer. */
export interface CertificateIdentity {
  identity?: string;
  /** Unanchored, as cosign's `--certificate-identity-regexp`. */
  identityRegexp?: RegExp;
  issuer: string;
}

/** What an accepted identity is given as: a SAN (or a regexp of one) and an OIDC issuer, as typed. */
export interface CertificateIdentitySpec {
  identity?: string;
  identityRegexp?: string;
  issuer: string;
}

/** Why a {@link CertificateIdentitySpec} is refused, naming the part at fault. */
export interface CertificateIdentityProblem {
  /** `choice`: neither or both of the identity and its regexp. */
  part: 'choice' | 'identity' | 'identityRegexp' | 'issuer';
  reason: string;
}

/**
 * The one rule for an accepted certificate identity (verify, verify-attestation and a policy's
 * keyless signers all use it): exactly one of the SAN and its regexp, and nothing empty or blank,
 * since an empty regexp (an unset `$VAR`, say) matches every SAN and so would accept anyone, as
 * cosign refuses it too.
 */
export function certificateIdentity(
  spec: CertificateIdentitySpec,
): CertificateIdentity | CertificateIdentityProblem {
  if ((spec.identity === undefined) === (spec.identityRegexp === undefined))
    return { part: 'choice', reason: 'give exactly one of the identity and the identity regexp' };
  const blank = (value: string | undefined) => value !== undefined && value.trim() === '';
  if (blank(spec.issuer)) return { part: 'issuer', reason: 'the issuer must not be empty' };
  if (blank(spec.identity)) return { part: 'identity', reason: 'the identity must not be empty' };
  if (blank(spec.identityRegexp))
    return { part: 'identityRegexp', reason: 'the regexp must not be empty (it would match anyone)' };
  let identityRegexp: RegExp | undefined;
  if (spec.identityRegexp !== undefined) {
    try {
      identityRegexp = new RegExp(spec.identityRegexp, 'u');
    } catch {
      return { part: 'identityRegexp', reason: `${spec.identityRegexp} is not a regular expression` };
    }
  }
  return {
    ...(spec.identity !== undefined ? { identity: spec.identity } : {}),
    ...(identityRegexp ? { identityRegexp } : {}),
    issuer: spec.issuer,
  };
}

const IDENTITY_OPTIONS = {
  identity: '--certificate-identity',
  identityRegexp: '--certificate-identity-regexp',
  issuer: '--certificate-oidc-issuer',
} as const;

/** The identity the verify options accept; USAGE naming the option at fault. */
function identityPolicy(options: KeylessVerifyOptions): CertificateIdentity[] {
  const checked = certificateIdentity(options);
  if ('part' in checked) {
    if (checked.part === 'choice') {
      throw new RampartError(
        'USAGE',
        'give exactly one of --certificate-identity and --certificate-identity-regexp',
        { details: { option: IDENTITY_OPTIONS.identity } },
      );
    }
    const option = IDENTITY_OPTIONS[checked.part];
    throw new RampartError('USAGE', `${option}: ${checked.reason}`, { details: { option } });
  }
  return [checked];
}

/**
 * The verifier of a trusted root: a verified time (log entry or timestamp authority) and a
 * transparency-log entry are always required; an SCT when the root lists CT logs (a root without
 * any says none is trusted, as cosign's `--insecure-ignore-sct` would).
 */
export async function verifierFor(bytes: Buffer, file?: string): Promise<Verifier> {
  const invalid = (why: string) =>
    new RampartError('KEY_INVALID', `the trusted root${file ? ` ${file}` : ''} ${why}`, {
      details: { ...(file ? { path: file } : {}), reason: 'format', label: 'trusted root' },
    });
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw invalid('is not UTF-8 JSON');
  }
  if (
    typeof json !== 'object' ||
    json === null ||
    !String((json as { mediaType?: unknown }).mediaType).startsWith(
      'application/vnd.dev.sigstore.trustedroot',
    )
  ) {
    throw invalid('is not a sigstore trusted root (mediaType application/vnd.dev.sigstore.trustedroot+json)');
  }
  const { TrustedRoot } = await import('@sigstore/protobuf-specs');
  const { toTrustMaterial, Verifier: SigstoreVerifier } = await import('@sigstore/verify');
  let material: TrustMaterial;
  let ctlogs: number;
  try {
    const root = TrustedRoot.fromJSON(json);
    ctlogs = root.ctlogs.length;
    material = toTrustMaterial(root);
  } catch (error) {
    throw invalid(`cannot be read: ${error instanceof Error ? error.message : String(error)}`);
  }
  return new SigstoreVerifier(material, {
    tlogThreshold: 1,
    timestampThreshold: 1,
    ctlogThreshold: ctlogs > 0 ? 1 : 0,
  });
}

type Checked = SignatureReport;

/** @sigstore/verify's checks of one signed entity, then the identities (any one); a report either way. */
function verifyEntity(
  verifier: Verifier,
  entity: () => ReturnType<typeof import('@sigstore/verify').toSignedEntity>,
  identities: CertificateIdentity[],
  base: ReportBase,
  what: string,
): Checked {
  let signer: ReturnType<Verifier['verify']>;
  try {
    signer = verifier.verify(entity());
  } catch (error) {
    const code = (error as Partial<VerificationError>).code;
    const message = error instanceof Error ? error.message : String(error);
    return failure(base, checkOf(code), `${what}: ${code ? `${code}: ` : ''}${message}`);
  }
  const identity = signer.identity?.subjectAlternativeName;
  const issuer = signer.identity?.extensions?.issuer;
  const certificate = {
    ...(identity !== undefined ? { identity } : {}),
    ...(issuer !== undefined ? { issuer } : {}),
    key: publicKeyHint(signer.key),
  };
  const report = { ...base, certificate };
  const named = (wanted: CertificateIdentity) =>
    identity !== undefined &&
    (wanted.identity !== undefined
      ? identity === wanted.identity
      : (wanted.identityRegexp?.test(identity) ?? false));
  const byName = identities.filter(named);
  if (byName.length === 0) {
    const wanted = identities.map((w) => w.identity ?? `/${w.identityRegexp?.source}/`).join(' or ');
    return {
      ...report,
      valid: false,
      failed: 'certificate-identity',
      reason: `${what}: the certificate names ${identity ?? 'no identity'}, not ${wanted}`,
    };
  }
  if (!byName.some((wanted) => wanted.issuer === issuer)) {
    const wanted = [...new Set(byName.map((w) => w.issuer))].join(' or ');
    return {
      ...report,
      valid: false,
      failed: 'certificate-issuer',
      reason: `${what}: the certificate's OIDC issuer is ${issuer ?? 'absent'}, not ${wanted}`,
    };
  }
  return { ...report, valid: true };
}

/** The check a @sigstore/verify error code names. */
function checkOf(code: string | undefined): SignatureCheck {
  if (code === undefined) return 'payload';
  if (code.startsWith('TLOG')) return 'tlog';
  if (code === 'TIMESTAMP_ERROR') return 'timestamp';
  if (code === 'CERTIFICATE_ERROR' || code === 'PUBLIC_KEY_ERROR') return 'certificate';
  return 'signature';
}

/** A legacy layer's payload, after its media type and signature annotation are checked. */
async function legacyPayload(
  manifest: Manifest,
  layer: Descriptor,
  base: ReportBase,
): Promise<{ report: SignatureReport } | { bytes: Buffer }> {
  if (layer.mediaType !== MediaType.CosignSimpleSigning) {
    return {
      report: failure(
        base,
        'media-type',
        `layer ${layer.digest} is ${layer.mediaType}, not a simple-signing payload`,
      ),
    };
  }
  const bytes = await readLayer(manifest, layer);
  if (typeof bytes === 'string') return { report: failure(base, 'blob', bytes) };
  return { bytes };
}

/**
 * A cosign keyless `.sig` layer as a sigstore bundle (v0.1: a certificate, a message signature, a
 * Rekor entry with its signed entry timestamp), so @sigstore/verify checks it like any other; or
 * why it cannot be one. The annotations are only read here: every one is verified there.
 */
export function legacyBundle(layer: Descriptor, payload: Buffer): Bundle | string {
  const annotations = layer.annotations ?? {};
  const signature = decodeBase64(annotations[COSIGN_SIGNATURE_ANNOTATION]);
  if (!signature || signature.length === 0) return `no ${COSIGN_SIGNATURE_ANNOTATION} annotation in base64`;
  const verificationMaterial = legacyVerificationMaterial(annotations);
  if (typeof verificationMaterial === 'string') return verificationMaterial;
  return {
    mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
    verificationMaterial,
    content: {
      $case: 'messageSignature',
      messageSignature: {
        // HashAlgorithm.SHA2_256 (protobuf-specs), a const enum not imported at run time here.
        messageDigest: { algorithm: 1, digest: createHash('sha256').update(payload).digest() },
        signature,
      },
    },
  } as Bundle;
}

/**
 * A cosign 2 keyless `.att` layer (a DSSE envelope, the certificate and Rekor entry as annotations)
 * as a sigstore bundle v0.1 of that envelope, or why it cannot be one.
 */
export function legacyAttestationBundle(layer: Descriptor, envelope: unknown): Bundle | string {
  const parsed = parseEnvelope(envelope, 1);
  if (typeof parsed === 'string') return parsed;
  const verificationMaterial = legacyVerificationMaterial(layer.annotations ?? {});
  if (typeof verificationMaterial === 'string') return verificationMaterial;
  const keyid = (envelope as { signatures: Array<{ keyid?: unknown }> }).signatures[0]?.keyid;
  return {
    mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
    verificationMaterial,
    content: {
      $case: 'dsseEnvelope',
      dsseEnvelope: {
        payloadType: parsed.payloadType,
        payload: parsed.payload,
        signatures: [{ sig: parsed.signatures[0] as Buffer, keyid: typeof keyid === 'string' ? keyid : '' }],
      },
    },
  } as Bundle;
}

/** The certificate and Rekor entry cosign annotates a keyless `.sig`/`.att` layer with. */
function legacyVerificationMaterial(
  annotations: Record<string, string>,
): Bundle['verificationMaterial'] | string {
  const pem = annotations[COSIGN_CERTIFICATE_ANNOTATION];
  if (pem === undefined)
    return `no certificate (${COSIGN_CERTIFICATE_ANNOTATION}): a key's signature; verify it with --key`;
  let der: Buffer;
  try {
    der = new X509Certificate(pem).raw;
  } catch {
    return `${COSIGN_CERTIFICATE_ANNOTATION} is not a PEM certificate`;
  }
  const tlogEntries = [];
  const rekor = annotations[COSIGN_BUNDLE_ANNOTATION];
  if (rekor !== undefined) {
    const entry = rekorEntry(rekor);
    if (typeof entry === 'string') return `${COSIGN_BUNDLE_ANNOTATION}: ${entry}`;
    tlogEntries.push(entry);
  }
  return {
    content: { $case: 'x509CertificateChain', x509CertificateChain: { certificates: [{ rawBytes: der }] } },
    tlogEntries,
    timestampVerificationData: { rfc3161Timestamps: [] },
  } as Bundle['verificationMaterial'];
}

/** cosign's RekorBundle annotation as a transparency-log entry with an inclusion promise. */
function rekorEntry(text: string): Bundle['verificationMaterial']['tlogEntries'][number] | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  const v = value as { SignedEntryTimestamp?: unknown; Payload?: Record<string, unknown> };
  const set = decodeBase64(v.SignedEntryTimestamp);
  const p = v.Payload;
  const body = decodeBase64(p?.body);
  if (
    !set ||
    !p ||
    !body ||
    typeof p.integratedTime !== 'number' ||
    typeof p.logIndex !== 'number' ||
    typeof p.logID !== 'string' ||
    !/^[0-9a-f]{64}$/.test(p.logID)
  ) {
    return 'not a Rekor bundle (SignedEntryTimestamp, Payload.body, integratedTime, logIndex, logID)';
  }
  let kind: { kind?: unknown; apiVersion?: unknown };
  try {
    kind = JSON.parse(body.toString('utf8'));
  } catch {
    return 'the entry body is not JSON';
  }
  if (typeof kind.kind !== 'string' || typeof kind.apiVersion !== 'string')
    return 'the entry body names no kind and apiVersion';
  return {
    logIndex: String(p.logIndex),
    logId: { keyId: Buffer.from(p.logID, 'hex') },
    kindVersion: { kind: kind.kind, version: kind.apiVersion },
    integratedTime: String(p.integratedTime),
    inclusionPromise: { signedEntryTimestamp: set },
    inclusionProof: undefined,
    canonicalizedBody: body,
  };
}
