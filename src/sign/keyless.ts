import { createPublicKey, sign as cryptoSign, generateKeyPairSync, X509Certificate } from 'node:crypto';
import type { Bundle, TransparencyLogEntry } from '@sigstore/bundle';
import type { X509Certificate as SigstoreCertificate } from '@sigstore/core';
import type { Signature as SigstoreSignature, Signer as SigstoreSigner } from '@sigstore/sign';
import { RampartError } from '../errors.js';
import { HttpClient } from '../http/client.js';
import { redactUrl } from '../http/fetch.js';
import { COSIGN_SIGNATURE_ANNOTATION } from '../oci/media-types.js';
import { isLoopbackHost } from '../registry/transport.js';
import { IN_TOTO_PAYLOAD_TYPE } from './formats.js';
import type { SignatureMaterial } from './sign.js';

/**
 * Keyless signing (sigstore's "Fulcio + Rekor" flow) through sigstore-js: an ephemeral ECDSA P-256
 * key, certified by Fulcio for the identity in an OIDC token, every signature logged in Rekor. The
 * libraries are imported here only when a keyless signature is made, so keyed signing never loads
 * (or contacts) anything of it.
 *
 * Stored as cosign 3 and cosign 2 store keyless signatures: a bundle v0.3 whose verification
 * material is the leaf certificate and a Rekor `dsse` entry (with its signed entry timestamp), and a
 * legacy `.sig` layer with `dev.sigstore.cosign/certificate` (the leaf PEM) and
 * `dev.sigstore.cosign/bundle` (the Rekor `hashedrekord` entry as cosign's offline bundle).
 */

export const COSIGN_CERTIFICATE_ANNOTATION = 'dev.sigstore.cosign/certificate';
export const COSIGN_CHAIN_ANNOTATION = 'dev.sigstore.cosign/chain';
export const COSIGN_BUNDLE_ANNOTATION = 'dev.sigstore.cosign/bundle';

/** The environment variable cosign and sigstore-js read the OIDC token from. */
export const ID_TOKEN_VARIABLE = 'SIGSTORE_ID_TOKEN';

/** Bound on an identity token (a JWT: a few KiB). */
export const MAX_ID_TOKEN = 64 * 1024;

export interface KeylessOptions {
  /** The OIDC identity token (a JWT) Fulcio certifies the ephemeral key for. */
  identityToken: string;
  /** Where the token came from, for errors: an environment variable or an option. */
  tokenSource?: { variable: string } | { option: string };
  /**
   * Reads the token again from where it came: called when a certificate is asked for after the
   * first (each lives about 10 minutes; after a long build the first token, a CI's, has often
   * expired). Without it the first token is sent again.
   */
  refreshToken?: () => Promise<string>;
  /** Fulcio's base URL (default: sigstore-js's, the public-good instance). */
  fulcioURL?: string;
  /** Rekor's base URL (default: sigstore-js's, the public-good instance). */
  rekorURL?: string;
  /** Per-request timeout in ms (default 30 s). */
  timeoutMs?: number;
  /** Retries of a failed request (default 2). */
  retries?: number;
  now?: () => Date;
  signal?: AbortSignal;
}

/** The identity a token claims, read (not verified: Fulcio does that) before anything goes online. */
export interface TokenClaims {
  issuer: string;
  subject: string;
  expires?: Date;
}

/**
 * The claims of a JWT as Fulcio reads them; refused (with the source named, the token never shown)
 * when it is not a JWT, has no issuer or subject, or has expired by `now`.
 */
export function readTokenClaims(
  token: string,
  source: KeylessOptions['tokenSource'] = { variable: ID_TOKEN_VARIABLE },
  now = new Date(),
): TokenClaims {
  const where = 'variable' in source ? source.variable : source.option;
  const invalid = (why: string) =>
    'variable' in source
      ? new RampartError('INVALID_ENVIRONMENT', `${where}: ${why}`, {
          details: { variable: source.variable },
        })
      : new RampartError('USAGE', `${where}: ${why}`, { details: { option: source.option } });
  if (token.length === 0) return fail(invalid('no identity token (an OIDC JWT) was given'));
  if (token.length > MAX_ID_TOKEN) return fail(invalid(`the identity token is over ${MAX_ID_TOKEN} bytes`));
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((part) => /^[A-Za-z0-9_-]+$/.test(part))) {
    return fail(invalid('the identity token is not a JWT (three base64url parts)'));
  }
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8'));
  } catch {
    return fail(invalid("the identity token's claims are not JSON"));
  }
  if (typeof claims !== 'object' || claims === null)
    return fail(invalid("the identity token's claims are not an object"));
  const { iss, sub, email, exp } = claims as Record<string, unknown>;
  const subject = typeof email === 'string' ? email : sub;
  if (typeof iss !== 'string' || typeof subject !== 'string') {
    return fail(invalid('the identity token names no issuer (iss) or subject (sub/email)'));
  }
  const expires = typeof exp === 'number' ? new Date(exp * 1000) : undefined;
  if (expires && expires.getTime() <= now.getTime()) {
    const expiredAt = expires.toISOString();
    return fail(
      new RampartError(
        'TOKEN_EXPIRED',
        `${where}: the identity token expired at ${expiredAt}; get a fresh one${
          'option' in source ? ' (the file is read again each time a certificate is asked for)' : ''
        }`,
        { details: { expiredAt, ...source } },
      ),
    );
  }
  return { issuer: iss, subject, ...(expires ? { expires } : {}) };
}

function fail(error: RampartError): never {
  throw error;
}

/**
 * The ephemeral key and its Fulcio certificate, as sigstore-js's Signer: certified once and reused
 * for every signature of one command (as cosign does), again when the certificate is about to expire.
 */
class CertifiedEphemeralKey implements SigstoreSigner {
  readonly #pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  readonly #publicPem = this.#pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  #certificate: { pem: string; notAfter: number } | undefined;
  readonly #certify: (holder: SigstoreSigner) => Promise<string>;
  readonly #now: () => Date;

  constructor(certify: (holder: SigstoreSigner) => Promise<string>, now: () => Date) {
    this.#certify = certify;
    this.#now = now;
  }

  /** A signature by the ephemeral key, as sigstore-js's key holder returns it. */
  readonly holder: SigstoreSigner = {
    sign: async (data) => ({
      signature: cryptoSign('sha256', data, { key: this.#pair.privateKey, dsaEncoding: 'der' }),
      key: { $case: 'publicKey', publicKey: this.#publicPem },
    }),
  };

  async certificate(): Promise<string> {
    // A minute of margin: the Rekor entry's time must fall inside the certificate's validity.
    if (!this.#certificate || this.#certificate.notAfter - 60_000 <= this.#now().getTime()) {
      const pem = await this.#certify(this.holder);
      const parsed = new X509Certificate(pem);
      if (!parsed.publicKey.equals(createPublicKey(this.#publicPem))) {
        throw new RampartError('KEY_INVALID', 'Fulcio certified another key than the one it was sent', {
          details: { reason: 'format' },
        });
      }
      this.#certificate = { pem, notAfter: Date.parse(parsed.validTo) };
    }
    return this.#certificate.pem;
  }

  async sign(data: Buffer): Promise<SigstoreSignature> {
    const certificate = await this.certificate();
    const { signature } = await this.holder.sign(data);
    return { signature, key: { $case: 'x509Certificate', certificate } };
  }
}

export interface KeylessMaterial extends SignatureMaterial {
  /** The certificate's identity (its subject alternative name) and issuer, once certified. */
  identity(): Promise<{ certificate: string; subject: string; issuer?: string }>;
}

/**
 * Keyless signature material for signImage/attestImage: Fulcio certifies an ephemeral key for the
 * token's identity (one request), and every signature goes to Rekor (one request each) before it
 * is stored. Nothing is contacted until the first signature.
 */
export async function keylessMaterial(options: KeylessOptions): Promise<KeylessMaterial> {
  const now = options.now ?? (() => new Date());
  // Fulcio's challenge is the token's email, else its subject: what readTokenClaims reads.
  const first = readTokenClaims(options.identityToken, options.tokenSource, now());
  const sign = await import('@sigstore/sign');
  const fulcioURL = options.fulcioURL ?? sign.DEFAULT_FULCIO_URL;
  const rekorURL = options.rekorURL ?? sign.DEFAULT_REKOR_URL;
  for (const [option, url] of [
    ['--fulcio-url', fulcioURL],
    ['--rekor-url', rekorURL],
  ] as const) {
    // The identity token travels to Fulcio: in clear only to this machine (a local instance).
    const parsed = URL.canParse(url) ? new URL(url) : undefined;
    if (
      !parsed ||
      !(parsed.protocol === 'https:' || (parsed.protocol === 'http:' && isLoopbackHost(parsed.host)))
    ) {
      throw new RampartError(
        'USAGE',
        `${option} ${redactUrl(url)}: expected an https URL (http only for a loopback host)`,
        {
          details: { option, value: redactUrl(url) },
        },
      );
    }
  }
  let asked = 0;
  /** The token to send now: the first, then (with refreshToken) read again, checked before it goes. */
  const currentToken = async (): Promise<{ token: string; subject: string }> => {
    if (asked++ === 0 || !options.refreshToken) {
      // The first token was checked above; sent again, it may have expired since.
      readTokenClaims(options.identityToken, options.tokenSource, now());
      return { token: options.identityToken, subject: first.subject };
    }
    const token = await options.refreshToken();
    const claims = readTokenClaims(token, options.tokenSource, now());
    if (claims.issuer !== first.issuer || claims.subject !== first.subject) {
      // One command's signatures are all by one identity: the one checked before anything was built.
      const why = `the identity token read again names ${claims.subject} (${claims.issuer}), not ${first.subject} (${first.issuer}) as at the start`;
      const source = options.tokenSource ?? { variable: ID_TOKEN_VARIABLE };
      throw 'variable' in source
        ? new RampartError('INVALID_ENVIRONMENT', `${source.variable}: ${why}`, {
            details: { variable: source.variable },
          })
        : new RampartError('USAGE', `${source.option}: ${why}`, { details: { option: source.option } });
    }
    return { token, subject: claims.subject };
  };
  // Fulcio and Rekor go through rampart's HTTP client, not sigstore-js's (make-fetch-happen follows
  // any redirect and sends the body again, the identity token included, to any host and scheme).
  const http = new HttpClient({ retries: options.retries ?? 2 });
  const post = (url: string, body: unknown, operation: string) =>
    http.read(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
        // The Fulcio body holds the token, and a Rekor entry belongs in the log the trusted root
        // names: neither follows a redirect off the origin it was sent to (nor https → http).
        secretBody: true,
        deadlineMs: options.timeoutMs ?? 30_000,
        maxBytes: MAX_SERVICE_ANSWER,
        operation,
        ...(options.signal ? { signal: options.signal } : {}),
      },
      async (response) => JSON.parse((await response.bytes()).toString('utf8')) as unknown,
    );
  const key = new CertifiedEphemeralKey(async (holder) => {
    options.signal?.throwIfAborted();
    // Checked (and read again) before the try: an expired token is TOKEN_EXPIRED, not Fulcio's failure.
    const { token, subject } = await currentToken();
    try {
      // The proof of possession: the token's subject signed by the key (as sigstore-js's FulcioSigner).
      const challenge = await holder.sign(Buffer.from(subject));
      if (challenge.key.$case !== 'publicKey') throw new Error('the key holder returned no public key');
      const answer = (await post(
        `${fulcioURL.replace(/\/+$/, '')}/api/v2/signingCert`,
        {
          credentials: { oidcIdentityToken: token },
          publicKeyRequest: {
            publicKey: { algorithm: 'ECDSA', content: challenge.key.publicKey },
            proofOfPossession: challenge.signature.toString('base64'),
          },
        },
        `Fulcio signing certificate (${redactUrl(fulcioURL)})`,
      )) as FulcioAnswer;
      const chain = (answer?.signedCertificateEmbeddedSct ?? answer?.signedCertificateDetachedSct)?.chain
        ?.certificates;
      const leaf = chain?.[0];
      if (typeof leaf !== 'string') throw new Error('Fulcio returned no certificate');
      return leaf;
    } catch (error) {
      throw serviceError(error, 'Fulcio', fulcioURL);
    }
  }, now);
  // sigstore-js builds the entries and reads the answers; only the transport is rampart's.
  const witness = (entryType?: 'dsse' | 'intoto') => {
    const rekor = new sign.RekorWitness({ rekorBaseURL: rekorURL, ...(entryType ? { entryType } : {}) });
    const client = rekor as unknown as { tlogV1?: unknown };
    if (client.tlogV1 === undefined) throw new Error('@sigstore/sign: RekorWitness has no tlogV1 client');
    client.tlogV1 = {
      createEntry: async (proposed: unknown) => {
        const answer = await post(
          `${rekorURL.replace(/\/+$/, '')}/api/v1/log/entries`,
          proposed,
          `Rekor entry (${redactUrl(rekorURL)})`,
        );
        // One entry, keyed by its UUID (as sigstore-js's Rekor client unpacks it).
        const entries = answer && typeof answer === 'object' ? Object.entries(answer) : [];
        const [only] = entries;
        if (entries.length !== 1 || !only || typeof only[1] !== 'object') {
          throw new Error('Rekor answered with other than one entry');
        }
        return { ...(only[1] as object), uuid: only[0] };
      },
    };
    return rekor;
  };
  const dsseBuilder = new sign.DSSEBundleBuilder({ signer: key, witnesses: [witness('dsse')] });
  const messageBuilder = new sign.MessageSignatureBundleBuilder({ signer: key, witnesses: [witness()] });
  // cosign 2 logs a keyless attestation as an `intoto` (v0.0.2) entry, and so does its `.att` here.
  const intotoBuilder = new sign.DSSEBundleBuilder({ signer: key, witnesses: [witness('intoto')] });
  const { bundleToJSON } = await import('@sigstore/bundle');
  const create = async (
    builder: { create: (artifact: { data: Buffer; type?: string }) => Promise<Bundle> },
    artifact: { data: Buffer; type?: string },
  ): Promise<Bundle> => {
    options.signal?.throwIfAborted();
    // Certified first, so a Fulcio failure is not reported as Rekor's.
    await key.certificate();
    try {
      return await builder.create(artifact);
    } catch (error) {
      throw serviceError(error, 'Rekor', rekorURL);
    }
  };
  return {
    async bundle(statement) {
      const bundle = await create(dsseBuilder, { data: statement, type: IN_TOTO_PAYLOAD_TYPE });
      return Buffer.from(JSON.stringify(bundleToJSON(bundle)));
    },
    async legacyAnnotations(payload) {
      const bundle = await create(messageBuilder, { data: payload });
      if (bundle.content.$case !== 'messageSignature') throw new Error('not a message signature bundle');
      const entry = bundle.verificationMaterial.tlogEntries[0];
      if (!entry) throw serviceError(new Error('no transparency-log entry'), 'Rekor', rekorURL);
      return {
        [COSIGN_SIGNATURE_ANNOTATION]: bundle.content.messageSignature.signature.toString('base64'),
        [COSIGN_CERTIFICATE_ANNOTATION]: await key.certificate(),
        [COSIGN_BUNDLE_ANNOTATION]: rekorBundleAnnotation(entry),
      };
    },
    async legacyEnvelope(statement) {
      const bundle = await create(intotoBuilder, { data: statement, type: IN_TOTO_PAYLOAD_TYPE });
      if (bundle.content.$case !== 'dsseEnvelope') {
        // sigstore-js's DSSE builder always answers with an envelope; anything else is its bug.
        throw new RampartError(
          'SIGNATURE_INVALID',
          `sigstore-js returned a ${bundle.content.$case} bundle, not a DSSE envelope`,
          {
            details: { url: redactUrl(rekorURL) },
          },
        );
      }
      const entry = bundle.verificationMaterial.tlogEntries[0];
      if (!entry) throw serviceError(new Error('no transparency-log entry'), 'Rekor', rekorURL);
      const envelope = bundle.content.dsseEnvelope;
      // cosign 2's keyless `.att` layer: the envelope, an empty signature annotation (the signature
      // is inside), the leaf certificate and the Rekor entry of the envelope.
      return {
        envelope: {
          payloadType: envelope.payloadType,
          payload: envelope.payload.toString('base64'),
          signatures: envelope.signatures.map((signature) => ({
            keyid: signature.keyid,
            sig: signature.sig.toString('base64'),
          })),
        },
        annotations: {
          [COSIGN_SIGNATURE_ANNOTATION]: '',
          [COSIGN_CERTIFICATE_ANNOTATION]: await key.certificate(),
          [COSIGN_BUNDLE_ANNOTATION]: rekorBundleAnnotation(entry),
        },
      };
    },
    async identity() {
      const certificate = await key.certificate();
      const { X509Certificate: Certificate } = await import('@sigstore/core');
      const parsed = Certificate.parse(certificate);
      const issuer = fulcioIssuer(parsed);
      return {
        certificate,
        subject: parsed.subjectAltName ?? '',
        ...(issuer !== undefined ? { issuer } : {}),
      };
    },
  };
}

/** Fulcio's issuer extension (v2 OID, else v1), as @sigstore/verify reads it. */
const ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
function fulcioIssuer(certificate: SigstoreCertificate): string | undefined {
  const v2 = certificate.extension(ISSUER_V2);
  if (v2) return v2.valueObj.subs[0]?.value.toString('utf8');
  return certificate.extension(ISSUER_V1)?.value.toString('utf8');
}

/**
 * A Rekor v1 entry as cosign's `dev.sigstore.cosign/bundle` annotation (cosign `pkg/bundle`
 * RekorBundle, Go's field order): the signed entry timestamp and the canonical body in base64.
 */
export function rekorBundleAnnotation(entry: TransparencyLogEntry): string {
  const promise = entry.inclusionPromise?.signedEntryTimestamp;
  if (!promise) {
    throw new RampartError(
      'NETWORK',
      'the transparency log returned an entry without a signed entry timestamp',
      {
        details: {},
      },
    );
  }
  return JSON.stringify({
    SignedEntryTimestamp: promise.toString('base64'),
    Payload: {
      body: entry.canonicalizedBody.toString('base64'),
      integratedTime: Number(entry.integratedTime),
      logIndex: Number(entry.logIndex),
      logID: entry.logId.keyId.toString('hex'),
    },
  });
}

/** Bound on a Fulcio or Rekor answer (a certificate chain, a log entry: a few KiB). */
const MAX_SERVICE_ANSWER = 1024 * 1024;

/** Fulcio's `/api/v2/signingCert` answer: the chain, leaf first, with the SCT embedded or apart. */
interface FulcioAnswer {
  signedCertificateEmbeddedSct?: { chain?: { certificates?: unknown[] } };
  signedCertificateDetachedSct?: { chain?: { certificates?: unknown[] } };
}

/**
 * A failure talking to `service` as a RampartError: NETWORK with the configured URL (redacted),
 * the status, and where a refused redirect pointed.
 */
function serviceError(error: unknown, service: 'Fulcio' | 'Rekor', url: string): Error {
  if (error instanceof Error && error.name === 'AbortError') return error;
  const shown = redactUrl(url);
  if (error instanceof RampartError) {
    // The HTTP client's own failures (status, refused redirect, timeout) say which service it was.
    if (error.code !== 'NETWORK' && error.code !== 'TIMEOUT') return error;
    const { status, location } = error.details as { status?: unknown; location?: unknown };
    return new RampartError(error.code, `${service} at ${shown}: ${error.message.slice(0, 300)}`, {
      cause: error,
      details: {
        url: shown,
        ...(typeof status === 'number' ? { status } : {}),
        ...(typeof location === 'string' ? { location } : {}),
      },
    });
  }
  // sigstore-js's InternalError wraps the HTTP error (statusCode) or the failure.
  const internal = error as { cause?: { statusCode?: number; message?: string } };
  const status = internal.cause?.statusCode;
  const why = internal.cause?.message ?? (error instanceof Error ? error.message : String(error));
  return new RampartError(
    'NETWORK',
    `${service} at ${shown} ${status !== undefined ? `answered ${status}` : 'failed'}: ${why.slice(0, 300)}`,
    { cause: error, details: { url: shown, ...(status !== undefined ? { status } : {}) } },
  );
}
