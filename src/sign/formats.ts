import type { Digest } from '../oci/digest.js';
import { digestHex } from '../oci/digest.js';

/**
 * The documents cosign signs and stores: the simple-signing payload (legacy `.sig`), the DSSE
 * envelope and its pre-authentication encoding, the in-toto Statement v1 cosign 3 signs for an
 * image, and the sigstore bundle v0.3 around it (spec notes §1, §3, §5).
 */

export const SIMPLE_SIGNING_TYPE = 'cosign container image signature';
export const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
/** What cosign's `attest` still writes; v1 consumers read it (same fields). */
export const STATEMENT_V01 = 'https://in-toto.io/Statement/v0.1';
/** The predicate type of cosign 3's image signature statement. */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
/** The manifest annotations cosign 3 puts on a bundle referrer. */
export const BUNDLE_CONTENT_ANNOTATION = 'dev.sigstore.bundle.content';
export const BUNDLE_PREDICATE_ANNOTATION = 'dev.sigstore.bundle.predicateType';
/** cosign 2's `.att` layers: a DSSE envelope, its predicate type in an (unsigned) annotation. */
export const DSSE_ENVELOPE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
export const ATTESTATION_PREDICATE_ANNOTATION = 'predicateType';

/**
 * The predicate types of cosign's `--type` short names (sigstore/cosign `pkg/cosign/attestation`,
 * `cmd/cosign/cli/options/predicate.go`); any other `--type` must be a URI and is used as it is.
 */
export const PREDICATE_TYPES = {
  slsaprovenance: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance02: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance1: 'https://slsa.dev/provenance/v1',
  link: 'https://in-toto.io/Link/v1',
  spdx: 'https://spdx.dev/Document',
  spdxjson: 'https://spdx.dev/Document',
  cyclonedx: 'https://cyclonedx.org/bom',
  vuln: 'https://cosign.sigstore.dev/attestation/vuln/v1',
  openvex: 'https://openvex.dev/ns',
  custom: 'https://cosign.sigstore.dev/attestation/v1',
} as const satisfies Record<string, string>;

/** The predicate type a `--type` names: a short name's URI, or the URI given; undefined if neither. */
export function predicateTypeOf(type: string): string | undefined {
  if (Object.hasOwn(PREDICATE_TYPES, type)) return PREDICATE_TYPES[type as keyof typeof PREDICATE_TYPES];
  try {
    const url = new URL(type);
    return url.protocol.length > 1 && type.length <= 1024 ? type : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The simple-signing payload, byte for byte as cosign (Go `encoding/json`) writes it: compact, keys
 * in this order, `<>&` and U+2028/2029 escaped, no trailing newline. `annotations` go to `optional`
 * (null without any).
 */
export function simpleSigningPayload(
  identity: string,
  digest: Digest,
  annotations: Readonly<Record<string, string>> = {},
): Buffer {
  const optional = Object.keys(annotations).length > 0 ? sortedObject(annotations) : null;
  return goJson({
    critical: {
      identity: { 'docker-reference': identity },
      image: { 'docker-manifest-digest': digest },
      type: SIMPLE_SIGNING_TYPE,
    },
    optional,
  });
}

/** JSON as Go's encoding/json writes it (HTML-safe escapes). Map keys must already be sorted. */
export function goJson(value: unknown): Buffer {
  const text = JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
  return Buffer.from(text, 'utf8');
}

function sortedObject(record: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** DSSE's pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
export function pae(payloadType: string, body: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'utf8'),
    type,
    Buffer.from(` ${body.length} `, 'utf8'),
    body,
  ]);
}

/**
 * The in-toto statement cosign 3 signs for an image: the digest as subject (with the `-a`
 * annotations), predicate type cosign/sign/v1, an empty predicate. `name` (the identity) is
 * optional in in-toto; rampart writes it so `verify --identity` has something to check.
 */
export function signStatement(
  digest: Digest,
  annotations: Readonly<Record<string, string>>,
  name?: string,
): Buffer {
  const subject = {
    ...(name ? { name } : {}),
    digest: { sha256: digestHex(digest) },
    ...(Object.keys(annotations).length > 0 ? { annotations: sortedObject(annotations) } : {}),
  };
  return goJson({
    _type: STATEMENT_V1,
    subject: [subject],
    predicateType: COSIGN_SIGN_PREDICATE,
    predicate: {},
  });
}

/**
 * The in-toto Statement v1 of an attestation: the image digest as subject (named by `name`), the
 * predicate type, and the predicate (already-parsed JSON, embedded as it is).
 */
export function attestationStatement(
  digest: Digest,
  predicateType: string,
  predicate: unknown,
  name?: string,
): Buffer {
  return goJson({
    _type: STATEMENT_V1,
    subject: [{ ...(name ? { name } : {}), digest: { sha256: digestHex(digest) } }],
    predicateType,
    predicate,
  });
}

export interface DsseEnvelope {
  payload: string;
  payloadType: string;
  signatures: Array<{ sig: string; keyid?: string }>;
}

/** A sigstore bundle v0.3 with a public-key hint, no transparency-log entry, a DSSE envelope. */
export function keyBundle(hint: string, envelope: DsseEnvelope): Buffer {
  return Buffer.from(
    JSON.stringify({
      mediaType: BUNDLE_MEDIA_TYPE,
      verificationMaterial: { publicKey: { hint } },
      dsseEnvelope: envelope,
    }),
  );
}

/**
 * Bound on the nesting of a predicate or statement: SBOMs and provenance nest a dozen levels; a
 * hostile document nested millions deep parses, but cannot be serialised again (stack overflow).
 */
export const MAX_JSON_DEPTH = 128;

/** Whether parsed JSON nests deeper than `limit` (walked without recursion). */
export function nestsDeeperThan(value: unknown, limit = MAX_JSON_DEPTH): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [item, depth] = next;
    if (typeof item !== 'object' || item === null) continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Standard or URL-safe base64 (DSSE verifiers accept both); undefined when it is neither. */
export function decodeBase64(text: unknown): Buffer | undefined {
  if (typeof text !== 'string') return undefined;
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) return undefined;
  return Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}
