import { createPublicKey, sign as cryptoSign, generateKeyPairSync, X509Certificate } from 'node:crypto';
import type { Bundle, TransparencyLogEntry } from '@sigstore/bundle';
import type { X509Certificate as SigstoreCertificate } from '@sigstore/core';
import type { Signature as SigstoreSignature, Signer as SigstoreSigner } from '@sigstore/sign';
import { RampartError } from '../errors.js';
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
    return fail(invalid(`the identity token expired at ${expires.toISOString()}; get a fresh one`));
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
  readTokenClaims(options.identityToken, options.tokenSource, now());
  const sign = await import('@sigstore/sign');
  const fetchOptions = { timeout: options.timeoutMs ?? 30_000, retry: { retries: options.retries ?? 2 } };
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
        `${option} ${url}: expected an https URL (http only for a loopback host)`,
        {
          details: { option, value: url },
        },
      );
    }
  }
  const token = options.identityToken;
  const key = new CertifiedEphemeralKey(async (holder) => {
    options.signal?.throwIfAborted();
    const fulcio = new sign.FulcioSigner({
      identityProvider: { getToken: async () => token },
      keyHolder: holder,
      fulcioBaseURL: fulcioURL,
      ...fetchOptions,
    });
    try {
      const signed = await fulcio.sign(Buffer.alloc(0));
      if (signed.key.$case !== 'x509Certificate') throw new Error('Fulcio returned no certificate');
      return signed.key.certificate;
    } catch (error) {
      throw serviceError(error, 'Fulcio', fulcioURL);
    }
  }, now);
  const dsseBuilder = new sign.DSSEBundleBuilder({
    signer: key,
    witnesses: [new sign.RekorWitness({ rekorBaseURL: rekorURL, entryType: 'dsse', ...fetchOptions })],
  });
  const messageBuilder = new sign.MessageSignatureBundleBuilder({
    signer: key,
    witnesses: [new sign.RekorWitness({ rekorBaseURL: rekorURL, ...fetchOptions })],
  });
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

/** A sigstore-js failure talking to `service` as a RampartError: NETWORK with the URL and status. */
function serviceError(error: unknown, service: 'Fulcio' | 'Rekor', url: string): Error {
  if (error instanceof RampartError) return error;
  if (error instanceof Error && error.name === 'AbortError') return error;
  // sigstore-js's InternalError wraps the HTTP error (statusCode) or the fetch failure. Its message
  // can quote the identity token (IDENTITY_TOKEN_PARSE_ERROR), so it is not passed on for that code.
  const internal = error as { code?: string; cause?: { statusCode?: number; message?: string } };
  if (internal.code === 'IDENTITY_TOKEN_PARSE_ERROR' || internal.code === 'IDENTITY_TOKEN_READ_ERROR') {
    return new RampartError('INVALID_ENVIRONMENT', 'the identity token has no subject Fulcio can certify', {
      details: { variable: ID_TOKEN_VARIABLE },
    });
  }
  const status = internal.cause?.statusCode;
  const why = internal.cause?.message ?? (error instanceof Error ? error.message : String(error));
  return new RampartError(
    'NETWORK',
    `${service} at ${url} ${status !== undefined ? `answered ${status}` : 'failed'}: ${why.slice(0, 300)}`,
    { cause: error, details: { url, ...(status !== undefined ? { status } : {}) } },
  );
}
