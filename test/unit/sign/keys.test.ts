import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isRampartError } from '../../../src/errors.js';
import { goJson, pae, simpleSigningPayload } from '../../../src/sign/formats.js';
import { hasUntakenKeyOpening, startKeyOpening } from '../../../src/sign/key-derivation.js';
import {
  COSIGN_KEY_LABEL,
  decryptPrivateKey,
  decryptPrivateKeyWhile,
  encryptPrivateKey,
  generateKeyPair,
  keySigner,
  parsePem,
  parsePublicKey,
  publicKeyHint,
  verifySignature,
  withKeyBeingOpened,
} from '../../../src/sign/keys.js';

async function keyError(run: () => Promise<unknown> | unknown): Promise<Record<string, unknown> | undefined> {
  try {
    await run();
  } catch (error) {
    if (isRampartError(error, 'KEY_INVALID')) return error.details as Record<string, unknown>;
    throw error;
  }
  return undefined;
}

interface Sealed {
  kdf: { name: string; params: Record<string, number>; salt: string };
  cipher: { name: string; nonce: string };
  ciphertext: string;
}

/** Rewrites the JSON inside an encrypted PEM. */
function editSealed(pem: string, edit: (value: Sealed) => void): string {
  const block = parsePem(pem);
  if (!block) throw new Error('no PEM');
  const value = JSON.parse(block.body.toString('utf8')) as Sealed;
  edit(value);
  const body = Buffer.from(JSON.stringify(value)).toString('base64');
  return `-----BEGIN ${block.label}-----\n${body}\n-----END ${block.label}-----\n`;
}

describe('cosign key files', () => {
  it('a generated key decrypts with its password, signs, and verifies with its public key', async () => {
    const pair = await generateKeyPair('correct horse');
    expect(pair.privateKey.startsWith('-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n')).toBe(true);
    expect(pair.privateKey).not.toContain('correct horse');
    const sealed = JSON.parse(parsePem(pair.privateKey)?.body.toString('utf8') ?? '{}');
    expect(sealed.kdf).toMatchObject({ name: 'scrypt', params: { N: 65536, r: 8, p: 1 } });
    expect(Buffer.from(sealed.kdf.salt, 'base64')).toHaveLength(32);
    expect(sealed.cipher.name).toBe('nacl/secretbox');
    expect(Buffer.from(sealed.cipher.nonce, 'base64')).toHaveLength(24);
    const signer = keySigner(await decryptPrivateKey(pair.privateKey, 'correct horse'));
    expect(await signer.publicKey()).toBe(pair.publicKey);
    const signature = await signer.sign(Buffer.from('payload'));
    // ASN.1 DER SEQUENCE, as Go's ecdsa.VerifyASN1 reads it.
    expect(signature[0]).toBe(0x30);
    const pub = parsePublicKey(pair.publicKey);
    expect(verifySignature(pub, Buffer.from('payload'), signature)).toBe(true);
    expect(verifySignature(pub, Buffer.from('payloae'), signature)).toBe(false);
    expect(verifySignature(pub, Buffer.from('payload'), Buffer.from('not der'))).toBe(false);
    expect(publicKeyHint(pub)).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  it('reads the legacy COSIGN label and every scrypt cost cosign writes', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    for (const scryptCost of [32768, 65536, 131072] as const) {
      const pem = await encryptPrivateKey(privateKey, 'pw', { label: COSIGN_KEY_LABEL, scryptCost });
      expect(pem.startsWith('-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----')).toBe(true);
      const key = await decryptPrivateKey(pem, 'pw');
      expect(
        key
          .export({ type: 'pkcs8', format: 'der' })
          .equals(privateKey.export({ type: 'pkcs8', format: 'der' })),
      ).toBe(true);
    }
  }, 60_000);

  it('refuses a wrong password, a flipped ciphertext byte, and scrypt costs cosign does not write', async () => {
    const { privateKey } = await generateKeyPair('pw', { scryptCost: 32768 });
    expect(await keyError(() => decryptPrivateKey(privateKey, 'wrong'))).toMatchObject({
      reason: 'password',
    });
    const flipped = editSealed(privateKey, (v) => {
      const c = Buffer.from(v.ciphertext, 'base64');
      c[20] = (c[20] ?? 0) ^ 1;
      v.ciphertext = c.toString('base64');
    });
    expect(await keyError(() => decryptPrivateKey(flipped, 'pw'))).toMatchObject({ reason: 'password' });
    // A hostile N would make scrypt allocate gigabytes: refused before deriving.
    for (const params of [
      { N: 1 << 24, r: 8, p: 1 },
      { N: 32768, r: 64, p: 1 },
      { N: 32768, r: 8, p: 16 },
      { N: 1024, r: 8, p: 1 },
    ]) {
      const edited = editSealed(privateKey, (v) => {
        v.kdf.params = params;
      });
      expect(await keyError(() => decryptPrivateKey(edited, 'pw'))).toMatchObject({ reason: 'kdf' });
    }
    const otherCipher = editSealed(privateKey, (v) => {
      v.cipher.name = 'aes-gcm';
    });
    expect(await keyError(() => decryptPrivateKey(otherCipher, 'pw'))).toMatchObject({ reason: 'cipher' });
    expect(await keyError(() => decryptPrivateKey('not a key', 'pw'))).toMatchObject({ reason: 'format' });
  });

  it('refuses an unencrypted private key unless allowed, and keys that are not ECDSA P-256', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const plain = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(await keyError(() => decryptPrivateKey(plain, '', { path: 'k.pem' }))).toEqual({
      reason: 'unencrypted',
      path: 'k.pem',
      label: 'PRIVATE KEY',
    });
    expect((await decryptPrivateKey(plain, '', { allowInsecure: true })).asymmetricKeyType).toBe('ec');
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    expect(await keyError(() => encryptPrivateKey(p384.privateKey, 'pw'))).toMatchObject({
      reason: 'algorithm',
    });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsaPub = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(await keyError(() => parsePublicKey(rsaPub))).toMatchObject({ reason: 'algorithm' });
    expect(await keyError(() => parsePublicKey(plain))).toMatchObject({
      reason: 'format',
      label: 'PRIVATE KEY',
    });
  });
});

describe('opening a key while other work runs', () => {
  it('returns the key and the other result; the key failure wins over the other one', async () => {
    const { privateKey, publicKey } = await generateKeyPair('pw', { scryptCost: 32768 });
    let started = false;
    const [key, other] = await decryptPrivateKeyWhile(privateKey, 'pw', {}, async () => {
      started = true;
      return 'loaded';
    });
    expect(other).toBe('loaded');
    expect(started).toBe(true);
    const data = Buffer.from('payload');
    expect(verifySignature(parsePublicKey(publicKey), data, await keySigner(key).sign(data))).toBe(true);
    // A wrong password is reported as such even when the other work failed first.
    const details = await keyError(() =>
      decryptPrivateKeyWhile(privateKey, 'wrong', { path: 'k.key' }, async () => {
        throw new Error('the other work failed');
      }),
    );
    expect(details).toEqual({ reason: 'password', path: 'k.key', label: 'ENCRYPTED SIGSTORE PRIVATE KEY' });
    // With the key opened, the other work's failure is the caller's.
    const failure = new Error('the other work failed');
    await expect(
      decryptPrivateKeyWhile(privateKey, 'pw', {}, async () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
  });
});

describe('a key derivation started ahead of the opening (startKeyOpening)', () => {
  it('is taken by the opening with the same password, once', async () => {
    const pair = await generateKeyPair('early', { scryptCost: 32768 });
    expect(startKeyOpening(pair.privateKey, 'early')).toBe(true);
    expect(hasUntakenKeyOpening()).toBe(true);
    const key = await decryptPrivateKey(pair.privateKey, 'early');
    expect(hasUntakenKeyOpening()).toBe(false);
    const data = Buffer.from('early');
    expect(verifySignature(parsePublicKey(pair.publicKey), data, await keySigner(key).sign(data))).toBe(true);
    // Taken once: a second opening derives afresh and still opens the key.
    await expect(decryptPrivateKey(pair.privateKey, 'early')).resolves.toBeDefined();
  });

  it('never changes what the opening reports: another password is derived afresh, a wrong one still fails', async () => {
    const pair = await generateKeyPair('right', { scryptCost: 32768 });
    startKeyOpening(pair.privateKey, 'wrong');
    await expect(decryptPrivateKey(pair.privateKey, 'right')).resolves.toBeDefined();
    expect(hasUntakenKeyOpening()).toBe(false);
    startKeyOpening(pair.privateKey, 'wrong');
    expect(await keyError(() => decryptPrivateKey(pair.privateKey, 'wrong'))).toMatchObject({
      reason: 'password',
    });
    expect(hasUntakenKeyOpening()).toBe(false);
  });

  it('starts nothing for what is not an encrypted key cosign writes (the opening reports it)', async () => {
    const pair = await generateKeyPair('pw', { scryptCost: 32768 });
    const sec1 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const hostile = [
      '',
      'not a key',
      sec1,
      pair.publicKey,
      editSealed(pair.privateKey, (v) => {
        v.kdf.params.N = 1 << 20;
      }),
      editSealed(pair.privateKey, (v) => {
        v.kdf.name = 'argon2';
      }),
      pair.privateKey.replace(/\n-----END/, 'AAAA\n-----END'),
      `${pair.privateKey}${'x'.repeat(70 * 1024)}`,
    ];
    for (const text of hostile) expect(startKeyOpening(text, 'pw')).toBe(false);
    expect(hasUntakenKeyOpening()).toBe(false);
  });
});

describe('work that runs while the key is opened', () => {
  it('starts before scrypt ends; its signatures wait for the key and verify', async () => {
    const { privateKey, publicKey } = await generateKeyPair('pw', { scryptCost: 32768 });
    const order: string[] = [];
    const data = Buffer.from('payload');
    const result = withKeyBeingOpened(privateKey, 'pw', {}, async (signer) => {
      order.push('use started');
      const signature = await signer.sign(data);
      order.push('signed');
      return { signature, pem: await signer.publicKey() };
    });
    // `use` runs at once, not after scrypt (which takes milliseconds on the thread pool).
    expect(order).toEqual(['use started']);
    const { signature, pem } = await result;
    expect(order).toEqual(['use started', 'signed']);
    expect(pem).toBe(publicKey);
    expect(verifySignature(parsePublicKey(publicKey), data, signature)).toBe(true);
  });

  it("the key's error comes first, and the work is aborted", async () => {
    const { privateKey } = await generateKeyPair('pw', { scryptCost: 32768 });
    let seen: AbortSignal | undefined;
    // The work fails before the key is known to be wrong: the password is still what is reported.
    const details = await keyError(() =>
      withKeyBeingOpened(privateKey, 'wrong', { path: 'k.key' }, async (_signer, signal) => {
        seen = signal;
        throw new Error('the image could not be read');
      }),
    );
    expect(details).toEqual({ reason: 'password', path: 'k.key', label: 'ENCRYPTED SIGSTORE PRIVATE KEY' });
    expect(seen?.aborted).toBe(true);
    // Work still waiting on the network when the key fails is told to stop.
    let waiting: AbortSignal | undefined;
    const stopped = new Promise<void>((resolve) => {
      void withKeyBeingOpened(privateKey, 'wrong', {}, (_signer, signal) => {
        waiting = signal;
        signal.addEventListener('abort', () => resolve());
        return new Promise(() => undefined);
      }).catch(() => undefined);
    });
    await stopped;
    expect(waiting?.aborted).toBe(true);
  });

  it("the caller's signal reaches the work; with the key opened, the work's failure is the caller's", async () => {
    const { privateKey } = await generateKeyPair('pw', { scryptCost: 32768 });
    const controller = new AbortController();
    const failure = new Error('the registry refused the manifest');
    await expect(
      withKeyBeingOpened(privateKey, 'pw', { signal: controller.signal }, async (signer, signal) => {
        controller.abort(new Error('interrupted'));
        expect(signal.aborted).toBe(true);
        await signer.sign(Buffer.from('x'));
        throw failure;
      }),
    ).rejects.toBe(failure);
  });
});

describe('signed documents', () => {
  it('PAE is the DSSE spec encoding (worked example and spec vector)', () => {
    expect(pae('application/vnd.in-toto+json', Buffer.from('{"a":1}')).toString('hex')).toBe(
      '445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e2037207b2261223a317d',
    );
    expect(pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString()).toBe(
      'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
    );
  });

  it('the simple-signing payload is byte for byte what cosign writes', () => {
    const digest = `sha256:${'ab'.repeat(32)}` as const;
    expect(simpleSigningPayload('127.0.0.1:5000/demo', digest).toString()).toBe(
      `{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/demo"},"image":{"docker-manifest-digest":"${digest}"},"type":"cosign container image signature"},"optional":null}`,
    );
    // Go sorts map keys and escapes <>& in HTML-safe mode.
    expect(simpleSigningPayload('r/x', digest, { z: '1', a: '<&>' }).toString()).toContain(
      '"optional":{"a":"\\u003c\\u0026\\u003e","z":"1"}',
    );
    expect(goJson({ s: '\u2028' }).toString()).toBe('{"s":"\\u2028"}');
  });
});

describe("the library's key exports (rampart/sign)", () => {
  it('are the documented ones: the early key start (a synchronous read, the sealed key parser, its table) stays inside', async () => {
    const library = await import('../../../src/sign/index.js');
    for (const name of [
      'readKeyFile',
      'readPrivateKeyFile',
      'decryptPrivateKey',
      'parsePem',
      'MAX_KEY_FILE_BYTES',
    ]) {
      expect(library).toHaveProperty(name);
    }
    for (const name of [
      'readKeyFileSync',
      'parseSealedKey',
      'MAX_KEY_FILE',
      'startKeyOpening',
      'deriveSealingKey',
    ]) {
      expect(library).not.toHaveProperty(name);
    }
  });
});
