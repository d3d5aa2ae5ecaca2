import { type PrivateKeyFile, readPrivateKeyFile } from '../sign/key-files.js';
import { decryptPrivateKeyWhile, keySigner, type Signer, withKeyBeingOpened } from '../sign/keys.js';
import { keyPassword } from './key-password.js';

/** The private-key options of `sign` and `attest`. */
export interface KeyFlags {
  key?: string;
  allowInsecureKey?: boolean;
}

/**
 * The `--key` file's signer (the password from RAMPART_PASSWORD/COSIGN_PASSWORD or a prompt; an
 * unencrypted key only with `--allow-insecure-key`), and what `load` resolves to: the command's
 * signing code, imported while scrypt opens the key.
 */
export async function keySignerFromFlags<T>(
  flags: KeyFlags,
  load: () => Promise<T>,
): Promise<readonly [Signer, T]> {
  const file = await privateKeyFile(flags.key as string, flags.allowInsecureKey);
  const [key, loaded] = await decryptPrivateKeyWhile(file.pem, file.password, file.options, load);
  return [keySigner(key), loaded] as const;
}

/**
 * Runs `use` with the `--key` file's signer while scrypt opens the key (`withKeyBeingOpened`): the
 * command reads the image and loads its code meanwhile. The key's errors come first; on one, `use`
 * is aborted through the signal it is given (which `signal` also aborts).
 */
export async function withKeySignerFromFlags<T>(
  flags: KeyFlags,
  signal: AbortSignal,
  use: (signer: Signer, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const file = await privateKeyFile(flags.key as string, flags.allowInsecureKey);
  return withKeyBeingOpened(file.pem, file.password, { ...file.options, signal }, use);
}

/**
 * A `--key`/`--sign-key` file read for opening, its password (if it needs one) from
 * RAMPART_PASSWORD/COSIGN_PASSWORD or the terminal. Its scrypt may already run (cli/early-key.ts).
 */
export function privateKeyFile(path: string, allowInsecureKey: boolean | undefined): Promise<PrivateKeyFile> {
  return readPrivateKeyFile(path, {
    password: () => keyPassword('read'),
    ...(allowInsecureKey ? { allowInsecure: true } : {}),
  });
}
