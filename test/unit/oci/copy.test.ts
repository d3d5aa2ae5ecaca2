import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CopyEvent } from '../../../src/oci/copy.js';
import { copy } from '../../../src/oci/copy.js';
import type { Image } from '../../../src/oci/image.js';
import { layerFromFile, newImage, newIndex } from '../../../src/oci/in-memory.js';
import { openImage, openSink, writeImage } from '../../../src/oci/open.js';
import { checkImageConformance } from '../../helpers/conformance.js';
import { makeTar, makeTestImage } from '../../helpers/oci-fixtures.js';

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}` as const;

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-copy-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** An image whose one layer is an uncompressed tar (application/vnd.oci.image.layer.v1.tar). */
async function plainTarImage(): Promise<Image> {
  const tar = await makeTar({ 'etc/plain': 'not gzip\n' });
  const path = join(work, 'plain.tar');
  await writeFile(path, tar);
  const layer = layerFromFile(
    path,
    { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(tar), size: tar.length },
    sha256(tar),
  );
  return newImage({
    config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } },
    layers: [layer],
  });
}

describe('docker-archive reports each layer as what it is', () => {
  it('a plain-tar layer copied to docker-archive and back keeps a plain-tar media type', async () => {
    const image = await plainTarImage();
    const archive = join(work, 'plain.docker.tar');
    await writeImage(`docker-archive:${archive}:plain:1`, image);
    const read = (await openImage(`docker-archive:${archive}`)) as Image;
    expect(read.layers.map((l) => l.descriptor.mediaType)).toEqual([
      'application/vnd.docker.image.rootfs.diff.tar',
    ]);
    await checkImageConformance(read);
    const layout = join(work, 'plain-back');
    await writeImage(`oci:${layout}:plain`, read);
    const back = (await openImage(`oci:${layout}:plain`)) as Image;
    expect(back.layers.map((l) => l.descriptor.mediaType)).toEqual([
      'application/vnd.oci.image.layer.v1.tar',
    ]);
    expect(back.layers[0]?.descriptor.digest).toBe(image.layers[0]?.descriptor.digest);
    expect(back.manifest.config.digest).toBe(image.manifest.config.digest);
    await checkImageConformance(back);
  });

  it('a gzip layer is stored uncompressed in docker-archive and read back as a plain tar', async () => {
    const image = await makeTestImage(work, [{ 'etc/gz': 'gz\n' }]);
    const archive = join(work, 'gz.docker.tar');
    await writeImage(`docker-archive:${archive}`, image);
    const read = (await openImage(`docker-archive:${archive}`)) as Image;
    expect(read.layers[0]?.descriptor.mediaType).toBe('application/vnd.docker.image.rootfs.diff.tar');
    expect(read.layers[0]?.descriptor.digest).toBe(image.layers[0]?.diffID);
    await checkImageConformance(read);
  });
});

describe('copy()', () => {
  it('reports progress, skips blobs the destination already holds, and picks a platform', async () => {
    const amd = await makeTestImage(work, [{ 'etc/a': 'amd\n' }], { os: 'linux', architecture: 'amd64' });
    const arm = await makeTestImage(work, [{ 'etc/a': 'arm\n' }], {
      os: 'linux',
      architecture: 'arm64',
      variant: 'v8',
    });
    const index = newIndex([
      { image: amd, platform: { os: 'linux', architecture: 'amd64' } },
      { image: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ]);
    const layout = join(work, 'events');
    const events: CopyEvent[] = [];
    const first = await copy(index, await openSink(`oci:${layout}`), {
      tag: 'multi',
      onEvent: (e) => events.push(e),
    });
    expect(first.digest).toBe(index.digest);
    const copied = events.filter((e) => e.kind === 'blob' && e.status === 'copied');
    expect(copied).toHaveLength(4); // two configs, two layers
    expect(events.at(-1)).toMatchObject({ kind: 'manifest', digest: index.digest, root: true });

    events.length = 0;
    const second = await copy(index, await openSink(`oci:${layout}`), {
      tag: 'arm',
      platform: { os: 'linux', architecture: 'arm64' },
      onEvent: (e) => events.push(e),
    });
    expect(second).toMatchObject({ digest: arm.digest, platform: 'linux/arm64/v8' });
    expect(
      events.filter((e) => e.kind === 'blob').every((e) => e.kind === 'blob' && e.status === 'exists'),
    ).toBe(true);
    await checkImageConformance(await openImage(`oci:${layout}:multi`));
    const armRead = (await openImage(`oci:${layout}:arm`)) as Image;
    expect(armRead.descriptor.platform).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
  });

  it('a blob of the right size but wrong content at the destination is replaced, not trusted', async () => {
    const image = await makeTestImage(work, [{ 'etc/t': 'trust\n' }]);
    const layout = join(work, 'untrusted');
    await writeImage(`oci:${layout}:t`, image);
    const layer = image.layers[0]!.descriptor;
    const path = join(layout, 'blobs', 'sha256', layer.digest.slice(7));
    await writeFile(path, Buffer.alloc(layer.size, 0));
    await writeImage(`oci:${layout}:t`, image);
    await checkImageConformance(await openImage(`oci:${layout}:t`));
  });

  it('an aborted copy fails with CANCELLED and leaves no new layout and no staging', async () => {
    const image = await makeTestImage(work, [{ 'etc/c': 'cancel\n' }]);
    const out = await mkdtemp(join(work, 'abort-'));
    const controller = new AbortController();
    const copying = copy(image, await openSink(`oci:${join(out, 'layout')}`), {
      tag: 't',
      signal: controller.signal,
      onEvent: (e) => {
        if (e.kind === 'blob' && e.status === 'start') controller.abort();
      },
    });
    await expect(copying).rejects.toMatchObject({ code: 'CANCELLED', details: { operation: 'copy' } });
    expect(await readdir(out)).toEqual([]);
    for (const transport of ['oci-archive', 'docker-archive']) {
      const aborted = new AbortController();
      aborted.abort();
      await expect(
        copy(image, await openSink(`${transport}:${join(out, `${transport}.tar`)}`), {
          signal: aborted.signal,
        }),
      ).rejects.toMatchObject({ code: 'CANCELLED' });
    }
    expect(await readdir(out)).toEqual([]);
  });
});
