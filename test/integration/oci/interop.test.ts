import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Image } from '../../../src/oci/image.js';
import { newIndex } from '../../../src/oci/in-memory.js';
import { openImage, writeImage } from '../../../src/oci/open.js';
import { checkImageConformance } from '../../helpers/conformance.js';
import { makeTestImage } from '../../helpers/oci-fixtures.js';

let work: string;
let image: Image;
let layout: string;

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const run = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const skopeoInspect = (ref: string) =>
  JSON.parse(run('skopeo', ['inspect', ref])) as { Digest: string; Layers: string[] };

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-oci-interop-'));
  image = await makeTestImage(work, [{ 'etc/hello': 'hello\n' }, { 'bin/app': '#!/bin/sh\necho app\n' }]);
  layout = join(work, 'layout');
  await writeImage(`oci:${layout}:v1`, image);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('skopeo reads what rampart writes', () => {
  it('oci layout: raw manifest and digest agree, and skopeo copies it to dir:', async () => {
    expect(
      Buffer.from(execFileSync('skopeo', ['inspect', '--raw', `oci:${layout}:v1`])).equals(image.rawManifest),
    ).toBe(true);
    expect(skopeoInspect(`oci:${layout}:v1`).Digest).toBe(image.digest);
    const out = join(work, 'skopeo-dir');
    run('skopeo', ['copy', `oci:${layout}:v1`, `dir:${out}`]);
    expect(sha256(await readFile(join(out, 'manifest.json')))).toBe(image.digest);
    for (const layer of image.layers) {
      expect(sha256(await readFile(join(out, layer.descriptor.digest.slice(7))))).toBe(
        layer.descriptor.digest,
      );
    }
  });

  it('an index in an oci layout and an oci-archive', async () => {
    const other = await makeTestImage(work, [{ 'etc/hello': 'arm\n' }], {
      os: 'linux',
      architecture: 'arm64',
      variant: 'v8',
    });
    const index = newIndex([
      { image, platform: { os: 'linux', architecture: 'amd64' } },
      { image: other, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ]);
    await writeImage(`oci:${layout}:multi`, index);
    expect(
      Buffer.from(execFileSync('skopeo', ['inspect', '--raw', `oci:${layout}:multi`])).equals(
        index.rawManifest,
      ),
    ).toBe(true);
    const out = join(work, 'skopeo-multi');
    run('skopeo', ['copy', '--all', `oci:${layout}:multi`, `oci:${out}:m`]);
    const back = await openImage(`oci:${out}:m`);
    expect(back.digest).toBe(index.digest);
    const archive = join(work, 'multi.oci.tar');
    await writeImage(`oci-archive:${archive}:multi`, index);
    expect(skopeoInspect(`oci-archive:${archive}:multi`).Digest).toBe(
      run('skopeo', ['inspect', '--format', '{{.Digest}}', `oci:${layout}:multi`]).trim(),
    );
  });

  it('docker-archive: skopeo sees the same config and diff_ids', async () => {
    const archive = join(work, 'app.docker.tar');
    const written = await writeImage(`docker-archive:${archive}:app:1`, image);
    const inspected = skopeoInspect(`docker-archive:${archive}`);
    expect(inspected.Layers).toEqual(image.config.rootfs.diff_ids);
    // the synthesised manifest is skopeo's but for the layer media type: skopeo labels the plain
    // tars gzip, rampart says what they are
    const skopeoRaw = execFileSync('skopeo', ['inspect', '--raw', `docker-archive:${archive}`]).toString(
      'utf8',
    );
    const ours = (await openImage(`docker-archive:${archive}`)).rawManifest.toString('utf8');
    expect(ours).toBe(
      skopeoRaw.replaceAll(
        'application/vnd.docker.image.rootfs.diff.tar.gzip',
        'application/vnd.docker.image.rootfs.diff.tar',
      ),
    );
    expect(written.digest).not.toBe(inspected.Digest);
    const config = Buffer.from(
      execFileSync('skopeo', ['inspect', '--config', '--raw', `docker-archive:${archive}`]),
    );
    expect(config.equals(image.rawConfig)).toBe(true);
    expect(written.digest).toBe((await openImage(`docker-archive:${archive}`)).digest);
  });
});

describe('rampart reads what skopeo and umoci write', () => {
  it('skopeo docker-archive, oci-archive and zstd-compressed oci', async () => {
    const dockerArchive = join(work, 'skopeo.docker.tar');
    run('skopeo', ['copy', `oci:${layout}:v1`, `docker-archive:${dockerArchive}:skopeo/app:2`]);
    const fromDocker = (await openImage(`docker-archive:${dockerArchive}`)) as Image;
    await checkImageConformance(fromDocker);
    // skopeo writes plain tars and labels them gzip when reading back; rampart labels them as tars
    expect(fromDocker.layers.map((l) => l.descriptor.mediaType)).toEqual(
      fromDocker.layers.map(() => 'application/vnd.docker.image.rootfs.diff.tar'),
    );
    expect(fromDocker.manifest.config.digest).toBe(image.manifest.config.digest);
    expect(fromDocker.config.rootfs.diff_ids).toEqual(image.config.rootfs.diff_ids);

    const ociArchive = join(work, 'skopeo.oci.tar');
    run('skopeo', ['copy', `oci:${layout}:v1`, `oci-archive:${ociArchive}:v1`]);
    const fromArchive = await openImage(`oci-archive:${ociArchive}:v1`);
    await checkImageConformance(fromArchive);
    expect(fromArchive.digest).toBe(skopeoInspect(`oci-archive:${ociArchive}:v1`).Digest);

    const zstdLayout = join(work, 'zstd');
    run('skopeo', ['copy', '--dest-compress-format', 'zstd', `oci:${layout}:v1`, `oci:${zstdLayout}:z`]);
    const zstd = (await openImage(`oci:${zstdLayout}:z`)) as Image;
    expect(zstd.layers[0]?.descriptor.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
    expect(zstd.digest).toBe(skopeoInspect(`oci:${zstdLayout}:z`).Digest);
    await checkImageConformance(zstd);
  });

  it('umoci layouts (empty image, then one with a layer)', async () => {
    const umoci = join(work, 'umoci');
    run('umoci', ['init', '--layout', umoci]);
    run('umoci', ['new', '--image', `${umoci}:t`]);
    const empty = await openImage(`oci:${umoci}:t`);
    expect(empty.digest).toBe(skopeoInspect(`oci:${umoci}:t`).Digest);
    await checkImageConformance(empty);
    const content = join(work, 'insert');
    await mkdir(content);
    await writeFile(join(content, 'greeting'), 'hi\n');
    run('umoci', ['insert', '--image', `${umoci}:t`, content, '/opt/insert']);
    const withLayer = (await openImage(`oci:${umoci}:t`)) as Image;
    expect(withLayer.layers).toHaveLength(1);
    expect(withLayer.digest).toBe(skopeoInspect(`oci:${umoci}:t`).Digest);
    await checkImageConformance(withLayer);
  });
});

describe('podman', () => {
  it('loads a docker-archive written by rampart and reports the same image ID', async () => {
    const archive = join(work, 'podman.docker.tar');
    await writeImage(`docker-archive:${archive}:localhost/rampart-test:1`, image);
    const root = join(work, 'podman-root');
    const runroot = join(work, 'podman-runroot');
    const podman = (...args: string[]) =>
      run('podman', ['--root', root, '--runroot', runroot, '--runtime', 'runc', ...args]);
    try {
      podman('load', '-i', archive);
      const id = podman('images', '--no-trunc', '--format', '{{.ID}}', 'localhost/rampart-test:1').trim();
      expect(`sha256:${id.replace(/^sha256:/, '')}`).toBe(image.manifest.config.digest);
    } finally {
      try {
        podman('rmi', '-a', '-f');
      } catch {
        // best effort: the store lives in the temp dir that afterAll removes
      }
    }
  });
});
