import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPrivateKeyFile } from '../../../src/sign/key-files.js';
import { COSIGN_KEY_LABEL, decryptPrivateKey, encryptPrivateKey } from '../../../src/sign/keys.js';

// Whether a key file needs a password is decided in one place: the password is asked for an
// encrypted key only; an unencrypted key or a file that is no key reaches its own error unasked.
let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-key-files-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A password source that counts how often it was asked. */
function asking(password: string) {
  const source = {
    asked: 0,
    password: async () => {
      source.asked++;
      return password;
    },
  };
  return source;
}

describe('readPrivateKeyFile', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

  it('asks the password of an encrypted key (either label) once, and the key opens with it', async () => {
    for (const label of [undefined, COSIGN_KEY_LABEL] as const) {
      const path = join(work, `encrypted-${label ?? 'sigstore'}.key`);
      await writeFile(path, await encryptPrivateKey(privateKey, 'pw', label ? { label } : {}));
      const source = asking('pw');
      const file = await readPrivateKeyFile(path, { password: source.password });
      expect(source.asked).toBe(1);
      expect(file).toMatchObject({ password: 'pw', options: { path } });
      expect(file.options.allowInsecure).toBeUndefined();
      const opened = await decryptPrivateKey(file.pem, file.password, file.options);
      expect(opened.asymmetricKeyType).toBe('ec');
    }
  });

  it('does not ask for an unencrypted key (PKCS#8, SEC1, after an unrelated encrypted block)', async () => {
    const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const sec1 = privateKey.export({ type: 'sec1', format: 'pem' }).toString();
    for (const [name, text] of [
      ['pkcs8', pkcs8],
      ['sec1', sec1],
      // The first block is what is opened: a later encrypted block does not make it need one.
      ['then-encrypted', `${pkcs8}${await encryptPrivateKey(privateKey, 'pw')}`],
    ] as const) {
      const path = join(work, `${name}.key`);
      await writeFile(path, text);
      const source = asking('never');
      const refused = await readPrivateKeyFile(path, { password: source.password });
      expect(source.asked, name).toBe(0);
      expect(refused.password).toBe('');
      await expect(decryptPrivateKey(refused.pem, refused.password, refused.options)).rejects.toMatchObject({
        code: 'KEY_INVALID',
        details: { reason: 'unencrypted', path },
      });
      const allowed = await readPrivateKeyFile(path, { password: source.password, allowInsecure: true });
      expect(allowed.options).toEqual({ path, allowInsecure: true });
      expect((await decryptPrivateKey(allowed.pem, allowed.password, allowed.options)).type).toBe('private');
    }
  });

  it('does not ask for a file that is no key; opening it names the file', async () => {
    const path = join(work, 'notes.txt');
    await writeFile(path, 'not a key\n');
    const source = asking('never');
    const file = await readPrivateKeyFile(path, { password: source.password });
    expect(source.asked).toBe(0);
    await expect(decryptPrivateKey(file.pem, file.password, file.options)).rejects.toMatchObject({
      code: 'KEY_INVALID',
      details: { reason: 'format', path },
    });
  });
});
