import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentCache, readCachedJsonKey } from '../../../src/debian/cache.js';
import {
  cacheUsage,
  listCacheEntries,
  parseDuration,
  pruneCache,
} from '../../../src/debian/cache-maintenance.js';
import { parsedCacheFormat } from '../../../src/debian/repository.js';
import { isRampartError } from '../../../src/errors.js';

const DAY = 86_400_000;
let work: string;
let root: string;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-cache-prune-'));
  root = join(work, 'cache');
  await mkdir(root);
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Sets a file's (or a directory's) mtime to `daysAgo` days before now. */
async function age(path: string, daysAgo: number): Promise<void> {
  const seconds = (Date.now() - daysAgo * DAY) / 1000;
  await utimes(path, seconds, seconds);
}

/** Every file below `dir`, relative to it, without following links. */
async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => !e.isDirectory())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

/** The path of the file a keyed JSON value went to (the only new file in `kind`). */
async function writeKeyed(cache: ContentCache, kind: string, key: string, value: unknown): Promise<string> {
  const before = new Set(await readdir(join(root, kind)).catch(() => []));
  await cache.writeJson(kind, key, value);
  const added = (await readdir(join(root, kind))).filter((name) => !before.has(name));
  expect(added).toHaveLength(1);
  return join(root, kind, added[0]!);
}

describe('cacheUsage', () => {
  it('counts entries, bytes and oldest/newest use per kind', async () => {
    const cache = new ContentCache(root);
    const blobs = [Buffer.from('first blob'), Buffer.from('a second, longer blob')];
    const digests = await Promise.all(blobs.map((b) => cache.putBytes(b)));
    await age(cache.blobPath(digests[0]!), 40);
    await age(cache.blobPath(digests[1]!), 2);
    const parsed = await writeKeyed(cache, 'parsed', `${parsedCacheFormat()}|x|trixie|main`, [{ p: 1 }]);
    // A tree kind: one entry per child, sized over the whole tree, last used at its newest file.
    await mkdir(join(root, 'e2e', 'root', 'etc'), { recursive: true });
    await writeFile(join(root, 'e2e', 'root', 'etc', 'a'), 'aaaa');
    await writeFile(join(root, 'e2e', 'root', 'b'), 'bb');
    for (const path of ['e2e/root/etc/a', 'e2e/root/etc', 'e2e/root']) await age(join(root, path), 10);
    await age(join(root, 'e2e', 'root', 'b'), 5);

    const usage = await cacheUsage(root);
    expect(usage.dir).toBe(root);
    const byKind = Object.fromEntries(usage.kinds.map((k) => [k.kind, k]));
    expect(Object.keys(byKind)).toEqual(['blobs', 'e2e', 'parsed']);
    expect(byKind.blobs).toMatchObject({ entries: 2, bytes: blobs[0]!.length + blobs[1]!.length });
    const blobTimes = await Promise.all(digests.map(async (d) => (await stat(cache.blobPath(d))).mtime));
    expect(byKind.blobs!.oldest).toBe(blobTimes[0]!.toISOString());
    expect(byKind.blobs!.newest).toBe(blobTimes[1]!.toISOString());
    expect(byKind.parsed).toMatchObject({ entries: 1, bytes: (await stat(parsed)).size });
    expect(byKind.e2e).toMatchObject({
      entries: 1,
      bytes: 'aaaa'.length + 'bb'.length,
      newest: (await stat(join(root, 'e2e', 'root', 'b'))).mtime.toISOString(),
    });
    expect(usage.bytes).toBe(usage.kinds.reduce((n, k) => n + k.bytes, 0));
  });

  it('reads a missing cache directory as empty', async () => {
    expect(await cacheUsage(join(work, 'nowhere'))).toEqual({
      dir: join(work, 'nowhere'),
      kinds: [],
      bytes: 0,
    });
  });
});

describe('pruneCache', () => {
  it('removes entries unused for longer than olderThan, keeping recent ones and ones a hit refreshed', async () => {
    const cache = new ContentCache(root);
    const stale = await cache.putBytes(Buffer.from('not used for 40 days'));
    const hit = await cache.putBytes(Buffer.from('40 days old, then hit'));
    const recent = await cache.putBytes(Buffer.from('used 2 days ago'));
    const meta = await writeKeyed(cache, 'inrelease', 'http://mirror.test/InRelease', { sha256: hit });
    const metaHit = await writeKeyed(cache, 'inrelease', 'http://mirror.test/other/InRelease', {
      sha256: hit,
    });
    await age(cache.blobPath(stale), 40);
    await age(cache.blobPath(hit), 40);
    await age(cache.blobPath(recent), 2);
    await age(meta, 40);
    await age(metaHit, 40);

    expect(await cache.has(hit)).toBe(true);
    expect(await cache.readJson('inrelease', 'http://mirror.test/other/InRelease')).toEqual({ sha256: hit });
    const result = await pruneCache(root, { olderThanMs: 30 * DAY });

    expect(result.dryRun).toBe(false);
    expect(result.removed.map((e) => [e.path, e.reason])).toEqual([
      [relative(root, cache.blobPath(stale)), 'unused'],
      [relative(root, meta), 'unused'],
    ]);
    expect(result.bytesFreed).toBe('not used for 40 days'.length + result.removed[1]!.bytes);
    // Looked at with lstat: has() would itself be a use.
    expect(await files(root)).toEqual(
      [cache.blobPath(hit), cache.blobPath(recent), metaHit].map((p) => relative(root, p)).sort(),
    );
    // A shorter age takes the 2-day-old blob as well.
    const shorter = await pruneCache(root, { olderThanMs: parseDuration('1d') });
    expect(shorter.removed.map((e) => e.path)).toEqual([relative(root, cache.blobPath(recent))]);
  });

  it('removes parsed indexes of another parser format, whatever their age', async () => {
    const cache = new ContentCache(root);
    const current = await writeKeyed(cache, 'parsed', `${parsedCacheFormat()}|abc|trixie|main`, [{ p: 1 }]);
    const old = await writeKeyed(cache, 'parsed', '0123456789abcdef|abc|trixie|main', [{ p: 1 }]);
    // Files of earlier layouts: a bare JSON array, and a v8-serialized index.
    await writeFile(join(root, 'parsed', '00000000000000000000000000000000.json'), '[{"p":1}]\n');
    await writeFile(
      join(root, 'parsed', '00000000000000000000000000000000.v8'),
      Buffer.from([0xff, 0x0f, 1]),
    );
    expect(await readCachedJsonKey(current)).toBe(`${parsedCacheFormat()}|abc|trixie|main`);

    const result = await pruneCache(root);
    expect(result.removed.map((e) => [e.path, e.reason])).toEqual([
      ['parsed/00000000000000000000000000000000.json', 'stale-format'],
      ['parsed/00000000000000000000000000000000.v8', 'stale-format'],
      [relative(root, old), 'stale-format'],
    ]);
    expect(await files(join(root, 'parsed'))).toEqual([relative(join(root, 'parsed'), current)]);
    expect(await cache.readJson('parsed', `${parsedCacheFormat()}|abc|trixie|main`)).toEqual([{ p: 1 }]);
  });

  it('deletes nothing on a dry run, and reports what a real run then removes', async () => {
    const cache = new ContentCache(root);
    await age(cache.blobPath(await cache.putBytes(Buffer.from('old'))), 90);
    await writeKeyed(cache, 'parsed', 'other-format|x|s|c', []);
    await mkdir(join(root, 'tools', 'tool-1'), { recursive: true });
    await writeFile(join(root, 'tools', 'tool-1', 'bin'), 'tool');
    const before = await files(root);

    const dry = await pruneCache(root, { all: true, dryRun: true });
    expect(dry.dryRun).toBe(true);
    expect(dry.removed).toHaveLength(3);
    expect(await files(root)).toEqual(before);
    const real = await pruneCache(root, { all: true });
    expect(real.removed).toEqual(dry.removed);
    expect(real.bytesFreed).toBe(dry.bytesFreed);
    expect(await files(root)).toEqual([]);
  });

  it('leaves test tools alone unless all', async () => {
    await mkdir(join(root, 'tools', 'cdxgen-1', 'node_modules'), { recursive: true });
    await writeFile(join(root, 'tools', 'cdxgen-1', 'node_modules', 'x.js'), 'x');
    for (const path of ['tools/cdxgen-1/node_modules/x.js', 'tools/cdxgen-1/node_modules', 'tools/cdxgen-1'])
      await age(join(root, path), 400);

    expect((await pruneCache(root)).removed).toEqual([]);
    const all = await pruneCache(root, { all: true });
    expect(all.removed).toEqual([{ kind: 'tools', path: 'tools/cdxgen-1', bytes: 1, reason: 'all' }]);
    expect(await readdir(join(root, 'tools'))).toEqual([]);
  });

  it('keeps temp files younger than an hour, even with all, and removes abandoned ones', async () => {
    const cache = new ContentCache(root);
    const digest = await cache.putBytes(Buffer.from('blob'));
    const young = `${cache.blobPath(digest)}.tmp-0a1b2c`;
    const abandoned = join(root, 'parsed', '.0123.json.tmp-3d4e5f');
    await writeFile(young, 'half a download');
    await mkdir(join(root, 'parsed'));
    await writeFile(abandoned, 'half an index');
    await age(young, 0);
    await age(abandoned, 1);
    // A tree being built under a temp name (as the e2e minbase root is).
    await mkdir(join(root, 'e2e', 'minbase.tmp-1234', 'etc'), { recursive: true });
    await writeFile(join(root, 'e2e', 'minbase.tmp-1234', 'etc', 'passwd'), 'root');

    const result = await pruneCache(root, { all: true });
    expect(result.removed.map((e) => [e.path, e.reason])).toEqual([
      [relative(root, cache.blobPath(digest)), 'all'],
      ['parsed/.0123.json.tmp-3d4e5f', 'abandoned-temp'],
    ]);
    expect(await readFile(young, 'utf8')).toBe('half a download');
    expect(await readFile(join(root, 'e2e', 'minbase.tmp-1234', 'etc', 'passwd'), 'utf8')).toBe('root');
  });

  it('never follows a symbolic link out of the cache', async () => {
    const outside = join(work, 'outside');
    await mkdir(join(outside, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(outside, 'precious'), 'keep me');
    await writeFile(join(outside, 'blobs', 'sha256', 'f'.repeat(64)), 'shared blob');
    await age(join(outside, 'precious'), 400);
    await age(join(outside, 'blobs', 'sha256', 'f'.repeat(64)), 400);
    // A blobs folder shared with another cache (as the catalog e2e test does), a link in a
    // file kind, and a link inside a tree.
    await symlink(join(outside, 'blobs'), join(root, 'blobs'));
    await mkdir(join(root, 'parsed'));
    await symlink(join(outside, 'precious'), join(root, 'parsed', 'link.json'));
    await mkdir(join(root, 'e2e', 'tree'), { recursive: true });
    await symlink(outside, join(root, 'e2e', 'tree', 'out'));

    const usage = await cacheUsage(root);
    // Nothing behind a link is counted: the links are the entries.
    expect(usage.kinds.find((k) => k.kind === 'blobs')?.entries).toBe(1);
    const links = ['blobs', 'parsed/link.json', 'e2e/tree/out'];
    const linkSizes = await Promise.all(links.map(async (l) => (await lstat(join(root, l))).size));
    expect(usage.bytes).toBe(linkSizes.reduce((a, b) => a + b, 0));
    expect((await listCacheEntries(root)).map((e) => e.path)).toEqual([
      'blobs',
      'e2e/tree',
      'parsed/link.json',
    ]);

    const result = await pruneCache(root, { all: true });
    expect(result.removed.map((e) => e.path)).toEqual(['blobs', 'e2e/tree', 'parsed/link.json']);
    expect(await readFile(join(outside, 'precious'), 'utf8')).toBe('keep me');
    expect(await readFile(join(outside, 'blobs', 'sha256', 'f'.repeat(64)), 'utf8')).toBe('shared blob');
    expect(await files(root)).toEqual([]);
  });
});

describe('ContentCache hits mark entries as used', () => {
  it('refreshes an old mtime on has(), readBlob() and readJson(), and leaves a fresh one alone', async () => {
    const cache = new ContentCache(root);
    const digest = await cache.putBytes(Buffer.from('blob'));
    const path = cache.blobPath(digest);
    await age(path, 5);
    await cache.has(digest);
    expect(Date.now() - (await stat(path)).mtimeMs).toBeLessThan(DAY);
    await age(path, 5);
    await cache.readBlob(digest);
    expect(Date.now() - (await stat(path)).mtimeMs).toBeLessThan(DAY);
    const json = await writeKeyed(cache, 'inrelease', 'k', { v: 1 });
    await age(json, 5);
    await cache.readJson('inrelease', 'k');
    expect(Date.now() - (await stat(json)).mtimeMs).toBeLessThan(DAY);
    // A miss (wrong size) is not a use.
    await age(path, 5);
    expect(await cache.has(digest, 1)).toBe(false);
    expect(Date.now() - (await stat(path)).mtimeMs).toBeGreaterThan(4 * DAY);
    // Within the touch resolution, a hit does not write metadata.
    const seconds = (Date.now() - 60_000) / 1000;
    await utimes(path, seconds, seconds);
    await cache.has(digest);
    expect(Math.round((await stat(path)).mtimeMs / 1000)).toBe(Math.round(seconds));
  });

  it('reads a keyed file stored under another key, or in the old bare layout, as a miss', async () => {
    const cache = new ContentCache(root);
    const path = await writeKeyed(cache, 'inrelease', 'k', { v: 1 });
    await writeFile(path, '{"v":1}\n');
    expect(await cache.readJson('inrelease', 'k')).toBeUndefined();
    await writeFile(path, '{"key":"other","value":{"v":1}}\n');
    expect(await cache.readJson('inrelease', 'k')).toBeUndefined();
  });
});

describe('parseDuration', () => {
  it('reads s, m, h, d and w', () => {
    expect(parseDuration('90s')).toBe(90 * 1000);
    expect(parseDuration('15m')).toBe(15 * 60_000);
    expect(parseDuration('12h')).toBe(12 * 3600_000);
    expect(parseDuration('30d')).toBe(30 * DAY);
    expect(parseDuration('2w')).toBe(14 * DAY);
  });

  it.each(['', '30', 'd', '1.5d', '-1d', '3x', '30 days'])(
    'rejects %j as a usage error naming it',
    (value) => {
      const error = (() => {
        try {
          parseDuration(value);
        } catch (e) {
          return e;
        }
      })();
      expect(isRampartError(error, 'USAGE')).toBe(true);
      expect((error as Error).message).toContain(`"${value}"`);
    },
  );
});
