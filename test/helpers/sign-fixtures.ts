import type { KeyObject } from 'node:crypto';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Signer } from '../../src/sign/keys.js';
import { decryptPrivateKey, generateKeyPair, keySigner, parsePublicKey } from '../../src/sign/keys.js';
import { type AptRepo, createAptRepo, type DebSpec } from './apt-repo.js';
import { peerTool, peerToolEnv } from './peer-tools.js';
import { runCommand } from './processes.js';
import { writeRandomImage } from './random-image.js';
import { startRegistry, type TestRegistry } from './registry.js';
import { rampart } from './run-cli.js';

/**
 * The set-up the signing tests share: signed images in OCI layouts (a key pair in memory, a fresh
 * random image per test, helpers to change stored blobs), and signed images in a local registry
 * next to cosign 3.1.1 and 2.5.0 (rampart and cosign key pairs on disk, the image pushed to named
 * repositories). Each is made once per test file (beforeAll) and removed by `cleanup()`.
 */

export const REF_NAME = 'org.opencontainers.image.ref.name';
export const SIGN_TEST_PASSWORD = 'rampart test password';
export const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export const blobPath = (layout: string, digest: string) => join(layout, 'blobs', 'sha256', digest.slice(7));
export async function readJson(layout: string, digest: string) {
  return JSON.parse(await readFile(blobPath(layout, digest), 'utf8'));
}
/** Stores `bytes` as a blob of the layout; returns its digest. */
export async function putBlob(layout: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  await writeFile(blobPath(layout, digest), bytes);
  return digest;
}

export interface LayoutSignFixture {
  work: string;
  signer: Signer;
  pub: KeyObject;
  /** A public key that signed nothing. */
  otherPub: KeyObject;
  /** A new layout `work/name` holding a random image tagged `app` (`runConfig`: its config's `config`). */
  freshLayout(
    name: string,
    runConfig?: Record<string, unknown>,
  ): Promise<{ layout: string; ref: string; digest: string }>;
  cleanup(): Promise<void>;
}

export async function layoutSignFixture(prefix: string): Promise<LayoutSignFixture> {
  const work = await mkdtemp(join(tmpdir(), prefix));
  const pair = await generateKeyPair('pw', { scryptCost: 32768 });
  const signer = keySigner(await decryptPrivateKey(pair.privateKey, 'pw'));
  const pub = parsePublicKey(pair.publicKey);
  const otherPub = parsePublicKey((await generateKeyPair('pw', { scryptCost: 32768 })).publicKey);
  return {
    work,
    signer,
    pub,
    otherPub,
    async freshLayout(name, runConfig = {}) {
      const layout = join(work, name);
      const image = await writeRandomImage(layout, 'app', [2000], runConfig);
      return { layout, ref: `oci:${layout}:app`, digest: image.digest };
    },
    cleanup: () => rm(work, { recursive: true, force: true }),
  };
}

export interface CosignRegistryFixture {
  work: string;
  registry: TestRegistry;
  /** cosign 3.1.1 (sid) and 2.5.0 (trixie). */
  cosign3: string;
  cosign2: string;
  /** The digest of the image pushed to every repository. */
  digest: string;
  /** `HOST/repo@digest`. */
  ref(repo: string): string;
  /** Runs cosign with COSIGN_PASSWORD set, in `work`. */
  cosign(bin: string, args: string[]): ReturnType<typeof runCommand>;
  /** The tags of a repository, sorted. */
  tags(repo: string): Promise<string[]>;
  cleanup(): Promise<void>;
}

/**
 * A registry holding one random image in each of `repos` (tag v1), `work/rampart.{key,pub}` from
 * `rampart key generate` and `work/cosign.{key,pub}` from `cosign generate-key-pair`, both under
 * SIGN_TEST_PASSWORD (RAMPART_PASSWORD is set for the test file, restored by cleanup).
 */
export async function cosignRegistryFixture(
  prefix: string,
  repos: readonly string[],
): Promise<CosignRegistryFixture> {
  const work = await mkdtemp(join(tmpdir(), prefix));
  const savedPassword = process.env.RAMPART_PASSWORD;
  process.env.RAMPART_PASSWORD = SIGN_TEST_PASSWORD;
  const [registry, cosign3, cosign2] = await Promise.all([
    startRegistry(),
    peerTool('cosign'),
    peerTool('cosign2'),
  ]);
  const cosign = (bin: string, args: string[]) =>
    runCommand(bin, args, {
      env: peerToolEnv({ COSIGN_PASSWORD: SIGN_TEST_PASSWORD }),
      cwd: work,
      timeoutMs: 120_000,
    });
  const image = await writeRandomImage(join(work, 'layout'), 'app', [3000]);
  for (const repo of repos) {
    const pushed = await rampart(
      'copy',
      '-q',
      `oci:${join(work, 'layout')}:app`,
      `docker://${registry.host}/${repo}:v1`,
      '--insecure',
    );
    expect(pushed.code, pushed.stderr).toBe(0);
  }
  const generated = await rampart('key', 'generate', '--output-prefix', join(work, 'rampart'));
  expect(generated.code, generated.stderr).toBe(0);
  const made = await cosign(cosign3, ['generate-key-pair']);
  expect(made.exitCode, made.stderr).toBe(0);
  return {
    work,
    registry,
    cosign3,
    cosign2,
    digest: image.digest,
    ref: (repo) => `${registry.host}/${repo}@${image.digest}`,
    cosign,
    async tags(repo) {
      const response = await fetch(`${registry.url}/v2/${repo}/tags/list`);
      return ((await response.json()) as { tags: string[] }).tags.sort();
    },
    async cleanup() {
      if (savedPassword === undefined) delete process.env.RAMPART_PASSWORD;
      else process.env.RAMPART_PASSWORD = savedPassword;
      await registry.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}

export interface SignedBuildFixture {
  work: string;
  /** The hermetic signed APT repository the spec builds from (suite `testing`). */
  repo: AptRepo;
  /** `work/app.yaml`: image `app` of `packages` from `repo`, for `archs`. */
  spec: string;
  /** The signed build: `rampart build -o json SPEC DEST --cache work/cache --sign-key work/rampart.key ...buildArgs`. */
  build: { code: number; stdout: string; stderr: string };
  cleanup(): Promise<void>;
}

/**
 * An image built and signed by `rampart build --sign-key` from a hermetic signed APT repo:
 * `work/rampart.{key,pub}` from `rampart key generate` under SIGN_TEST_PASSWORD, the spec, the
 * download cache `work/cache` (for rebuilds), and the build's run (asserted to succeed).
 * RAMPART_PASSWORD and the variables in `env` (e.g. SOURCE_DATE_EPOCH) are set for the test
 * file and restored by cleanup.
 */
export async function signedBuildFixture(
  prefix: string,
  options: {
    packages: DebSpec[];
    archs: string[];
    /** Where to build, e.g. `oci:${join(work, 'layout')}:1`. */
    dest(work: string): string;
    buildArgs?: string[];
    env?: Record<string, string>;
  },
): Promise<SignedBuildFixture> {
  const work = await mkdtemp(join(tmpdir(), prefix));
  const variables = { RAMPART_PASSWORD: SIGN_TEST_PASSWORD, ...options.env };
  const saved = Object.fromEntries(Object.keys(variables).map((name) => [name, process.env[name]]));
  Object.assign(process.env, variables);
  const repo = await createAptRepo([
    { name: 'testing', architectures: options.archs, packages: options.packages },
  ]);
  const spec = join(work, 'app.yaml');
  await writeFile(
    spec,
    [
      'name: app',
      'contents:',
      '  suites: [testing]',
      `  mirror: ${repo.url}`,
      `  keyring: ${repo.key.keyring}`,
      `  packages: [${[...new Set(options.packages.map((p) => p.name))].join(', ')}]`,
      `archs: [${options.archs.join(', ')}]`,
      '',
    ].join('\n'),
  );
  const generated = await rampart('key', 'generate', '--output-prefix', join(work, 'rampart'));
  expect(generated.code, generated.stderr).toBe(0);
  const build = await rampart(
    'build',
    '-o',
    'json',
    spec,
    options.dest(work),
    '--cache',
    join(work, 'cache'),
    '--sign-key',
    join(work, 'rampart.key'),
    ...(options.buildArgs ?? []),
  );
  expect(build.code, build.stderr).toBe(0);
  return {
    work,
    repo,
    spec,
    build,
    async cleanup() {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await repo.close();
      await rm(work, { recursive: true, force: true });
    },
  };
}
