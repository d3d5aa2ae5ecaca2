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

describe('an index is walked once per manifest, within a memory bound', () => {
  const indexOf = (manifests: unknown[]) =>
    Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }),
    );
  const put = async (dir: string, bytes: Buffer, mediaType: string) => {
    await writeFile(blobPath(dir, sha256(bytes)), bytes);
    return { mediaType, digest: sha256(bytes), size: bytes.length };
  };
  const tag = async (dir: string, descriptor: object) =>
    writeFile(
      join(dir, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{ ...descriptor, annotations: { 'org.opencontainers.image.ref.name': 'x' } }],
      }),
    );

  it('three levels each listing one child 30 times: 4 manifests written, not 27,000', async () => {
    const imageEntry = {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: image.digest,
      size: image.rawManifest.length,
      platform: { os: 'linux', architecture: 'amd64' },
    };
    const INDEX = 'application/vnd.oci.image.index.v1+json';
    const inner = await put(layout, indexOf(Array(30).fill(imageEntry)), INDEX);
    const middle = await put(layout, indexOf(Array(30).fill(inner)), INDEX);
    const root = await put(layout, indexOf(Array(30).fill(middle)), INDEX);
    await tag(layout, root);
    const events: string[] = [];
    const dest = join(work, `dag-${Math.random().toString(36).slice(2)}`);
    const result = await writeImage(`oci:${dest}:t`, await openImage(`oci:${layout}:x`), {
      onEvent: (event) => {
        if (event.kind === 'manifest') events.push(event.digest);
      },
    });
    expect(events).toEqual([image.digest, inner.digest, middle.digest, root.digest]);
    expect(result.digest).toBe(root.digest);
    expect(result.platforms).toHaveLength(30);
  });

  it('children over 32 MiB in all: TOO_LARGE before they take the memory', async () => {
    const { MAX_COPY_MANIFEST_BYTES } = await import('../../../src/oci/copy.js');
    // Distinct manifests near the 4 MiB each may have, enough to pass the bound over the whole copy.
    const count = Math.ceil(MAX_COPY_MANIFEST_BYTES / (3.5 * 1024 * 1024)) + 1;
    const children = [];
    for (let i = 0; i < count; i++) {
      const bytes = Buffer.from(
        JSON.stringify({ ...image.manifest, annotations: { pad: `${i}`.padEnd(3.5 * 1024 * 1024, '.') } }),
      );
      children.push(await put(layout, bytes, 'application/vnd.oci.image.manifest.v1+json'));
    }
    const root = await put(layout, indexOf(children), 'application/vnd.oci.image.index.v1+json');
    await tag(layout, root);
    const dest = join(work, `wide-${Math.random().toString(36).slice(2)}`);
    await expect(writeImage(`oci:${dest}:t`, await openImage(`oci:${layout}:x`))).rejects.toMatchObject({
      code: 'TOO_LARGE',
      details: { limit: MAX_COPY_MANIFEST_BYTES, digest: root.digest },
    });
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
