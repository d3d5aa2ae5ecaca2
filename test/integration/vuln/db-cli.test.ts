import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAdvisoryStore } from '../../../src/vuln/store.js';
import { writeOsvZip } from '../../helpers/osv-zip.js';
import { spawnTracked, stopAllTracked, waitUntil } from '../../helpers/processes.js';
import { rampart } from '../../helpers/run-cli.js';
import { writeSyntheticTracker } from '../../helpers/synthetic-tracker.js';
import { VULNDATA } from '../../helpers/vulndata.js';

/**
 * `rampart db import|update|status` end to end: a real child process killed with SIGKILL in the
 * middle of an import, and `db update` against a local HTTP server serving fixture feeds (no
 * network), with ETag/Last-Modified revalidation answered by 304.
 */
const repo = join(import.meta.dirname, '../../..');
let dir: string;
let server: Server;
let base: string;
const requests: Array<{ url: string; ifNoneMatch?: string; ifModifiedSince?: string }> = [];
const files = new Map<string, Buffer>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-dbcli-'));
  files.set(
    '/tracker.json',
    await readFile(join(VULNDATA, 'osvdev-debian/debian_security_tracker_mock.json')),
  );
  const zip = join(dir, 'npm-all.zip');
  await writeOsvZip(zip, {
    'GHSA-jf85-cpcp-j695.json': await readFile(join(VULNDATA, 'osv/npm/GHSA-jf85-cpcp-j695.json')),
    'GHSA-6c3j-c64m-qhgq.json': await readFile(join(VULNDATA, 'osv/npm/GHSA-6c3j-c64m-qhgq.json')),
    'broken.json': '{"id": "BROKEN", "affected": 3}',
  });
  files.set('/npm/all.zip', await readFile(zip));
  server = createServer((req: IncomingMessage, res) => {
    requests.push({
      url: req.url ?? '',
      ...(req.headers['if-none-match'] ? { ifNoneMatch: String(req.headers['if-none-match']) } : {}),
      ...(req.headers['if-modified-since']
        ? { ifModifiedSince: String(req.headers['if-modified-since']) }
        : {}),
    });
    const body = files.get(req.url ?? '');
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
    const lastModified = 'Tue, 01 Dec 2026 00:00:00 GMT';
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { etag }).end();
      return;
    }
    res.writeHead(200, { etag, 'last-modified': lastModified, 'content-length': body.length }).end(body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await stopAllTracked();
  server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('rampart db update', () => {
  it('downloads and imports the feeds, then revalidates with 304; a failing feed keeps its data and exits 1', async () => {
    const db = join(dir, 'update.db');
    const feeds = ['--feed', `debian-tracker=${base}/tracker.json`, '--feed', `osv-npm=${base}/npm/all.zip`];
    const only = ['--only', 'debian-tracker,osv-npm'];
    const first = await rampart('db', 'update', ...feeds, ...only, '--db', db, '-o', 'json', '-q');
    expect(first.code, first.stderr).toBe(0);
    const firstReport = JSON.parse(first.stdout) as { feeds: Array<Record<string, unknown>> };
    expect(firstReport.feeds.map((f) => [f.name, f.outcome, f.records, f.skipped])).toEqual([
      ['debian-tracker', 'updated', 4, 0],
      ['osv-npm', 'updated', 2, 1],
    ]);
    expect(requests.every((r) => r.ifNoneMatch === undefined)).toBe(true);

    const second = await rampart('db', 'update', ...feeds, ...only, '--db', db, '-o', 'json', '-q');
    expect(second.code, second.stderr).toBe(0);
    expect(
      (JSON.parse(second.stdout) as { feeds: Array<{ outcome: string }> }).feeds.map((f) => f.outcome),
    ).toEqual(['not-modified', 'not-modified']);
    expect(requests.slice(-2).map((r) => [r.url, Boolean(r.ifNoneMatch), r.ifModifiedSince])).toEqual([
      ['/tracker.json', true, 'Tue, 01 Dec 2026 00:00:00 GMT'],
      ['/npm/all.zip', true, 'Tue, 01 Dec 2026 00:00:00 GMT'],
    ]);

    // The npm feed moves to a URL that is gone: it fails, keeps its records, and the exit status is 1.
    const third = await rampart(
      'db',
      'update',
      '--feed',
      `debian-tracker=${base}/tracker.json`,
      '--feed',
      `osv-npm=${base}/gone/all.zip`,
      ...only,
      '--db',
      db,
      '-o',
      'json',
      '-q',
    );
    expect(third.code).toBe(1);
    const failed = (
      JSON.parse(third.stdout) as {
        feeds: Array<{ name: string; outcome: string; error?: { code: string } }>;
      }
    ).feeds;
    expect(failed.map((f) => [f.name, f.outcome, f.error?.code])).toEqual([
      ['debian-tracker', 'not-modified', undefined],
      ['osv-npm', 'failed', 'NETWORK'],
    ]);
    const store = openAdvisoryStore(db, { readOnly: true });
    try {
      expect(store.affected('npm', 'lodash').map((r) => r.vulnerabilityId)).toEqual(['GHSA-jf85-cpcp-j695']);
      expect(store.affected('deb', 'busybox')).toHaveLength(5);
    } finally {
      store.close();
    }

    const status = await rampart('db', 'status', '--db', db, '-o', 'json');
    expect(status.code).toBe(0);
    const report = JSON.parse(status.stdout) as {
      sources: Array<Record<string, unknown>>;
      warnings: unknown[];
    };
    expect(report.sources.map((s) => [s.name, s.records, s.location, s.stale])).toEqual([
      ['debian-tracker', 4, `${base}/tracker.json`, false],
      ['osv-npm', 2, `${base}/npm/all.zip`, false],
    ]);
    expect(report.warnings).toEqual([]);
  });

  it('db import of a URL, and usage errors for bad --feed/--only', async () => {
    const db = join(dir, 'url.db');
    const imported = await rampart('db', 'import', `${base}/tracker.json`, '--db', db, '-o', 'json', '-q');
    expect(imported.code, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout).feeds[0]).toMatchObject({
      feed: 'debian-tracker',
      location: `${base}/tracker.json`,
      records: 4,
    });
    expect((await rampart('db', 'update', '--feed', 'x=ftp://nope', '--db', db)).code).toBe(2);
    expect((await rampart('db', 'update', '--only', 'nope', '--db', db)).code).toBe(2);
    expect((await rampart('db', 'status', '--db', join(dir, 'missing.db'))).code).toBe(1);
  });
});

describe('rampart db import killed with SIGKILL', () => {
  it('leaves the previous store intact and usable', async () => {
    const db = join(dir, 'killed.db');
    const seeded = await rampart(
      'db',
      'import',
      join(VULNDATA, 'vunnel-debian/input/debian.json'),
      '--db',
      db,
      '-q',
    );
    expect(seeded.code, seeded.stderr).toBe(0);
    const before = openAdvisoryStore(db, { readOnly: true });
    const prototypejs = before.affected('deb', 'prototypejs');
    const sourcesBefore = before.status().sources;
    before.close();
    expect(prototypejs.length).toBeGreaterThan(0);

    const big = join(dir, 'big-tracker.json');
    await writeSyntheticTracker(big, { packages: 6000, entriesPerPackage: 10 });
    // The real CLI in its own process (through tsx, as the sources are TypeScript).
    const child = spawnTracked(
      process.execPath,
      ['--import', 'tsx', join(repo, 'test/helpers/rampart-cli.ts'), 'db', 'import', big, '--db', db],
      { cwd: repo, env: { ...process.env, CI: '1' } },
    );
    // Mid-import: progress is printed every 10 MiB read, inside the transaction.
    await waitUntil(
      async () => /records/.test(child.output().stderr) || child.child.exitCode !== null,
      120_000,
      'import progress',
    );
    expect(child.child.exitCode, child.output().stderr).toBeNull();
    child.child.kill('SIGKILL');
    const exit = await child.exited;
    expect(exit.signal).toBe('SIGKILL');

    const after = openAdvisoryStore(db);
    try {
      expect(after.affected('deb', 'prototypejs')).toEqual(prototypejs);
      expect(after.status().sources).toEqual(sourcesBefore);
      expect(after.affected('deb', 'pkg0-lib')).toEqual([]);
    } finally {
      after.close();
    }
    // And it still takes imports.
    const again = await rampart('db', 'import', join(VULNDATA, 'osv/npm'), '--db', db, '-q');
    expect(again.code, again.stderr).toBe(0);
  });
});
