import { createHash } from 'node:crypto';
import {
  lstat,
  lutimes,
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
import { readDebCached } from '../../../src/builder/build-cache.js';
import { ContentCache, readCachedJsonKey } from '../../../src/debian/cache.js';
import {
  type CacheEntry,
  cacheUsage,
  listCacheEntries,
  parseDuration,
  pruneCache,
  summarizeUsage,
} from '../../../src/debian/cache-maintenance.js';
import { parsedCacheFormat } from '../../../src/debian/repository.js';
import { isRampartError } from '../../../src/errors.js';
import { buildDeb } from '../../helpers/apt-repo.js';

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

/** The error `promise` rejects with. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.unreachable('expected a rejection'),
    (error: unknown) => error,
  );
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

  it('lists only the folders rampart writes, whatever else the directory holds', async () => {
    const cache = new ContentCache(root);
    await cache.putBytes(Buffer.from('a blob'));
    await mkdir(join(root, 'pip', 'http'), { recursive: true });
    await writeFile(join(root, 'pip', 'http', 'x'), 'not ours');
    await writeFile(join(root, 'loose-file'), 'not ours either');
    await writeFile(join(root, 'build'), 'a file where a kind folder would be');

    expect((await listCacheEntries(root)).map((e) => e.kind)).toEqual(['blobs']);
    expect((await cacheUsage(root)).kinds.map((k) => k.kind)).toEqual(['blobs']);
  });

  it('summarizes 200k entries in one pass', () => {
    const n = 200_000;
    const base = Date.UTC(2024, 0, 1);
    const entries: CacheEntry[] = Array.from({ length: n }, (_, i) => ({
      kind: i % 4 === 0 ? 'parsed' : 'blobs',
      path: `x/${i}`,
      bytes: i,
      // Shuffled times, so the extremes are neither first nor last.
      lastUsedMs: base + ((i * 7919) % n) * 1000,
      temp: false,
      layout: 'file',
    }));
    const started = performance.now();
    const usage = summarizeUsage('/c', entries);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(usage.kinds.map((k) => [k.kind, k.entries])).toEqual([
      ['blobs', n * 0.75],
      ['parsed', n * 0.25],
    ]);
    expect(usage.bytes).toBe((n * (n - 1)) / 2);
    const times = (kind: string) => entries.filter((e) => e.kind === kind).map((e) => e.lastUsedMs);
    for (const k of usage.kinds) {
      const sorted = times(k.kind).sort((a, b) => a - b);
      expect(k.oldest).toBe(new Date(sorted[0]!).toISOString());
      expect(k.newest).toBe(new Date(sorted[sorted.length - 1]!).toISOString());
    }
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
    // InRelease metadata as an older rampart keeps it, under the name it reads.
    const meta = await writeKeyed(cache, 'inrelease', 'http://mirror.test/InRelease', { etag: 'e' });
    await writeFile(join(root, 'inrelease', '11111111111111111111111111111111.json'), '{"etag":"e"}\n');

    const result = await pruneCache(root);
    expect(result.removed.map((e) => [e.path, e.reason])).toEqual([
      ['inrelease/11111111111111111111111111111111.json', 'stale-format'],
      ['parsed/00000000000000000000000000000000.json', 'stale-format'],
      ['parsed/00000000000000000000000000000000.v8', 'stale-format'],
      [relative(root, old), 'stale-format'],
    ]);
    expect(await files(join(root, 'parsed'))).toEqual([relative(join(root, 'parsed'), current)]);
    expect(await files(join(root, 'inrelease'))).toEqual([relative(join(root, 'inrelease'), meta)]);
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

  it('leaves test trees and tools alone unless all, however old (reads never touch them)', async () => {
    const trees = ['e2e-apt/trixie', 'e2e/minbase-trixie', 'tools/cdxgen-1'];
    for (const tree of trees) {
      await mkdir(join(root, tree, 'sub'), { recursive: true });
      await writeFile(join(root, tree, 'sub', 'x'), 'x');
      for (const path of ['sub/x', 'sub', '.']) await age(join(root, tree, path), 400);
    }

    expect((await pruneCache(root, { olderThanMs: parseDuration('1h') })).removed).toEqual([]);
    expect(await files(root)).toEqual(trees.map((t) => join(t, 'sub', 'x')));
    const all = await pruneCache(root, { all: true });
    expect(all.removed).toEqual(
      trees.map((path) => ({ kind: path.split('/')[0], path, bytes: 1, reason: 'all' })),
    );
    expect(await files(root)).toEqual([]);
  });

  it('leaves alone everything but the folders rampart writes, even with all', async () => {
    const cache = new ContentCache(root);
    await age(cache.blobPath(await cache.putBytes(Buffer.from('ours'))), 90);
    await mkdir(join(root, 'pip', 'http'), { recursive: true });
    await writeFile(join(root, 'pip', 'http', 'x'), 'not ours');
    await writeFile(join(root, 'loose-file'), 'not ours either');
    for (const path of ['pip/http/x', 'pip/http', 'pip', 'loose-file']) await age(join(root, path), 90);

    const result = await pruneCache(root, { all: true });
    expect(result.removed.map((e) => e.kind)).toEqual(['blobs']);
    expect(await files(root)).toEqual(['loose-file', 'pip/http/x']);
  });

  it('refuses a directory without any rampart folder, and removes nothing', async () => {
    // What `--cache ~/.cache` (the parent of the default cache) looks like.
    for (const path of ['pip/http', 'mozilla/firefox', 'rampart/blobs/sha256']) {
      await mkdir(join(root, path), { recursive: true });
    }
    await writeFile(join(root, 'pip', 'http', 'x'), 'x');
    await writeFile(join(root, 'rampart', 'blobs', 'sha256', 'y'), 'y');
    await writeFile(join(root, 'motd.legal-displayed'), '');
    for (const path of ['pip/http/x', 'pip/http', 'pip', 'motd.legal-displayed'])
      await age(join(root, path), 90);
    const before = await files(root);

    const error = await rejection(pruneCache(root, { all: true }));
    expect(isRampartError(error, 'NOT_FOUND')).toBe(true);
    expect((error as Error).message).toContain(`${root} does not look like a rampart cache`);
    expect((error as Error).message).not.toContain('\n');
    expect(await files(root)).toEqual(before);
    // A missing directory is an empty cache, nothing to refuse.
    expect((await pruneCache(join(work, 'nowhere'))).removed).toEqual([]);
  });

  it('refuses an age below an hour: a hit refreshes use times only every 10 minutes', async () => {
    const cache = new ContentCache(root);
    const digest = await cache.putBytes(Buffer.from('used 8 minutes ago'));
    const eightMinutesAgo = (Date.now() - 8 * 60_000) / 1000;
    await utimes(cache.blobPath(digest), eightMinutesAgo, eightMinutesAgo);
    expect(await cache.has(digest)).toBe(true);

    for (const olderThanMs of [0, parseDuration('5m'), parseDuration('59m')]) {
      const error = await rejection(pruneCache(root, { olderThanMs }));
      expect(isRampartError(error, 'USAGE')).toBe(true);
      expect((error as Error).message).toContain('minimum is 1h');
    }
    expect((await pruneCache(root, { olderThanMs: parseDuration('1h') })).removed).toEqual([]);
    expect(await files(root)).toEqual([relative(root, cache.blobPath(digest))]);
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

describe('pruneCache and a kind folder that is a symbolic link', () => {
  it('keeps the link whatever its own age, and with all unlinks only the link', async () => {
    const shared = join(work, 'shared-blobs');
    await mkdir(shared);
    await symlink(shared, join(root, 'blobs'));
    const cache = new ContentCache(root);
    const digest = await cache.putBytes(Buffer.from('fresh blob, used today'));
    // The link was made 40 days ago.
    const old = (Date.now() - 40 * DAY) / 1000;
    await lutimes(join(root, 'blobs'), old, old);

    expect((await pruneCache(root, { olderThanMs: parseDuration('1d') })).removed).toEqual([]);
    // One entry: the link (nothing behind it is counted).
    const entries = await listCacheEntries(root);
    expect(entries.map((e) => [e.path, e.layout])).toEqual([['blobs', 'kind-link']]);
    expect((await lstat(join(root, 'blobs'))).isSymbolicLink()).toBe(true);
    expect(await cache.has(digest)).toBe(true);

    const all = await pruneCache(root, { all: true });
    expect(all.removed.map((e) => [e.path, e.reason])).toEqual([['blobs', 'all']]);
    await expect(lstat(join(root, 'blobs'))).rejects.toThrow();
    expect(await readdir(join(shared, 'sha256'))).toEqual([digest]);
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

  it('does not rewrite the mtime of an entry used minutes ago, on any kind of hit', async () => {
    const cache = new ContentCache(root);
    const digest = await cache.putBytes(Buffer.from('blob'));
    const json = await writeKeyed(cache, 'inrelease', 'k', { v: 1 });
    const deb = await buildDeb(work, { name: 'tiny', version: '1', compression: 'gzip' });
    const debSha = createHash('sha256')
      .update(await readFile(deb))
      .digest('hex');
    const unpacked = await readDebCached(deb, debSha, root);
    const [v8] = await readdir(join(root, 'build', 'unpacked'));
    const unpackedPath = join(root, 'build', 'unpacked', v8!);
    const hits: Array<[string, () => Promise<unknown>]> = [
      [cache.blobPath(digest), () => cache.readBlob(digest)],
      [json, () => cache.readJson('inrelease', 'k')],
      [unpackedPath, () => readDebCached(deb, debSha, root)],
    ];
    const oneMinuteAgo = (Date.now() - 60_000) / 1000;
    for (const [path, hit] of hits) {
      await utimes(path, oneMinuteAgo, oneMinuteAgo);
      await hit();
      expect(Math.round((await stat(path)).mtimeMs / 1000), path).toBe(Math.round(oneMinuteAgo));
      // An old one is refreshed.
      await age(path, 5);
      await hit();
      expect(Date.now() - (await stat(path)).mtimeMs, path).toBeLessThan(DAY);
    }
    expect((await readDebCached(deb, debSha, root)).control).toEqual(unpacked.control);
  });

  it('keeps keyed values apart from the bare .json files older rampart versions read', async () => {
    const cache = new ContentCache(root);
    const key = 'http://mirror.test/InRelease';
    // Older versions named the file after the same hash, with a bare value in it.
    const oldName = `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`;
    await mkdir(join(root, 'inrelease'));
    await writeFile(join(root, 'inrelease', oldName), '{"etag":"old"}\n');

    const path = await writeKeyed(cache, 'inrelease', key, { etag: 'new' });
    expect(path).toMatch(/\.keyed\.json$/);
    expect(await readFile(join(root, 'inrelease', oldName), 'utf8')).toBe('{"etag":"old"}\n');
    expect(await cache.readJson('inrelease', key)).toEqual({ etag: 'new' });
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
