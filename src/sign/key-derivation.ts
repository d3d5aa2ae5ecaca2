import { scrypt } from 'node:crypto';
import { COSIGN_KEY_LABEL, MAX_KEY_FILE, parsePem, parseSealedKey, SIGSTORE_KEY_LABEL } from './keys.js';

/**
 * cosign's key derivation, scrypt(password, salt, N, r=8, p=1) → 32 bytes (the secretbox key of an
 * encrypted private key), and derivations started ahead of their use. `rampart sign` and `attest`
 * start the `--key` file's scrypt before the command's modules load (cli/early-key.ts): its ~0.3 s
 * then overlaps loading instead of following it. Not part of the library's exports (sign/index.ts):
 * an entry holds the password until a key's opening takes it.
 *
 * A started derivation is taken once, by the opening of a key with that salt and cost and the same
 * password; for another password it is dropped and the key derived afresh, so starting one never
 * changes what opening a key does or reports. It cannot be cancelled: scrypt runs on libuv's thread
 * pool, and a process waits for the pool's running tasks before it exits, so a command that stops
 * before it opens the key (a usage error, Ctrl-C) ends when that scrypt ends.
 */
const started = new Map<string, { password: string; key: Promise<Buffer> }>();

/**
 * Starts the scrypt of an encrypted private key file's text under `password`, to be taken by the
 * key's opening (decryptPrivateKey). Anything but an encrypted key cosign writes starts nothing:
 * its opening reports it. Returns whether a derivation was started (or already was).
 */
export function startKeyOpening(pem: string, password: string): boolean {
  const block = pem.length > MAX_KEY_FILE ? undefined : parsePem(pem);
  if (block?.label !== SIGSTORE_KEY_LABEL && block?.label !== COSIGN_KEY_LABEL) return false;
  let salt: Buffer;
  let N: number;
  try {
    ({ salt, N } = parseSealedKey(block.body, 'the private key', { label: block.label }));
  } catch {
    return false;
  }
  const id = derivationId(salt, N);
  if (!started.has(id)) {
    const key = runScrypt(password, salt, N);
    // Read when the key is opened; a key never opened (a usage error first) is not an error.
    key.catch(() => undefined);
    started.set(id, { password, key });
  }
  return true;
}

/** Whether a derivation startKeyOpening started is still to be taken by a key's opening. */
export function hasUntakenKeyOpening(): boolean {
  return started.size > 0;
}

/** cosign's secretbox key from a password (the one startKeyOpening started, if it matches). */
export function deriveSealingKey(password: string, salt: Buffer, N: number): Promise<Buffer> {
  const id = derivationId(salt, N);
  const early = started.get(id);
  if (early) {
    started.delete(id);
    if (early.password === password) return early.key.catch(() => runScrypt(password, salt, N));
    early.key.then(
      (key) => key.fill(0),
      () => undefined,
    );
  }
  return runScrypt(password, salt, N);
}

function derivationId(salt: Buffer, N: number): string {
  return `${N}:${salt.toString('base64')}`;
}

function runScrypt(password: string, salt: Buffer, N: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // 128 * N * r bytes: 128 MiB at N=131072; Node's default maxmem (32 MiB) is too small.
    scrypt(password, salt, 32, { N, r: 8, p: 1, maxmem: 256 * 1024 * 1024 }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}
