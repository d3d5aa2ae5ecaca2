import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RampartError } from '../../../src/errors.js';
import { detectFormat, importAdvisories } from '../../../src/vuln/import/index.js';
import { splitTopLevelObject } from '../../../src/vuln/import/json-split.js';
import { type AdvisoryStore, openAdvisoryStore } from '../../../src/vuln/store.js';
import { writeOsvZip } from '../../helpers/osv-zip.js';
import { VULNDATA } from '../../helpers/vulndata.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-vimport-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function errorOf(promise: Promise<unknown>): Promise<RampartError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof RampartError) return error;
    throw error;
  }
  throw new Error('expected a RampartError');
}

async function* chunked(text: string, size: number): AsyncGenerator<Uint8Array> {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

describe('the top-level member splitter', () => {
  it('yields each member whatever the chunk boundaries, strings with braces and escapes included', async () => {
    const doc = {
      'a"b': { x: '}{][,"\\', y: [1, { z: null }] },
      c: [],
      d: 'str,}',
      e: 3,
    };
    for (const size of [1, 2, 3, 7, 1000]) {
      const members = [];
      for await (const member of splitTopLevelObject(
        chunked(JSON.stringify(doc, null, size % 2 ? 2 : 0), size),
        {
          location: 'doc',
          source: 'test',
        },
      )) {
        members.push(member);
      }
      expect(members.map((m) => (m.ok ? [m.key, m.value] : m))).toEqual(Object.entries(doc));
    }
  });

  it('skips a malformed member and goes on; refuses a truncated or non-object document', async () => {
    const members = [];
    for await (const m of splitTopLevelObject(chunked('{"a": {"x": tru}, "b": {}}', 4), {
      location: 'd',
      source: 't',
    })) {
      members.push(m);
    }
    expect(members.map((m) => m.ok)).toEqual([false, true]);
    expect(members[0]).toMatchObject({ ok: false, key: 'a' });
    for (const bad of ['{"a": {"x": 1}', '[1]', '', '{"a":1} x']) {
      const error = await errorOf(
        (async () => {
          for await (const _ of splitTopLevelObject(chunked(bad, 3), { location: 'd', source: 't' }));
        })(),
      );
      expect(error.code).toBe('FEED_INVALID');
    }
  });
});

describe('importers', () => {
  let store: AdvisoryStore;
  beforeAll(() => {
    store = openAdvisoryStore(join(dir, 'import.db'));
  });
  afterAll(() => store.close());

  it('detects each format from the file', async () => {
    expect(await detectFormat(join(VULNDATA, 'vunnel-debian/input/debian.json'))).toBe('debian-tracker');
    expect(await detectFormat(join(VULNDATA, 'osv/npm/GHSA-jf85-cpcp-j695.json'))).toBe('osv');
    const vex = join(dir, 'doc.openvex.json');
    await writeFile(
      vex,
      JSON.stringify({
        '@context': 'https://openvex.dev/ns/v0.2.0',
        '@id': 'https://example.invalid/vex/1',
        author: 'Security Team <security@example.invalid>',
        timestamp: '2026-12-01T00:00:00Z',
        version: 1,
        statements: [
          {
            vulnerability: { name: 'CVE-2023-0001', aliases: ['GHSA-aaaa-bbbb-cccc'] },
            products: [
              {
                '@id': 'pkg:deb/debian/openssl@3.0.11-1?distro=debian-13.2',
                subcomponents: [{ '@id': 'pkg:deb/debian/libssl3t64' }],
              },
              { '@id': 'img', hashes: { 'sha-256': 'ab'.repeat(32) } },
            ],
            status: 'not_affected',
            justification: 'vulnerable_code_not_in_execute_path',
          },
          { vulnerability: { name: 'CVE-2023-0002' }, products: [], status: 'not_affected' },
          { vulnerability: { name: 'CVE-2023-0003' }, products: ['pkg:npm/x@1'], status: 'maybe' },
        ],
      }),
    );
    expect(await detectFormat(vex)).toBe('openvex');
    const zip = join(dir, 'tiny.zip');
    await writeOsvZip(zip, { 'A.json': '{}' });
    expect(await detectFormat(zip)).toBe('osv-zip');
    const other = join(dir, 'other.json');
    await writeFile(other, '{"name": "not advisories"}');
    expect((await errorOf(detectFormat(other))).code).toBe('FEED_INVALID');
  });

  it('imports OSV records from a directory, a zip and a single file, and OpenVEX statements', async () => {
    const osvDir = join(dir, 'osv');
    await mkdir(osvDir);
    for (const name of [
      'pypi/PYSEC-2023-120.json',
      'pypi/withdrawn_after_now.json',
      'go/GO-2024-2687.json',
    ]) {
      await writeFile(join(osvDir, name.replace('/', '-')), await readFile(join(VULNDATA, 'osv', name)));
    }
    await writeFile(join(osvDir, 'broken.json'), '{"id": "BROKEN-1", "affected": "nope"}');
    await writeFile(join(osvDir, 'not-json.json'), '{');
    const zip = join(dir, 'all.zip');
    await writeOsvZip(zip, {
      'GHSA-jf85-cpcp-j695.json': await readFile(join(VULNDATA, 'osv/npm/GHSA-jf85-cpcp-j695.json')),
      'GHSA-gxr4-xjj5-5px2.json': await readFile(join(VULNDATA, 'osv/npm/GHSA-gxr4-xjj5-5px2.json')),
      'bad.json': '{"id": 5}',
    });
    const results = await importAdvisories(store, [
      { path: osvDir },
      { path: zip, feed: 'osv-npm' },
      { path: join(VULNDATA, 'osv/npm/GHSA-jf85-cpcp-j695.json') },
      { path: join(dir, 'doc.openvex.json') },
    ]);
    expect(results.map((r) => [r.feed.replace(dir, 'DIR'), r.format, r.records, r.skipped])).toEqual([
      ['osv:DIR/osv', 'osv', 3, 2],
      ['osv-npm', 'osv-zip', 2, 1],
      [`osv:${join(VULNDATA, 'osv/npm/GHSA-jf85-cpcp-j695.json')}`, 'osv', 1, 0],
      ['openvex:DIR/doc.openvex.json', 'openvex', 1, 2],
    ]);
    expect(results[0]!.skippedSamples.map((s) => s.record.replace(dir, 'DIR'))).toEqual([
      'BROKEN-1',
      'DIR/osv/not-json.json',
    ]);
    // The same lodash record from two feeds is one statement.
    const lodash = store.affected('npm', 'lodash');
    expect(lodash).toEqual([
      {
        vulnerabilityId: 'GHSA-jf85-cpcp-j695',
        source: 'osv',
        ecosystem: 'npm',
        packageName: 'lodash',
        osv: { ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '4.17.12' }] }] },
      },
    ]);
    expect(store.aliasesOf('CVE-2019-10744')).toEqual(['GHSA-jf85-cpcp-j695']);
    expect(store.vulnerability('GHSA-jf85-cpcp-j695')).toMatchObject({
      aliases: ['CVE-2019-10744'],
      cvss: [{ version: '3.1', vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:H' }],
    });
    const scipy = store.affected('pypi', 'SciPy');
    expect(scipy.length).toBeGreaterThan(0);
    expect(scipy.every((r) => r.osv?.withdrawn === '3001-06-06T10:37:00Z')).toBe(true);
    expect(store.vexStatements()).toEqual([
      {
        vulnerabilityId: 'CVE-2023-0001',
        aliases: ['GHSA-aaaa-bbbb-cccc'],
        products: ['pkg:deb/debian/openssl@3.0.11-1?distro=debian-13.2', 'img', `sha256:${'ab'.repeat(32)}`],
        subcomponents: ['pkg:deb/debian/libssl3t64'],
        status: 'not_affected',
        justification: 'vulnerable_code_not_in_execute_path',
        author: 'Security Team <security@example.invalid>',
        timestamp: '2026-12-01T00:00:00Z',
        document: join(dir, 'doc.openvex.json'),
      },
    ]);
  });

  it('replaces a feed on re-import and leaves the store untouched when an import fails', async () => {
    const tracker = join(dir, 'tracker.json');
    await writeFile(
      tracker,
      await readFile(join(VULNDATA, 'osvdev-debian/debian_security_tracker_mock.json')),
    );
    await importAdvisories(store, [{ path: tracker }]);
    const before = store.affected('deb', 'busybox');
    expect(before.length).toBe(5);
    const truncated = join(dir, 'truncated.json');
    const full = await readFile(join(VULNDATA, 'vunnel-debian/input/debian.json'));
    await writeFile(truncated, full.subarray(0, full.length - 20));
    const error = await errorOf(
      importAdvisories(store, [{ path: join(VULNDATA, 'osv/go') }, { path: truncated }]),
    );
    expect(error.code).toBe('FEED_INVALID');
    expect(store.affected('deb', 'busybox')).toEqual(before);
    expect(store.vulnerability('GO-2025-3487')).toBeUndefined();
    expect(store.status().sources.map((s) => s.name)).not.toContain(`osv:${join(VULNDATA, 'osv/go')}`);
    // A newer dump replaces the older one: busybox is not in the vunnel sample.
    await importAdvisories(store, [{ path: join(VULNDATA, 'vunnel-debian/input/debian.json') }]);
    expect(store.affected('deb', 'busybox')).toEqual([]);
    expect(store.affected('deb', 'prototypejs').length).toBeGreaterThan(0);
  });

  it('refuses a tracker dump with no valid record rather than wiping the Debian data', async () => {
    const empty = join(dir, 'empty-tracker.json');
    await writeFile(empty, '{"pkg": {"CVE-1": 5}}');
    const error = await errorOf(importAdvisories(store, [{ path: empty }]));
    expect(error.code).toBe('FEED_INVALID');
    expect(store.affected('deb', 'prototypejs').length).toBeGreaterThan(0);
  });
});
