import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAll } from '../../../src/oci/digest.js';
import type { Image } from '../../../src/oci/image.js';
import { newIndex } from '../../../src/oci/in-memory.js';
import { openImage, writeImage } from '../../../src/oci/open.js';
import { makeTestImage } from '../../helpers/oci-fixtures.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { rampart } from '../../helpers/run-cli.js';

// rampart against a real docker-registry (anonymous, plain HTTP on 127.0.0.1), checked with skopeo.

const sha256 = (bytes: Buffer | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

let work: string;
let layout: string;
let registry: TestRegistry;
let image: Image;
let arm: Image;
let raws: { v1: Buffer; multi: Buffer; sbom: Buffer };

const docker = (repo: string, tagOrDigest = ':v1') => `docker://${registry.host}/${repo}${tagOrDigest}`;
const skopeo = (...args: string[]) => execFileSync('skopeo', args, { encoding: 'utf8', maxBuffer: 1 << 26 });
const skopeoRaw = (ref: string) =>
  execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', ref], { maxBuffer: 1 << 26 });

/** The raw manifest bytes of a layout entry, as rampart reads them. */
async function rawOf(ref: string): Promise<Buffer> {
  return (await openImage(ref)).rawManifest;
}

/** An SBOM artifact (artifactType, subject, one document blob), written byte by byte into the layout. */
async function sbomArtifact(dir: string, subject: Image): Promise<Buffer> {
  const put = async (bytes: Buffer, mediaType: string) => {
    await writeFile(join(dir, 'blobs', 'sha256', sha256(bytes).slice(7)), bytes);
    return { mediaType, digest: sha256(bytes), size: bytes.length };
  };
  const layer = await put(
    Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'app', packages: [] })),
    'application/spdx+json',
  );
  const config = await put(Buffer.from('{}'), 'application/vnd.oci.empty.v1+json');
  const raw = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/spdx+json',
      config,
      layers: [layer],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.rawManifest.length },
    }),
  );
  await put(raw, 'application/vnd.oci.image.manifest.v1+json');
  const indexPath = join(dir, 'index.json');
  const index = JSON.parse(await readFile(indexPath, 'utf8'));
  index.manifests.push({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: sha256(raw),
    size: raw.length,
    artifactType: 'application/spdx+json',
    annotations: { 'org.opencontainers.image.ref.name': 'sbom' },
  });
  await writeFile(indexPath, JSON.stringify(index));
  return raw;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-transport-'));
  registry = await startRegistry();
  image = await makeTestImage(work, [{ 'etc/hello': 'hello\n' }, { 'etc/second': 'two\n' }]);
  arm = await makeTestImage(work, [{ 'etc/hello': 'arm\n' }], {
    os: 'linux',
    architecture: 'arm64',
    variant: 'v8',
  });
  layout = join(work, 'layout');
  await writeImage(`oci:${layout}:v1`, image);
  await writeImage(
    `oci:${layout}:multi`,
    newIndex([
      { image, platform: { os: 'linux', architecture: 'amd64' } },
      { image: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ]),
  );
  raws = {
    v1: await rawOf(`oci:${layout}:v1`),
    multi: await rawOf(`oci:${layout}:multi`),
    sbom: await sbomArtifact(layout, image),
  };
});

afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function copyJson(...args: string[]) {
  const run = await rampart('copy', '-o', 'json', ...args, '--insecure');
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as {
    source: string;
    destination: string;
    digest: string;
    platforms: string[];
    attachments: unknown[];
    bytes: { pushed: number; skipped: number; mounted: number };
  };
}

describe('rampart copy oci: -> docker:// -> oci:', () => {
  it.each([
    ['a single image', 'v1'],
    ['a multi-arch index', 'multi'],
    ['an artifact', 'sbom'],
  ] as const)('keeps every digest byte for byte: %s', async (_name, tag) => {
    const pushed = await copyJson(`oci:${layout}:${tag}`, docker(`round/${tag}`));
    expect(pushed.digest).toBe(sha256(raws[tag]));
    expect(pushed.attachments).toEqual([]);
    // What the registry serves is the layout's bytes.
    expect(skopeoRaw(docker(`round/${tag}`))).toEqual(raws[tag]);
    const back = join(work, `back-${tag}`);
    const pulled = await copyJson(docker(`round/${tag}`), `oci:${back}:${tag}`);
    expect(pulled.digest).toBe(sha256(raws[tag]));
    expect(await rawOf(`oci:${back}:${tag}`)).toEqual(raws[tag]);
    if (tag === 'multi') {
      expect(pushed.platforms).toEqual(['linux/amd64', 'linux/arm64/v8']);
      // Every child and every blob came back, verified: each layer is read to its end.
      const index = await openImage(`oci:${back}:${tag}`);
      if (index.kind !== 'index') throw new Error('expected an index');
      const children = await Promise.all(index.manifest.manifests.map((entry) => index.image(entry)));
      expect(children.map((child) => child.rawManifest)).toEqual([image.rawManifest, arm.rawManifest]);
      for (const child of children) for (const layer of child.layers) await readAll(await layer.blob());
    }
  });
});
