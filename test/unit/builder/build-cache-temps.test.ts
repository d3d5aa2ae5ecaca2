import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { storeLayer } from '../../../src/builder/build-cache.js';
import { pruneCache, sweepAbandonedCacheTemps } from '../../../src/debian/cache-maintenance.js';
import type { BuiltLayer } from '../../../src/oci/layer-writer.js';
import { compareText } from '../../../src/util/compare-text.js';

/**
 * Issue 10: the build cache's layer temp files (`blob.tmp-HEX`) did not say which process wrote
 * them, so those of a killed build stayed for an hour, until `cache prune` guessed by age. They
 * now carry the pid (staging.ts) and the start of every build sweeps the dead ones.
 */
let work: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-cache-temps-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A pid that was just used and is gone now. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid as number;
}

async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

const HEX = 'ab'.repeat(32);

describe('build cache temp files', () => {
  it('the sweep removes temps of dead processes in every file kind, at any depth, and nothing else', async () => {
    const dead = deadPid();
    const abandoned = [
      `build/layers/blobs/.${HEX}.tmp-${dead}-0123456789ab`,
      `build/layers/.${HEX}.json.tmp-${dead}-0123456789ab`,
      `build/files/.spool.tmp-${dead}-0123456789ab`,
      `build/unpacked/.${HEX}.v2.tmp-${dead}-0123456789ab`,
      `blobs/sha256/.${HEX}.tmp-${dead}-0123456789ab`,
      `parsed/.x.keyed.json.tmp-${dead}-0123456789ab`,
      // The replay record's kind is never pruned, but a killed write's temp there is swept.
      `release-date/.x.keyed.json.tmp-${dead}-0123456789ab`,
    ];
    const kept = [
      `build/layers/blobs/${HEX}`,
      `build/layers/blobs/.${HEX}.tmp-${process.pid}-0123456789ab`, // ours: being written
      `build/layers/blobs/${HEX}.tmp-0123456789ab`, // the old naming: only prune's age rule applies
      `e2e/.root.tmp-${dead}-0123456789ab`, // a tree kind: not the build's
      `other/.x.tmp-${dead}-0123456789ab`, // not a rampart folder
      'release-date/x.keyed.json', // the record itself
    ];
    // A kind folder that is a link to another cache is not walked.
    const elsewhere = join(work, 'elsewhere');
    await mkdir(elsewhere);
    await writeFile(join(elsewhere, `.y.tmp-${dead}-0123456789ab`), 'x');
    const cache = join(work, 'c');
    await mkdir(cache);
    for (const path of [...abandoned, ...kept]) {
      await mkdir(join(cache, path, '..'), { recursive: true });
      await writeFile(join(cache, path), 'x');
    }
    // A directory of a dead process (prune's aside) goes whole.
    const aside = `build/layers/.old.tmp-${dead}-0123456789ab`;
    await mkdir(join(cache, aside, 'inner'), { recursive: true });
    await symlink(elsewhere, join(cache, 'inrelease'));

    expect(await sweepAbandonedCacheTemps(cache)).toEqual([...abandoned, aside].sort(compareText));
    const left = await files(cache);
    for (const path of kept) expect(left).toContain(path);
    for (const path of [...abandoned, aside]) expect(left).not.toContain(path);
    expect(await readdir(elsewhere)).toEqual([`.y.tmp-${dead}-0123456789ab`]);
    expect(await sweepAbandonedCacheTemps(join(work, 'missing'))).toEqual([]);
  });

  it('cache prune removes a young layer temp of a dead build and keeps a live one', async () => {
    const blobs = join(work, 'build', 'layers', 'blobs');
    await mkdir(blobs, { recursive: true });
    const dead = `.${HEX}.tmp-${deadPid()}-0123456789ab`;
    const live = `.${HEX}.tmp-${process.pid}-0123456789ab`;
    await writeFile(join(blobs, dead), 'half a layer');
    await writeFile(join(blobs, live), 'being copied');
    const result = await pruneCache(work, { parsedFormat: 'x' });
    expect(result.removed.map((e) => [e.path, e.reason])).toEqual([
      [`build/layers/blobs/${dead}`, 'abandoned-temp'],
    ]);
    expect(await readdir(blobs)).toEqual([live]);
  });

  it('storeLayer leaves no temp file when it cannot put the blob in place', async () => {
    const layerFile = join(work, 'layer.tar.gz');
    await writeFile(layerFile, 'layer bytes');
    const layer = {
      path: layerFile,
      descriptor: {
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: `sha256:${HEX}`,
        size: 11,
      },
    } as unknown as BuiltLayer;
    const cache = join(work, 'cache');
    // A directory where the blob should go: the rename fails.
    await mkdir(join(cache, 'build', 'layers', 'blobs', HEX, 'x'), { recursive: true });
    await expect(storeLayer(cache, 'key', layer)).rejects.toThrow();
    expect(await readdir(join(cache, 'build', 'layers', 'blobs'))).toEqual([HEX]);
  });
});
