/**
 * Issue 14 acceptance, against an independent scanner on the same data: `debsbom sec-scan`
 * (Debian's own tool, sid) reads a security-tracker JSON file this test writes in the real format
 * and matches it against debsbom's own CycloneDX SBOM of a real sid root; rampart imports the same
 * file and scans the same root (`dir:`). The root stands in for the catalog's images (building
 * nodejs/python3 in a test is too slow here); it holds the sources that matter (glibc, openssl,
 * zlib) with binaries named unlike their source (libc6, libssl3t64, zlib1g).
 *
 * Documented differences, each asserted below:
 * 1. debsbom reports a source package; rampart the binary packages built from it (grype's rule:
 *    the finding keeps the binary name) — compared through each finding's source.
 * 2. rampart hides issues the tracker rates `unimportant` unless `--show-negligible`; debsbom lists them.
 *
 * `debsecan --source file://` reads the same advisories written in its own format (the tracker's
 * `debsecan/release/1/<suite>` file: unimportant and `fixed_version` "0" issues are left out, as
 * the tracker does) and reports per binary package, as rampart does by default: equal sets.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareVersions } from '../../../src/debian/version.js';
import { sidToolsChroot } from '../../helpers/peer-tools.js';
import { runCommand } from '../../helpers/processes.js';
import { rampart } from '../../helpers/run-cli.js';

let root: string;
let work: string;
let tracker: Record<string, Record<string, unknown>>;
const installed = new Map<string, string>();

function statusEntries(text: string): Array<Record<string, string>> {
  return text
    .split(/\n\s*\n/)
    .map((stanza) => {
      const fields: Record<string, string> = {};
      for (const line of stanza.split('\n')) {
        const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
        if (m) fields[m[1]!] = m[2]!;
      }
      return fields;
    })
    .filter((f) => f.Package && / installed$/.test(f.Status ?? ''));
}

beforeAll(async () => {
  root = await sidToolsChroot();
  work = await mkdtemp(join(root, 'tmp', 'rampart-cmp-'));
  for (const entry of statusEntries(await readFile(join(root, 'var/lib/dpkg/status'), 'utf8'))) {
    const m = /^(\S+)(?:\s+\((\S+)\))?$/.exec(entry.Source ?? entry.Package!)!;
    installed.set(m[1]!, m[2] ?? entry.Version!);
  }
  const codename =
    /^VERSION_CODENAME=(.*)$/m.exec(await readFile(join(root, 'etc/os-release'), 'utf8'))?.[1] ?? 'sid';
  const v = (source: string) => {
    const version = installed.get(source);
    if (!version) throw new Error(`${source} is not installed in the sid root`);
    return version;
  };
  const entry = (fields: Record<string, unknown>) => {
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
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function debsbomFindings(): Promise<
  Array<{ id: string; source: string; status: string; fixed?: string }>
> {
  const inChroot = `/tmp/${work.split('/').pop()}`;
  const generate = await runCommand(
    'chroot',
    [root, 'sh', '-c', `cd ${inChroot} && debsbom generate -t cdx -r / -o root --distro-version sid`],
    {
      timeoutMs: 300_000,
    },
  );
  expect(generate.exitCode, generate.stderr).toBe(0);
  const scan = await runCommand(
    'chroot',
    [
      root,
      'sh',
      '-c',
      `cd ${inChroot} && debsbom sec-scan --db tracker.json --distro sid -f json root.cdx.json`,
    ],
    {
      timeoutMs: 300_000,
    },
  );
  expect(scan.exitCode, scan.stderr).toBe(0);
  return scan.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((line) => {
      const f = JSON.parse(line) as {
        package: string;
        vulnerability: { id: string; status: string; 'fixed-in'?: string };
      };
      return {
        id: f.vulnerability.id,
        source: f.package.slice(0, f.package.lastIndexOf('@')),
        status: f.vulnerability.status,
        ...(f.vulnerability['fixed-in'] ? { fixed: f.vulnerability['fixed-in'] } : {}),
      };
    });
}

describe('rampart vs debsbom sec-scan on the same tracker data', () => {
  it('finds the same (vulnerability, source package) pairs, fixed versions and open/resolved state', async () => {
    const theirs = await debsbomFindings();
    const db = join(work, 'advisories.db');
    expect((await rampart('db', 'import', join(work, 'tracker.json'), '--db', db, '-q')).code).toBe(0);
    const scan = async (...extra: string[]) => {
      const run = await rampart('scan', `dir:${root}`, '--db', db, '-o', 'json', ...extra);
      expect(run.code, run.stderr).toBe(0);
      return (
        JSON.parse(run.stdout) as {
          matches: Array<{
            vulnerability: Record<string, string>;
            package: { name: string; source?: { name: string } };
          }>;
        }
      ).matches;
    };
    const ours = await scan('--show-negligible');
    // Rule 1: per source package (rampart lists each binary of it).
    const bySource = new Map<string, { status: string; fixed?: string; binaries: string[] }>();
    for (const m of ours) {
      const key = `${m.vulnerability.id} ${m.package.source?.name ?? m.package.name}`;
      const seen = bySource.get(key) ?? {
        status: m.vulnerability.status === 'fixed' ? 'resolved' : 'open',
        ...(m.vulnerability.fixedVersion ? { fixed: m.vulnerability.fixedVersion } : {}),
        binaries: [],
      };
      seen.binaries.push(m.package.name);
      bySource.set(key, seen);
    }
    const theirsByKey = new Map(
      theirs.map((f) => [
        `${f.id} ${f.source}`,
        { status: f.status === 'resolved' ? 'resolved' : 'open', ...(f.fixed ? { fixed: f.fixed } : {}) },
      ]),
    );
    expect([...bySource.keys()].sort()).toEqual([...theirsByKey.keys()].sort());
    for (const [key, value] of bySource) {
      expect({ key, status: value.status, fixed: value.fixed }).toEqual({ key, ...theirsByKey.get(key) });
    }
    // The binaries carry the finding: glibc's through libc6, openssl's through libssl3t64.
    expect(bySource.get('CVE-2099-1001 glibc')?.binaries).toContain('libc6');
    expect(bySource.get('CVE-2099-1003 openssl')?.binaries).toContain('libssl3t64');
    // Negative cases neither reports: fixed below the installed version, fixed_version "0", fixed at it.
    for (const id of ['CVE-2099-1002', 'CVE-2099-1004', 'CVE-2099-1007']) {
      expect([...bySource.keys()].some((k) => k.startsWith(`${id} `))).toBe(false);
    }
    // Rule 2: by default rampart hides the unimportant zlib issue debsbom lists.
    const byDefault = new Set((await scan()).map((m) => m.vulnerability.id));
    expect([...theirsByKey.keys()].filter((k) => !byDefault.has(k.split(' ')[0]!))).toEqual([
      'CVE-2099-1005 zlib',
    ]);
  });

  it('finds the same (vulnerability, binary package, fixed version) as debsecan on the same advisories', async () => {
    // The debsecan feed of the same entries (security_db.py calculateDebsecan1's shape).
    const vulnerabilities: string[] = [];
    const lines: string[] = [];
    for (const [source, entries] of Object.entries(tracker)) {
      for (const [id, value] of Object.entries(entries)) {
        const sid = (value as { releases: { sid: Record<string, string> } }).releases.sid;
        if (sid.urgency === 'unimportant' || sid.fixed_version === '0') continue;
        const urgency = { low: 'L', medium: 'M', high: 'H' }[sid.urgency as string] ?? ' ';
        lines.push(
          `${source},${vulnerabilities.length},S${urgency}  ,${sid.status === 'resolved' ? sid.fixed_version : ''},`,
        );
        vulnerabilities.push(`${id},,${source}`);
      }
    }
    await mkdir(join(work, 'debsecan'));
    await writeFile(
      join(work, 'debsecan', 'sid'),
      deflateSync(`${['VERSION 1', ...vulnerabilities, '', ...lines, '', ''].join('\n')}`),
    );
    const run = await runCommand(
      'chroot',
      [
        root,
        'debsecan',
        '--suite',
        'sid',
        '--source',
        `file:///tmp/${work.split('/').pop()}/debsecan/`,
        '--format',
        'detail',
      ],
      { timeoutMs: 300_000 },
    );
    expect(run.exitCode, run.stderr).toBe(0);
    const theirs = run.stdout
      .split(/\n(?=CVE-)/)
      .filter((block) => block.startsWith('CVE-'))
      .map((block) => {
        const id = block.split(/\s/)[0]!;
        const binary = /installed: (\S+) /.exec(block)?.[1];
        const fixed = /fixed in unstable: \S+ (\S+)/.exec(block)?.[1];
        return `${id} ${binary} ${fixed ?? '-'}`;
      })
      .sort();
    const db = join(work, 'advisories.db');
    const scanned = await rampart('scan', `dir:${root}`, '--db', db, '-o', 'json');
    expect(scanned.code, scanned.stderr).toBe(0);
    const ours = (
      JSON.parse(scanned.stdout) as {
        matches: Array<{ vulnerability: { id: string; fixedVersion?: string }; package: { name: string } }>;
      }
    ).matches
      .map((m) => `${m.vulnerability.id} ${m.package.name} ${m.vulnerability.fixedVersion ?? '-'}`)
      .sort();
    expect(theirs.length).toBeGreaterThan(0);
    expect(ours).toEqual(theirs);
  });
});
