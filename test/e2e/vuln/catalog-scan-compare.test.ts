/**
 * Issue 14 acceptance on the images the catalog builds (`nodejs`, `python3`, amd64, from the real
 * archive with the shared download cache: about 10–30 s each when warm): rampart's Debian findings
 * against Debian's own scanners on the same advisories, and every dpkg package looked up through its
 * source.
 *
 * The advisories: the real tracker JSON samples (`test/fixtures/vulndata/debian/`, none of whose
 * sources these images contain: they must add no finding) and hand-made entries in the same format,
 * written from the images' own installed sources and versions so that every category is present on
 * each image: open, resolved above and below the installed version, `fixed_version` "0", fixed at
 * the installed version, `unimportant` (open and resolved), `end-of-life`, `nodsa` postponed and
 * ignored, `undetermined`, a `TEMP-` id, an epoch (zlib), `~` versions (openssl's `~deb13u1`), and an
 * issue sid has but the release never had. Every source package of each image also gets one open
 * issue of its own, so every binary must be reported through its source.
 *
 * Differences, each a documented rule (`RULES` in test/helpers/debian-scanner-compare.ts), the test
 * failing on any other:
 * - vs `debsbom sec-scan` (its SBOM made by `debsbom generate` from the image's dpkg status):
 *   `unimportant-hidden` — rampart hides tracker-`unimportant` issues by default; with
 *   `--show-negligible` the two are equal, finding for finding.
 * - vs `debsecan` (the same entries in the tracker's debsecan feed format): `feed-leaves-out-end-of-life`
 *   — the tracker writes no feed entry for an `end-of-life` issue; unimportant ones are left out of the
 *   feed too and hidden by rampart's default, so those agree. debsecan prints sid's fixed version
 *   ("fixed in unstable") and the branch's; the branch's is compared.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareVersions, parseVersion } from '../../../src/debian/version.js';
import { buildCatalogImage } from '../../helpers/catalog-build.js';
import {
  compareFindings,
  debsbomFindings,
  debsecanFindings,
  type Finding,
  imageSubject,
  RULES,
  rampartFindings,
  type ScanSubject,
  type TrackerEntry,
  type TrackerJson,
  type TrackerRelease,
  verdictIn,
} from '../../helpers/debian-scanner-compare.js';
import { rampart } from '../../helpers/run-cli.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/vulndata/debian');
const IMAGES = ['nodejs', 'python3'] as const;
let work: string;
let db: string;
let tracker: TrackerJson;
let realSources: string[];
const subjects = new Map<string, ScanSubject>();
/** the open issue each source package gets */
const perSource = new Map<string, string>();

/** The next Debian revision of a version: the last number in it plus one (`…+deb13u3` → `…+deb13u4`). */
function bump(version: string): string {
  const m = /^(.*?)(\d+)([^\d]*)$/.exec(version);
  if (!m) throw new Error(`no number to bump in ${version}`);
  return `${m[1]}${Number(m[2]) + 1}${m[3]}`;
}

/** The hand-made entries, from the images' installed source versions (one archive state: equal). */
function handMade(codename: string, versions: Map<string, string>): TrackerJson {
  const v = (source: string) => {
    const version = versions.get(source);
    if (!version) throw new Error(`${source} is in none of the catalog images`);
    return version;
  };
  const release = (source: string, fields: TrackerRelease): TrackerRelease => ({
    ...fields,
    repositories: { [codename]: v(source) },
  });
  /** `here` for the image's release; sid's own verdict (its fix is a later version) */
  const entry = (source: string, here: TrackerRelease, sid?: TrackerRelease): TrackerEntry => ({
    description: 'hand-made by test/e2e/vuln/catalog-scan-compare.test.ts',
    scope: 'local',
    releases: {
      [codename]: release(source, here),
      sid: sid ?? (here.fixed_version ? { ...here, fixed_version: bump(here.fixed_version) } : here),
    },
  });
  const openssl = v('openssl');
  if (!openssl.includes('~'))
    throw new Error(`openssl ${openssl} has no ~: pick another source for the ~ case`);
  if (parseVersion(v('zlib')).epoch === 0) throw new Error(`zlib ${v('zlib')} has no epoch`);
  const out: TrackerJson = {
    openssl: {
      // the hand-made openssl entry: libssl3t64 (and every other binary of openssl) is affected
      'CVE-2099-0001': entry('openssl', { status: 'open', urgency: 'medium' }),
      // `~`: 3.5.9-1~deb13u1 sorts before 3.5.9-1, so the fix without the tilde is above it
      'CVE-2099-0002': entry('openssl', {
        status: 'resolved',
        fixed_version: openssl.slice(0, openssl.indexOf('~')),
        urgency: 'high',
      }),
      // ...and a fix with a further ~ is below it: fixed in the installed version
      'CVE-2099-0003': entry('openssl', {
        status: 'resolved',
        fixed_version: `${openssl}~rc1`,
        urgency: 'medium',
      }),
      // sid has the issue; the release never had it
      'CVE-2099-0070': entry(
        'openssl',
        { status: 'resolved', fixed_version: '0', urgency: 'medium' },
        { status: 'open', urgency: 'medium' },
      ),
    },
    zlib: {
      // epoch: 1.4-1 has epoch 0, below 1:1.3…: not affected (without epochs it would be above)
      'CVE-2099-0020': entry('zlib', { status: 'resolved', fixed_version: '1.4-1', urgency: 'medium' }),
      // resolved above the installed version, but unimportant
      'CVE-2099-0021': entry('zlib', {
        status: 'resolved',
        fixed_version: bump(v('zlib')),
        urgency: 'unimportant',
      }),
    },
    glibc: {
      'CVE-2099-0030': entry('glibc', { status: 'open', urgency: 'unimportant' }),
      'CVE-2099-0031': entry('glibc', { status: 'resolved', fixed_version: '0', urgency: 'low' }),
      'CVE-2099-0032': entry('glibc', { status: 'resolved', fixed_version: v('glibc'), urgency: 'high' }),
      'CVE-2099-0033': entry('glibc', {
        status: 'resolved',
        fixed_version: '2.36-9+deb12u1',
        urgency: 'high',
      }),
    },
    'gcc-14': {
      'CVE-2099-0040': entry('gcc-14', {
        status: 'open',
        urgency: 'low',
        nodsa: 'Minor issue',
        nodsa_reason: 'postponed',
      }),
      'CVE-2099-0041': entry('gcc-14', { status: 'open', urgency: 'end-of-life' }),
    },
    libzstd: {
      'CVE-2099-0050': entry('libzstd', {
        status: 'open',
        urgency: 'low',
        nodsa: 'Minor issue',
        nodsa_reason: 'ignored',
      }),
    },
    'base-files': {
      'CVE-2099-0060': entry('base-files', { status: 'undetermined', urgency: 'not yet assigned' }),
    },
    netbase: {
      'TEMP-0000000-2099AA': entry('netbase', { status: 'open', urgency: 'not yet assigned' }),
    },
    // the hand-made nodejs entry: nodejs and libnode<N> are built from it
    nodejs: {
      'CVE-2099-0010': entry('nodejs', {
        status: 'resolved',
        fixed_version: bump(v('nodejs')),
        urgency: 'high',
      }),
    },
    'python3.13': {
      'CVE-2099-0090': entry('python3.13', {
        status: 'resolved',
        fixed_version: bump(v('python3.13')),
        urgency: 'medium',
      }),
    },
  };
  // One open issue per source package: each binary must be found through its source.
  [...versions.keys()].sort().forEach((source, i) => {
    const id = `CVE-2099-${String(1000 + i)}`;
    perSource.set(source, id);
    out[source] = { ...out[source], [id]: entry(source, { status: 'open', urgency: 'low' }) };
  });
  return out;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-e2e-scancmp-'));
  for (const name of IMAGES) {
    const image = await buildCatalogImage(name, work);
    subjects.set(name, await imageSubject(image.ref));
  }
  const codenames = new Set([...subjects.values()].map((s) => s.codename));
  expect([...codenames]).toEqual(['trixie']);
  const versions = new Map<string, string>();
  for (const s of subjects.values()) {
    for (const p of s.installed) {
      const seen = versions.get(p.source);
      if (seen && seen !== p.sourceVersion) throw new Error(`${p.source}: ${seen} and ${p.sourceVersion}`);
      versions.set(p.source, p.sourceVersion);
    }
  }
  const real: TrackerJson = {};
  for (const file of ['tracker-vunnel-sample.json', 'tracker-osvdev-mock.json'])
    Object.assign(real, JSON.parse(await readFile(join(FIXTURES, file), 'utf8')));
  realSources = Object.keys(real);
  tracker = { ...real, ...handMade('trixie', versions) };
  await writeFile(join(work, 'tracker.json'), JSON.stringify(tracker));
  db = join(work, 'advisories.db');
  const imported = await rampart('db', 'import', join(work, 'tracker.json'), '--db', db, '-q');
  expect(imported.code, imported.stderr).toBe(0);
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const ids = (findings: readonly Finding[]) => new Set(findings.map((f) => f.id));

describe.each(IMAGES)('the catalog image %s', (name) => {
  const subject = () => subjects.get(name)!;
  let ours: Awaited<ReturnType<typeof rampartFindings>>;
  let negligible: Awaited<ReturnType<typeof rampartFindings>>;
  beforeAll(async () => {
    ours = await rampartFindings(subject(), db);
    negligible = await rampartFindings(subject(), db, { showNegligible: true });
  });

  it('has findings in every category (an empty comparison proves nothing)', () => {
    const count = (status: string) => negligible.filter((f) => f.status === status).length;
    for (const status of ['affected', 'fixed', 'will_not_fix', 'fix_deferred', 'end_of_life'])
      expect(count(status), status).toBeGreaterThan(0);
    // hidden by default: exactly the unimportant ones
    expect(negligible.length).toBeGreaterThan(ours.length);
    const hidden = negligible.filter((f) => !ours.some((o) => o.id === f.id && o.binary === f.binary));
    expect(new Set(hidden.map((f) => f.id))).toEqual(new Set(['CVE-2099-0021', 'CVE-2099-0030']));
    // TEMP- ids are matched like CVEs; undetermined is open
    expect(ids(ours).has('TEMP-0000000-2099AA')).toBe(true);
    expect(ours.find((f) => f.id === 'CVE-2099-0060')?.status).toBe('affected');
  });

  it('equals debsbom sec-scan finding for finding; the only difference is the documented unimportant rule', async () => {
    const theirs = await debsbomFindings(subject(), tracker);
    const byDefault = compareFindings(ours, theirs, [RULES.unimportantHidden], verdictIn(subject(), tracker));
    expect(byDefault.unexplained).toEqual([]);
    expect(byDefault.agreed.length).toBeGreaterThan(subject().installed.length);
    expect(new Set(byDefault.explained.map((e) => `${e.rule} ${e.finding.id}`))).toEqual(
      new Set(['unimportant-hidden CVE-2099-0021', 'unimportant-hidden CVE-2099-0030']),
    );
    // With --show-negligible, no rule is needed at all.
    const all = compareFindings(negligible, theirs, [], verdictIn(subject(), tracker));
    expect(all.unexplained).toEqual([]);
    expect(all.agreed.length).toBe(theirs.length);
    // debsbom also sees these issues in every state (undetermined is open for both).
    expect(new Set(theirs.map((f) => f.status))).toEqual(new Set(['open', 'resolved', 'undetermined']));
  });

  it('equals debsecan on the same advisories in its feed format; the only difference is the end-of-life rule', async () => {
    const theirs = await debsecanFindings(subject(), tracker);
    const cmp = compareFindings(ours, theirs, [RULES.feedLeavesOutEndOfLife], verdictIn(subject(), tracker));
    expect(cmp.unexplained).toEqual([]);
    expect(cmp.agreed.length).toBeGreaterThan(subject().installed.length);
    expect(new Set(cmp.explained.map((e) => `${e.rule} ${e.finding.id}`))).toEqual(
      new Set(['feed-leaves-out-end-of-life CVE-2099-0041']),
    );
    expect(theirs.some((f) => f.state === 'resolved')).toBe(true);
  });

  it('looks every dpkg package up through its source, and reports none of the negative cases', () => {
    for (const p of subject().installed) {
      const found = ours.find((f) => f.id === perSource.get(p.source) && f.binary === p.name);
      expect(found, `${p.name} (source ${p.source})`).toMatchObject({
        source: p.source,
        installed: p.version,
        state: 'open',
      });
    }
    // fixed in the installed version (~, epoch, equal, below), never affected, sid only
    for (const id of [
      'CVE-2099-0003',
      'CVE-2099-0020',
      'CVE-2099-0031',
      'CVE-2099-0032',
      'CVE-2099-0033',
      'CVE-2099-0070',
    ])
      expect(ids(negligible).has(id), id).toBe(false);
    // the real samples name no source these images hold: no finding from them
    const realIds = new Set(realSources.flatMap((s) => Object.keys(tracker[s] ?? {})));
    expect(negligible.filter((f) => realIds.has(f.id))).toEqual([]);
  });

  it("gives the same findings from the image's own SBOM (rampart's CycloneDX and SPDX, sbom:FILE)", async () => {
    const key = (f: Finding) => `${f.id} ${f.binary} ${f.installed} ${f.state} ${f.fixed ?? '-'}`;
    const formats = ['cyclonedx-json', 'spdx-json'];
    const file = (format: string) => join(work, `${name}.${format}`);
    const made = await rampart('sbom', subject().ref, ...formats.flatMap((f) => ['-o', `${f}=${file(f)}`]));
    expect(made.code, made.stderr).toBe(0);
    for (const format of formats) {
      const fromSbom = await rampartFindings({ ...subject(), ref: `sbom:${file(format)}` }, db);
      expect(fromSbom.map(key).sort(), format).toEqual(ours.map(key).sort());
    }
  });

  it('names the binaries of the hand-made openssl (and nodejs) entries, found through their sources', () => {
    const binaries = (id: string) =>
      ours
        .filter((f) => f.id === id)
        .map((f) => f.binary)
        .sort();
    const openssl = subject()
      .installed.filter((p) => p.source === 'openssl')
      .map((p) => p.name)
      .sort();
    expect(openssl).toContain('libssl3t64');
    expect(binaries('CVE-2099-0001')).toEqual(openssl);
    expect(ours.filter((f) => f.id === 'CVE-2099-0001').every((f) => f.source === 'openssl')).toBe(true);
    // the ~ case: 3.5.9-1~deb13u1 < 3.5.9-1
    const tilde = ours.find((f) => f.id === 'CVE-2099-0002' && f.binary === 'libssl3t64');
    expect(tilde?.state).toBe('resolved');
    expect(compareVersions(tilde!.installed, tilde!.fixed!)).toBeLessThan(0);
    if (name === 'nodejs') {
      const node = binaries('CVE-2099-0010');
      expect(node).toHaveLength(2);
      expect(node[0]).toMatch(/^libnode\d+$/);
      expect(node[1]).toBe('nodejs');
      expect(ours.find((f) => f.id === 'CVE-2099-0010' && f.binary === node[0])?.source).toBe('nodejs');
    } else {
      expect(binaries('CVE-2099-0010')).toEqual([]);
      expect(binaries('CVE-2099-0090').length).toBeGreaterThan(1);
    }
  });
});
