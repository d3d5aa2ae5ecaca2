import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { fromSystemError, isSystemError, RampartError } from '../errors.js';
import { COSIGN_KEY_LABEL, type LoadKeyOptions, MAX_KEY_FILE, parsePem, SIGSTORE_KEY_LABEL } from './keys.js';

/** A key file is a few hundred bytes; nothing larger is read. */
export const MAX_KEY_FILE_BYTES = MAX_KEY_FILE;

/**
 * Reads a key file's text: a regular file (a FIFO or `/dev/zero` given as `--key` cannot hang or
 * exhaust the process) of at most MAX_KEY_FILE_BYTES, through the descriptor that was checked.
 */
export async function readKeyFile(path: string): Promise<string> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    // O_NONBLOCK: opening a FIFO for reading does not wait for a writer (it is refused below).
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw fromSystemError(error, { path, operation: 'read' });
  }
  try {
    checkKeyFile(path, await handle.stat());
    const buffer = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    return keyFileText(path, buffer, (await handle.read(buffer, 0, buffer.length, 0)).bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * readKeyFile, synchronously, for cli/early-key.ts: it starts the key's scrypt before the CLI's
 * modules load, and an asynchronous read would wait for the event loop's next turns (module
 * loading keeps it busy). Elsewhere the read stays asynchronous: a key on a stalled mount must not
 * stop Ctrl-C from being handled.
 */
export function readKeyFileSync(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw fromSystemError(error, { path, operation: 'read' });
  }
  try {
    checkKeyFile(path, fstatSync(fd));
    const buffer = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    return keyFileText(path, buffer, readSync(fd, buffer, 0, buffer.length, 0));
  } finally {
    closeSync(fd);
  }
}

/** A key file is a regular file of at most MAX_KEY_FILE_BYTES. */
function checkKeyFile(path: string, stats: Stats): void {
  if (!stats.isFile()) {
    throw new RampartError('KEY_INVALID', `${path} is not a regular file`, {
      details: { path, reason: 'format' },
    });
  }
  if (stats.size > MAX_KEY_FILE_BYTES) {
    throw new RampartError('KEY_INVALID', `${path} is ${stats.size} bytes, larger than a key file`, {
      details: { path, reason: 'format' },
    });
  }
}

/** The text read into `buffer` (one byte larger than a key file may be). */
function keyFileText(path: string, buffer: Buffer, bytesRead: number): string {
  if (bytesRead > MAX_KEY_FILE_BYTES) {
    throw new RampartError('KEY_INVALID', `${path} grew past the size of a key file while read`, {
      details: { path, reason: 'format' },
    });
  }
  return buffer.subarray(0, bytesRead).toString('utf8');
}

/** A private key file read for opening (decryptPrivateKey, decryptPrivateKeyWhile, withKeyBeingOpened). */
export interface PrivateKeyFile {
  pem: string;
  /** The password asked for; '' when the file is not an encrypted key (nothing was asked). */
  password: string;
  /** Names the file in the opening's errors; `allowInsecure` as given. */
  options: LoadKeyOptions;
}

/**
 * Reads a private key file (readKeyFile) and asks `password` for its password only when the file
 * is an encrypted key (cosign's PEM labels, the first block, as decryptPrivateKey reads it): an
 * unencrypted key (refused unless `allowInsecure`) or a file that is no key is reported when it is
 * opened, without a prompt or a missing-password error first. `password` is the caller's (the CLI
 * reads the environment or the terminal); this is the one place that decides whether to ask.
 */
export async function readPrivateKeyFile(
  path: string,
  options: { password: () => Promise<string>; allowInsecure?: boolean },
): Promise<PrivateKeyFile> {
  const pem = await readKeyFile(path);
  const label = parsePem(pem)?.label;
  const encrypted = label === SIGSTORE_KEY_LABEL || label === COSIGN_KEY_LABEL;
  return {
    pem,
    password: encrypted ? await options.password() : '',
    options: { path, ...(options.allowInsecure ? { allowInsecure: true } : {}) },
  };
}

/**
 * Writes a key pair as `PREFIX.key` (mode 0600) and `PREFIX.pub`, both created new: a key is never
 * overwritten by accident. When the public key cannot be written, the private key just written is
 * removed again, so a retry does not stop at a half-written pair.
 */
export async function writeKeyPairFiles(
  prefix: string,
  pair: { privateKey: string; publicKey: string },
): Promise<{ privateKeyPath: string; publicKeyPath: string }> {
  const privateKeyPath = `${prefix}.key`;
  const publicKeyPath = `${prefix}.pub`;
  await writeNewFile(privateKeyPath, pair.privateKey, 0o600);
  try {
    await writeNewFile(publicKeyPath, pair.publicKey, 0o644);
  } catch (error) {
    await unlink(privateKeyPath).catch(() => undefined);
    throw error;
  }
  return { privateKeyPath, publicKeyPath };
}

/** Creates a file that must not exist yet (O_EXCL). */
async function writeNewFile(path: string, text: string, mode: number): Promise<void> {
  let created = false;
  try {
    const handle = await open(path, 'wx', mode);
    created = true;
    try {
      await handle.writeFile(text);
    } finally {
      await handle.close();
    }
  } catch (error) {
    // A file this call created and could not fill (disk full) is not left as a truncated key.
    if (created) await unlink(path).catch(() => undefined);
    if (isSystemError(error) && error.code === 'EEXIST') {
      throw new RampartError('USAGE', `${path} exists; remove it or choose another --output-prefix`, {
        details: { option: '--output-prefix', value: path },
      });
    }
    if (isSystemError(error)) throw fromSystemError(error, { path, operation: 'write' });
    throw error;
  }
}
