import type { KeyObject } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type * as z from 'zod/mini';
import { isRampartError, RampartError } from '../errors.js';
import type { AttachmentStore } from '../oci/attachments.js';
import type { Digest } from '../oci/digest.js';
import { digestHex } from '../oci/digest.js';
import type { Index, Manifest, OciObject } from '../oci/image.js';
import { isIndexMediaType } from '../oci/media-types.js';
import { openAttachmentStore, openImage } from '../oci/open.js';
import type { Descriptor } from '../oci/types.js';
import {
  array,
  boolean,
  iso,
  literal,
  maxLength,
  minLength,
  optional,
  refine,
  regex,
  strictObject,
  string,
} from '../util/zod.js';
import { readBoundedFile } from './attest.js';
import { PREDICATE_TYPES, predicateTypeOf } from './formats.js';
import { readKeyFile } from './key-files.js';
import type { CertificateIdentity, KeylessTrust } from './keyless-verify.js';
import { parsePublicKey, publicKeyHint } from './keys.js';
import type { EnvelopeAnswers, SignatureReport, VerifyOptions } from './verify.js';
import { verifiableReference, verifyDigest } from './verify.js';
import type { AttestationReport } from './verify-attestation.js';
import { verifyAttestationsOfDigest } from './verify-attestation.js';

/**
 * `rampart verify IMAGE --policy FILE`: a YAML policy (docs/policy.md, field by field) evaluated
 * against an image, every rule to the end, each passed or failed with its reason. Rules: required
 * signers (each public key has a valid signature on the image), required attestation predicate
 * types, the SLSA provenance's `runDetails.builder.id` and recorded spec digest, a maximum age
 * (from the provenance's `startedOn`), and a non-root user in every image config. Only what a
 * required signer signed is believed: attestations by other keys are not looked at.
 */

/** A policy file is a few hundred bytes; nothing larger is read. */
export const MAX_POLICY_BYTES = 256 * 1024;
/** Bound on signers and predicate types: a policy lists a handful. */
export const MAX_POLICY_ENTRIES = 64;

export const SLSA_PROVENANCE_V1 = PREDICATE_TYPES.slsaprovenance1;

/** How far ahead of this clock a provenance's `startedOn` may be (another machine's clock). */
export const MAX_CLOCK_SKEW_SECONDS = 5 * 60;
/** An RFC 3339 date-time with its offset (`Z` or `±hh:mm`), calendar-checked. */
const RFC3339 = iso.datetime({ offset: true });

/** A required signer: a public key, or a keyless identity (Fulcio certificate, Rekor entry). */
export type PolicySigner = KeyPolicySigner | KeylessPolicySigner;

export interface KeyPolicySigner {
  kind: 'key';
  /** The name rules report: `name`, else the key file, else `signers[i]`. */
  name: string;
  key: KeyObject;
  /** base64(sha256(DER SPKI)): the sigstore bundle hint of this key. */
  hint: string;
}

/**
 * A keyless signer, as sigstore's policy-controller states a `keyless` authority: a trusted root
 * (the Fulcio CAs, CT logs and Rekor logs to trust, read from a file: no TUF, nothing fetched) and
 * the certificate identities accepted, any one of them.
 */
export interface KeylessPolicySigner {
  kind: 'keyless';
  /** The name rules report: `name`, else the first identity. */
  name: string;
  /** The trusted root file (resolved against the policy's folder). */
  trustedRootFile: string;
  trust: KeylessTrust;
}

export interface Policy {
  /** The policy file. */
  path: string;
  signers: PolicySigner[];
  /** Predicate type URIs (short names resolved). */
  predicateTypes: string[];
  provenance?: { builderId?: string; specDigest?: Digest };
  maxAge?: { text: string; seconds: number };
  nonRoot?: boolean;
}

const DURATION = /^([1-9][0-9]{0,8})(s|m|h|d)$/;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;

/** Bound on the identities of one keyless signer. */
export const MAX_POLICY_IDENTITIES = 16;

const text = (max: number) => string().check(minLength(1), maxLength(max));

const identitySchema = strictObject({
  issuer: text(1024),
  subject: optional(text(4096)),
  'subject-regexp': optional(text(1024)),
}).check(
  refine((i) => (i.subject === undefined) !== (i['subject-regexp'] === undefined), {
    message: 'give exactly one of subject or subject-regexp',
  }),
);

const keylessSchema = strictObject({
  'trusted-root': text(4096),
  identities: array(identitySchema).check(minLength(1), maxLength(MAX_POLICY_IDENTITIES)),
});

const signerSchema = strictObject({
  name: optional(text(256)),
  key: optional(text(4096)),
  'public-key': optional(text(16 * 1024)),
  keyless: optional(keylessSchema),
}).check(
  refine((s) => [s.key, s['public-key'], s.keyless].filter((v) => v !== undefined).length === 1, {
    message: 'give exactly one of key (a file), public-key (PEM) or keyless',
  }),
);

const policySchema = strictObject({
  version: literal(1),
  signers: array(signerSchema).check(minLength(1), maxLength(MAX_POLICY_ENTRIES)),
  'predicate-types': optional(array(text(1024)).check(maxLength(MAX_POLICY_ENTRIES))),
  provenance: optional(
    strictObject({
      'builder-id': optional(text(1024)),
      'spec-digest': optional(
        string().check(regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256:<64 lowercase hex>')),
      ),
    }),
  ),
  'max-age': optional(string().check(regex(DURATION, 'expected a number and a unit: 3600s, 90m, 48h, 30d'))),
  'non-root': optional(boolean()),
});

function invalid(path: string, field: string | undefined, message: string): RampartError {
  return new RampartError('POLICY_INVALID', `${path}${field ? `: ${field}` : ''}: ${message}`, {
    details: { path, ...(field ? { field } : {}) },
  });
}

/**
 * Reads and checks a policy file; keys named by `key:` and trusted roots by `keyless.trusted-root`
 * are read relative to the policy's folder.
 */
export async function loadPolicy(path: string): Promise<Policy> {
  const bytes = await readBoundedFile(path, MAX_POLICY_BYTES, 'USAGE', 'the policy');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw invalid(path, undefined, 'not UTF-8');
  }
  const near = (file: string) => resolve(dirname(path), file);
  return parsePolicy(text, path, (file) => readKeyFile(near(file)), {
    resolve: near,
    // keyless-verify.js is loaded only for a policy with a keyless signer.
    read: async (file) =>
      readBoundedFile(
        near(file),
        (await import('./keyless-verify.js')).MAX_TRUSTED_ROOT,
        'USAGE',
        'the trusted root',
      ),
  });
}

/** How a policy's trusted root files are found and read. */
export interface TrustedRootReader {
  /** The path reported for a file named in the policy. */
  resolve(file: string): string;
  read(file: string): Promise<Buffer>;
}

/** A policy's text checked field by field (POLICY_INVALID naming the field), its keys read. */
export async function parsePolicy(
  text: string,
  path: string,
  readKey: (file: string) => Promise<string>,
  trustedRoots?: TrustedRootReader,
): Promise<Policy> {
  const lineCounter = new LineCounter();
  // maxAliasCount bounds alias expansion (a "billion laughs" file); a policy needs none.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0] as { pos: [number, number]; message: string };
    const { line, col } = lineCounter.linePos(first.pos[0]);
    throw invalid(path, undefined, `invalid YAML at ${line}:${col}: ${first.message}`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 0 });
  } catch {
    throw invalid(path, undefined, 'YAML aliases are not allowed');
  }
  const parsed = policySchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues;
    const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0];
    const field = [
      ...(issue?.path ?? []),
      ...(issue?.code === 'unrecognized_keys' ? issue.keys.slice(0, 1) : []),
    ]
      .map(String)
      .join('.');
    throw invalid(path, field || undefined, issue?.message ?? 'not a policy');
  }
  const data = parsed.data;
  const signers: PolicySigner[] = [];
  for (const [i, entry] of data.signers.entries()) {
    if (entry.keyless !== undefined) {
      const signer = await keylessSigner(path, i, entry.name, entry.keyless, trustedRoots);
      // As a key listed twice: one certificate would be asked to count for two signers.
      if (signers.some((s) => s.kind === 'keyless' && sameIdentities(s, signer)))
        throw invalid(
          path,
          `signers.${i}.keyless.identities`,
          'these identities are listed by another signer',
        );
      signers.push(signer);
      continue;
    }
    const field = `signers.${i}.${entry.key !== undefined ? 'key' : 'public-key'}`;
    let pem: string;
    if (entry.key !== undefined) {
      try {
        pem = await readKey(entry.key);
      } catch (error) {
        if (!isRampartError(error)) throw error;
        throw invalid(path, field, `cannot read ${entry.key}: ${error.code}: ${error.message}`);
      }
    } else {
      pem = entry['public-key'] as string;
    }
    let key: KeyObject;
    try {
      key = parsePublicKey(pem, entry.key !== undefined ? { path: entry.key } : {});
    } catch (error) {
      if (!isRampartError(error)) throw error;
      throw invalid(path, field, `not a public key: ${error.message}`);
    }
    const hint = publicKeyHint(key);
    if (signers.some((s) => s.kind === 'key' && s.hint === hint))
      throw invalid(path, field, 'this key is listed twice');
    signers.push({ kind: 'key', name: entry.name ?? entry.key ?? `signers[${i}]`, key, hint });
  }
  const predicateTypes: string[] = [];
  for (const [i, type] of (data['predicate-types'] ?? []).entries()) {
    const uri = predicateTypeOf(type);
    if (!uri)
      throw invalid(path, `predicate-types.${i}`, `${type} is neither a cosign predicate name nor a URI`);
    if (!predicateTypes.includes(uri)) predicateTypes.push(uri);
  }
  const provenance = data.provenance
    ? {
        ...(data.provenance['builder-id'] !== undefined ? { builderId: data.provenance['builder-id'] } : {}),
        ...(data.provenance['spec-digest'] !== undefined
          ? { specDigest: data.provenance['spec-digest'] as Digest }
          : {}),
      }
    : undefined;
  const maxAge = data['max-age'];
  const match = maxAge === undefined ? null : DURATION.exec(maxAge);
  return {
    path,
    signers,
    predicateTypes,
    ...(provenance ? { provenance } : {}),
    ...(match && maxAge
      ? {
          maxAge: {
            text: maxAge,
            seconds: Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS],
          },
        }
      : {}),
    ...(data['non-root'] !== undefined ? { nonRoot: data['non-root'] } : {}),
  };
}

/** Whether two keyless signers accept the same identities (in any order, repeats aside). */
function sameIdentities(a: KeylessPolicySigner, b: KeylessPolicySigner): boolean {
  const set = (signer: KeylessPolicySigner) =>
    new Set(
      signer.trust.identities.map((i) =>
        JSON.stringify([i.issuer, i.identity ?? null, i.identityRegexp?.source ?? null]),
      ),
    );
  const [x, y] = [set(a), set(b)];
  return x.size === y.size && [...x].every((i) => y.has(i));
}

/**
 * A keyless signer of a policy: its trusted root read and parsed now (a bad one is POLICY_INVALID
 * naming `signers.N.keyless.trusted-root`), its identities' regexps compiled. sigstore-js is
 * loaded only here, so a policy of keys alone loads none of it.
 */
async function keylessSigner(
  path: string,
  i: number,
  name: string | undefined,
  entry: z.infer<typeof keylessSchema>,
  trustedRoots: TrustedRootReader | undefined,
): Promise<KeylessPolicySigner> {
  const field = `signers.${i}.keyless`;
  const file = entry['trusted-root'];
  if (!trustedRoots) throw invalid(path, `${field}.trusted-root`, 'trusted roots cannot be read here');
  const identities: CertificateIdentity[] = [];
  const { certificateIdentity, verifierFor } = await import('./keyless-verify.js');
  const fields = {
    choice: 'subject',
    identity: 'subject',
    identityRegexp: 'subject-regexp',
    issuer: 'issuer',
  };
  for (const [j, identity] of entry.identities.entries()) {
    const checked = certificateIdentity({
      issuer: identity.issuer,
      ...(identity.subject !== undefined ? { identity: identity.subject } : {}),
      ...(identity['subject-regexp'] !== undefined ? { identityRegexp: identity['subject-regexp'] } : {}),
    });
    if ('part' in checked)
      throw invalid(path, `${field}.identities.${j}.${fields[checked.part]}`, checked.reason);
    identities.push(checked);
  }
  const trustedRootFile = trustedRoots.resolve(file);
  let verifier: KeylessTrust['verifier'];
  try {
    verifier = await verifierFor(await trustedRoots.read(file), trustedRootFile);
  } catch (error) {
    if (!isRampartError(error)) throw error;
    throw invalid(path, `${field}.trusted-root`, `${file}: ${error.code}: ${error.message}`);
  }
  const first = entry.identities[0];
  return {
    kind: 'keyless',
    name: name ?? first?.subject ?? `/${first?.['subject-regexp'] ?? ''}/`,
    trustedRootFile,
    trust: { verifier, identities },
  };
}

/**
 * Which signing key counts for which signer: `candidates[i]` are the keys (key hints; for keyless,
 * the certificate's key, one signing's bundle and `.sig` being one) of signer i's valid signatures.
 * Each key counts for at most one signer, so N signers need N distinct signatures, and two keyless
 * signers with overlapping identities are not both met by one certificate. A maximum bipartite
 * matching by augmenting paths (Kuhn): at most 64 signers and 1000 signatures each, no library
 * needed for a dozen lines. Returns the key assigned to each signer (undefined: none left for it).
 */
export function assignSignatures(candidates: readonly (readonly string[])[]): (string | undefined)[] {
  const owner = new Map<string, number>();
  const augment = (signer: number, seen: Set<string>): boolean => {
    for (const key of candidates[signer] ?? []) {
      if (key === '' || seen.has(key)) continue;
      seen.add(key);
      const holder = owner.get(key);
      if (holder === undefined || augment(holder, seen)) {
        owner.set(key, signer);
        return true;
      }
    }
    return false;
  };
  for (const signer of candidates.keys()) augment(signer, new Set());
  const assigned: (string | undefined)[] = candidates.map(() => undefined);
  for (const [key, signer] of owner) assigned[signer] = key;
  return assigned;
}

/** The signatures of `digest` by one signer of a policy, each checked. */
function signerSignatures(
  store: AttachmentStore,
  digest: Digest,
  signer: PolicySigner,
  options: PolicyOptions,
): Promise<SignatureReport[]> {
  if (signer.kind === 'key') return verifyDigest(store, digest, signer.key, options);
  return import('./keyless-verify.js').then((m) =>
    m.verifyDigestKeyless(store, digest, signer.trust, options),
  );
}

/** The attestations of `digest` by one signer of a policy, each checked. */
function signerAttestations(
  store: AttachmentStore,
  digest: Digest,
  signer: PolicySigner,
  options: PolicyOptions,
  answers: SignerAnswers,
): Promise<AttestationReport[]> {
  if (signer.kind === 'key') {
    const known = answers.get(signer) ?? new Map();
    answers.set(signer, known);
    return verifyAttestationsOfDigest(store, digest, signer.key, { ...options, answers: known });
  }
  return import('./keyless-verify.js').then((m) =>
    m.verifyKeylessAttestationsOfDigest(store, digest, signer.trust, options),
  );
}

/** The rules a policy can hold, as reported. */
export type PolicyRuleName =
  | 'signer'
  | 'predicate-type'
  | 'provenance.builder-id'
  | 'provenance.spec-digest'
  | 'max-age'
  | 'non-root';

export interface PolicyRuleResult {
  rule: PolicyRuleName;
  /** What the rule asks, in words (the signer's name, the predicate type, the builder id...). */
  requirement: string;
  passed: boolean;
  /** Why it passed or failed. */
  reason: string;
}

export interface PolicyResult {
  passed: boolean;
  digest: Digest;
  /** The manifests attestation rules were checked on: the image, or each platform manifest of an index. */
  subjects: Digest[];
  rules: PolicyRuleResult[];
}

export interface PolicyOptions extends Pick<VerifyOptions, 'registry' | 'signal'> {
  /** For max-age (default: the system clock). */
  now?: () => Date;
}

/**
 * Evaluates every rule of `policy` against the image `ref`. Signers are checked on the digest the
 * reference names. Attestation rules (predicate types, provenance, age) and non-root are checked on
 * the image, or for an index on each platform manifest it lists (where `build --sign-key` attaches
 * provenance); an attestation on the index itself counts for all of them.
 */
export async function evaluatePolicy(
  ref: string,
  policy: Policy,
  options: PolicyOptions = {},
): Promise<PolicyResult> {
  const reference = verifiableReference(ref);
  const open = options.registry ? { registry: options.registry } : {};
  const object = await openImage(reference, open);
  const store = await openAttachmentStore(reference, open);
  const now = (options.now ?? (() => new Date()))();
  const { images: subjects, unchecked } = await platformManifests(object);
  const rules: PolicyRuleResult[] = [];

  const signed: SignatureReport[][] = [];
  for (const signer of policy.signers) {
    options.signal?.throwIfAborted();
    signed.push(await signerSignatures(store, object.digest, signer, options));
  }
  const valid = signed.map((reports) => reports.filter((r) => r.valid));
  const assigned = assignSignatures(
    policy.signers.map((signer, i) => [
      ...new Set(
        (valid[i] ?? []).map((r) => (signer.kind === 'key' ? signer.hint : (r.certificate?.key ?? ''))),
      ),
    ]),
  );
  for (const [i, signer] of policy.signers.entries()) {
    const reports = signed[i] ?? [];
    const mine = valid[i] ?? [];
    const passed = assigned[i] !== undefined;
    rules.push({
      rule: 'signer',
      requirement: signer.name,
      passed,
      reason: passed
        ? `${mine.length} valid signature(s) on ${object.digest} (${[...new Set(mine.map((r) => r.format))].join(', ')})`
        : mine.length > 0
          ? `its ${mine.length} valid signature(s) on ${object.digest} are counted for other signers (a signature counts for one signer only)`
          : reports.length === 0
            ? `no signature on ${object.digest}`
            : `none of the ${reports.length} signature(s) on ${object.digest} is valid for this key: ${reports[0]?.reason ?? ''}`,
    });
  }

  // Valid attestations by any required signer, per subject (the index's own count for each).
  const answers: SignerAnswers = new Map();
  const rootAttestations =
    object.kind === 'index' ? await signedAttestations(store, object.digest, policy, options, answers) : [];
  const attestations = new Map<Digest, AttestationReport[]>();
  for (const subject of subjects) {
    const own = subject.digest === object.digest ? [] : rootAttestations;
    attestations.set(subject.digest, [
      ...(await signedAttestations(store, subject.digest, policy, options, answers)),
      ...own,
    ]);
  }
  const each = (check: (digest: Digest, reports: AttestationReport[]) => string | undefined) => {
    const failures: string[] = [...unchecked];
    for (const subject of subjects) {
      const failure = check(subject.digest, attestations.get(subject.digest) ?? []);
      if (failure) failures.push(failure);
    }
    return failures;
  };
  const where =
    subjects.length === 1 ? (subjects[0]?.digest ?? object.digest) : `${subjects.length} platform manifests`;

  for (const type of policy.predicateTypes) {
    const failures = each((digest, reports) =>
      reports.some((r) => r.predicateType === type)
        ? undefined
        : `no ${type} attestation by a required signer on ${digest}`,
    );
    rules.push(result('predicate-type', type, failures, `signed ${type} attestation on ${where}`));
  }

  const provenances = (reports: AttestationReport[]) =>
    reports.filter((r) => r.predicateType === SLSA_PROVENANCE_V1).map((r) => predicateOf(r));
  const provenanceRule = (
    rule: PolicyRuleName,
    requirement: string,
    check: (predicate: Record<string, unknown>) => string | undefined,
  ) => {
    const failures = each((digest, reports) => {
      const found = provenances(reports);
      if (found.length === 0) return `no SLSA v1 provenance by a required signer on ${digest}`;
      // Every signed provenance must agree: one that does not is a build the policy does not allow.
      for (const predicate of found) {
        const failure = check(predicate);
        if (failure) return `${digest}: ${failure}`;
      }
      return undefined;
    });
    rules.push(result(rule, requirement, failures, `the signed provenance of ${where} has ${requirement}`));
  };
  if (policy.provenance?.builderId !== undefined) {
    const wanted = policy.provenance.builderId;
    provenanceRule('provenance.builder-id', wanted, (predicate) => {
      const id = field(predicate, ['runDetails', 'builder', 'id']);
      return id === wanted ? undefined : `runDetails.builder.id is ${describe(id)}, not ${wanted}`;
    });
  }
  if (policy.provenance?.specDigest !== undefined) {
    const wanted = policy.provenance.specDigest;
    provenanceRule('provenance.spec-digest', wanted, (predicate) => {
      // Where `rampart build --sign-key` records the spec's digest (hex, beside its path and text).
      const hex = field(predicate, ['buildDefinition', 'externalParameters', 'spec', 'sha256']);
      return hex === digestHex(wanted)
        ? undefined
        : `buildDefinition.externalParameters.spec.sha256 is ${describe(hex)}, not ${digestHex(wanted)}`;
    });
  }
  if (policy.maxAge !== undefined) {
    const { text, seconds } = policy.maxAge;
    provenanceRule('max-age', text, (predicate) => {
      const started = field(predicate, ['runDetails', 'metadata', 'startedOn']);
      // RFC 3339 only (SLSA's Timestamp): Date.parse would also take "3000" or "March 7".
      const time = RFC3339.safeParse(started).success ? Date.parse(started as string) : Number.NaN;
      if (Number.isNaN(time))
        return `runDetails.metadata.startedOn is ${describe(started)}, not an RFC 3339 time`;
      const age = Math.floor((now.getTime() - time) / 1000);
      // A build from the future would satisfy any age for as long as its clock says.
      if (age < -MAX_CLOCK_SKEW_SECONDS) return `built ${started}, which is in the future`;
      return age <= seconds ? undefined : `built ${started}, ${formatAge(age)} ago, older than ${text}`;
    });
  }

  if (policy.nonRoot) {
    const failures: string[] = [...unchecked];
    for (const subject of subjects) {
      options.signal?.throwIfAborted();
      const user = await configUser(subject);
      if (typeof user !== 'string') failures.push(`${subject.digest}: ${user.reason}`);
      else if (isRootUser(user))
        failures.push(`${subject.digest} runs as ${user === '' ? 'root (no User set)' : user}`);
    }
    rules.push(
      result('non-root', 'a non-root user', failures, `the config of ${where} names a non-root user`),
    );
  }
  return {
    passed: rules.every((r) => r.passed),
    digest: object.digest,
    subjects: subjects.map((s) => s.digest),
    rules,
  };
}

function result(
  rule: PolicyRuleName,
  requirement: string,
  failures: string[],
  passed: string,
): PolicyRuleResult {
  return failures.length === 0
    ? { rule, requirement, passed: true, reason: passed }
    : { rule, requirement, passed: false, reason: failures.join('; ') };
}

/** Per key signer, its envelopes' answers, kept across the subjects of one evaluation. */
type SignerAnswers = Map<PolicySigner, EnvelopeAnswers>;

async function signedAttestations(
  store: AttachmentStore,
  digest: Digest,
  policy: Policy,
  options: PolicyOptions,
  answers: SignerAnswers,
): Promise<AttestationReport[]> {
  const out: AttestationReport[] = [];
  for (const signer of policy.signers) {
    options.signal?.throwIfAborted();
    const reports = await signerAttestations(store, digest, signer, options, answers);
    out.push(...reports.filter((r) => r.valid));
  }
  return out;
}

/** Platform entries of an index (nested ones included) that a policy checks; beyond, it fails. */
export const MAX_POLICY_SUBJECTS = MAX_POLICY_ENTRIES * 4;

/** The images the subject rules check, and what they could not reach (which fails those rules). */
interface PolicySubjects {
  images: Array<Manifest | OciObject>;
  /** Why some of the index was not checked (too deep, too many entries); empty when all was. */
  unchecked: string[];
}

/**
 * The image itself, or every image an index lists (a nested index: its images, one level down).
 * What is not walked (an index nested deeper, entries beyond MAX_POLICY_SUBJECTS) is named in
 * `unchecked`: an image the policy cannot see must fail it, never pass for lack of a look.
 */
async function platformManifests(object: OciObject): Promise<PolicySubjects> {
  if (object.kind !== 'index') return { images: [object], unchecked: [] };
  const images: Manifest[] = [];
  const unchecked: string[] = [];
  let entries = 0;
  let tooDeep = 0;
  let notImages = 0;
  const visit = async (index: Index, depth: number) => {
    for (const entry of index.manifest.manifests) {
      if (++entries > MAX_POLICY_SUBJECTS) {
        unchecked.push(`more than ${MAX_POLICY_SUBJECTS} index entries (the rest are not checked)`);
        return false;
      }
      // Decided on what the child is, not on what its entry says it is.
      const child = depth > 0 && isIndexMediaType(entry.mediaType) ? undefined : await index.child(entry);
      if (child === undefined || (child.kind === 'index' && depth > 0)) {
        tooDeep++;
        continue;
      }
      if (child.kind === 'index') {
        if (!(await visit(child, depth + 1))) return false;
        continue;
      }
      if (child.isImage) images.push(child);
      // Not runnable: an artifact (OCI 1.1: an artifactType, or a config that is no image config),
      // or buildx's attestation manifest (platform unknown/unknown, which no runtime selects). Any
      // other child rampart does not read as an image (a layer type it does not know) could be one
      // a runtime runs: not checked, so it fails the rules.
      else if (child.artifactType === undefined && !isUnknownPlatform(entry)) notImages++;
    }
    return true;
  };
  await visit(object, 0);
  if (tooDeep > 0) unchecked.push(`${tooDeep} index(es) nested more than two levels deep (not checked)`);
  if (notImages > 0) {
    unchecked.push(`${notImages} manifest(s) of the index that are not images rampart reads (not checked)`);
  }
  if (images.length === 0 && unchecked.length === 0)
    unchecked.push(`the index ${object.digest} lists no image`);
  return { images, unchecked };
}

/** An index entry no runtime selects as a platform (buildx's attestation manifests use it). */
function isUnknownPlatform(entry: Descriptor): boolean {
  return entry.platform?.os === 'unknown' && entry.platform.architecture === 'unknown';
}

/** The `User` of an image's config ('' when unset), or why it cannot be read. */
async function configUser(object: Manifest | OciObject): Promise<string | { reason: string }> {
  if (object.kind === 'index') return { reason: 'an index, not an image' };
  try {
    const image = object.kind === 'image' ? object : await object.toImage();
    return image.config.config?.User ?? '';
  } catch (error) {
    if (!isRampartError(error) || error.code === 'CANCELLED') throw error;
    return { reason: `the config cannot be read: ${error.code}: ${error.message}` };
  }
}

/**
 * Whether a config `User` runs as root: unset, `root`, or UID 0 (`0`, `000`, `+0`, `0:1000`, `root:x`).
 * A user name is taken at its word (it is resolved in the image's /etc/passwd, which is not read
 * here): numeric UIDs, as rampart's builder writes, leave nothing to trust.
 */
export function isRootUser(user: string): boolean {
  const name = user.split(':')[0]?.trim() ?? '';
  // A number as runc and containerd read it (Go's strconv.Atoi: an optional sign): `+0`, `-0`.
  return name === '' || name === 'root' || /^[+-]?0+$/.test(name);
}

function predicateOf(report: AttestationReport): Record<string, unknown> {
  const predicate = report.statement?.predicate;
  return typeof predicate === 'object' && predicate !== null && !Array.isArray(predicate)
    ? (predicate as Record<string, unknown>)
    : {};
}

function field(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const name of path) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
    current = Object.hasOwn(current, name) ? (current as Record<string, unknown>)[name] : undefined;
  }
  return current;
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function formatAge(seconds: number): string {
  if (seconds >= 86400) return `${Math.floor(seconds / 86400)}d`;
  if (seconds >= 3600) return `${Math.floor(seconds / 3600)}h`;
  if (seconds >= 60) return `${Math.floor(seconds / 60)}m`;
  return `${seconds}s`;
}
