/**
 * Issue 14 (`rampart scan` end to end): an image cataloged once is not cataloged again. The
 * catalog is kept in rampart's cache under the image's manifest digest; a hit returns it (naming
 * the reference used now) after checking every layer blob's digest, so a corrupt or tampered image
 * still fails; anything that does not match (another digest, a corrupt entry, file digests asked
 * for) is cataloged from the layers as before.
 */
import { chmod, mkdtemp, readdir, readFile, realpath, rm, stat, utimes, writeFile } from 'node:fs/promises';
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
  // Only their user may write the blobs (whatever the umask): verified blobs are recorded then only.
  for (const name of await readdir(join(layout, 'blobs', 'sha256')))
    await chmod(join(layout, 'blobs', 'sha256', name), 0o644);
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
  it('reuses the catalog of a manifest digest, and only for that digest', async () => {
    const cache = catalogCache(cacheRoot);
    const first = await generateSbom({ kind: 'image', ref: `oci:${layout}:one` }, { cache });
    expect(first.packages.map((p) => [p.name, p.version])).toEqual([['zlib1g', '1:1.3.dfsg-3.1']]);
    expect(await readdir(join(cacheRoot, 'sbom'))).toHaveLength(1);
    const otherFirst = await generateSbom({ kind: 'image', ref: `oci:${layout}:two` }, { cache });
    expect(otherFirst.packages.map((p) => p.version)).toEqual(['1:1.3.dfsg-9']);

    // A hit is read from the entry, not cataloged: an entry marked here comes back as marked.
    const marked = {
      packages: first.packages.map((p) => ({ ...p, version: 'from-the-cache' })),
      warnings: [],
    };
    await cache.put(first.source.digest as string, marked);
    const again = await generateSbom({ kind: 'image', ref: `oci:${layout}:one` }, { cache });
    expect(again.packages.map((p) => p.version)).toEqual(['from-the-cache']);
    expect(again.source).toEqual({ ...first.source, ref: `oci:${layout}:one` });
    const otherAgain = await generateSbom({ kind: 'image', ref: `oci:${layout}:two` }, { cache });
    expect(otherAgain.packages).toEqual(otherFirst.packages);
    expect(otherAgain.source.digest).not.toBe(first.source.digest);

    // A corrupt entry is a miss: the layers are cataloged again.
    for (const name of await readdir(join(cacheRoot, 'sbom')))
      await writeFile(join(cacheRoot, 'sbom', name), '{"key":');
    const recataloged = await generateSbom({ kind: 'image', ref: `oci:${layout}:one` }, { cache });
    expect(recataloged.packages).toEqual(first.packages);
  });

  it('still verifies every layer on a hit: a tampered docker-archive fails as it does uncached', async () => {
    // docker-archive layers are uncompressed tars named by their diff_ids, and the manifest digest
    // is computed from those: a same-size edit of a file in a layer keeps the image's digest.
    const archive = join(dir, 'image.tar');
    await writeImage(
      `docker-archive:${archive}:x:1`,
      await makeTestImage(dir, [
        { 'etc/os-release': OS_RELEASE, 'var/lib/dpkg/status': STATUS('1:1.3.dfsg-5') },
      ]),
    );
    const cache = catalogCache(cacheRoot);
    const first = await generateSbom({ kind: 'image', ref: `docker-archive:${archive}` }, { cache });
    expect(first.packages.map((p) => p.version)).toEqual(['1:1.3.dfsg-5']);
    const bytes = await readFile(archive);
    const at = bytes.indexOf('1:1.3.dfsg-5');
    expect(at).toBeGreaterThan(0);
    bytes.write('1:1.3.dfsg-6', at);
    await writeFile(archive, bytes);

    const uncached = await generateSbom({ kind: 'image', ref: `docker-archive:${archive}` }).catch(
      (e: unknown) => e,
    );
    expect(uncached).toMatchObject({ code: 'DIGEST_MISMATCH' });
    const cached = await generateSbom({ kind: 'image', ref: `docker-archive:${archive}` }, { cache }).catch(
      (e: unknown) => e,
    );
    expect(cached).toMatchObject({
      code: 'DIGEST_MISMATCH',
      details: { expected: (uncached as { details: { expected: string } }).details.expected },
    });
  });

  it('measures the racy window with the wall clock, never the document clock (now)', async () => {
    // A document clock in the future (a fixed release date, SOURCE_DATE_EPOCH-like) would make a
    // file changed a moment ago look older than the racy window; it sets the document time only.
    const cache = catalogCache(join(dir, 'cache-document-clock'));
    const future = () => new Date(Date.now() + 3_600_000);
    const recorded = async () =>
      (
        await Promise.all(
          (
            await readdir(join(layout, 'blobs', 'sha256'))
          ).map(async (hex) =>
            cache.verifiedBlobs?.get(await realpath(join(layout, 'blobs', 'sha256', hex)), `sha256:${hex}`),
          ),
        )
      ).filter(Boolean);
    // The wall clock at the blobs' ctime (set now): within the racy window, never recorded.
    const blobs = join(layout, 'blobs', 'sha256');
    let changed = 0;
    for (const hex of await readdir(blobs)) {
      await utimes(join(blobs, hex), 1_700_000_000, 1_700_000_000);
      changed = Math.max(changed, (await stat(join(blobs, hex))).ctimeMs);
    }
    for (let i = 0; i < 2; i++)
      await generateSbom(
        { kind: 'image', ref: `oci:${layout}:one` },
        { cache, now: future, wallClock: () => changed },
      );
    expect(await recorded()).toEqual([]);
    // The wall clock past the window: recorded.
    await generateSbom(
      { kind: 'image', ref: `oci:${layout}:one` },
      { cache, now: future, wallClock: () => Date.now() + 10_000 },
    );
    expect(await recorded()).toHaveLength(1);
  });

  it('still verifies every layer on a hit: a corrupt oci layout fails, never gives the old catalog', async () => {
    const cache = catalogCache(cacheRoot);
    // Twice: cataloged (or a hit) first, then a hit that records the verified blob files (the
    // clock past the racy window of files this test just wrote); a recorded file is not hashed
    // again while its stat is unchanged, and overwriting it changes that.
    const later = () => Date.now() + 10_000;
    for (const tag of ['one', 'two'])
      for (let i = 0; i < 2; i++)
        await generateSbom({ kind: 'image', ref: `oci:${layout}:${tag}` }, { cache, wallClock: later });
    const recorded = await Promise.all(
      (await readdir(join(layout, 'blobs', 'sha256'))).map(async (hex) =>
        cache.verifiedBlobs?.get(await realpath(join(layout, 'blobs', 'sha256', hex)), `sha256:${hex}`),
      ),
    );
    expect(recorded.filter(Boolean)).toHaveLength(2);
    await corruptLayers();
    // Uncached, gunzip meets the zeros before the blob's hash ends (MALFORMED_ARCHIVE); a hit
    // reads only the blob, so its hash says what is wrong.
    await expect(generateSbom({ kind: 'image', ref: `oci:${layout}:one` })).rejects.toMatchObject({
      code: expect.any(String),
    });
    for (const tag of ['one', 'two']) {
      await expect(
        generateSbom({ kind: 'image', ref: `oci:${layout}:${tag}` }, { cache, wallClock: later }),
      ).rejects.toMatchObject({
        code: 'DIGEST_MISMATCH',
      });
    }
    // Asking for file digests catalogs the layers (the cached catalog has none).
    await expect(
      generateSbom({ kind: 'image', ref: `oci:${layout}:one` }, { cache, fileDigests: true }),
    ).rejects.toMatchObject({ code: expect.any(String) });
  });
});
