/**
 * Issue 14 acceptance, against independent scanners on the same data, over a real sid root (~120
 * packages, many with binaries named unlike their source, Built-Using fields): `debsbom sec-scan`
 * (Debian's own tool, sid) reads a security-tracker JSON file this test writes in the real format and
 * matches it against debsbom's own CycloneDX SBOM of the root; `debsecan --source file://` reads the
 * same advisories in its feed format; rampart imports the file and scans the root (`dir:`). The
 * comparison (per vulnerability and binary package: installed version, open/resolved, fixed version)
 * and its documented rules are test/helpers/debian-scanner-compare.ts, shared with
 * catalog-scan-compare.test.ts, which runs it on the catalog's nodejs and python3 images.
 *
 * Differences, each a documented rule, the test failing on any other:
 * - vs debsbom: `unimportant-hidden` (rampart hides `unimportant` issues unless `--show-negligible`).
 * - vs debsecan: none here (the tracker's feed leaves unimportant and `fixed_version` "0" issues out).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareVersions } from '../../../src/debian/version.js';
import {
  compareFindings,
  debsbomFindings,
  debsecanFindings,
  RULES,
  rampartFindings,
  rootSubject,
  type ScanSubject,
  type TrackerEntry,
  type TrackerJson,
  type TrackerRelease,
  verdictIn,
} from '../../helpers/debian-scanner-compare.js';
import { sidToolsChroot } from '../../helpers/peer-tools.js';
import { rampart } from '../../helpers/run-cli.js';

let subject: ScanSubject;
let work: string;
let db: string;
let tracker: TrackerJson;

beforeAll(async () => {
  subject = await rootSubject(await sidToolsChroot());
  work = await mkdtemp(join(tmpdir(), 'rampart-e2e-cmp-'));
  const installed = new Map(subject.installed.map((p) => [p.source, p.sourceVersion]));
  const codename = subject.codename;
  const v = (source: string) => {
    const version = installed.get(source);
    if (!version) throw new Error(`${source} is not installed in the sid root`);
    return version;
  };
  const entry = (fields: TrackerRelease): TrackerEntry => {
    const release = { repositories: { sid: 'x' }, ...fields };
    return {
      description: 'written by the test',
      scope: 'local',
      releases: { sid: release, [codename]: release },
    };
  };
  const bashEpochFix = compareVersions(v('bash'), '1:0') < 0 ? '1:0.1-1' : `${v('bash')}+zz1`;
  tracker = {
    glibc: {
      'CVE-2099-1001': entry({ status: 'resolved', fixed_version: `${v('glibc')}+zz1`, urgency: 'high' }),
      'CVE-2099-1002': entry({ status: 'resolved', fixed_version: '0.1-1', urgency: 'low' }),
    },
    openssl: { 'CVE-2099-1003': entry({ status: 'open', urgency: 'medium' }) },
    zlib: {
      'CVE-2099-1004': entry({ status: 'resolved', fixed_version: '0', urgency: 'unimportant' }),
      'CVE-2099-1005': entry({ status: 'open', urgency: 'unimportant' }),
    },
    gzip: {
      'CVE-2099-1006': entry({
        status: 'open',
        urgency: 'low',
        nodsa: 'Minor issue',
        nodsa_reason: 'postponed',
      }),
    },
    [[...installed.keys()].includes('libzstd') ? 'libzstd' : 'dpkg']: {
      'CVE-2099-1007': entry({
        status: 'resolved',
        fixed_version: v(installed.has('libzstd') ? 'libzstd' : 'dpkg'),
        urgency: 'medium',
      }),
    },
    bash: { 'CVE-2099-1008': entry({ status: 'resolved', fixed_version: bashEpochFix, urgency: 'medium' }) },
    coreutils: { 'CVE-2099-1009': entry({ status: 'undetermined', urgency: 'not yet assigned' }) },
  };
  await writeFile(join(work, 'tracker.json'), JSON.stringify(tracker));
  db = join(work, 'advisories.db');
  const imported = await rampart('db', 'import', join(work, 'tracker.json'), '--db', db, '-q');
  expect(imported.code, imported.stderr).toBe(0);
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('rampart vs debsbom sec-scan and debsecan on the same tracker data, over a sid root', () => {
  it('equals debsbom finding for finding (binary, installed, open/resolved, fixed); the only difference is the unimportant rule', async () => {
    const theirs = await debsbomFindings(subject, tracker);
    const ours = await rampartFindings(subject, db);
    const cmp = compareFindings(ours, theirs, [RULES.unimportantHidden], verdictIn(subject, tracker));
    expect(cmp.unexplained).toEqual([]);
    expect(cmp.agreed.length).toBeGreaterThan(0);
    // Rule: by default rampart hides the unimportant zlib issue debsbom lists (on each zlib binary).
    expect(new Set(cmp.explained.map((e) => `${e.rule} ${e.finding.id}`))).toEqual(
      new Set(['unimportant-hidden CVE-2099-1005']),
    );
    const all = compareFindings(
      await rampartFindings(subject, db, { showNegligible: true }),
      theirs,
      [],
      verdictIn(subject, tracker),
    );
    expect(all.unexplained).toEqual([]);
    // The binaries carry the finding: glibc's through libc6, openssl's through libssl3t64.
    const binaries = (id: string) => new Set(ours.filter((f) => f.id === id).map((f) => f.binary));
    expect(binaries('CVE-2099-1001').has('libc6')).toBe(true);
    expect(binaries('CVE-2099-1003').has('libssl3t64')).toBe(true);
    // Negative cases neither reports: fixed below the installed version, fixed_version "0", fixed at it.
    for (const id of ['CVE-2099-1002', 'CVE-2099-1004', 'CVE-2099-1007']) {
      expect(
        [...ours, ...theirs].some((f) => f.id === id),
        id,
      ).toBe(false);
    }
  });

  it('equals debsecan finding for finding on the same advisories in its feed format', async () => {
    const theirs = await debsecanFindings(subject, tracker);
    const ours = await rampartFindings(subject, db);
    const cmp = compareFindings(ours, theirs, [], verdictIn(subject, tracker));
    expect(cmp.unexplained).toEqual([]);
    expect(cmp.agreed.length).toBeGreaterThan(0);
    expect(theirs.some((f) => f.state === 'resolved')).toBe(true);
  });
});
