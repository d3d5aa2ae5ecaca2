import { createHash } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Digest } from '../../../src/oci/digest.js';
import type { Image } from '../../../src/oci/image.js';
import { selectImage } from '../../../src/oci/image.js';
import { layerFromFile } from '../../../src/oci/in-memory.js';
import { openImage, writeImage } from '../../../src/oci/open.js';
import { writeTarAtomic } from '../../../src/oci/tar-pack.js';
import { makeTar, makeTestImage } from '../../helpers/oci-fixtures.js';

let work: string;
let pristine: string;
let layout: string;
let image: Image;

const blobPath = (dir: string, digest: string) => join(dir, 'blobs', 'sha256', digest.slice(7));
const sha256 = (bytes: Buffer | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function consume(stream: NodeJS.ReadableStream): Promise<void> {
  const sink = new PassThrough();
  sink.resume();
  await pipeline(stream, sink);
}

async function rewriteIndex(
  dir: string,
  edit: (index: { manifests: Array<Record<string, unknown>> }) => void,
) {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
  edit(index);
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-oci-bad-'));
  image = await makeTestImage(work, [{ 'etc/a': 'a\n' }]);
  pristine = join(work, 'pristine');
  await writeImage(`oci:${pristine}:t`, image);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});
beforeEach(async () => {
  layout = join(work, `case-${Math.random().toString(36).slice(2)}`);
  await cp(pristine, layout, { recursive: true });
});

describe('malformed input gives one-line RampartErrors naming the culprit', () => {
  it('truncated layer blob -> SIZE_MISMATCH while streaming', async () => {
    const layer = image.layers[0]!.descriptor.digest;
    await truncate(blobPath(layout, layer), 10);
    const read = (await openImage(`oci:${layout}:t`)) as Image;
    await expect(consume(await read.layers[0]!.blob())).rejects.toMatchObject({
      code: 'SIZE_MISMATCH',
      message: expect.stringContaining(layer),
    });
  });

  it('a corrupt layer handed out before its reader attaches fails the reader, not the process', async () => {
    await truncate(blobPath(layout, image.layers[0]!.descriptor.digest), 10);
    const read = (await openImage(`oci:${layout}:t`)) as Image;
    const blob = await read.layers[0]!.blob();
    const uncompressed = await read.layers[0]!.uncompressed();
    // Consumers often await something (a temp file) before piping; the failure must wait for them.
    await new Promise((resolve) => setTimeout(resolve, 100));
    await expect(consume(blob)).rejects.toMatchObject({ code: 'SIZE_MISMATCH' });
    await expect(consume(uncompressed)).rejects.toMatchObject({
      code: expect.stringMatching(/SIZE_MISMATCH|MALFORMED_ARCHIVE/),
    });
  });

  it('an archive that vanishes before a blob is read fails the reader, not the process', async () => {
    const archive = join(work, `gone-${Math.random().toString(36).slice(2)}.tar`);
    await writeImage(`oci-archive:${archive}`, image);
    const read = (await openImage(`oci-archive:${archive}`)) as Image;
    await unlink(archive);
    // The archive's streams open their file lazily, so the failure comes after blob() returned.
    const blob = await read.layers[0]!.blob();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await expect(consume(blob)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('corrupted config -> DIGEST_MISMATCH when opening', async () => {
    const path = blobPath(layout, image.manifest.config.digest);
    const bytes = await readFile(path);
    bytes[bytes.length - 2] = 0x20;
    await writeFile(path, bytes);
    await expect(openImage(`oci:${layout}:t`)).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
      message: expect.stringContaining(image.manifest.config.digest),
    });
  });

  it('wrong digest in index.json -> BLOB_NOT_FOUND naming the digest and layout', async () => {
    const wrong = sha256('not there');
    await rewriteIndex(layout, (index) => {
      index.manifests[0]!.digest = wrong;
    });
    const error = await openImage(`oci:${layout}:t`).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BLOB_NOT_FOUND' });
    expect((error as Error).message).toContain(wrong);
    expect((error as Error).message).toContain(layout);
    expect((error as Error).message).not.toContain('\n');
  });

  it('wrong size in index.json -> SIZE_MISMATCH', async () => {
    await rewriteIndex(layout, (index) => {
      index.manifests[0]!.size = 3;
    });
    await expect(openImage(`oci:${layout}:t`)).rejects.toMatchObject({ code: 'SIZE_MISMATCH' });
  });

  it('missing layer blob -> BLOB_NOT_FOUND', async () => {
    await unlink(blobPath(layout, image.layers[0]!.descriptor.digest));
    const read = (await openImage(`oci:${layout}:t`)) as Image;
    await expect(read.layers[0]!.blob()).rejects.toMatchObject({ code: 'BLOB_NOT_FOUND' });
  });

  it('unknown manifest media type -> UNKNOWN_MEDIA_TYPE', async () => {
    const manifest = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: 'application/x-unknown', layers: [] }),
    );
    const digest = sha256(manifest);
    await writeFile(blobPath(layout, digest), manifest);
    await rewriteIndex(layout, (index) => {
      index.manifests[0] = { mediaType: 'application/x-unknown', digest, size: manifest.length };
    });
    await expect(openImage(`oci:${layout}`)).rejects.toMatchObject({
      code: 'UNKNOWN_MEDIA_TYPE',
      message: expect.stringContaining('application/x-unknown'),
    });
  });

  it('unknown layer media type -> an artifact, UNKNOWN_MEDIA_TYPE when used as an image', async () => {
    const raw = JSON.parse(image.rawManifest.toString('utf8'));
    raw.layers[0].mediaType = 'application/x-weird';
    const manifest = Buffer.from(JSON.stringify(raw));
    await writeFile(blobPath(layout, sha256(manifest)), manifest);
    await rewriteIndex(layout, (index) => {
      index.manifests[0] = { ...index.manifests[0], digest: sha256(manifest), size: manifest.length };
    });
    const read = await openImage(`oci:${layout}:t`);
    expect(read.kind).toBe('manifest');
    await expect(selectImage(read)).rejects.toMatchObject({
      code: 'UNKNOWN_MEDIA_TYPE',
      details: { digest: sha256(manifest) },
    });
  });

  it('corrupt gzip/zstd data behind a matching digest -> MALFORMED_ARCHIVE naming the layer', async () => {
    const tar = await makeTar({ 'etc/a': 'a\n'.repeat(500) });
    const gzip = gzipSync(tar);
    gzip.fill(0xff, 10, 40);
    const zstd = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4, 5, 6, 7, 8]);
    for (const [bytes, mediaType] of [
      [gzip, 'application/vnd.oci.image.layer.v1.tar+gzip'],
      [zstd, 'application/vnd.oci.image.layer.v1.tar+zstd'],
    ] as const) {
      const path = join(work, `corrupt-${sha256(bytes).slice(7, 19)}`);
      await writeFile(path, bytes);
      const descriptor = { mediaType, digest: sha256(bytes) as Digest, size: bytes.length };
      const layer = layerFromFile(path, descriptor, sha256(tar) as Digest);
      const error = await consume(await layer.uncompressed()).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'MALFORMED_ARCHIVE', message: expect.stringContaining(path) });
      expect((error as Error).message).toMatch(/cannot decompress (gzip|zstd) data/);
    }
  });

  it('not a layout, or a broken index.json -> MALFORMED_LAYOUT', async () => {
    await expect(openImage(`oci:${work}`)).rejects.toMatchObject({
      code: 'MALFORMED_LAYOUT',
      message: /oci-layout/,
    });
    await writeFile(join(layout, 'index.json'), '{"schemaVersion":2,');
    await expect(openImage(`oci:${layout}:t`)).rejects.toMatchObject({
      code: 'MALFORMED_LAYOUT',
      message: /index.json/,
    });
  });

  it('unknown tag lists the tags that exist', async () => {
    await expect(openImage(`oci:${layout}:nope`)).rejects.toMatchObject({
      code: 'MANIFEST_NOT_FOUND',
      message: expect.stringContaining('tags: t'),
    });
  });

  it('garbage instead of an archive -> MALFORMED_ARCHIVE; a missing file -> NOT_FOUND', async () => {
    const garbage = join(work, 'garbage.tar');
    await writeFile(garbage, Buffer.alloc(2048, 7));
    await expect(openImage(`oci-archive:${garbage}`)).rejects.toMatchObject({ code: 'MALFORMED_ARCHIVE' });
    await expect(openImage(`docker-archive:${garbage}`)).rejects.toMatchObject({ code: 'MALFORMED_ARCHIVE' });
    await expect(openImage(`docker-archive:${join(work, 'absent.tar')}`)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('a failed copy leaves no archive and no temp files behind', async () => {
    await truncate(blobPath(layout, image.layers[0]!.descriptor.digest), 10);
    const source = await openImage(`oci:${layout}:t`);
    const out = await mkdtemp(join(work, 'out-'));
    await expect(writeImage(`docker-archive:${join(out, 'x.tar')}`, source)).rejects.toMatchObject({
      code: expect.stringMatching(/SIZE_MISMATCH|MALFORMED_ARCHIVE/),
    });
    await expect(writeImage(`oci-archive:${join(out, 'y.tar')}`, source)).rejects.toMatchObject({
      code: 'SIZE_MISMATCH',
    });
    await expect(writeImage(`oci:${join(out, 'layout')}:t`, source)).rejects.toMatchObject({
      code: 'SIZE_MISMATCH',
    });
    // a new layout is staged beside its path and renamed into place only when complete
    expect(await readdir(out)).toEqual([]);
  });
});

describe('filesystem errors become one-line IO errors', () => {
  it('a tar that cannot be created closes the entry source it had started reading', async () => {
    const big = join(work, 'big');
    await writeFile(big, Buffer.alloc(4 << 20, 1));
    let source: ReadStream | undefined;
    const target = join(work, 'no-such-dir', 'x.tar');
    await expect(
      writeTarAtomic(target, [
        { name: 'a', size: 4 << 20, open: async () => (source = createReadStream(big)) },
      ]),
    ).rejects.toMatchObject({ code: 'NOT_FOUND', details: { path: target } });
    expect(source?.destroyed).toBe(true);
  });

  it('writing under a regular file', async () => {
    const file = join(work, 'plain-file');
    await writeFile(file, 'x');
    // Checked before anything is written: a path below a regular file does not exist (ENOTDIR).
    await expect(writeImage(`oci:${join(file, 'layout')}:t`, image)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('plain-file'),
    });
    await expect(
      writeImage(`oci-archive:${join(work, 'no-such-dir', 'a.tar')}`, image),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
      details: { path: join(work, 'no-such-dir', 'a.tar') },
    });
  });
});
