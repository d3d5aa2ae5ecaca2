/**
 * A hostile mirror on 127.0.0.1 in front of a signed local archive: endless, dripping, silent,
 * tampered and throttled answers for InRelease and .debs, and replayed (older) or future-dated
 * Releases. Each error must name the URL and the attempts, memory (bytes read) stays bounded
 * and nothing unverified is left in the cache. Timeouts are short and passed in.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DownloadablePackage,
  type DownloadEvent,
  downloadPackages,
} from '../../../src/debian/download.js';
import { type LoadRepositoriesOptions, loadRepositories } from '../../../src/debian/repository.js';
import { isRampartError, type RampartError } from '../../../src/errors.js';
import { HttpClient } from '../../../src/http/client.js';
import { type AptRepo, createAptRepo } from '../../helpers/apt-repo.js';

const NO_HOST_APT = '/nonexistent-apt-config';
const DAY = 86_400_000;
let repo: AptRepo;
let work: string;
let hostile: Server;
let hostileUrl: string;
const written = new Map<string, number>();
const hits = new Map<string, number>();

type Handler = (req: IncomingMessage, res: ServerResponse, hit: number) => void;
const routes = new Map<string, Handler>();

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-hostile-'));
  repo = await createAptRepo([{ name: 'good', packages: [{ name: 'hello', version: '1.0-1' }] }], {
    dir: await mkdtemp(join(work, 'repo-')),
  });
  hostile = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const hit = (hits.get(path) ?? 0) + 1;
    hits.set(path, hit);
    const write = res.write.bind(res) as (chunk: Buffer | string) => boolean;
    res.write = ((chunk: Buffer | string) => {
      written.set(path, (written.get(path) ?? 0) + Buffer.byteLength(chunk));
      return write(chunk);
    }) as ServerResponse['write'];
    const handler = routes.get(path);
    if (handler) return handler(req, res, hit);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
  hostileUrl = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
});
afterAll(async () => {
  hostile.closeAllConnections();
  await new Promise((resolve) => hostile.close(resolve));
  await repo.close();
  await rm(work, { recursive: true, force: true });
});

const endless: Handler = (_req, res) => {
  res.writeHead(200);
  const chunk = Buffer.alloc(64 * 1024, '-');
  const pump = () => {
    while (!res.destroyed && res.write(chunk)) {
      // Until the socket pushes back.
    }
  };
  res.on('drain', pump);
  pump();
};

const drip: Handler = (_req, res) => {
  res.writeHead(200);
  const timer = setInterval(() => res.write('-'), 20);
  res.on('close', () => clearInterval(timer));
};

/** Files in the cache's blob store and InRelease metadata: what a failed fetch must not leave. */
async function cached(cacheDir: string): Promise<string[]> {
  const list = async (dir: string) => readdir(join(cacheDir, dir)).catch(() => [] as string[]);
  return [...(await list('blobs/sha256')), ...(await list('inrelease')), ...(await list('release-date'))];
}

async function failure(promise: Promise<unknown>): Promise<RampartError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isRampartError(error), `expected a RampartError, got ${String(error)}`).toBe(true);
  return error as RampartError;
}

const client = (extra: ConstructorParameters<typeof HttpClient>[0] = {}) =>
  new HttpClient({ idleTimeoutMs: 2000, deadlineMs: 20_000, backoffMs: 1, ...extra });

async function loadFrom(mirror: string, extra: Partial<LoadRepositoriesOptions> = {}) {
  return loadRepositories({
    suites: ['good'],
    architectures: ['amd64'],
    mirror,
    keyring: repo.key.keyring,
    cacheDir: await mkdtemp(join(work, 'cache-')),
    etcApt: NO_HOST_APT,
    updates: false,
    http: client(),
    ...extra,
  });
}

describe('InRelease from a hostile mirror', () => {
  it('cuts an endless InRelease at the limit and caches nothing', async () => {
    routes.set('/endless/dists/good/InRelease', endless);
    const cacheDir = await mkdtemp(join(work, 'cache-'));
    const limit = 2 * 1024 * 1024;
    const error = await failure(loadFrom(`${hostileUrl}/endless`, { cacheDir, maxInReleaseBytes: limit }));
    expect(error.code).toBe('TOO_LARGE');
    expect(error.details).toEqual({ limit, url: `${hostileUrl}/endless/dists/good/InRelease` });
    await new Promise((resolve) => setTimeout(resolve, 100));
    // What was read is bounded by the limit plus socket buffers, not by the server's patience.
    expect(written.get('/endless/dists/good/InRelease') ?? 0).toBeLessThan(16 * limit);
    expect(await cached(cacheDir)).toEqual([]);
  });

  it('abandons a dripping InRelease at the deadline with TIMEOUT naming the URL', async () => {
    routes.set('/drip/dists/good/InRelease', drip);
    const cacheDir = await mkdtemp(join(work, 'cache-'));
    const error = await failure(
      loadFrom(`${hostileUrl}/drip`, { cacheDir, http: client({ idleTimeoutMs: 5000, deadlineMs: 300 }) }),
    );
    expect(error.code).toBe('TIMEOUT');
    expect(error.details).toEqual({
      url: `${hostileUrl}/drip/dists/good/InRelease`,
      timeoutMs: 300,
      attempts: 1,
    });
    expect(await cached(cacheDir)).toEqual([]);
  });

  it('does not keep an InRelease whose signature fails', async () => {
    const genuine = await readFile(repo.path('dists/good/InRelease'), 'utf8');
    const tampered = genuine.replace('Suite: good', 'Suite: goof');
    expect(tampered).not.toBe(genuine);
    routes.set('/tampered/dists/good/InRelease', (_req, res) => res.writeHead(200).end(tampered));
    const cacheDir = await mkdtemp(join(work, 'cache-'));
    const error = await failure(loadFrom(`${hostileUrl}/tampered`, { cacheDir }));
    expect(error.code).toBe('SIGNATURE_INVALID');
    expect(await cached(cacheDir)).toEqual([]);
  });

  it('retries a silent mirror and reports the true number of attempts', async () => {
    routes.set('/silent/dists/good/InRelease', () => undefined);
    const error = await failure(
      loadFrom(`${hostileUrl}/silent`, { http: client({ idleTimeoutMs: 100, retries: 3 }) }),
    );
    expect(error.code).toBe('TIMEOUT');
    expect(error.details).toEqual({
      url: `${hostileUrl}/silent/dists/good/InRelease`,
      timeoutMs: 100,
      attempts: 4,
    });
    expect(error.message).toContain('4 attempts');
  });
});

describe('.deb downloads from a hostile mirror', () => {
  const deb = Buffer.from('a genuine package\n'.repeat(100));
  const pkg = (path: string): DownloadablePackage => ({
    name: 'hello',
    version: '1',
    architecture: 'amd64',
    suite: 'good',
    filename: `pool/${path}.deb`,
    size: deb.length,
    sha256: sha256(deb),
  });

  it('stops reading an endless .deb at its signed size and caches nothing', async () => {
    routes.set('/m/pool/endless.deb', endless);
    const cacheDir = await mkdtemp(join(work, 'cache-'));
    const error = await failure(
      downloadPackages([pkg('endless')], {
        mirrors: { mirror: `${hostileUrl}/m` },
        cacheDir,
        http: client(),
      }),
    );
    expect(error.code).toBe('DIGEST_MISMATCH');
    expect(error.message).toContain(`${hostileUrl}/m/pool/endless.deb`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(written.get('/m/pool/endless.deb') ?? 0).toBeLessThan(16 * 1024 * 1024);
    expect(await cached(cacheDir)).toEqual([]);
  });

  it('says how many attempts a silent mirror got (not "1 attempts" after 4)', async () => {
    routes.set('/m/pool/silent.deb', () => undefined);
    const error = await failure(
      downloadPackages([pkg('silent')], {
        mirrors: { mirror: `${hostileUrl}/m` },
        cacheDir: await mkdtemp(join(work, 'cache-')),
        http: client({ idleTimeoutMs: 100 }),
      }),
    );
    expect(error.code).toBe('TIMEOUT');
    expect(error.details).toEqual({ url: `${hostileUrl}/m/pool/silent.deb`, timeoutMs: 100, attempts: 4 });
    expect(error.message).toContain('4 attempts');
    expect(hits.get('/m/pool/silent.deb')).toBe(4);
  });

  it('honours Retry-After on a 503, then verifies the file', async () => {
    routes.set('/m/pool/busy.deb', (_req, res, hit) => {
      if (hit === 1) return void res.writeHead(503, { 'retry-after': '1' }).end();
      res.writeHead(200).end(deb);
    });
    const waits: number[] = [];
    const paths = await downloadPackages([pkg('busy')], {
      mirrors: { mirror: `${hostileUrl}/m` },
      cacheDir: await mkdtemp(join(work, 'cache-')),
      http: client({ sleep: async (ms) => void waits.push(ms) }),
    });
    expect(waits).toEqual([1000]);
    expect(await readFile(paths.get(sha256(deb))!)).toEqual(deb);
  });

  it('stops every download when the signal aborts, with CANCELLED', async () => {
    routes.set('/m/pool/stuck.deb', () => undefined);
    const controller = new AbortController();
    const events: DownloadEvent[] = [];
    setTimeout(() => controller.abort(), 100);
    const error = await failure(
      downloadPackages([pkg('stuck')], {
        mirrors: { mirror: `${hostileUrl}/m` },
        cacheDir: await mkdtemp(join(work, 'cache-')),
        http: client({ idleTimeoutMs: 60_000 }),
        signal: controller.signal,
        onProgress: (event) => events.push(event),
        now: () => 1_700_000_000_000,
        jobId: 'job-1',
      }),
    );
    expect(error.code).toBe('CANCELLED');
    expect(error.details).toEqual({ operation: 'download' });
    expect(events).toEqual([
      { timestamp: 1_700_000_000_000, jobId: 'job-1', kind: 'start', packages: 1, bytes: deb.length },
    ]);
  });

  it('does not forward the mirror credentials to another origin on a redirect', async () => {
    let seenAuthorization: string | undefined = 'not called';
    const elsewhere = createServer((req, res) => {
      seenAuthorization = req.headers.authorization;
      res.writeHead(200).end(deb);
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
    const elsewhereUrl = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}`;
    try {
      routes.set('/m/pool/moved.deb', (req, res) => {
        expect(req.headers.authorization).toBe(`Basic ${Buffer.from('user:secret').toString('base64')}`);
        res.writeHead(302, { location: `${elsewhereUrl}/pool/moved.deb` }).end();
      });
      await downloadPackages([pkg('moved')], {
        mirrors: { mirror: `${hostileUrl.replace('http://', 'http://user:secret@')}/m` },
        cacheDir: await mkdtemp(join(work, 'cache-')),
        http: client(),
      });
      expect(seenAuthorization).toBeUndefined();
    } finally {
      elsewhere.closeAllConnections();
      await new Promise((resolve) => elsewhere.close(resolve));
    }
  });
});

describe('mirror credentials (review finding 3)', () => {
  it('keeps the InRelease cache keyed without the password in the mirror URL', async () => {
    const cacheDir = await mkdtemp(join(work, 'cache-'));
    const withCredentials = repo.url.replace('://', '://user:s3cret@');
    await loadFrom(withCredentials, { cacheDir });
    const dir = join(cacheDir, 'inrelease');
    const files = await readdir(dir);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect(await readFile(join(dir, file), 'utf8')).not.toContain('s3cret');
    // The same mirror without credentials finds the entry (a 304 needs the stored validators).
    await loadFrom(repo.url, { cacheDir });
  });
});

describe('InRelease dates: replay and clock checks', () => {
  const load = (r: AptRepo, cacheDir: string, extra: Partial<LoadRepositoriesOptions> = {}) =>
    loadRepositories({
      suites: ['stable'],
      architectures: ['amd64'],
      mirror: r.url,
      keyring: r.key.keyring,
      cacheDir,
      etcApt: NO_HOST_APT,
      updates: false,
      ...extra,
    });
  let newer: AptRepo;
  let older: AptRepo;
  let stale: AptRepo;
  let future: AptRepo;
  beforeAll(async () => {
    const packages = [{ name: 'p', version: '1' }];
    newer = await createAptRepo([{ name: 'stable', packages }], {
      key: repo.key,
      dir: await mkdtemp(join(work, 'r-')),
    });
    older = await createAptRepo([{ name: 'stable', packages, date: new Date(Date.now() - 2 * DAY) }], {
      key: repo.key,
      dir: await mkdtemp(join(work, 'r-')),
    });
    future = await createAptRepo([{ name: 'stable', packages, date: new Date(Date.now() + DAY) }], {
      key: repo.key,
      dir: await mkdtemp(join(work, 'r-')),
    });
    stale = await createAptRepo(
      [{ name: 'stable', packages, date: new Date(Date.now() - 40 * DAY), validUntil: null }],
      {
        key: repo.key,
        dir: await mkdtemp(join(work, 'r-')),
      },
    );
  });
  afterAll(async () => {
    await Promise.all([newer?.close(), older?.close(), stale?.close(), future?.close()]);
  });

  const dateOf = async (r: AptRepo) =>
    /^Date: (.*)$/m.exec(await readFile(r.path('dists/stable/Release'), 'utf8'))?.[1];
  const inReleaseSha = async (r: AptRepo) => sha256(await readFile(r.path('dists/stable/InRelease')));

  it('keeps the newest verified Release when a mirror serves an older one, as apt does, unless allowDowngrade', async () => {
    const cacheDir = await mkdtemp(join(work, 'cache-'));
    await load(newer, cacheDir);
    const [newerDate, olderDate] = [await dateOf(newer), await dateOf(older)];
    const warnings: string[] = [];
    const kept = await load(older, cacheDir, { warn: (m) => warnings.push(m) });
    expect(kept.releases[0]).toMatchObject({ date: newerDate, inReleaseSha256: await inReleaseSha(newer) });
    expect(kept.index.candidates('p').map((c) => c.version)).toEqual(['1']);
    expect(warnings).toEqual([
      expect.stringContaining(
        `${older.url}/dists/stable/InRelease is dated ${olderDate}, older than the ${newerDate}`,
      ),
    ]);
    const loaded = await load(older, cacheDir, { allowDowngrade: true });
    expect(loaded.releases[0]).toMatchObject({ date: olderDate, inReleaseSha256: await inReleaseSha(older) });
    // Allowing one downgrade does not lower the bar for the next run.
    expect((await load(older, cacheDir)).releases[0]?.date).toBe(newerDate);
    // A cache that never saw the newer one accepts the older Release.
    expect((await load(older, await mkdtemp(join(work, 'cache-')))).releases[0]?.date).toBe(olderDate);
  });

  it('refuses the older Release when the newest verified one is no longer in the cache', async () => {
    const expectRefusal = async (cacheDir: string) => {
      const error = await failure(load(older, cacheDir));
      expect(error.code).toBe('RELEASE_DATE_INVALID');
      expect(error.details).toEqual({
        url: `${older.url}/dists/stable/InRelease`,
        date: await dateOf(older),
        newestSeen: await dateOf(newer),
        reason: 'downgrade',
      });
    };
    // Its blob removed (cache pruned).
    const pruned = await mkdtemp(join(work, 'cache-'));
    await load(newer, pruned);
    await rm(join(pruned, 'blobs/sha256', await inReleaseSha(newer)));
    await expectRefusal(pruned);
    // Its blob replaced by another validly signed InRelease (the older one): its digest is checked.
    const swapped = await mkdtemp(join(work, 'cache-'));
    await load(newer, swapped);
    await writeFile(
      join(swapped, 'blobs/sha256', await inReleaseSha(newer)),
      await readFile(older.path('dists/stable/InRelease')),
    );
    await expectRefusal(swapped);
    // A cache written before the blob was recorded holds the date alone.
    const legacy = await mkdtemp(join(work, 'cache-'));
    await load(newer, legacy);
    const [record] = await readdir(join(legacy, 'release-date'));
    const file = join(legacy, 'release-date', record as string);
    const stored = JSON.parse(await readFile(file, 'utf8')) as { key: string; value: { date: string } };
    await writeFile(file, JSON.stringify({ key: stored.key, value: stored.value.date }));
    await expectRefusal(legacy);
  });

  it("refuses the older Release when the verified one's indexes are not cached and the mirror lacks them", async () => {
    const moved = await createAptRepo([{ name: 'stable', packages: [{ name: 'p', version: '2' }] }], {
      key: repo.key,
      dir: await mkdtemp(join(work, 'r-')),
    });
    try {
      const cacheDir = await mkdtemp(join(work, 'cache-'));
      await load(moved, cacheDir);
      const keep = await inReleaseSha(moved);
      for (const blob of await readdir(join(cacheDir, 'blobs/sha256'))) {
        if (blob !== keep) await rm(join(cacheDir, 'blobs/sha256', blob));
      }
      const error = await failure(load(older, cacheDir));
      expect(error.code).toBe('RELEASE_DATE_INVALID');
      expect(error.details).toMatchObject({ reason: 'downgrade', newestSeen: await dateOf(moved) });
      expect(error.message).toContain('the indexes of the verified one are not available');
    } finally {
      await moved.close();
    }
  });

  it('keys the newest date by the suite asked for, so an old codename signed as stable is a replay', async () => {
    const packages = [{ name: 'p', version: '1' }];
    const current = await createAptRepo([{ name: 'stable', codename: 'trixie', packages }], {
      key: repo.key,
      dir: await mkdtemp(join(work, 'r-')),
    });
    const previous = await createAptRepo(
      [{ name: 'stable', codename: 'bookworm', packages, date: new Date(Date.now() - 2 * DAY) }],
      { key: repo.key, dir: await mkdtemp(join(work, 'r-')) },
    );
    try {
      const cacheDir = await mkdtemp(join(work, 'cache-'));
      await load(current, cacheDir);
      const warnings: string[] = [];
      const kept = await load(previous, cacheDir, { warn: (m) => warnings.push(m) });
      expect(kept.releases[0]?.inReleaseSha256).toBe(await inReleaseSha(current));
      expect(warnings).toHaveLength(1);
      expect(await readdir(join(cacheDir, 'release-date'))).toHaveLength(1);
      await rm(join(cacheDir, 'blobs/sha256', await inReleaseSha(current)));
      expect((await failure(load(previous, cacheDir))).details).toMatchObject({ reason: 'downgrade' });
    } finally {
      await Promise.all([current.close(), previous.close()]);
    }
  });

  it('refuses a Release dated in the future beyond the allowed skew', async () => {
    const cacheDir = await mkdtemp(join(work, 'cache-'));
    const error = await failure(load(future, cacheDir));
    expect(error.code).toBe('RELEASE_DATE_INVALID');
    expect(error.details).toMatchObject({ url: `${future.url}/dists/stable/InRelease`, reason: 'future' });
    expect(await cached(cacheDir)).toEqual([]);
    await load(future, cacheDir, { maxClockSkewMs: 2 * DAY });
  });

  it('warns when a Release without Valid-Until is older than the configured age', async () => {
    const warnings: string[] = [];
    await load(stale, await mkdtemp(join(work, 'cache-')), { warn: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`${stale.url}/dists/stable/InRelease`);
    const none: string[] = [];
    await load(stale, await mkdtemp(join(work, 'cache-')), {
      warn: (m) => none.push(m),
      maxReleaseAgeMs: 60 * DAY,
    });
    await load(newer, await mkdtemp(join(work, 'cache-')), { warn: (m) => none.push(m) });
    expect(none).toEqual([]);
  });
});
