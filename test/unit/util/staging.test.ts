import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pruneCache } from '../../../src/debian/cache-maintenance.js';
import { tempPathFor } from '../../../src/util/atomic-file.js';
import { stagingDirPrefix, stagingOwner, sweepAbandonedStaging } from '../../../src/util/staging.js';

/** Issue 10 item 7: staging of a killed run is recognised by its owner's pid and swept. */
let work: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-staging-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A pid that was just used and is gone now. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid as number;
}

describe('staging names', () => {
  it('carry the pid of the process that made them; other names have no owner', () => {
    expect(stagingOwner(basename(tempPathFor('/out/image.tar')))).toBe(process.pid);
    expect(stagingOwner(`${stagingDirPrefix('docker')}Ab12Cd`)).toBe(process.pid);
    expect(stagingOwner(`${stagingDirPrefix('build')}Ab12Cd`)).toBe(process.pid);
    for (const name of [
      'image.tar',
      '.image.tar.tmp-0a1b2c3d4e5f',
      'minbase.tmp-1234',
      '.rampart-docker-Ab12Cd',
      'x.tmp-12-zz',
    ])
      expect(stagingOwner(name)).toBeUndefined();
  });

  it("the sweep removes a dead process's staging, files and directories, and nothing else", async () => {
    const dead = deadPid();
    const abandoned = [
      `.layout.tmp-${dead}-0123456789ab`,
      `.rampart-docker-${dead}-Xy12Zq`,
      `.a.tar.tmp-${dead}-ba9876543210`,
    ];
    const kept = [
      `.layout.tmp-${process.pid}-0123456789ab`, // ours, alive
      '.layout.tmp-0123456789ab', // older naming: no owner to ask
      'layout',
      `notes.tmp-${dead}-0123456789ab.txt`,
    ];
    await mkdir(join(work, abandoned[0] as string, 'blobs'), { recursive: true });
    await mkdir(join(work, abandoned[1] as string));
    await writeFile(join(work, abandoned[2] as string), 'half');
    for (const name of kept) await writeFile(join(work, name), 'keep');
    expect((await sweepAbandonedStaging(work)).sort()).toEqual([...abandoned].sort());
    expect((await readdir(work)).sort()).toEqual([...kept].sort());
    expect(await sweepAbandonedStaging(join(work, 'missing'))).toEqual([]);
  });

  it('cache prune removes a young temp file of a dead process and keeps a live one', async () => {
    await mkdir(join(work, 'parsed'));
    const dead = `.0123.json.tmp-${deadPid()}-0123456789ab`;
    const live = `.4567.json.tmp-${process.pid}-0123456789ab`;
    await writeFile(join(work, 'parsed', dead), 'half an index');
    await writeFile(join(work, 'parsed', live), 'being written');
    const result = await pruneCache(work);
    expect(result.removed.map((e) => [e.path, e.reason])).toEqual([[`parsed/${dead}`, 'abandoned-temp']]);
    expect(await readdir(join(work, 'parsed'))).toEqual([live]);
  });
});
