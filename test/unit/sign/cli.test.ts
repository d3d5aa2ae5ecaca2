import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../helpers/processes.js';
import { writeRandomImage } from '../../helpers/random-image.js';
import { rampart } from '../../helpers/run-cli.js';

// The CLI's key and password rules, in-process, on an OCI layout.
let work: string;
let layout: string;
const saved = {
  RAMPART_PASSWORD: process.env.RAMPART_PASSWORD,
  COSIGN_PASSWORD: process.env.COSIGN_PASSWORD,
};

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-sign-cli-'));
  layout = join(work, 'layout');
  await writeRandomImage(layout, 'app', [300]);
});
afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** What a sign could change: the layout's index, its blobs, and the entries beside it (staging). */
async function layoutState(): Promise<{ index: string; blobs: string[]; beside: string[] }> {
  return {
    index: await readFile(join(layout, 'index.json'), 'utf8'),
    blobs: (await readdir(join(layout, 'blobs', 'sha256'))).sort(),
    beside: (await readdir(work)).sort(),
  };
}

/** Every entry under `dir`: its path, type, size and mtime (what any write, sweep or mkdir changes). */
async function treeState(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { recursive: true })) {
    const info = await lstat(join(dir, entry));
    out.push(`${entry} ${info.isDirectory() ? 'd' : 'f'} ${info.size} ${info.mtimeMs}`);
  }
  return out.sort();
}

const errorOf = (stderr: string) =>
  (JSON.parse(stderr) as { error: { code: string; details: Record<string, unknown> } }).error;

describe('rampart key, sign and verify on the command line', () => {
  it('generates, signs and verifies with COSIGN_PASSWORD; exits 1 when nothing verifies', async () => {
    delete process.env.RAMPART_PASSWORD;
    process.env.COSIGN_PASSWORD = 'from cosign variable';
    const generated = await rampart('key', 'generate', '--output-prefix', join(work, 'k'));
    expect(generated.code, generated.stderr).toBe(0);
    expect(generated.stdout + generated.stderr).not.toContain('from cosign variable');
    expect((await stat(join(work, 'k.key'))).mode & 0o777).toBe(0o600);
    const unsigned = await rampart('verify', '-o', 'json', '--key', join(work, 'k.pub'), `oci:${layout}:app`);
    expect(unsigned.code).toBe(1);
    expect(JSON.parse(unsigned.stdout)).toMatchObject({ verified: false, signatures: [] });
    const signed = await rampart('sign', '--key', join(work, 'k.key'), `oci:${layout}:app`);
    expect(signed.code, signed.stderr).toBe(0);
    const verified = await rampart('verify', '-o', 'json', '--key', join(work, 'k.pub'), `oci:${layout}:app`);
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout).signatures).toHaveLength(2);
    const wrongPassword = await rampart(
      'sign',
      '-o',
      'json',
      '--key',
      join(work, 'k.key'),
      `oci:${layout}:app`,
    );
    expect(wrongPassword.code).toBe(0);
    process.env.COSIGN_PASSWORD = 'wrong';
    // The image is read (and its layout opened for writing) while scrypt runs: a wrong password
    // must still leave the layout as it was, with nothing staged beside it.
    const before = await layoutState();
    const refused = await rampart('sign', '-o', 'json', '--key', join(work, 'k.key'), `oci:${layout}:app`);
    expect(refused.code).toBe(1);
    expect(errorOf(refused.stderr)).toMatchObject({ code: 'KEY_INVALID', details: { reason: 'password' } });
    expect(await layoutState()).toEqual(before);
    // Both wrong: the key's error is the one reported, as when the key is opened first.
    const missing = await rampart(
      'sign',
      '-o',
      'json',
      '--key',
      join(work, 'k.key'),
      `oci:${join(work, 'absent')}:app`,
    );
    expect(missing.code).toBe(1);
    expect(errorOf(missing.stderr)).toMatchObject({ code: 'KEY_INVALID', details: { reason: 'password' } });
    expect(refused.stderr).not.toContain('Zq9-not-the-password');
  });

  it('--format bundle with a wrong password changes nothing: no write, no sweep, no staging', async () => {
    process.env.COSIGN_PASSWORD = 'wrong';
    // Abandoned staging (its process is gone) beside the layout and among its blobs: opening the
    // layout for writing would sweep both, so they show whether it was opened.
    const dead = spawnSync(process.execPath, ['-e', '']).pid as number;
    await mkdir(join(work, `.layout.tmp-${dead}-0123456789ab`, 'blobs'), { recursive: true });
    await writeFile(join(layout, 'blobs', 'sha256', `.0123.tmp-${dead}-0123456789ab`), 'partial');
    const before = await treeState(work);
    const refused = await rampart(
      'sign',
      '-o',
      'json',
      '--format',
      'bundle',
      '--key',
      join(work, 'k.key'),
      `oci:${layout}:app`,
    );
    expect(refused.code).toBe(1);
    expect(errorOf(refused.stderr)).toMatchObject({ code: 'KEY_INVALID', details: { reason: 'password' } });
    expect(await treeState(work)).toEqual(before);
  });

  it('without a password and without a terminal: a usage error, nothing signed', async () => {
    delete process.env.RAMPART_PASSWORD;
    delete process.env.COSIGN_PASSWORD;
    const run = await rampart('key', 'generate', '-o', 'json', '--output-prefix', join(work, 'none'));
    expect(run.code).toBe(2);
    const sign = await rampart('sign', '-o', 'json', '--key', join(work, 'k.key'), `oci:${layout}:app`);
    expect(sign.code).toBe(2);
    expect(errorOf(sign.stderr).code).toBe('USAGE');
    // A file that is no key needs no password: its own error, not the missing password's.
    await writeFile(join(work, 'notes.txt'), 'not a key\n');
    await writeFile(join(work, 'predicate.json'), '{}');
    const attest = [
      'attest',
      '--type',
      'https://example.com/predicate/v1',
      '--predicate',
      join(work, 'predicate.json'),
    ];
    for (const command of [['sign'], attest]) {
      const notKey = await rampart(
        ...command,
        '-o',
        'json',
        '--key',
        join(work, 'notes.txt'),
        `oci:${layout}:app`,
      );
      expect(notKey.code, command[0]).toBe(1);
      expect(errorOf(notKey.stderr)).toMatchObject({ code: 'KEY_INVALID', details: { reason: 'format' } });
    }
  });

  it('an empty password and an unencrypted key need --allow-insecure-key', async () => {
    process.env.RAMPART_PASSWORD = '';
    expect((await rampart('key', 'generate', '--output-prefix', join(work, 'empty'))).code).toBe(2);
    expect(
      (await rampart('key', 'generate', '--allow-insecure-key', '--output-prefix', join(work, 'empty'))).code,
    ).toBe(0);
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    await writeFile(join(work, 'plain.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(join(work, 'plain.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    const refused = await rampart(
      'sign',
      '-o',
      'json',
      '--key',
      join(work, 'plain.key'),
      `oci:${layout}:app`,
    );
    expect(refused.code).toBe(1);
    expect(errorOf(refused.stderr)).toMatchObject({
      code: 'KEY_INVALID',
      details: { reason: 'unencrypted' },
    });
    const allowed = await rampart(
      'sign',
      '--allow-insecure-key',
      '--key',
      join(work, 'plain.key'),
      `oci:${layout}:app`,
    );
    expect(allowed.code, allowed.stderr).toBe(0);
    expect((await rampart('verify', '--key', join(work, 'plain.pub'), `oci:${layout}:app`)).code).toBe(0);
  });

  it('a key path that is not a small regular file is refused without reading it', async () => {
    await runCommand('mkfifo', [join(work, 'fifo')]);
    for (const path of ['/dev/zero', join(work, 'fifo')]) {
      const run = await rampart('verify', '-o', 'json', '--key', path, `oci:${layout}:app`);
      expect(run.code, path).toBe(1);
      expect(errorOf(run.stderr)).toMatchObject({ code: 'KEY_INVALID', details: { path, reason: 'format' } });
    }
    await writeFile(join(work, 'big.pub'), Buffer.alloc(100 * 1024, 0x41));
    const big = await rampart('verify', '-o', 'json', '--key', join(work, 'big.pub'), `oci:${layout}:app`);
    expect(errorOf(big.stderr).code).toBe('KEY_INVALID');
    expect(await readFile(join(work, 'k.pub'), 'utf8')).toContain('PUBLIC KEY');
  });

  it('key generate onto an existing PREFIX.pub leaves no PREFIX.key behind', async () => {
    process.env.RAMPART_PASSWORD = 'half-written pair';
    const prefix = join(work, 'half');
    await writeFile(`${prefix}.pub`, "someone else's public key\n");
    const refused = await rampart('key', 'generate', '--output-prefix', prefix);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('half.pub exists');
    await expect(stat(`${prefix}.key`)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readFile(`${prefix}.pub`, 'utf8')).toBe("someone else's public key\n");
  });

  it('verify refuses dir: and docker-archive: before reading them (no signatures can be beside them)', async () => {
    const { verifyImage } = await import('../../../src/sign/verify.js');
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    for (const ref of [
      `dir:${join(work, 'missing-rootfs')}`,
      `docker-archive:${join(work, 'missing.tar')}`,
    ]) {
      await expect(verifyImage(ref, publicKey)).rejects.toMatchObject({ code: 'UNSUPPORTED_TRANSPORT' });
    }
  });

  it('verify --policy refuses the options a policy replaces or cannot combine with (--key, --rebuild, --identity)', async () => {
    for (const extra of [['--rebuild'], ['--spec', 'x.yaml'], ['--identity', 'repo'], ['--key', 'k.pub']]) {
      const run = await rampart(
        'verify',
        '-o',
        'json',
        '--policy',
        join(work, 'p.yaml'),
        ...extra,
        `oci:${layout}:app`,
      );
      expect(run.code, extra.join(' ')).toBe(2);
      expect(JSON.parse(run.stderr).error).toMatchObject({ code: 'USAGE', details: { option: '--policy' } });
    }
  });
});
