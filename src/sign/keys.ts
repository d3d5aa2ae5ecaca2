import type { KeyObject } from 'node:crypto';
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  sign as cryptoSign,
  verify as cryptoVerify,
  generateKeyPairSync,
  randomBytes,
} from 'node:crypto';
import { RampartError } from '../errors.js';
import { deriveSealingKey } from './key-derivation.js';

/**
 * Keys in cosign's formats (sigstore/cosign `pkg/cosign/keys.go`): ECDSA P-256, the private key as
 * PKCS#8 DER sealed with NaCl secretbox (XSalsa20-Poly1305) under a key from scrypt(password), the
 * JSON of that wrapped in PEM `ENCRYPTED SIGSTORE PRIVATE KEY` (cosign >= 2.0) or `ENCRYPTED COSIGN
 * PRIVATE KEY` (older cosign, skopeo); the public key as SPKI PEM `PUBLIC KEY`. Signatures are
 * ECDSA-SHA256 in ASN.1 DER, what Go's `ecdsa.VerifyASN1` reads.
 */

/** Signs bytes; a file key today, a KMS or HSM backend later. */
export interface Signer {
  /** An ASN.1 DER ECDSA P-256 signature over SHA-256 of `data`. */
  sign(data: Uint8Array): Promise<Buffer>;
  /** The public key as SPKI PEM. */
  publicKey(): Promise<string>;
}

export const SIGSTORE_KEY_LABEL = 'ENCRYPTED SIGSTORE PRIVATE KEY';
export const COSIGN_KEY_LABEL = 'ENCRYPTED COSIGN PRIVATE KEY';
export type EncryptedKeyLabel = typeof SIGSTORE_KEY_LABEL | typeof COSIGN_KEY_LABEL;

/**
 * The scrypt costs cosign, skopeo and go-tuf write (go-tuf `encrypted`: 32768 "legacy", 65536
 * "standard", 131072 "OWASP"; always r=8, p=1). Nothing else is read: a key file must not make
 * rampart spend unbounded memory or time.
 */
export const SCRYPT_COSTS = [32768, 65536, 131072] as const;
export type ScryptCost = (typeof SCRYPT_COSTS)[number];
/** What current cosign writes. Older tools (go-tuf before 2023) read only 32768. */
export const DEFAULT_SCRYPT_COST: ScryptCost = 65536;

/** A key file is a few hundred bytes; nothing larger is read (readKeyFile) or parsed. */
export const MAX_KEY_FILE = 64 * 1024;

export interface EncryptOptions {
  label?: EncryptedKeyLabel;
  scryptCost?: ScryptCost;
}

export interface GeneratedKeyPair {
  /** PEM of the encrypted private key (cosign's format). */
  privateKey: string;
  /** SPKI PEM. */
  publicKey: string;
}

/** A new ECDSA P-256 key pair, the private key encrypted under `password` in cosign's format. */
export async function generateKeyPair(
  password: string,
  options: EncryptOptions = {},
): Promise<GeneratedKeyPair> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    privateKey: await encryptPrivateKey(privateKey, password, options),
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Seals a private key in cosign's encrypted PEM: scrypt + secretbox over its PKCS#8 DER. */
export async function encryptPrivateKey(
  key: KeyObject,
  password: string,
  options: EncryptOptions = {},
): Promise<string> {
  checkAlgorithm(key);
  const N = options.scryptCost ?? DEFAULT_SCRYPT_COST;
  const salt = randomBytes(32);
  const nonce = randomBytes(24);
  const [secret, { xsalsa20poly1305 }] = await Promise.all([
    deriveSealingKey(password, salt, N),
    secretbox(),
  ]);
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const sealed = xsalsa20poly1305(secret, nonce).encrypt(der);
  secret.fill(0);
  der.fill(0);
  const body = JSON.stringify({
    kdf: { name: 'scrypt', params: { N, r: 8, p: 1 }, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(sealed).toString('base64'),
  });
  return toPem(options.label ?? SIGSTORE_KEY_LABEL, Buffer.from(body));
}

export interface LoadKeyOptions {
  /** Names the key in errors (a file path). */
  path?: string;
  /** Accept an unencrypted PKCS#8 / SEC1 PEM private key. */
  allowInsecure?: boolean;
}

/**
 * Opens a private key file's text: cosign's encrypted PEM (either label), or with `allowInsecure`
 * an unencrypted PKCS#8 or SEC1 PEM. The key must be ECDSA P-256.
 */
export async function decryptPrivateKey(
  pem: string,
  password: string,
  options: LoadKeyOptions = {},
): Promise<KeyObject> {
  const where = options.path ? { path: options.path } : {};
  const what = options.path ?? 'the private key';
  if (pem.length > MAX_KEY_FILE) throw keyInvalid(`${what} is larger than a key file`, 'format', where);
  const block = parsePem(pem);
  if (!block) throw keyInvalid(`${what} is not a PEM file`, 'format', where);
  const { label, body } = block;
  if (label === 'PRIVATE KEY' || label === 'EC PRIVATE KEY') {
    if (!options.allowInsecure) {
      throw keyInvalid(
        `${what} is not encrypted; encrypt it (rampart key generate writes encrypted keys) or pass --allow-insecure-key`,
        'unencrypted',
        { ...where, label },
      );
    }
    const key = tryCreate(() => createPrivateKey({ key: pem, format: 'pem' }), what, where, label);
    checkAlgorithm(key, what, where);
    return key;
  }
  if (label !== SIGSTORE_KEY_LABEL && label !== COSIGN_KEY_LABEL) {
    throw keyInvalid(
      `${what} is a PEM '${label}', not '${SIGSTORE_KEY_LABEL}' or '${COSIGN_KEY_LABEL}'`,
      'format',
      { ...where, label },
    );
  }
  const sealed = parseSealedKey(body, what, { ...where, label });
  const [secret, { xsalsa20poly1305 }] = await Promise.all([
    deriveSealingKey(password, sealed.salt, sealed.N),
    secretbox(),
  ]);
  let der: Uint8Array;
  try {
    der = xsalsa20poly1305(secret, sealed.nonce).decrypt(sealed.ciphertext);
  } catch {
    throw keyInvalid(`cannot decrypt ${what}: wrong password (or a damaged key file)`, 'password', {
      ...where,
      label,
    });
  } finally {
    secret.fill(0);
  }
  const key = tryCreate(
    () => createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' }),
    what,
    where,
    label,
  );
  der.fill(0);
  checkAlgorithm(key, what, where);
  return key;
}

/** Reads an SPKI PEM `PUBLIC KEY`; it must be ECDSA P-256. */
export function parsePublicKey(pem: string, options: { path?: string } = {}): KeyObject {
  const where = options.path ? { path: options.path } : {};
  const what = options.path ?? 'the public key';
  if (pem.length > MAX_KEY_FILE) throw keyInvalid(`${what} is larger than a key file`, 'format', where);
  const block = parsePem(pem);
  if (block?.label !== 'PUBLIC KEY') {
    throw keyInvalid(`${what} is not a PEM 'PUBLIC KEY' (SPKI)`, 'format', {
      ...where,
      ...(block ? { label: block.label } : {}),
    });
  }
  const key = tryCreate(() => createPublicKey({ key: pem, format: 'pem' }), what, where, block.label);
  checkAlgorithm(key, what, where);
  return key;
}

/** A Signer over a private key held in this process. */
export function keySigner(privateKey: KeyObject): Signer {
  checkAlgorithm(privateKey);
  const publicPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  return {
    async sign(data) {
      return cryptoSign('sha256', data, { key: privateKey, dsaEncoding: 'der' });
    },
    async publicKey() {
      return publicPem;
    },
  };
}

/**
 * Opens a private key file's text, and meanwhile runs `meanwhile` (loading the code that will use
 * the key): scrypt runs on libuv's thread pool, so on a second core the two overlap instead of
 * adding up. The key's errors come first, as when it is opened alone; scrypt runs once.
 */
export async function decryptPrivateKeyWhile<T>(
  pem: string,
  password: string,
  options: LoadKeyOptions,
  meanwhile: () => Promise<T>,
): Promise<[KeyObject, T]> {
  const key = decryptPrivateKey(pem, password, options);
  // Handled at the await below; this keeps an early key failure from being reported as unhandled
  // while `meanwhile` is still running.
  key.catch(() => undefined);
  const other = meanwhile();
  other.catch(() => undefined);
  const opened = await key;
  return [opened, await other];
}

/**
 * Runs `use` with a Signer over a key still being opened: whatever `use` does before its first
 * signature (loading the code that writes it, reading the image from its registry) overlaps scrypt,
 * which runs on libuv's thread pool, instead of waiting for it. `sign` and `publicKey` wait for the
 * key. The key's errors come first, as when it is opened alone: on one, `use` is aborted through
 * the signal it was given and the key's error is thrown. scrypt runs once.
 */
export async function withKeyBeingOpened<T>(
  pem: string,
  password: string,
  options: LoadKeyOptions & { signal?: AbortSignal },
  use: (signer: Signer, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const { signal: outer, ...keyOptions } = options;
  const controller = new AbortController();
  const signal = outer ? AbortSignal.any([outer, controller.signal]) : controller.signal;
  const opened = decryptPrivateKey(pem, password, keyOptions).then(keySigner);
  // Handled at the await below; this keeps a key failure from being reported as unhandled while
  // `use` is still running (or from failing `use` first through its `sign`).
  opened.catch(() => undefined);
  const signer: Signer = {
    sign: async (data) => (await opened).sign(data),
    publicKey: async () => (await opened).publicKey(),
  };
  const work = use(signer, signal);
  work.catch(() => undefined);
  try {
    await opened;
  } catch (error) {
    controller.abort(error);
    throw error;
  }
  return await work;
}

/** Whether `signature` (ASN.1 DER) is `key`'s ECDSA-SHA256 signature over `data`. */
export function verifySignature(key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return cryptoVerify('sha256', data, { key, dsaEncoding: 'der' }, signature);
  } catch {
    // A malformed DER signature is a signature that does not verify.
    return false;
  }
}

/** sigstore's public key hint: standard base64 of SHA-256 over the SPKI DER (what cosign 3 writes). */
export function publicKeyHint(key: KeyObject): string {
  return createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('base64');
}

function checkAlgorithm(key: KeyObject, what = 'the key', where: { path?: string } = {}): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw keyInvalid(
      `${what} is ${key.asymmetricKeyType ?? 'an unknown type'}${key.asymmetricKeyDetails?.namedCurve ? ` ${key.asymmetricKeyDetails.namedCurve}` : ''}, not ECDSA P-256`,
      'algorithm',
      where,
    );
  }
}

export interface SealedKey {
  N: ScryptCost;
  salt: Buffer;
  nonce: Buffer;
  ciphertext: Buffer;
}

/**
 * The JSON inside an encrypted key's PEM (parsePem's `body`), checked field by field; only what
 * cosign writes is accepted (KEY_INVALID otherwise, `what` naming the key).
 */
export function parseSealedKey(
  body: Buffer,
  what: string,
  where: { path?: string; label: string },
): SealedKey {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw keyInvalid(`${what} does not hold cosign's encrypted key JSON`, 'format', where);
  }
  const v = value as {
    kdf?: { name?: unknown; params?: { N?: unknown; r?: unknown; p?: unknown }; salt?: unknown };
    cipher?: { name?: unknown; nonce?: unknown };
    ciphertext?: unknown;
  };
  if (v?.kdf?.name !== 'scrypt' || typeof v.kdf.salt !== 'string') {
    throw keyInvalid(`${what}: the key derivation is not scrypt with a salt`, 'kdf', where);
  }
  const { N, r, p } = v.kdf.params ?? {};
  if (!SCRYPT_COSTS.includes(N as ScryptCost) || r !== 8 || p !== 1) {
    throw keyInvalid(
      `${what}: scrypt parameters N=${String(N)} r=${String(r)} p=${String(p)} are not ones cosign writes (N ${SCRYPT_COSTS.join('|')}, r 8, p 1)`,
      'kdf',
      where,
    );
  }
  if (v.cipher?.name !== 'nacl/secretbox' || typeof v.cipher.nonce !== 'string') {
    throw keyInvalid(`${what}: the cipher is not nacl/secretbox with a nonce`, 'cipher', where);
  }
  if (typeof v.ciphertext !== 'string') throw keyInvalid(`${what} has no ciphertext`, 'format', where);
  const salt = Buffer.from(v.kdf.salt, 'base64');
  const nonce = Buffer.from(v.cipher.nonce, 'base64');
  const ciphertext = Buffer.from(v.ciphertext, 'base64');
  if (salt.length < 16) throw keyInvalid(`${what}: the scrypt salt is too short`, 'kdf', where);
  if (nonce.length !== 24) throw keyInvalid(`${what}: the secretbox nonce is not 24 bytes`, 'cipher', where);
  if (ciphertext.length <= 16) throw keyInvalid(`${what}: the ciphertext is too short`, 'format', where);
  return { N: N as ScryptCost, salt, nonce, ciphertext };
}

/**
 * NaCl secretbox (XSalsa20-Poly1305), loaded while scrypt runs: `verify` and the other commands
 * that only read public keys never load it.
 */
function secretbox(): Promise<typeof import('@noble/ciphers/salsa.js')> {
  return import('@noble/ciphers/salsa.js');
}

/** The first PEM block of a text: its label and decoded body. */
export function parsePem(text: string): { label: string; body: Buffer } | undefined {
  const begin = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n/.exec(text);
  if (!begin) return undefined;
  const label = begin[1] as string;
  const start = begin.index + begin[0].length;
  const endMarker = `-----END ${label}-----`;
  const end = text.indexOf(endMarker, start);
  if (end < 0) return undefined;
  const base64 = text.slice(start, end).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) return undefined;
  return { label, body: Buffer.from(base64, 'base64') };
}

function toPem(label: string, body: Buffer): string {
  const lines = body.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function tryCreate(make: () => KeyObject, what: string, where: { path?: string }, label: string): KeyObject {
  try {
    return make();
  } catch (error) {
    throw keyInvalid(`${what} does not hold a readable key`, 'format', { ...where, label }, error);
  }
}

function keyInvalid(
  message: string,
  reason: RampartErrorKeyReason,
  details: { path?: string; label?: string },
  cause?: unknown,
): RampartError {
  return new RampartError('KEY_INVALID', message, {
    ...(cause ? { cause } : {}),
    details: { reason, ...details },
  });
}

type RampartErrorKeyReason = 'format' | 'password' | 'kdf' | 'cipher' | 'algorithm' | 'unencrypted';
