/**
 * Round trips with independent tools (issue 12): what rampart pushes to a real docker-registry on
 * 127.0.0.1, skopeo and crane (sid, from the Debian archive) read with the same digests and bytes,
 * and what skopeo pushes, rampart pulls identically. The nodejs image of the catalogue (built here
 * for amd64 and arm64 from the real archive, with the e2e download cache) is pushed whole by
 * `rampart build … docker://`, read back by `skopeo inspect --raw` byte for byte, then pulled and
 * run by podman (runc) as uid 65532.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../../src/builder/pipeline.js';
import { openImage } from '../../../src/oci/open.js';
import { peerTool, peerToolEnv } from '../../helpers/peer-tools.js';
import { runCommand } from '../../helpers/processes.js';
import { type RandomImage, writeRandomImage } from '../../helpers/random-image.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { rampart } from '../../helpers/run-cli.js';

const IMAGES = resolve(import.meta.dirname, '../../../images');
let registry: TestRegistry;
let work: string;
let source: string;
let image: RandomImage;

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function ok(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const result = await runCommand(command, args, { timeoutMs: 300_000, ...(env ? { env } : {}) });
  expect(result.exitCode, `${command} ${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

async function rampartOk(...args: string[]): Promise<void> {
  const result = await rampart(...args);
  expect(result.code, `rampart ${args.join(' ')}: ${result.stderr}`).toBe(0);
}

/** The manifest digest a layout's index.json names for `tag`, and the set of blob digests it holds. */
async function layoutContents(layout: string, tag: string) {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
  const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  const blobs = (await readdir(join(layout, 'blobs/sha256'))).map((hex) => `sha256:${hex}`).sort();
  return { digest: entry?.digest, blobs };
}

/** Every blob file of a layout hashes to its name. */
async function expectBlobsVerify(layout: string): Promise<void> {
  for (const hex of await readdir(join(layout, 'blobs/sha256'))) {
    expect(sha256(await readFile(join(layout, 'blobs/sha256', hex))), hex).toBe(`sha256:${hex}`);
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-e2e-roundtrip-'));
  source = join(work, 'source');
  image = await writeRandomImage(source, 'v1', [2_000_000, 500_000, 20_000]);
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('round trips with skopeo and crane', () => {
  const expectedBlobs = () =>
    [image.digest, image.config.digest, ...image.layers.map((l) => l.digest)].sort();

  it('rampart push → skopeo copy docker:// oci: gives identical manifest and blob digests', async () => {
    const ref = `${registry.host}/roundtrip/rampart-pushed:v1`;
    await rampartOk('copy', `oci:${source}:v1`, `docker://${ref}`, '--insecure');
    const out = join(work, 'skopeo-pulled');
    await ok('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `oci:${out}:v1`]);
    const pulled = await layoutContents(out, 'v1');
    expect(pulled.digest).toBe(image.digest);
    expect(pulled.blobs).toEqual(expectedBlobs());
    await expectBlobsVerify(out);
  });

  it('skopeo copy push → rampart pull gives identical manifest and blob digests', async () => {
    const ref = `${registry.host}/roundtrip/skopeo-pushed:v1`;
    await ok('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${source}:v1`, `docker://${ref}`]);
    const out = join(work, 'rampart-pulled');
    await rampartOk('copy', `docker://${ref}`, `oci:${out}:v1`, '--insecure');
    const pulled = await layoutContents(out, 'v1');
    expect(pulled.digest).toBe(image.digest);
    expect(pulled.blobs).toEqual(expectedBlobs());
    await expectBlobsVerify(out);
    // And the manifest bytes are the ones skopeo pushed.
    const raw = Buffer.from(
      await ok('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]),
      'utf8',
    );
    expect(await readFile(join(out, 'blobs/sha256', image.digest.slice(7)))).toEqual(raw);
  });

  it('crane digest and crane manifest agree with rampart', async () => {
    const crane = await peerTool('crane');
    const ref = `${registry.host}/roundtrip/rampart-pushed:v1`;
    const opened = await openImage(`docker://${ref}`, { registry: { insecure: true } });
    const digest = (await ok(crane, ['digest', '--insecure', ref], peerToolEnv())).trim();
    expect(digest).toBe(opened.digest);
    expect(digest).toBe(image.digest);
    const manifest = await ok(crane, ['manifest', '--insecure', ref], peerToolEnv());
    expect(Buffer.from(manifest, 'utf8')).toEqual(opened.rawManifest);
    const inspected = await rampart('inspect', `docker://${ref}`, '--insecure', '-o', 'json');
    expect(inspected.code, inspected.stderr).toBe(0);
    expect((JSON.parse(inspected.stdout) as { digest?: string }).digest).toBe(digest);
  });
});

describe('the nodejs image of the catalogue through a registry', () => {
  let layout: string;
  let spec: string;
  let indexDigest: string;
  const ref = () => `${registry.host}/catalogue/nodejs:latest`;

  beforeAll(async () => {
    const specDir = join(work, 'spec');
    await mkdir(specDir, { recursive: true });
    spec = join(specDir, 'nodejs.yaml');
    await copyFile(join(IMAGES, 'nodejs.yaml'), spec);
    // The reference build into a layout; it writes the lock the registry build then follows.
    layout = join(work, 'nodejs');
    const built = await buildImage({
      specPath: spec,
      output: `oci:${layout}:latest`,
      archs: ['amd64', 'arm64'],
    });
    indexDigest = built.digest;
  });

  it('a multi-arch index pushed by rampart build to docker:// is read back by skopeo inspect --raw with the same bytes', async () => {
    const result = await rampart(
      'build',
      spec,
      `docker://${ref()}`,
      '--locked',
      '--arch',
      'amd64',
      '--arch',
      'arm64',
      '-q',
      '-o',
      'json',
      '--insecure',
    );
    expect(result.code, result.stderr).toBe(0);
    const raw = Buffer.from(
      await ok('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref()}`]),
      'utf8',
    );
    // Reproducible builds: the registry holds the very bytes of the layout build's index.
    const local = await readFile(join(layout, 'blobs/sha256', indexDigest.slice(7)));
    expect(raw).toEqual(local);
    expect((JSON.parse(result.stdout) as { digest?: string }).digest).toBe(sha256(raw));
    const index = JSON.parse(raw.toString()) as { manifests: { platform?: { architecture?: string } }[] };
    expect(index.manifests.map((m) => m.platform?.architecture).sort()).toEqual(['amd64', 'arm64']);
  });

  it('podman pulls what rampart pushed and runs node as uid 65532', async () => {
    const root = join(work, 'podman-root');
    const runroot = join(work, 'podman-runroot');
    const podman = (...args: string[]) =>
      ok('podman', [
        '--root',
        root,
        '--runroot',
        runroot,
        '--runtime',
        'runc',
        '--cgroup-manager',
        'cgroupfs',
        ...args,
      ]);
    try {
      await podman('pull', '-q', '--tls-verify=false', `docker://${ref()}`);
      const out = await podman(
        'run',
        '--rm',
        '--network=none',
        '--ulimit',
        'nofile=1024:1024',
        '--ulimit',
        'nproc=1024:1024',
        // The image's entrypoint is /usr/bin/node.
        ref(),
        '-e',
        'console.log(process.getuid())',
      );
      expect(out.trim()).toBe('65532');
    } finally {
      await runCommand('podman', ['--root', root, '--runroot', runroot, 'rmi', '-a', '-f']);
    }
  });
});
