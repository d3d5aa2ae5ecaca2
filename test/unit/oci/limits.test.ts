import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Image } from '../../../src/oci/image.js';
import { openImage, writeImage } from '../../../src/oci/open.js';
import { makeTestImage } from '../../helpers/oci-fixtures.js';

// Issue 10 item 6: sizes are checked before anything is read, manifests and configs are capped at
// 4 MiB, and only regular files are read from a layout (a FIFO must not hang the open).
const FIVE_GIB = 5 * 1024 * 1024 * 1024;
const sha256 = (bytes: Buffer | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const blobPath = (dir: string, digest: string) => join(dir, 'blobs', 'sha256', digest.slice(7));

let work: string;
let pristine: string;
let layout: string;
let image: Image;

async function rewriteIndexEntry(
  dir: string,
  change: (entry: Record<string, unknown>) => void,
): Promise<void> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
  change(index.manifests[0]);
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
}

/** Replaces a file by a sparse one of `size` bytes: nothing is written to disk, reading it all would take minutes. */
async function sparse(path: string, size: number): Promise<void> {
  await unlink(path).catch(() => undefined);
  await writeFile(path, '');
  await truncate(path, size);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-limits-'));
  image = await makeTestImage(work, [{ 'etc/a': 'a\n' }]);
  pristine = join(work, 'pristine');
  await writeImage(`oci:${pristine}:t`, image);
});

beforeEach(async () => {
  layout = join(work, `case-${Math.random().toString(36).slice(2)}`);
  await cp(pristine, layout, { recursive: true });
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('sizes are checked before reading', () => {
  it('a config descriptor of a few hundred bytes over a 5 GiB file: SIZE_MISMATCH, nothing read', async () => {
    const config = image.manifest.config;
    expect(config.size).toBeLessThan(1000);
    await sparse(blobPath(layout, config.digest), FIVE_GIB);
    await expect(openImage(`oci:${layout}:t`)).rejects.toMatchObject({
      code: 'SIZE_MISMATCH',
      details: { digest: config.digest, expected: config.size, actual: FIVE_GIB },
    });
  });

  it('a manifest descriptor that says 500 bytes over a 5 GiB blob: SIZE_MISMATCH', async () => {
    await sparse(blobPath(layout, image.digest), FIVE_GIB);
    await rewriteIndexEntry(layout, (entry) => {
      entry.size = 500;
    });
    await expect(openImage(`oci:${layout}:t`)).rejects.toMatchObject({
      code: 'SIZE_MISMATCH',
      details: { expected: 500, actual: FIVE_GIB },
    });
  });

  it('a manifest descriptor over 4 MiB: TOO_LARGE before the blob is opened', async () => {
    await sparse(blobPath(layout, image.digest), FIVE_GIB);
    await rewriteIndexEntry(layout, (entry) => {
      entry.size = FIVE_GIB;
    });
    await expect(openImage(`oci:${layout}:t`)).rejects.toMatchObject({
      code: 'TOO_LARGE',
      details: { limit: 4 * 1024 * 1024, digest: image.digest },
    });
  });

  it('a 5 GiB index.json: TOO_LARGE', async () => {
    await sparse(join(layout, 'index.json'), FIVE_GIB);
    await expect(openImage(`oci:${layout}:t`)).rejects.toMatchObject({
      code: 'TOO_LARGE',
      details: { path: join(layout, 'index.json') },
    });
  });

  it('a docker-archive config member over 4 MiB: TOO_LARGE', async () => {
    const root = join(work, 'big-config');
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      padding: ' '.repeat(5 * 1024 * 1024),
      rootfs: { type: 'layers', diff_ids: [] },
    });
    await cp(pristine, root, { recursive: true }); // any directory to hold the members
    await writeFile(join(root, 'config.json'), config);
    await writeFile(join(root, 'manifest.json'), JSON.stringify([{ Config: 'config.json', Layers: [] }]));
    const archive = join(work, 'big-config.tar');
    execFileSync('tar', ['-cf', archive, '-C', root, 'manifest.json', 'config.json']);
    await expect(openImage(`docker-archive:${archive}`)).rejects.toMatchObject({
      code: 'TOO_LARGE',
      details: { limit: 4 * 1024 * 1024 },
    });
    expect(sha256(config)).toMatch(/^sha256:/);
  });
});

describe('only regular files are read from a layout', () => {
  it('a FIFO as index.json is refused at once, not waited on', async () => {
    await unlink(join(layout, 'index.json'));
    execFileSync('mkfifo', [join(layout, 'index.json')]);
    await expect(openImage(`oci:${layout}:t`)).rejects.toMatchObject({
      code: 'MALFORMED_LAYOUT',
      details: { path: join(layout, 'index.json') },
    });
  });

  it('a FIFO as a config blob is refused at once', async () => {
    const path = blobPath(layout, image.manifest.config.digest);
    await unlink(path);
    execFileSync('mkfifo', [path]);
    await expect(openImage(`oci:${layout}:t`)).rejects.toMatchObject({
      code: 'MALFORMED_LAYOUT',
      details: { path },
    });
  });

  it('a FIFO as a layer blob fails the reader, not the process', async () => {
    const path = blobPath(layout, image.layers[0]!.descriptor.digest);
    await unlink(path);
    execFileSync('mkfifo', [path]);
    const read = (await openImage(`oci:${layout}:t`)) as Image;
    await expect(read.layers[0]!.blob()).rejects.toMatchObject({ code: 'MALFORMED_LAYOUT' });
  });
});
