import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryClient } from '../../../src/registry/client.js';
import { decryptPrivateKey, keySigner } from '../../../src/sign/keys.js';
import { signImage } from '../../../src/sign/sign.js';
import type { VerifyResult } from '../../../src/sign/verify.js';
import { type ReferrersRegistry, startReferrersRegistry } from '../../helpers/peer-tools.js';
import { writeRandomImage } from '../../helpers/random-image.js';
import type { TestRegistry } from '../../helpers/registry.js';
import { rampart } from '../../helpers/run-cli.js';
import {
  type CosignRegistryFixture,
  cosignRegistryFixture,
  SIGN_TEST_PASSWORD,
} from '../../helpers/sign-fixtures.js';

// rampart's keys and signatures against cosign 3.1.1 (bundles, the referrers tag schema on
// docker-registry 2.8) and cosign 2.5.0 (legacy .sig), both ways, offline.
const PASSWORD = SIGN_TEST_PASSWORD;
let fx: CosignRegistryFixture;
let work: string;
let registry: TestRegistry;
let cosign3: string;
let cosign2: string;
let digest: string;

let refreg: ReferrersRegistry | undefined;
const ref = (repo: string) => fx.ref(repo);
const cosign = (bin: string, args: string[]) => fx.cosign(bin, args);
const tags = (repo: string) => fx.tags(repo);

async function cosignVerify(bin: string, key: string, repo: string) {
  return cosign(bin, [
    'verify',
    '--key',
    key,
    '--insecure-ignore-tlog=true',
    '--allow-insecure-registry',
    ref(repo),
  ]);
}
async function rampartVerify(key: string, repo: string, ...extra: string[]) {
  const run = await rampart(
    'verify',
    '-o',
    'json',
    '--key',
    key,
    `docker://${ref(repo)}`,
    '--insecure',
    ...extra,
  );
  return { code: run.code, stderr: run.stderr, result: JSON.parse(run.stdout || '{}') as VerifyResult };
}
async function rampartSign(key: string, repo: string, ...extra: string[]) {
  const run = await rampart('sign', '--key', key, `docker://${ref(repo)}`, '--insecure', ...extra);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
}
beforeAll(async () => {
  fx = await cosignRegistryFixture('rampart-sign-cosign-', [
    'bundle',
    'legacy',
    'by-cosign3',
    'by-cosign2',
    'keys',
    'tamper',
  ]);
  ({ work, registry, cosign3, cosign2, digest } = fx);
}, 600_000);

afterAll(async () => {
  await Promise.all([fx?.cleanup(), refreg?.stop()]);
});

describe('rampart and cosign', () => {
  it('key generate writes a cosign key pair that never shows the password', async () => {
    const key = await readFile(join(work, 'rampart.key'), 'utf8');
    expect(key.startsWith('-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n')).toBe(true);
    expect(key).not.toContain(PASSWORD);
    expect(
      (await readFile(join(work, 'rampart.pub'), 'utf8')).startsWith('-----BEGIN PUBLIC KEY-----\n'),
    ).toBe(true);
    // cosign reads the private key: the public key it derives is rampart's.
    const derived = await cosign(cosign3, ['public-key', '--key', join(work, 'rampart.key')]);
    expect(derived.exitCode, derived.stderr).toBe(0);
    expect(derived.stdout).toBe(await readFile(join(work, 'rampart.pub'), 'utf8'));
    const again = await rampart('key', 'generate', '--output-prefix', join(work, 'rampart'));
    expect(again.code).toBe(2);
  });

  it('cosign 3 verifies a rampart bundle (a referrer through the tag schema), and rejects another key', async () => {
    await rampartSign(join(work, 'rampart.key'), 'bundle', '--format', 'bundle', '-a', 'build=7');
    // Only the referrers tag schema index beside the image: no .sig.
    expect(await tags('bundle')).toEqual([`sha256-${digest.slice(7)}`, 'v1']);
    const ok = await cosignVerify(cosign3, join(work, 'rampart.pub'), 'bundle');
    expect(ok.exitCode, ok.stderr).toBe(0);
    const wrong = await cosignVerify(cosign3, join(work, 'cosign.pub'), 'bundle');
    expect(wrong.exitCode).not.toBe(0);
    const mine = await rampartVerify(join(work, 'rampart.pub'), 'bundle');
    expect(mine.code).toBe(0);
    expect(mine.result.signatures).toMatchObject([
      { format: 'bundle', valid: true, annotations: { build: '7' } },
    ]);
  });

  it('cosign 2 verifies a rampart legacy signature, and rejects another key', async () => {
    await rampartSign(join(work, 'rampart.key'), 'legacy', '--format', 'legacy');
    expect(await tags('legacy')).toEqual([`sha256-${digest.slice(7)}.sig`, 'v1']);
    const ok = await cosignVerify(cosign2, join(work, 'rampart.pub'), 'legacy');
    expect(ok.exitCode, ok.stderr).toBe(0);
    const payloads = JSON.parse(ok.stdout) as Array<{
      critical: { identity: { 'docker-reference': string } };
    }>;
    expect(payloads.map((p) => p.critical.identity['docker-reference'])).toEqual([`${registry.host}/legacy`]);
    const wrong = await cosignVerify(cosign2, join(work, 'cosign.pub'), 'legacy');
    expect(wrong.exitCode).not.toBe(0);
    const identity = await rampartVerify(
      join(work, 'rampart.pub'),
      'legacy',
      '--identity',
      `${registry.host}/other`,
    );
    expect(identity.code).toBe(1);
    expect(identity.result.signatures.map((s) => s.failed)).toEqual(['identity']);
  });

  it('rampart verifies what cosign 3 (bundle) and cosign 2 (legacy) signed', async () => {
    const three = await cosign(cosign3, [
      'sign',
      '--key',
      'cosign.key',
      '--use-signing-config=false',
      '--tlog-upload=false',
      '--allow-insecure-registry',
      '-y',
      '-a',
      'team=x',
      ref('by-cosign3'),
    ]);
    expect(three.exitCode, three.stderr).toBe(0);
    const v3 = await rampartVerify(join(work, 'cosign.pub'), 'by-cosign3');
    expect(v3.code, v3.stderr).toBe(0);
    expect(v3.result).toMatchObject({
      verified: true,
      digest,
      signatures: [{ format: 'bundle', valid: true, annotations: { team: 'x' } }],
    });
    const two = await cosign(cosign2, [
      'sign',
      '--key',
      'cosign.key',
      '--tlog-upload=false',
      '--allow-insecure-registry',
      '-y',
      ref('by-cosign2'),
    ]);
    expect(two.exitCode, two.stderr).toBe(0);
    const v2 = await rampartVerify(join(work, 'cosign.pub'), 'by-cosign2');
    expect(v2.code, v2.stderr).toBe(0);
    expect(v2.result.signatures).toMatchObject([
      { format: 'legacy', valid: true, identity: `${registry.host}/by-cosign2` },
    ]);
    expect((await rampartVerify(join(work, 'rampart.pub'), 'by-cosign2')).code).toBe(1);

    // cosign's key signs with rampart: appended to cosign 2's .sig manifest, both verify in cosign 2.
    process.env.RAMPART_PASSWORD = PASSWORD;
    await rampartSign(join(work, 'cosign.key'), 'by-cosign2', '--format', 'legacy');
    const both = await cosignVerify(cosign2, join(work, 'cosign.pub'), 'by-cosign2');
    expect(both.exitCode, both.stderr).toBe(0);
    expect(JSON.parse(both.stdout)).toHaveLength(2);
    const mine = await rampartVerify(join(work, 'cosign.pub'), 'by-cosign2');
    expect(mine.result.signatures.map((s) => [s.format, s.valid])).toEqual([
      ['legacy', true],
      ['legacy', true],
    ]);
  });

  it('a rampart key signs with cosign 3, and rampart verifies it', async () => {
    const signed = await cosign(cosign3, [
      'sign',
      '--key',
      join(work, 'rampart.key'),
      '--use-signing-config=false',
      '--tlog-upload=false',
      '--allow-insecure-registry',
      '-y',
      ref('keys'),
    ]);
    expect(signed.exitCode, signed.stderr).toBe(0);
    const verified = await rampartVerify(join(work, 'rampart.pub'), 'keys');
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.result.signatures).toMatchObject([{ format: 'bundle', valid: true }]);
  });

  it('a signature manifest changed in the registry is rejected by rampart and by cosign 2', async () => {
    await rampartSign(join(work, 'rampart.key'), 'tamper', '--format', 'legacy');
    const client = createRegistryClient(registry.host, { insecure: true });
    const tag = `sha256-${digest.slice(7)}.sig`;
    const fetched = await client.getManifest('tamper', tag);
    const manifest = JSON.parse(fetched.raw.toString());
    const annotation = 'dev.cosignproject.cosign/signature';
    const sig = Buffer.from(manifest.layers[0].annotations[annotation], 'base64');
    sig[sig.length - 2] = (sig[sig.length - 2] ?? 0) ^ 0x01;
    manifest.layers[0].annotations[annotation] = sig.toString('base64');
    await client.putManifest('tamper', tag, Buffer.from(JSON.stringify(manifest)), fetched.mediaType);
    const rejected = await rampartVerify(join(work, 'rampart.pub'), 'tamper');
    expect(rejected.code).toBe(1);
    expect(rejected.result.signatures.map((s) => s.failed)).toEqual(['signature']);
    expect((await cosignVerify(cosign2, join(work, 'rampart.pub'), 'tamper')).exitCode).not.toBe(0);
  });
});

/** A two-platform index in an OCI layout, tagged `multi`; returns the child digests. */
async function writeIndexLayout(layout: string): Promise<string[]> {
  const a = await writeRandomImage(layout, 'a', [700]);
  const b = await writeRandomImage(layout, 'b', [800]);
  const size = async (d: string) => (await readFile(join(layout, 'blobs/sha256', d.slice(7)))).length;
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: a.digest,
          size: await size(a.digest),
          platform: { os: 'linux', architecture: 'amd64' },
        },
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: b.digest,
          size: await size(b.digest),
          platform: { os: 'linux', architecture: 'arm64' },
        },
      ],
    }),
  );
  const indexDigest = `sha256:${createHash('sha256').update(index).digest('hex')}`;
  await writeFile(join(layout, 'blobs/sha256', indexDigest.slice(7)), index);
  await writeFile(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.index.v1+json',
          digest: indexDigest,
          size: index.length,
          annotations: { 'org.opencontainers.image.ref.name': 'multi' },
        },
      ],
    }),
  );
  return [indexDigest, a.digest, b.digest];
}

describe('multi-arch, air-gapped copies and the referrers API', () => {
  it('--recursive: the index and each platform manifest verify with rampart, cosign 3 and cosign 2', async () => {
    const layout = join(work, 'multi');
    const digests = await writeIndexLayout(layout);
    const pushed = await rampart(
      'copy',
      '-q',
      `oci:${layout}:multi`,
      `docker://${registry.host}/multi:v1`,
      '--insecure',
    );
    expect(pushed.code, pushed.stderr).toBe(0);
    const signed = await rampart(
      'sign',
      '--recursive',
      '--key',
      join(work, 'rampart.key'),
      `docker://${registry.host}/multi:v1`,
      '--insecure',
    );
    expect(signed.code, signed.stderr).toBe(0);
    for (const d of digests) {
      const at = `${registry.host}/multi@${d}`;
      const mine = await rampart(
        'verify',
        '-o',
        'json',
        '--key',
        join(work, 'rampart.pub'),
        `docker://${at}`,
        '--insecure',
      );
      expect(mine.code, `${d} ${mine.stdout}`).toBe(0);
      const formats = (JSON.parse(mine.stdout) as VerifyResult).signatures.map((s) => [s.format, s.valid]);
      expect(formats.sort()).toEqual([
        ['bundle', true],
        ['legacy', true],
      ]);
      for (const bin of [cosign3, cosign2]) {
        const theirs = await cosign(bin, [
          'verify',
          '--key',
          join(work, 'rampart.pub'),
          '--insecure-ignore-tlog=true',
          '--allow-insecure-registry',
          at,
        ]);
        expect(theirs.exitCode, `${bin} ${d}: ${theirs.stderr}`).toBe(0);
      }
    }
  });

  it('copied with --with-attachments into an OCI layout, signatures of both formats verify there', async () => {
    for (const repo of ['by-cosign3', 'by-cosign2', 'bundle', 'legacy']) {
      const dir = join(work, `copied-${repo}`);
      const copied = await rampart(
        'copy',
        '-q',
        '--with-attachments',
        `docker://${registry.host}/${repo}:v1`,
        `oci:${dir}:v1`,
        '--insecure',
      );
      expect(copied.code, copied.stderr).toBe(0);
      const key = repo.startsWith('by-') ? 'cosign.pub' : 'rampart.pub';
      const verified = await rampart('verify', '-o', 'json', '--key', join(work, key), `oci:${dir}:v1`);
      expect(verified.code, `${repo}: ${verified.stdout}`).toBe(0);
      expect((JSON.parse(verified.stdout) as VerifyResult).digest).toBe(digest);
    }
  });

  it('concurrent signers of one image in a registry all keep their legacy signature', async () => {
    const pushed = await rampart(
      'copy',
      '-q',
      `oci:${join(work, 'layout')}:app`,
      `docker://${registry.host}/concurrent:v1`,
      '--insecure',
    );
    expect(pushed.code, pushed.stderr).toBe(0);
    const pem = await readFile(join(work, 'rampart.key'), 'utf8');
    const signer = keySigner(await decryptPrivateKey(pem, PASSWORD));
    await Promise.all(
      Array.from({ length: 4 }, () =>
        signImage(`docker://${ref('concurrent')}`, signer, {
          formats: ['legacy'],
          registry: { insecure: true },
        }),
      ),
    );
    const ok = await cosignVerify(cosign2, join(work, 'rampart.pub'), 'concurrent');
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toHaveLength(4);
  });

  it('on a registry with the referrers API the bundle is found through it, with no fallback tag', async () => {
    refreg = await startReferrersRegistry();
    const pushed = await rampart(
      'copy',
      '-q',
      `oci:${join(work, 'layout')}:app`,
      `docker://${refreg.host}/api:v1`,
      '--insecure',
    );
    expect(pushed.code, pushed.stderr).toBe(0);
    const signed = await rampart(
      'sign',
      '--format',
      'bundle',
      '--key',
      join(work, 'rampart.key'),
      `docker://${refreg.host}/api:v1`,
      '--insecure',
    );
    expect(signed.code, signed.stderr).toBe(0);
    const listed = await fetch(`${refreg.url}/v2/api/tags/list`);
    expect(((await listed.json()) as { tags: string[] }).tags).toEqual(['v1']);
    const verified = await rampart(
      'verify',
      '-o',
      'json',
      '--key',
      join(work, 'rampart.pub'),
      `docker://${refreg.host}/api:v1`,
      '--insecure',
    );
    expect(verified.code, verified.stdout).toBe(0);
    const cosigned = await cosign(cosign3, [
      'verify',
      '--key',
      join(work, 'rampart.pub'),
      '--insecure-ignore-tlog=true',
      '--allow-insecure-registry',
      `${refreg.host}/api@${digest}`,
    ]);
    expect(cosigned.exitCode, cosigned.stderr).toBe(0);
  });
});
