import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../../src/oci/digest.js';
import type { Image, ImageOrIndex } from '../../../src/oci/image.js';
import { selectImage } from '../../../src/oci/image.js';
import { layerFromFile, newImage, newIndex } from '../../../src/oci/in-memory.js';
import { openImage, writeImage } from '../../../src/oci/open.js';
import { openRootfsDirectory } from '../../../src/oci/rootfs-source.js';
import { TarIndex } from '../../../src/oci/tar-index.js';
import { checkImageConformance } from '../../helpers/conformance.js';
import { makeTar, makeTestImage } from '../../helpers/oci-fixtures.js';

let work: string;
let image: Image;
let arm: Image;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-oci-sources-'));
  image = await makeTestImage(work, [{ 'etc/hello': 'hello\n' }, { 'usr/bin/app': '#!/bin/sh\necho app\n' }]);
  arm = await makeTestImage(work, [{ 'etc/hello': 'arm\n' }], {
    os: 'linux',
    architecture: 'arm64',
    variant: 'v8',
  });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

describe('conformance battery, every source', () => {
  it('in-memory image and index', async () => {
    await checkImageConformance(image);
    await checkImageConformance(newIndex([{ image, platform: { os: 'linux', architecture: 'amd64' } }]));
  });

  it('oci: layout keeps digests and passes', async () => {
    const dir = join(work, 'layout');
    const written = await writeImage(`oci:${dir}:v1`, image);
    expect(written.digest).toBe(image.digest);
    const read = await openImage(`oci:${dir}:v1`);
    expect(read.digest).toBe(image.digest);
    expect(read.rawManifest.equals(image.rawManifest)).toBe(true);
    await checkImageConformance(read);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    expect(index.manifests[0].annotations['org.opencontainers.image.ref.name']).toBe('v1');
    expect(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'))).toEqual({
      imageLayoutVersion: '1.0.0',
    });
  });

  it('oci-archive: round trip passes', async () => {
    const file = join(work, 'image.oci.tar');
    await writeImage(`oci-archive:${file}:v1`, image);
    const read = await openImage(`oci-archive:${file}:v1`);
    expect(read.digest).toBe(image.digest);
    await checkImageConformance(read);
    // it is a plain tar of a layout that tar(1) lists
    const listing = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).split('\n');
    expect(listing).toContain('index.json');
    expect(listing).toContain(`blobs/sha256/${image.digest.slice(7)}`);
  });

  it('oci-archive: an empty blob (size 0) reads back as zero bytes', async () => {
    const empty = join(work, 'empty-layer');
    await writeFile(empty, '');
    const digest = sha256(Buffer.alloc(0)) as Digest;
    const withEmpty = newImage({
      config: { ...image.config },
      layers: [
        layerFromFile(
          empty,
          { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: 0 },
          digest,
        ),
      ],
    });
    const file = join(work, 'empty-blob.tar');
    await writeImage(`oci-archive:${file}`, withEmpty);
    const read = (await openImage(`oci-archive:${file}`)) as Image;
    expect((await readAll(await read.layers[0]!.blob())).length).toBe(0);
    await checkImageConformance(read);
  });

  it('archives: a PAX size record (how Go writes blobs of 8 GiB and more) gives the entry size', async () => {
    const tar = pack();
    tar.entry({ name: 'blob', pax: { size: '11' } }, 'hello world');
    tar.entry({ name: 'after' }, 'next');
    tar.finalize();
    const bytes = await readAll(tar as unknown as NodeJS.ReadableStream);
    // Blank the ustar size field of the entry after the PAX header, as for a size it cannot hold.
    const header = bytes.subarray(1024, 1536);
    header.write('00000000000\0', 124, 'latin1');
    header.fill(0x20, 148, 156);
    const sum = header.reduce((total, byte) => total + byte, 0);
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    const file = join(work, 'pax-size.tar');
    await writeFile(file, bytes);
    const index = await TarIndex.open(file);
    expect((await readAll(index.openEntry(index.find('blob')!))).toString()).toBe('hello world');
    expect((await readAll(index.openEntry(index.find('after')!))).toString()).toBe('next');
  });

  it('docker-archive: config digest and diff_ids preserved, layers stored uncompressed', async () => {
    const file = join(work, 'image.docker.tar');
    const written = await writeImage(`docker-archive:${file}:app:1`, image);
    const read = await openImage(`docker-archive:${file}`);
    expect(read.kind).toBe('image');
    const back = read as Image;
    expect(written.digest).toBe(back.digest);
    expect(back.manifest.config.digest).toBe(image.manifest.config.digest);
    expect(back.config.rootfs.diff_ids).toEqual(image.config.rootfs.diff_ids);
    expect(back.layers.map((l) => l.descriptor.digest)).toEqual(image.layers.map((l) => l.diffID));
    await checkImageConformance(back);
    const manifest = JSON.parse(execFileSync('tar', ['-xOf', file, 'manifest.json'], { encoding: 'utf8' }));
    expect(manifest[0].RepoTags).toEqual(['app:1']);
    await expect(openImage(`docker-archive:${file}:app:1`)).resolves.toMatchObject({ digest: back.digest });
    await expect(openImage(`docker-archive:${file}:other:1`)).rejects.toMatchObject({
      code: 'MANIFEST_NOT_FOUND',
    });
  });

  it('a docker-archive image written to oci: gets OCI media types, same config and layer blobs', async () => {
    const file = join(work, 'convert.docker.tar');
    await writeImage(`docker-archive:${file}`, image);
    const fromDocker = (await openImage(`docker-archive:${file}`)) as Image;
    expect(fromDocker.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const dir = join(work, 'converted');
    const written = await writeImage(`oci:${dir}:c`, fromDocker);
    const back = (await openImage(`oci:${dir}:c`)) as Image;
    expect(back.digest).toBe(written.digest);
    expect(back.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(back.manifest.config).toMatchObject({
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: image.manifest.config.digest,
    });
    expect(back.manifest.layers.map((l) => [l.mediaType, l.digest])).toEqual(
      image.layers.map((l) => ['application/vnd.oci.image.layer.v1.tar', l.diffID]),
    );
    await checkImageConformance(back);
  });

  it('zstd layers decompress and verify (blob made by the zstd tool)', async () => {
    const tar = await makeTar({ 'z/file': 'zstd content\n' });
    const tarPath = join(work, 'z.tar');
    await writeFile(tarPath, tar);
    execFileSync('zstd', ['-q', '-f', tarPath, '-o', `${tarPath}.zst`]);
    const blob = await readFile(`${tarPath}.zst`);
    const layer = layerFromFile(
      `${tarPath}.zst`,
      {
        mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd',
        digest: sha256(blob) as `sha256:${string}`,
        size: blob.length,
      },
      sha256(tar) as `sha256:${string}`,
    );
    const zimage = newImage({ config: { ...image.config }, layers: [layer] });
    const dir = join(work, 'zstd-layout');
    await writeImage(`oci:${dir}:z`, zimage);
    await checkImageConformance(await openImage(`oci:${dir}:z`));
  });

  it('dir: rootfs source is deterministic, keeps modes and symlinks, honours SOURCE_DATE_EPOCH', async () => {
    const root = join(work, 'rootfs');
    await mkdir(join(root, 'etc'), { recursive: true });
    await writeFile(join(root, 'etc', 'os-release'), 'ID=test\n', { mode: 0o640 });
    await symlink('/etc/shadow', join(root, 'etc', 'escape'));
    const scratchDir = join(work, 'scratch');
    await mkdir(scratchDir);
    const first = await openRootfsDirectory(root, { scratchDir });
    await checkImageConformance(first);
    const second = await openRootfsDirectory(root, { scratchDir });
    expect(second.digest).toBe(first.digest);
    // a symlink naming the root is followed (only the root: the entries below are not)
    await symlink(root, join(work, 'rootfs-link'));
    expect((await openRootfsDirectory(join(work, 'rootfs-link'), { scratchDir })).digest).toBe(first.digest);
    const tarText = execFileSync('tar', ['-tvzf', '-'], {
      input: await readAll(await first.layers[0]!.blob()),
      encoding: 'utf8',
    });
    expect(tarText).toMatch(/-rw-r-----.*etc\/os-release/);
    expect(tarText).toMatch(/etc\/escape -> \/etc\/shadow/);
    expect(tarText).toContain('1970-01-01');
    // the default (no scratchDir) serves the layer from an unlinked temp file: same digest, nothing left
    const tmp = join(work, 'tmp');
    await mkdir(tmp);
    const savedTmp = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      const viaOpen = (await openImage(`dir:${root}`)) as Image;
      expect(viaOpen.digest).toBe(first.digest);
      expect(await readdir(tmp)).toEqual([]);
      await Promise.all([checkImageConformance(viaOpen), checkImageConformance(viaOpen)]);
    } finally {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
    }
    process.env.SOURCE_DATE_EPOCH = '1700000000';
    try {
      const dated = await openRootfsDirectory(root, { scratchDir });
      expect(dated.layers[0]?.diffID).not.toBe(first.layers[0]?.diffID);
      expect(dated.config.created).toBe('2023-11-14T22:13:20Z');
    } finally {
      delete process.env.SOURCE_DATE_EPOCH;
    }
  });
});

describe('indexes', () => {
  let index: ImageOrIndex;
  beforeAll(() => {
    index = newIndex([
      { image, platform: { os: 'linux', architecture: 'amd64' } },
      { image: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ]);
  });

  it('an index copied into oci: and oci-archive: is kept whole', async () => {
    for (const target of [`oci:${join(work, 'multi')}:all`, `oci-archive:${join(work, 'multi.tar')}:all`]) {
      await writeImage(target, index);
      const read = await openImage(target);
      expect(read.kind).toBe('index');
      expect(read.digest).toBe(index.digest);
      await checkImageConformance(read);
    }
  });

  it('selectImage picks by platform, falls back to the first, errors on an absent explicit one', async () => {
    expect((await selectImage(index, { os: 'linux', architecture: 'arm64' })).digest).toBe(arm.digest);
    expect((await selectImage(index, { os: 'linux', architecture: 'amd64' })).digest).toBe(image.digest);
    await expect(selectImage(index, { os: 'linux', architecture: 's390x' })).rejects.toMatchObject({
      code: 'MANIFEST_NOT_FOUND',
      message: expect.stringContaining('linux/amd64, linux/arm64/v8'),
    });
  });

  it('docker-archive gets the image of the requested platform', async () => {
    const file = join(work, 'arm.docker.tar');
    await writeImage(`docker-archive:${file}`, index, { platform: { os: 'linux', architecture: 'arm64' } });
    const read = (await openImage(`docker-archive:${file}`)) as Image;
    expect(read.manifest.config.digest).toBe(arm.manifest.config.digest);
  });
});

describe('index.json updates', () => {
  it('a tag that exists is replaced; other entries are kept', async () => {
    const dir = join(work, 'tags');
    await writeImage(`oci:${dir}:a`, image);
    await writeImage(`oci:${dir}:b`, image);
    await writeImage(`oci:${dir}:a`, arm);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    const entries = index.manifests.map((m: { digest: string; annotations: Record<string, string> }) => [
      m.annotations['org.opencontainers.image.ref.name'],
      m.digest,
    ]);
    expect(entries).toEqual([
      ['b', image.digest],
      ['a', arm.digest],
    ]);
    expect((await openImage(`oci:${dir}:a`)).digest).toBe(arm.digest);
    expect((await openImage(`oci:${dir}@${image.digest}`)).digest).toBe(image.digest);
    await expect(openImage(`oci:${dir}`)).rejects.toMatchObject({
      code: 'MANIFEST_NOT_FOUND',
      message: /a, b|b, a/,
    });
  });
});
