import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compareMavenVersions } from '../../../src/vuln/match/maven-version.js';
import { osvAffects } from '../../../src/vuln/match/osv-range.js';
import { compareByEcosystem } from '../../../src/vuln/match/versions.js';
import { findingsAtOrAbove, scanSbomDocument } from '../../../src/vuln/scan.js';
import type { AffectedRecord, VexStatementRecord, VulnerabilityRecord } from '../../../src/vuln/types.js';
import { memoryAdvisoryReader, osvRecords, trackerRecords } from '../../helpers/advisory-memory.js';
import { deb, HANDMADE, IMAGE, lang, NOW, sbom } from '../../helpers/vuln-fixtures.js';

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../fixtures/vulndata/${name}`, import.meta.url), 'utf8'));

function handmadeReader(
  extra: {
    affected?: AffectedRecord[];
    vulnerabilities?: VulnerabilityRecord[];
    vex?: VexStatementRecord[];
  } = {},
) {
  const t = trackerRecords(HANDMADE);
  return memoryAdvisoryReader({
    affected: [...t.affected, ...(extra.affected ?? [])],
    vulnerabilities: [...t.vulnerabilities, ...(extra.vulnerabilities ?? [])],
    vex: extra.vex ?? [],
  });
}

const brief = (r: ReturnType<typeof scanSbomDocument>['matches']) =>
  r.map((m) => [
    m.package.name,
    m.package.version,
    m.vulnerability.id,
    m.vulnerability.status,
    m.vulnerability.fixedVersion ?? '',
  ]);

describe('Debian matcher (through the source package, against the release codename)', () => {
  it('gives exactly the expected findings, with binary names and versions', () => {
    const result = scanSbomDocument(handmadeReader(), sbom(IMAGE), { now: NOW });
    expect(brief(result.matches)).toEqual([
      ['busybox', '1:1.35.0-4', 'CVE-2026-3001', 'fixed', '1:1.36.0-1'],
      ['libbar1', '1:5.0-1', 'CVE-2026-4001', 'fixed', '4.2-4'],
      ['libc6', '2.41-12+deb13u1', 'CVE-2026-5001', 'fixed', '2.41-12+deb13u2'],
      ['libssl3t64', '3.5.1-1', 'CVE-2026-2000', 'fixed', '3.5.1-1+deb13u1'],
      ['nodejs', '20.19.2+dfsg-1', 'CVE-2026-1000', 'affected', ''],
      ['pre', '1.0~rc2-1', 'CVE-2026-6000', 'fixed', '1.0-1'],
      ['zlib1g', '1:1.3.dfsg+really1.3.1-1+b1', 'CVE-2026-7001', 'fix_deferred', ''],
      ['zlib1g', '1:1.3.dfsg+really1.3.1-1+b1', 'CVE-2026-7000', 'will_not_fix', ''],
      ['zlib1g', '1:1.3.dfsg+really1.3.1-1+b1', 'CVE-2026-7002', 'end_of_life', ''],
      ['zlib1g', '1:1.3.dfsg+really1.3.1-1+b1', 'CVE-2026-7003', 'affected', ''],
    ]);
    const ssl = result.matches.find((m) => m.package.name === 'libssl3t64')!;
    expect(ssl.package.source).toEqual({ name: 'openssl', version: '3.5.1-1' });
    expect(ssl.vulnerability).toMatchObject({ severity: 'medium', severitySource: 'debian-tracker' });
    expect(result.warnings).toEqual([]);
    expect(result.distro).toEqual({ id: 'debian', version: '13', codename: 'trixie' });
  });

  it('shows unimportant issues only with showNegligible, as will_not_fix/negligible', () => {
    const result = scanSbomDocument(handmadeReader(), sbom(IMAGE), { now: NOW, showNegligible: true });
    expect(result.matches.find((m) => m.vulnerability.id === 'CVE-2026-3002')?.vulnerability).toMatchObject({
      status: 'will_not_fix',
      severity: 'negligible',
    });
  });

  it('onlyFixed keeps only findings with a fixed version', () => {
    const result = scanSbomDocument(handmadeReader(), sbom(IMAGE), { now: NOW, onlyFixed: true });
    expect(result.matches.every((m) => m.vulnerability.fixedVersion !== undefined)).toBe(true);
    expect(result.matches).toHaveLength(5);
  });

  it('maps VERSION_ID to the codename when os-release has no VERSION_CODENAME', () => {
    const result = scanSbomDocument(
      handmadeReader(),
      sbom(IMAGE, { id: 'debian', versionId: '13' } as never),
      { now: NOW },
    );
    expect(result.distro.codename).toBe('trixie');
    expect(result.matches).toHaveLength(10);
  });

  it('warns (not a silent empty result) on a release the store does not know', () => {
    const result = scanSbomDocument(
      handmadeReader(),
      sbom(IMAGE, { id: 'debian', versionId: '14', versionCodename: 'forky' }),
      { now: NOW },
    );
    expect(result.matches).toEqual([]);
    expect(result.warnings.map((w) => w.code)).toEqual(['UNKNOWN_DISTRO_RELEASE']);
  });

  it('merges a CVE reported by the tracker, a DSA and an OSV Debian record into one finding', () => {
    const dsa: AffectedRecord = {
      vulnerabilityId: 'DSA-6000-1',
      source: 'debian-tracker',
      ecosystem: 'deb',
      packageName: 'openssl',
      release: 'trixie',
      debian: { status: 'resolved', fixedVersion: '3.5.1-1+deb13u1' },
    };
    const osv: AffectedRecord = {
      vulnerabilityId: 'DEBIAN-CVE-2026-2000',
      source: 'osv',
      ecosystem: 'deb',
      packageName: 'openssl',
      release: 'Debian:13',
      osv: { ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.5.1-1+deb13u1' }] }] },
    };
    // OSV says affected, but the tracker says never affected (fixed_version 0): the tracker wins.
    const vetoed: AffectedRecord = { ...osv, vulnerabilityId: 'DEBIAN-CVE-2026-2002' };
    const vulns: VulnerabilityRecord[] = [
      {
        id: 'DSA-6000-1',
        source: 'debian-tracker',
        aliases: ['CVE-2026-2000'],
        cvss: [],
        severityLabels: [],
        urls: [],
      },
      {
        id: 'DEBIAN-CVE-2026-2000',
        source: 'osv',
        aliases: ['CVE-2026-2000'],
        cvss: [],
        severityLabels: [],
        urls: ['https://example.org/a'],
      },
      {
        id: 'DEBIAN-CVE-2026-2002',
        source: 'osv',
        aliases: ['CVE-2026-2002'],
        cvss: [],
        severityLabels: [],
        urls: [],
      },
    ];
    const result = scanSbomDocument(
      handmadeReader({ affected: [dsa, osv, vetoed], vulnerabilities: vulns }),
      sbom([IMAGE[1]!]),
      { now: NOW },
    );
    expect(result.matches).toHaveLength(1);
    expect(result.matches[0]!.vulnerability).toMatchObject({
      id: 'CVE-2026-2000',
      aliases: ['DEBIAN-CVE-2026-2000', 'DSA-6000-1'],
      status: 'fixed',
      fixedVersion: '3.5.1-1+deb13u1',
      urls: ['https://example.org/a'],
    });
  });

  it('reads the real tracker samples (osv.dev mock): bookworm busybox open unimportant, apparmor fixed 0', () => {
    const t = trackerRecords(fixture('debian/tracker-osvdev-mock.json'));
    const reader = memoryAdvisoryReader(t);
    const image = sbom([deb('busybox', '1:1.35.0-4'), deb('apparmor', '3.0.8-3')], {
      id: 'debian',
      versionId: '12',
      versionCodename: 'bookworm',
    });
    const hidden = scanSbomDocument(reader, image, { now: NOW });
    const all = scanSbomDocument(reader, image, { now: NOW, showNegligible: true });
    expect(hidden.matches.every((m) => m.vulnerability.severity !== 'negligible')).toBe(true);
    expect(all.matches.length).toBeGreaterThan(hidden.matches.length);
    expect(all.matches.some((m) => m.vulnerability.id === 'CVE-2014-1424')).toBe(false); // fixed_version 0
    expect(all.matches.find((m) => m.vulnerability.id === 'CVE-2018-1000500')).toMatchObject({
      package: { name: 'busybox' },
      vulnerability: { status: 'will_not_fix', severity: 'negligible' },
    });
  });
});

describe('language matchers over real OSV records', () => {
  const files = [
    'GHSA-jf85-cpcp-j695.json',
    'PYSEC-2026-1.json',
    'PYSEC-2023-73.json',
    'withdrawn_after_now.json',
    'PYSEC-2023-120.json',
    'GO-2024-2687.json',
    'GO-2024-2683.json',
    'GHSA-4v7x-pqxf-cx7m.json',
    'GHSA-xx65-cc7g-9pfp.json',
    'GHSA-mp6f-p9gp-vpj9.json',
  ].map((f) => osvRecords(fixture(`osv/${f}`)));
  const reader = memoryAdvisoryReader({
    affected: files.flatMap((f) => f.affected),
    vulnerabilities: files.flatMap((f) => f.vulnerabilities),
    releases: [],
    sources: [{ name: 'osv', records: files.length, updated: '2026-12-05T12:00:00Z' }],
  });
  const packages = [
    lang('npm', 'lodash', '4.17.11', 'pkg:npm/lodash@4.17.11'),
    lang('npm', 'lodash', '4.17.12', 'pkg:npm/lodash@4.17.12'),
    lang('pypi', 'werkzeug', '3.1.4', 'pkg:pypi/werkzeug@3.1.4'),
    lang('pypi', 'redis', '4.5.4', 'pkg:pypi/redis@4.5.4'), // withdrawn record
    lang('pypi', 'SciPy', '0.12.0', 'pkg:pypi/scipy@0.12.0'), // withdrawn only in 3001
    lang('pypi', 'aiohttp', '3.8.4', 'pkg:pypi/aiohttp@3.8.4'), // last_affected
    lang('pypi', 'aiohttp', '3.8.5', 'pkg:pypi/aiohttp@3.8.5'),
    lang('golang', 'stdlib', 'go1.22.1', 'pkg:golang/stdlib@go1.22.1'),
    lang('golang', 'stdlib', 'go1.22.2', 'pkg:golang/stdlib@go1.22.2'),
    lang(
      'golang',
      'github.com/hashicorp/consul',
      'v1.12.4',
      'pkg:golang/github.com/hashicorp/consul@v1.12.4',
    ),
    lang(
      'golang',
      'github.com/hashicorp/consul',
      'v1.12.5',
      'pkg:golang/github.com/hashicorp/consul@v1.12.5',
    ),
    lang(
      'maven',
      'spring-boot',
      '1.5.9.RELEASE',
      'pkg:maven/org.springframework.boot/spring-boot@1.5.9.RELEASE',
    ),
    lang(
      'maven',
      'spring-boot',
      '1.5.10.RELEASE',
      'pkg:maven/org.springframework.boot/spring-boot@1.5.10.RELEASE',
    ),
    lang('cargo', 'sized-chunks', '0.6.2', 'pkg:cargo/sized-chunks@0.6.2'),
  ];
  const result = scanSbomDocument(reader, sbom(packages, undefined as never), { now: NOW });

  it('gives exactly the expected findings', () => {
    expect(
      result.matches.map((m) => [
        m.package.name,
        m.package.version,
        m.vulnerability.id,
        m.vulnerability.fixedVersion ?? '',
      ]),
    ).toEqual([
      ['SciPy', '0.12.0', 'CVE-2013-4251', '0.12.1'],
      ['aiohttp', '3.8.4', 'CVE-2023-37276', ''],
      ['github.com/hashicorp/consul', 'v1.12.4', 'CVE-2021-41803', '1.12.5'],
      ['lodash', '4.17.11', 'CVE-2019-10744', '4.17.12'],
      ['sized-chunks', '0.6.2', 'CVE-2020-25792', '0.6.3'],
      ['spring-boot', '1.5.9.RELEASE', 'CVE-2018-1196', '1.5.10'],
      ['stdlib', 'go1.22.1', 'CVE-2023-45288', '1.22.2'],
      ['werkzeug', '3.1.4', 'CVE-2026-21860', '3.1.5'],
    ]);
  });

  it('merges aliases (GO-, GHSA- and CVE ids) into one finding', () => {
    const go = result.matches.find((m) => m.package.name === 'stdlib')!;
    expect(go.vulnerability.aliases).toEqual(['GHSA-4v7x-pqxf-cx7m', 'GO-2024-2687']);
  });

  it('scores CVSS (v4 before v3) and names the severity source', () => {
    const w = result.matches.find((m) => m.package.name === 'werkzeug')!.vulnerability;
    expect(w.severitySource).toBe('cvss-4.0');
    expect(w.cvss?.map((c) => [c.version, c.score])).toEqual([
      ['4.0', 6.3],
      ['3.1', 5.3],
    ]);
    expect(w.severity).toBe('medium');
    const l = result.matches.find((m) => m.package.name === 'lodash')!.vulnerability;
    expect([l.severity, l.severitySource, l.cvss?.[0]?.score]).toEqual(['critical', 'cvss-3.1', 9.1]);
    const consul = result.matches.find(
      (m) => m.package.name === 'github.com/hashicorp/consul',
    )!.vulnerability;
    expect([consul.severity, consul.severitySource]).toEqual(['unknown', 'none']);
  });

  it('--fail-on counts findings at or above the level', () => {
    expect(findingsAtOrAbove(result, 'critical').map((m) => m.package.name)).toEqual(['lodash']);
    expect(findingsAtOrAbove(result, 'negligible')).toHaveLength(
      result.matches.filter((m) => m.vulnerability.severity !== 'unknown').length,
    );
  });
});

describe('VEX', () => {
  const statement = (over: Partial<VexStatementRecord>): VexStatementRecord => ({
    vulnerabilityId: 'CVE-2026-2000',
    aliases: [],
    products: [],
    subcomponents: [],
    status: 'not_affected',
    justification: 'vulnerable_code_not_in_execute_path',
    author: 'Example Security <security@example.org>',
    document: 'test.openvex.json',
    ...over,
  });
  const image = sbom([IMAGE[1]!]);

  it('a distro=debian-13.2 product suppresses the finding on a distro=debian-13 package (arch absent)', () => {
    const vex = [statement({ products: ['pkg:deb/debian/libssl3t64@3.5.1-1?distro=debian-13.2'] })];
    const result = scanSbomDocument(handmadeReader(), image, { now: NOW, vex });
    expect(result.matches).toEqual([]);
    expect(result.suppressed).toHaveLength(1);
    expect(result.suppressed[0]).toMatchObject({
      vulnerability: { id: 'CVE-2026-2000', status: 'not_affected' },
      package: { name: 'libssl3t64' },
      vex: {
        status: 'not_affected',
        justification: 'vulnerable_code_not_in_execute_path',
        author: 'Example Security <security@example.org>',
      },
    });
  });

  it('does not apply to another release, another version, or an affected statement', () => {
    for (const vex of [
      [statement({ products: ['pkg:deb/debian/libssl3t64@3.5.1-1?distro=debian-12'] })],
      [statement({ products: ['pkg:deb/debian/libssl3t64@3.5.0-1?distro=debian-13'] })],
      [statement({ products: ['pkg:deb/debian/libssl3t64'], status: 'affected' })],
      [statement({ vulnerabilityId: 'CVE-2026-9999', products: ['pkg:deb/debian/libssl3t64'] })],
    ]) {
      const result = scanSbomDocument(handmadeReader(), image, { now: NOW, vex });
      expect(result.suppressed).toEqual([]);
      expect(result.matches).toHaveLength(1);
    }
  });

  it('matches by image digest, with and without subcomponents, and from the store', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const byImage = statement({
      products: [`pkg:oci/app@${digest}`],
      subcomponents: ['pkg:deb/debian/libssl3t64'],
    });
    expect(scanSbomDocument(handmadeReader(), image, { now: NOW, vex: [byImage] }).suppressed).toHaveLength(
      1,
    );
    const otherImage = statement({ products: [`sha256:${'b'.repeat(64)}`] });
    expect(
      scanSbomDocument(handmadeReader(), image, { now: NOW, vex: [otherImage] }).suppressed,
    ).toHaveLength(0);
    const stored = handmadeReader({ vex: [statement({ products: [digest] })] });
    expect(scanSbomDocument(stored, image, { now: NOW }).suppressed).toHaveLength(1);
  });
});

describe('version orders', () => {
  it('Maven ComparableVersion', () => {
    const ordered = [
      '1.0-alpha1',
      '1.0-beta1',
      '1.0-milestone1',
      '1.0-rc1',
      '1.0-SNAPSHOT',
      '1.0',
      '1.0-sp1',
      '1.0.1',
      '1.1',
    ];
    for (let i = 0; i + 1 < ordered.length; i++)
      expect(compareMavenVersions(ordered[i]!, ordered[i + 1]!)).toBe(-1);
    expect(compareMavenVersions('1.0.0', '1')).toBe(0);
    expect(compareMavenVersions('1.0-ga', '1.0-final')).toBe(0);
    expect(compareMavenVersions('1.5.9.RELEASE', '1.5.10')).toBe(-1);
    expect(compareMavenVersions('2.0', '1.99.99')).toBe(1);
  });

  it('PEP 440, Go toolchain and npm', () => {
    expect(compareByEcosystem.pypi('1.0rc1', '1.0')).toBe(-1);
    expect(compareByEcosystem.pypi('1.0.post1', '1.0')).toBe(1);
    expect(compareByEcosystem.golang('go1.22', '1.22.0')).toBe(0);
    expect(compareByEcosystem.golang('go1.22rc1', '1.22.0-0')).toBe(1);
    expect(compareByEcosystem.golang('v0.0.0-20240101000000-abcdefabcdef', 'v0.0.1')).toBe(-1);
    expect(compareByEcosystem.npm('3.1.1-canary.20211030', '3.1.1')).toBe(-1);
  });

  it('OSV versions lists and unorderable versions', () => {
    const compare = compareByEcosystem.pypi;
    expect(osvAffects({ ranges: [], versions: ['1.0', '1.1'] }, '1.1', compare)).toEqual({ affected: true });
    expect(
      osvAffects(
        { ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '2.0' }] }] },
        'not a version!',
        compare,
      ),
    ).toEqual({
      affected: false,
    });
  });
});

describe('hostile or foreign SBOM input', () => {
  it('takes the release from deb purls when the SBOM has no os-release facts, and survives malformed purls', () => {
    const pkgs = [
      { ...deb('libssl3t64', '3.5.1-1', { name: 'openssl', version: '3.5.1-1' }) },
      { ...deb('x', '1'), purl: 'pkg:deb/debian/x@1?distro=%E0%A4%A' },
    ];
    const doc = { ...sbom(pkgs), distro: undefined };
    const result = scanSbomDocument(memoryAdvisoryReader(trackerRecords(HANDMADE)), doc, { now: NOW });
    expect(result.distro).toEqual({ id: 'debian', version: '13', codename: 'trixie' });
    expect(result.matches.map((m) => m.vulnerability.id)).toEqual(['CVE-2026-2000']);
  });
});
