import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importAdvisories } from '../../../src/vuln/import/index.js';
import { scanSbomDocument } from '../../../src/vuln/scan.js';
import { type AdvisoryStore, openAdvisoryStore } from '../../../src/vuln/store.js';
import { deb, HANDMADE, IMAGE, lang, NOW, sbom } from '../../helpers/vuln-fixtures.js';

/**
 * The acceptance path: the real store and importers on real data (the OSV records and tracker
 * samples copied to test/fixtures/vulndata) plus the hand-made tracker entries, written in the
 * tracker's real JSON format, for `nodejs`, `openssl` and the version edge cases.
 */
const FIXTURES = fileURLToPath(new URL('../../fixtures/vulndata/', import.meta.url));
let dir: string;
let store: AdvisoryStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-vmatch-'));
  const handmade = join(dir, 'tracker.json');
  await writeFile(handmade, JSON.stringify(HANDMADE));
  // osv.dev's record of the same CVE as the tracker's openssl entry (its real DEBIAN-CVE shape:
  // the CVE in `upstream`, Debian:13, fixed at the tracker's fixed version).
  const debianOsv = join(dir, 'DEBIAN-CVE-2026-2000.json');
  await writeFile(
    debianOsv,
    JSON.stringify({
      id: 'DEBIAN-CVE-2026-2000',
      modified: '2026-12-01T00:00:00Z',
      upstream: ['CVE-2026-2000'],
      affected: [
        {
          package: { ecosystem: 'Debian:13', name: 'openssl' },
          ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.5.1-1+deb13u1' }] }],
        },
      ],
      references: [{ type: 'ADVISORY', url: 'https://security-tracker.debian.org/tracker/CVE-2026-2000' }],
    }),
  );
  const vex = join(dir, 'vex.openvex.json');
  await writeFile(
    vex,
    JSON.stringify({
      '@context': 'https://openvex.dev/ns/v0.2.0',
      '@id': 'https://example.org/vex/1',
      author: 'Example Security <security@example.org>',
      timestamp: '2026-12-01T00:00:00Z',
      version: 1,
      statements: [
        {
          vulnerability: { name: 'CVE-2026-1000' },
          products: [{ '@id': 'pkg:deb/debian/nodejs@20.19.2%2Bdfsg-1?arch=arm64&distro=debian-13.2' }],
          status: 'not_affected',
          justification: 'vulnerable_code_not_present',
        },
      ],
    }),
  );
  store = openAdvisoryStore(join(dir, 'advisories.db'), { now: () => NOW });
  await importAdvisories(store, [
    { path: handmade, feed: 'handmade-tracker' },
    { path: join(FIXTURES, 'debian/tracker-osvdev-mock.json') },
    { path: join(FIXTURES, 'osv') },
    { path: debianOsv },
    { path: vex },
  ]);
});
afterAll(async () => {
  store?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('scan through the real store and importers', () => {
  it('gives exactly the expected Debian findings (source lookup, edge cases, VEX from the store)', () => {
    const result = scanSbomDocument(store, sbom(IMAGE), { now: NOW });
    expect(
      result.matches.map((m) => [
        m.package.name,
        m.package.version,
        m.vulnerability.id,
        m.vulnerability.status,
        m.vulnerability.fixedVersion ?? '',
      ]),
    ).toEqual([
      ['busybox', '1:1.35.0-4', 'CVE-2026-3001', 'fixed', '1:1.36.0-1'],
      ['libbar1', '1:5.0-1', 'CVE-2026-4001', 'fixed', '4.2-4'],
      ['libc6', '2.41-12+deb13u1', 'CVE-2026-5001', 'fixed', '2.41-12+deb13u2'],
      ['libssl3t64', '3.5.1-1', 'CVE-2026-2000', 'fixed', '3.5.1-1+deb13u1'],
      ['pre', '1.0~rc2-1', 'CVE-2026-6000', 'fixed', '1.0-1'],
      ['zlib1g', '1:1.3.dfsg+really1.3.1-1+b1', 'CVE-2026-7001', 'fix_deferred', ''],
      ['zlib1g', '1:1.3.dfsg+really1.3.1-1+b1', 'CVE-2026-7000', 'will_not_fix', ''],
      ['zlib1g', '1:1.3.dfsg+really1.3.1-1+b1', 'CVE-2026-7002', 'end_of_life', ''],
      ['zlib1g', '1:1.3.dfsg+really1.3.1-1+b1', 'CVE-2026-7003', 'affected', ''],
    ]);
    // The CVE in two feeds (tracker + osv.dev's DEBIAN-CVE) is one finding with both ids.
    expect(result.matches.find((m) => m.package.name === 'libssl3t64')?.vulnerability).toMatchObject({
      aliases: ['DEBIAN-CVE-2026-2000'],
      severity: 'medium',
      severitySource: 'debian-tracker',
    });
    // The hand-made nodejs entry is found, then suppressed by the imported OpenVEX statement whose
    // product says distro=debian-13.2 and arch=arm64 while the package says debian-13 and amd64.
    expect(result.suppressed).toEqual([
      expect.objectContaining({
        package: expect.objectContaining({ name: 'nodejs' }),
        vulnerability: expect.objectContaining({ id: 'CVE-2026-1000', status: 'not_affected' }),
        vex: {
          status: 'not_affected',
          justification: 'vulnerable_code_not_present',
          author: 'Example Security <security@example.org>',
        },
      }),
    ]);
    expect(result.db.sources.map((s) => s.name).sort()).toContain('handmade-tracker');
  });

  it('reads the real tracker sample for bookworm (busybox unimportant only with showNegligible)', () => {
    const image = sbom([deb('busybox', '1:1.35.0-4'), deb('apparmor', '3.0.8-3')], {
      id: 'debian',
      versionId: '12',
      versionCodename: 'bookworm',
    });
    expect(scanSbomDocument(store, image, { now: NOW }).matches).toEqual([]);
    const all = scanSbomDocument(store, image, { now: NOW, showNegligible: true });
    expect(all.matches.map((m) => [m.package.name, m.vulnerability.id, m.vulnerability.status])).toEqual([
      ['apparmor', 'CVE-2016-1585', 'will_not_fix'],
      ['busybox', 'CVE-2018-1000500', 'will_not_fix'],
    ]);
  });

  it('matches language packages against the imported OSV records (withdrawn honoured)', () => {
    const result = scanSbomDocument(
      store,
      sbom(
        [
          lang('npm', 'lodash', '4.17.11', 'pkg:npm/lodash@4.17.11'),
          lang('pypi', 'Werkzeug', '3.1.4', 'pkg:pypi/werkzeug@3.1.4'),
          lang('pypi', 'redis', '4.5.4', 'pkg:pypi/redis@4.5.4'),
          lang('golang', 'stdlib', 'go1.22.1', 'pkg:golang/stdlib@go1.22.1'),
          lang(
            'maven',
            'spring-boot',
            '1.5.9.RELEASE',
            'pkg:maven/org.springframework.boot/spring-boot@1.5.9.RELEASE',
          ),
          lang('cargo', 'sized-chunks', '0.6.2', 'pkg:cargo/sized-chunks@0.6.2'),
        ],
        undefined as never,
      ),
      { now: NOW },
    );
    expect(result.matches.map((m) => [m.package.name, m.vulnerability.id, m.vulnerability.aliases])).toEqual([
      ['Werkzeug', 'CVE-2026-21860', ['PYSEC-2026-1']],
      ['lodash', 'CVE-2019-10744', ['GHSA-jf85-cpcp-j695']],
      ['sized-chunks', 'CVE-2020-25792', ['GHSA-mp6f-p9gp-vpj9']],
      ['spring-boot', 'CVE-2018-1196', ['GHSA-xx65-cc7g-9pfp']],
      ['stdlib', 'CVE-2023-45288', ['GHSA-4v7x-pqxf-cx7m', 'GO-2024-2687']],
    ]);
  });
});

describe('batched store lookups', () => {
  const LANGUAGE = [
    lang('npm', 'lodash', '4.17.11', 'pkg:npm/lodash@4.17.11'),
    lang('pypi', 'Werkzeug', '3.1.4', 'pkg:pypi/werkzeug@3.1.4'),
    lang('golang', 'stdlib', 'go1.22.1', 'pkg:golang/stdlib@go1.22.1'),
  ];

  it('answers a scan in a few batched queries, never one per package or id, with the same findings', () => {
    const calls: Record<string, number> = {};
    const counted = new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          calls[String(property)] = (calls[String(property)] ?? 0) + 1;
          return value.apply(target, args);
        };
      },
    });
    const image = sbom([...IMAGE, ...LANGUAGE]);
    const result = scanSbomDocument(counted, image, { now: NOW });
    expect(calls.affected ?? 0).toBe(0);
    expect(calls.vulnerability ?? 0).toBe(0);
    expect(calls.aliasesOf ?? 0).toBe(0);
    // One per ecosystem (deb, npm, pypi, golang).
    expect(calls.affectedMany).toBe(4);
    // Each language ecosystem's records (for `withdrawn`), then every finding's ids.
    expect(calls.vulnerabilities).toBeLessThanOrEqual(4);
    // One per level of the alias graph (CVE <- GHSA -> GO-...).
    expect(calls.aliasEdges).toBeLessThanOrEqual(4);
    expect(result.matches.map((m) => [m.package.name, m.vulnerability.id])).toEqual(
      expect.arrayContaining([
        ['libssl3t64', 'CVE-2026-2000'],
        ['lodash', 'CVE-2019-10744'],
        ['stdlib', 'CVE-2023-45288'],
      ]),
    );
    expect(result.matches).toHaveLength(12);
  });

  it('gives the batch answers the one-at-a-time lookups give', () => {
    const names = ['Werkzeug', 'werkzeug', 'WERKZEUG', 'no-such-project'];
    const many = store.affectedMany('pypi', names);
    expect([...many.keys()]).toEqual(names);
    for (const name of names) expect(many.get(name)).toEqual(store.affected('pypi', name));
    expect(many.get('Werkzeug')!.length).toBeGreaterThan(0);
    const debNames = ['openssl', 'nodejs', 'glibc', 'zlib', 'unknown-source'];
    const debMany = store.affectedMany('deb', debNames);
    for (const name of debNames) expect(debMany.get(name)).toEqual(store.affected('deb', name));

    const ids = ['CVE-2026-2000', 'DEBIAN-CVE-2026-2000', 'GO-2024-2687', 'CVE-2023-45288', 'NOPE-1'];
    const vulns = store.vulnerabilities(ids);
    expect(vulns.has('NOPE-1')).toBe(false);
    for (const id of ids) expect(vulns.get(id)).toEqual(store.vulnerability(id));
    expect(store.aliasesOf('GO-2024-2687')).toEqual(['CVE-2023-45288', 'GHSA-4v7x-pqxf-cx7m']);
    expect(store.aliasEdges(['CVE-2023-45288', 'NOPE-1'])).toEqual(
      new Map([
        ['CVE-2023-45288', ['GHSA-4v7x-pqxf-cx7m', 'GO-2024-2687']],
        ['NOPE-1', []],
      ]),
    );
  });
});
