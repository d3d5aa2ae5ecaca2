import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RampartError } from '../../../src/errors.js';
import { importAdvisories } from '../../../src/vuln/import/index.js';
import { SCHEMA_VERSION } from '../../../src/vuln/schema.js';
import { storeStatusReport } from '../../../src/vuln/status.js';
import { normalizePackageName, openAdvisoryStore } from '../../../src/vuln/store.js';
import { VULNDATA } from '../../helpers/vulndata.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-vstore-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function codeOf(fn: () => unknown): { code?: string; details?: unknown } {
  try {
    fn();
  } catch (error) {
    if (error instanceof RampartError) return { code: error.code, details: error.details };
    throw error;
  }
  return {};
}

describe('advisory store', () => {
  it('creates a versioned store and reads back the real tracker sample by source package', async () => {
    const path = join(dir, 'tracker.db');
    const store = openAdvisoryStore(path, { now: () => new Date('2026-12-01T00:00:00Z') });
    const [result] = await importAdvisories(store, [
      { path: join(VULNDATA, 'osvdev-debian/debian_security_tracker_mock.json') },
    ]);
    expect(result).toMatchObject({ feed: 'debian-tracker', format: 'debian-tracker', skipped: 0 });
    expect(store.affected('deb', 'apparmor').find((r) => r.release === 'bookworm')).toEqual({
      vulnerabilityId: 'CVE-2014-1424',
      source: 'debian-tracker',
      ecosystem: 'deb',
      packageName: 'apparmor',
      release: 'bookworm',
      debian: { status: 'resolved', fixedVersion: '0', urgency: 'unimportant' },
    });
    expect(store.affected('deb', 'busybox').map((r) => r.release)).toEqual([
      'bookworm',
      'bullseye',
      'buster',
      'sid',
      'trixie',
    ]);
    expect(store.debianReleases()).toEqual(['bookworm', 'bullseye', 'buster', 'sid', 'trixie']);
    expect(store.vulnerability('CVE-2018-1000500')?.summary).toMatch(/^Busybox contains/);
    const status = store.status();
    expect(status).toMatchObject({ path, schemaVersion: SCHEMA_VERSION, built: '2026-12-01T00:00:00.000Z' });
    expect(status.sources).toEqual([
      expect.objectContaining({
        name: 'debian-tracker',
        records: result!.records,
        updated: '2026-12-01T00:00:00.000Z',
      }),
    ]);
    store.close();
    const reader = openAdvisoryStore(path, { readOnly: true });
    expect(reader.affected('deb', 'busybox')).toHaveLength(5);
    reader.close();
  });

  it('refuses a store of a newer schema and a foreign SQLite file (ADVISORY_DB_INVALID)', () => {
    const newer = join(dir, 'newer.db');
    const db = new DatabaseSync(newer);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(codeOf(() => openAdvisoryStore(newer))).toEqual({
      code: 'ADVISORY_DB_INVALID',
      details: { path: newer, schemaVersion: SCHEMA_VERSION + 1, supported: SCHEMA_VERSION },
    });
    const foreign = join(dir, 'foreign.db');
    const other = new DatabaseSync(foreign);
    other.exec('CREATE TABLE t (x)');
    other.close();
    expect(codeOf(() => openAdvisoryStore(foreign)).code).toBe('ADVISORY_DB_INVALID');
  });

  it('refuses a file that is not SQLite, and a missing store when reading', async () => {
    const garbage = join(dir, 'garbage.db');
    await writeFile(
      garbage,
      'this is not a database, it is a text file long enough to have a header\n'.repeat(10),
    );
    expect(codeOf(() => openAdvisoryStore(garbage)).code).toBe('ADVISORY_DB_INVALID');
    expect(codeOf(() => openAdvisoryStore(join(dir, 'missing.db'), { readOnly: true })).code).toBe(
      'NOT_FOUND',
    );
  });

  it('migrates an empty (version 0) file', () => {
    const empty = join(dir, 'empty.db');
    new DatabaseSync(empty).close();
    const store = openAdvisoryStore(empty);
    expect(store.status().schemaVersion).toBe(SCHEMA_VERSION);
    store.close();
  });

  it('normalises PyPI names (PEP 503) on both sides, and only PyPI names', () => {
    expect(normalizePackageName('pypi', 'Foo_Bar.baz')).toBe('foo-bar-baz');
    expect(normalizePackageName('npm', 'Foo_Bar')).toBe('Foo_Bar');
  });

  it('status: each feed with its age, and a warning once it is older than 24 h', async () => {
    const path = join(dir, 'status.db');
    const store = openAdvisoryStore(path, { now: () => new Date('2026-12-01T00:00:00Z') });
    expect(storeStatusReport(store, new Date('2026-12-01T00:00:00Z')).warnings.map((w) => w.code)).toEqual([
      'EMPTY_STORE',
    ]);
    await importAdvisories(store, [{ path: join(VULNDATA, 'osv/go') }]);
    const fresh = storeStatusReport(store, new Date('2026-12-02T00:00:00Z'));
    expect(fresh.sources.map((s) => [s.records, s.ageSeconds, s.stale])).toEqual([[3, 86_400, false]]);
    expect(fresh.warnings).toEqual([]);
    const stale = storeStatusReport(store, new Date('2026-12-02T00:00:01Z'));
    expect(stale.sources[0]!.stale).toBe(true);
    expect(stale.warnings).toEqual([
      expect.objectContaining({ code: 'STALE_FEED', feed: `osv:${join(VULNDATA, 'osv/go')}` }),
    ]);
    store.close();
  });

  it('a second writer waiting past the busy timeout gets LOCKED, and the first writer is unaffected', async () => {
    const path = join(dir, 'locked.db');
    const first = openAdvisoryStore(path);
    const second = openAdvisoryStore(path, { busyTimeoutMs: 50 });
    let code: string | undefined;
    await first.transaction(async () => {
      try {
        await second.transaction(async () => undefined);
      } catch (error) {
        code = error instanceof RampartError ? error.code : String(error);
      }
    });
    expect(code).toBe('LOCKED');
    await second.transaction(async () => undefined);
    first.close();
    second.close();
  });
});

describe('writing the store', () => {
  const tracker = (source: string, id: string) => ({
    [source]: {
      [id]: { description: id, releases: { trixie: { status: 'open', repositories: {}, urgency: 'low' } } },
    },
  });
  const write = async (name: string, json: unknown) => {
    const path = join(dir, name);
    await writeFile(path, JSON.stringify(json));
    return path;
  };

  it('commits durably: WAL with synchronous=FULL on a store opened for writing', () => {
    const store = openAdvisoryStore(join(dir, 'durable.db'));
    const db = new DatabaseSync(join(dir, 'durable.db'));
    // journal_mode is kept in the file; synchronous belongs to the writer's own connection.
    expect((db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode).toBe('wal');
    db.close();
    expect((store as unknown as { db: DatabaseSync }).db.prepare('PRAGMA synchronous').get()).toEqual({
      synchronous: 2,
    });
    store.close();
  });

  it('replacing a feed removes only its rows, whether or not the tables hold other feeds', async () => {
    const store = openAdvisoryStore(join(dir, 'replace.db'));
    // One feed alone (its tables are emptied whole), then again next to another feed (row by row).
    await importAdvisories(store, [
      { path: await write('a1.json', tracker('alpha', 'CVE-2026-1')), feed: 'a' },
    ]);
    await importAdvisories(store, [
      { path: await write('a2.json', tracker('beta', 'CVE-2026-2')), feed: 'a' },
    ]);
    expect(store.affected('deb', 'alpha')).toEqual([]);
    expect(store.vulnerability('CVE-2026-1')).toBeUndefined();
    expect(store.affected('deb', 'beta')).toHaveLength(1);
    await importAdvisories(store, [
      { path: await write('b1.json', tracker('gamma', 'CVE-2026-3')), feed: 'b' },
    ]);
    await importAdvisories(store, [
      { path: await write('a3.json', tracker('delta', 'CVE-2026-4')), feed: 'a' },
    ]);
    expect(store.affected('deb', 'beta')).toEqual([]);
    expect(store.vulnerability('CVE-2026-2')).toBeUndefined();
    expect(store.affected('deb', 'gamma')).toHaveLength(1);
    expect(store.vulnerability('CVE-2026-3')?.summary).toBe('CVE-2026-3');
    expect(store.affected('deb', 'delta')).toHaveLength(1);
    expect(store.debianReleases()).toEqual(['trixie']);
    store.close();
  });
});
