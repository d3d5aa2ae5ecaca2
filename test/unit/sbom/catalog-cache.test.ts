/**
 * Issue 14 (`rampart scan` end to end): an image cataloged once is not read again. The catalog is
 * kept in rampart's cache under the image's manifest digest; a hit returns it without touching a
 * layer, names the reference used now, and anything that does not match (another digest, a
 * corrupt entry, file digests asked for) is cataloged from the layers as before.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage } from '../../../src/oci/open.js';
import { catalogCache } from '../../../src/sbom/catalog-cache.js';
import { generateSbom } from '../../../src/sbom/generate.js';
import { makeTestImage } from '../../helpers/oci-fixtures.js';

const OS_RELEASE = 'ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n';
const STATUS = (version: string) =>
  `Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\nVersion: ${version}\nDescription: z\n`;

let dir: string;
let layout: string;
let cacheRoot: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-catalog-cache-'));
  layout = join(dir, 'layout');
  cacheRoot = join(dir, 'cache');
  const image = await makeTestImage(dir, [
    { 'etc/os-release': OS_RELEASE, 'var/lib/dpkg/status': STATUS('1:1.3.dfsg-3.1') },
  ]);
  await writeImage(`oci:${layout}:one`, image);
  const other = await makeTestImage(dir, [
    { 'etc/os-release': OS_RELEASE, 'var/lib/dpkg/status': STATUS('1:1.3.dfsg-9') },
  ]);
  await writeImage(`oci:${layout}:two`, other);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Overwrites every layer blob of the layout with zeros of the same size. */
async function corruptLayers(): Promise<void> {
  const blobs = join(layout, 'blobs', 'sha256');
  for (const name of await readdir(blobs)) {
    const bytes = await readFile(join(blobs, name));
    if (bytes[0] === 0x1f && bytes[1] === 0x8b)
      await writeFile(join(blobs, name), Buffer.alloc(bytes.length));
  }
}

describe('the catalog cache', () => {
  it('reuses the catalog of a manifest digest without reading a layer, and only for that digest', async () => {
    const cache = catalogCache(cacheRoot);
    const first = await generateSbom({ kind: 'image', ref: `oci:${layout}:one` }, { cache });
    expect(first.packages.map((p) => [p.name, p.version])).toEqual([['zlib1g', '1:1.3.dfsg-3.1']]);
    expect(await readdir(join(cacheRoot, 'sbom'))).toHaveLength(1);
    const otherFirst = await generateSbom({ kind: 'image', ref: `oci:${layout}:two` }, { cache });
    expect(otherFirst.packages.map((p) => p.version)).toEqual(['1:1.3.dfsg-9']);

    await corruptLayers();
    // Without the cache the layers are read, and they are garbage now.
    await expect(generateSbom({ kind: 'image', ref: `oci:${layout}:one` })).rejects.toMatchObject({
      code: expect.any(String),
    });
    // With it, each digest gets its own catalog back; the source names this reference.
    const again = await generateSbom({ kind: 'image', ref: `oci:${layout}:one` }, { cache });
    expect(again).toEqual({ ...first, source: { ...first.source, ref: `oci:${layout}:one` } });
    const otherAgain = await generateSbom({ kind: 'image', ref: `oci:${layout}:two` }, { cache });
    expect(otherAgain.packages).toEqual(otherFirst.packages);
    expect(otherAgain.source.digest).toBe(otherFirst.source.digest);
    expect(otherAgain.source.digest).not.toBe(first.source.digest);

    // Asking for file digests catalogs the layers (the cached catalog has none).
    await expect(
      generateSbom({ kind: 'image', ref: `oci:${layout}:one` }, { cache, fileDigests: true }),
    ).rejects.toMatchObject({ code: expect.any(String) });

    // A corrupt entry is a miss (and the layers, garbage now, are read).
    const entries = await readdir(join(cacheRoot, 'sbom'));
    for (const name of entries) await writeFile(join(cacheRoot, 'sbom', name), '{"key":');
    await expect(generateSbom({ kind: 'image', ref: `oci:${layout}:one` }, { cache })).rejects.toMatchObject({
      code: expect.any(String),
    });
  });
});
