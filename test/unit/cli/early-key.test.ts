import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEarlyKeyOpening } from '../../../src/cli/early-key.js';
import { hasUntakenKeyOpening } from '../../../src/sign/key-derivation.js';
import { decryptPrivateKey, generateKeyPair } from '../../../src/sign/keys.js';

// Which command lines start the `--key` file's scrypt before the CLI loads (bin/rampart.js).
let work: string;
let key: string;
let pem: string;
const env = { RAMPART_PASSWORD: 'early' };

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-early-key-'));
  pem = (await generateKeyPair('early', { scryptCost: 32768 })).privateKey;
  key = join(work, 'k.key');
  await writeFile(key, pem);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Starts for `args` and takes what was started (so the next case starts from nothing). */
async function starts(args: string[], environment: NodeJS.ProcessEnv = env): Promise<boolean> {
  const started = startEarlyKeyOpening(args, environment);
  expect(hasUntakenKeyOpening()).toBe(started);
  if (started)
    await decryptPrivateKey(pem, environment.RAMPART_PASSWORD ?? environment.COSIGN_PASSWORD ?? '');
  expect(hasUntakenKeyOpening()).toBe(false);
  return started;
}

describe('the key derivation bin/rampart.js starts early', () => {
  it('starts for sign and attest with --key FILE or --key=FILE and the password in the environment', async () => {
    expect(await starts(['sign', '--key', key, 'oci:x'])).toBe(true);
    expect(await starts(['--debug', 'attest', '--type', 'openvex', `--key=${key}`, 'oci:x'])).toBe(true);
    expect(await starts(['sign', '--key', key, 'oci:x'], { COSIGN_PASSWORD: 'early' })).toBe(true);
    // commander keeps the last of a repeated option.
    expect(await starts(['sign', '--key', join(work, 'missing.key'), '--key', key, 'oci:x'])).toBe(true);
  });

  it('starts nothing for other commands, --help, --keyless, no password in the environment, or after --', async () => {
    expect(await starts(['verify', '--key', key, 'oci:x'])).toBe(false);
    expect(await starts(['build', '--key', key])).toBe(false);
    expect(await starts(['sign', '--key', key, '--help'])).toBe(false);
    expect(await starts(['sign', '-h', '--key', key])).toBe(false);
    expect(await starts(['sign', '--keyless', '--key', key, 'oci:x'])).toBe(false);
    expect(await starts(['sign', '--key', key, 'oci:x'], {})).toBe(false);
    expect(await starts(['sign', 'oci:x', '--', '--key', key])).toBe(false);
    expect(await starts(['sign', 'oci:x', '--key'])).toBe(false);
    expect(await starts([])).toBe(false);
  });

  it('starts nothing, and never throws or blocks, for a --key that is no readable key file', async () => {
    const fifo = join(work, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const text = join(work, 'text');
    await writeFile(text, 'not a key\n');
    const big = join(work, 'big');
    await writeFile(big, Buffer.alloc(128 * 1024, 'A'));
    const link = join(work, 'link-to-fifo');
    await symlink(fifo, link);
    for (const path of [fifo, link, '/dev/zero', work, text, big, join(work, 'missing'), '']) {
      expect(await starts(['sign', '--key', path, 'oci:x'])).toBe(false);
    }
  });
});
