/**
 * rampart's Debian findings against two independent scanners on the same advisories (issue 14):
 * `debsbom sec-scan` (Debian's SBOM tool, sid) reads a security-tracker JSON file, `debsecan` (Debian's
 * own scanner) the same advisories written in its feed format. Each tool's output is normalised to one
 * finding per (vulnerability id, binary package): installed version, open or resolved, and the
 * release's fixed version. `compareFindings` pairs them and names, for every difference, the
 * documented rule that explains it; a difference no rule explains is returned as unexplained.
 *
 * The subject is anything `rampart scan` reads (`dir:ROOT`, `oci:LAYOUT:TAG`) plus its dpkg status and
 * os-release: debsbom makes its own CycloneDX SBOM from them (`debsbom generate`; rampart's SBOM has no
 * `arch=source` components for debsbom to match on) and debsecan reads the status file (`--status`).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { PackageURL } from 'packageurl-js';
import { field, parseDeb822 } from '../../src/debian/deb822.js';
import { compareVersions } from '../../src/debian/version.js';
import { flattenImage, readFiles } from '../../src/oci/fs-view.js';
import { selectImage } from '../../src/oci/image.js';
import { openImage } from '../../src/oci/open.js';
import { type ChrootRun, runInSidChroot } from './peer-tools.js';
import { rampart } from './run-cli.js';

/** One release's verdict in the tracker JSON (`/tracker/data/json`), as the tracker writes it. */
export interface TrackerRelease {
  status: 'open' | 'resolved' | 'undetermined';
  repositories?: Record<string, string>;
  fixed_version?: string;
  urgency: string;
  nodsa?: string;
  nodsa_reason?: string;
}
export interface TrackerEntry {
  description?: string;
  scope?: string;
  debianbug?: number;
  releases: Record<string, TrackerRelease>;
}
/** source package → vulnerability id → entry */
export type TrackerJson = Record<string, Record<string, TrackerEntry>>;

export interface InstalledPackage {
  name: string;
  version: string;
  architecture: string;
  source: string;
  sourceVersion: string;
}

/** What is scanned: a `rampart scan` reference and the dpkg status and os-release read from it. */
export interface ScanSubject {
  ref: string;
  /** a dpkg status file (all stanzas) */
  status: string;
  osRelease: string;
  /** the release the tools match against (os-release VERSION_CODENAME) */
  codename: string;
  /** dpkg architecture, for `debsbom generate --distro-arch` */
  arch: string;
  installed: InstalledPackage[];
}

/** A finding, normalised across the tools. `fixed` is the release's fixed version when resolved. */
export interface Finding {
  id: string;
  binary: string;
  installed: string;
  state: 'open' | 'resolved';
  fixed?: string;
}

/** The installed packages of a dpkg status file, with their source (name and version) filled in. */
export function installedPackages(status: string): InstalledPackage[] {
  return parseDeb822(status)
    .filter((p) => / installed$/.test(field(p, 'Status') ?? ''))
    .map((p) => {
      const name = field(p, 'Package')!;
      const version = field(p, 'Version')!;
      const m = /^(\S+)(?:\s+\((\S+)\))?$/.exec(field(p, 'Source') ?? name)!;
      return {
        name,
        version,
        architecture: field(p, 'Architecture') ?? '',
        source: m[1]!,
        sourceVersion: m[2] ?? version,
      };
    });
}

function subjectFrom(ref: string, status: string, osRelease: string): ScanSubject {
  const codename = /^VERSION_CODENAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1];
  if (!codename) throw new Error(`${ref}: os-release names no VERSION_CODENAME`);
  const installed = installedPackages(status);
  const arch = installed.find((p) => p.architecture !== 'all')?.architecture ?? 'amd64';
  return { ref, status, osRelease, codename, arch, installed };
}

/** A root filesystem directory (`/var/lib/dpkg/status`, `/etc/os-release`) as a subject. */
export async function rootSubject(root: string): Promise<ScanSubject> {
  return subjectFrom(
    `dir:${root}`,
    await readFile(join(root, 'var/lib/dpkg/status'), 'utf8'),
    await readFile(join(root, 'etc/os-release'), 'utf8'),
  );
}

/**
 * An image as a subject: its distroless `/var/lib/dpkg/status.d/<package>` stanzas joined into one
 * status file (what dpkg itself would hold), and its `/usr/lib/os-release`.
 */
export async function imageSubject(ref: string, platform = { os: 'linux', architecture: 'amd64' }) {
  const image = await selectImage(await openImage(ref), platform);
  const tree = await flattenImage(image);
  const stanzaPaths = tree
    .entries()
    .filter(
      (n) =>
        n.kind === 'file' && n.path.startsWith('/var/lib/dpkg/status.d/') && !n.path.endsWith('.md5sums'),
    )
    .map((n) => n.path);
  const osReleasePath = tree.resolve('/etc/os-release') ?? '/usr/lib/os-release';
  const stanzas = new Map<string, string>();
  let osRelease = '';
  for await (const { path, content } of readFiles(image, tree, new Set([...stanzaPaths, osReleasePath]))) {
    if (path === osReleasePath) osRelease = content.toString('utf8');
    else stanzas.set(path, content.toString('utf8').trimEnd());
  }
  if (stanzas.size === 0) throw new Error(`${ref}: no /var/lib/dpkg/status.d stanzas`);
  const status = `${[...stanzas.keys()]
    .sort()
    .map((p) => stanzas.get(p))
    .join('\n\n')}\n`;
  return subjectFrom(ref, status, osRelease);
}

interface RampartMatch {
  vulnerability: { id: string; status: string; fixedVersion?: string; severity: string };
  package: { name: string; version: string; type: string; source?: { name: string; version: string } };
}

/** rampart's Debian findings (`rampart scan -o json`), with its own status for each. */
export async function rampartFindings(
  subject: ScanSubject,
  db: string,
  opts: { showNegligible?: boolean } = {},
): Promise<Array<Finding & { status: string; source: string }>> {
  const run = await rampart(
    'scan',
    subject.ref,
    '--db',
    db,
    '-o',
    'json',
    ...(opts.showNegligible ? ['--show-negligible'] : []),
  );
  if (run.code !== 0) throw new Error(`rampart scan ${subject.ref} exited ${run.code}: ${run.stderr}`);
  return (JSON.parse(run.stdout) as { matches: RampartMatch[] }).matches
    .filter((m) => m.package.type === 'deb')
    .map((m) => ({
      id: m.vulnerability.id,
      binary: m.package.name,
      installed: m.package.version,
      state: m.vulnerability.status === 'fixed' ? ('resolved' as const) : ('open' as const),
      ...(m.vulnerability.fixedVersion ? { fixed: m.vulnerability.fixedVersion } : {}),
      status: m.vulnerability.status,
      source: m.package.source?.name ?? m.package.name,
    }));
}

/**
 * debsbom (sid) on the subject: `debsbom generate` makes its CycloneDX SBOM from the dpkg status and
 * os-release, `sec-scan -f json` reports per source package (status, fixed-in) and `-f sarif` the binaries
 * debsbom attributes each to (its rule ids are `<id>-<source>`). One finding per binary.
 */
export async function debsbomFindings(
  subject: ScanSubject,
  tracker: TrackerJson,
): Promise<Array<Finding & { source: string; status: string }>> {
  const scan = (format: string, out: string) =>
    `debsbom sec-scan --db tracker.json --distro ${subject.codename} -f ${format} sbom.cdx.json > ${out}`;
  const run = await inSidChroot(
    [
      'sh',
      '-c',
      [
        `debsbom generate -t cdx -r root -o sbom --distro-arch ${subject.arch}`,
        scan('json', 'sec.json'),
        scan('sarif', 'sec.sarif'),
      ].join(' && '),
    ],
    {
      'root/var/lib/dpkg/status': subject.status,
      'root/usr/lib/os-release': subject.osRelease,
      'tracker.json': JSON.stringify(tracker),
    },
    ['sec.json', 'sec.sarif'],
  );
  const json = run.outputs['sec.json'];
  const sarif = run.outputs['sec.sarif'];
  if (run.exitCode !== 0 || json === undefined || sarif === undefined)
    throw new Error(`debsbom failed (${run.exitCode}): ${run.stderr.slice(-2000)}`);
  const bySource = new Map<
    string,
    { id: string; source: string; version: string; status: string; fixed?: string }
  >();
  for (const line of json.split('\n').filter((l) => l.trim())) {
    const f = JSON.parse(line) as {
      purl: string;
      vulnerability: { id: string; status: string; 'fixed-in'?: string };
    };
    const purl = PackageURL.fromString(f.purl);
    bySource.set(`${f.vulnerability.id}-${purl.name}`, {
      id: f.vulnerability.id,
      source: purl.name,
      version: purl.version ?? '',
      status: f.vulnerability.status,
      ...(f.vulnerability['fixed-in'] ? { fixed: f.vulnerability['fixed-in'] } : {}),
    });
  }
  const results = (
    JSON.parse(sarif) as { runs: Array<{ results: Array<{ ruleId: string; properties: { PURL: string } }> }> }
  ).runs[0]!.results;
  const findings = results.map((r) => {
    const of = bySource.get(r.ruleId);
    if (!of) throw new Error(`debsbom SARIF rule ${r.ruleId} is not in its JSON output`);
    const purl = PackageURL.fromString(r.properties.PURL);
    return finding(of, purl.name, purl.version ?? '');
  });
  // A source finding debsbom attributes to no binary stays in the comparison, named by its source.
  const attributed = new Set(results.map((r) => r.ruleId));
  for (const [rule, of] of bySource)
    if (!attributed.has(rule)) findings.push(finding(of, `(source ${of.source})`, of.version));
  return findings;
}

function finding(
  of: { id: string; source: string; status: string; fixed?: string },
  binary: string,
  installed: string,
): Finding & { source: string; status: string } {
  return {
    id: of.id,
    binary,
    installed,
    state: of.status === 'resolved' ? 'resolved' : 'open',
    ...(of.fixed ? { fixed: of.fixed } : {}),
    source: of.source,
    status: of.status,
  };
}

const DEBSECAN_URGENCY: Record<string, string> = {
  low: 'L',
  medium: 'M',
  high: 'H',
  'not yet assigned': ' ',
};
const URGENCY_RANK = ['unimportant', 'end-of-life', 'not yet assigned', 'low', 'medium', 'high'];

/**
 * The debsecan feed (`debsecan/release/1/<codename>`) of a tracker JSON, as the tracker computes it
 * (`lib/python/security_db.py` `calculateDebsecan1`): issues whose overall urgency is `unimportant` or
 * `end-of-life`, or that sid never had (`fixed_version` "0"), are left out; the 4th field is sid's
 * fixed version; the flag `F` marks a fix in `codename`; the 5th field lists the versions that are
 * not vulnerable on the branches: each release's fixed version and, for `codename`, every version of
 * the source in its archive at or above the fix (`archive`: source → versions, here the installed ones).
 */
export function debsecanFeed(tracker: TrackerJson, codename: string, archive: Map<string, string[]>): Buffer {
  const ids = new Set<string>();
  const lines: Array<[string, string, string]> = [];
  for (const [source, entries] of Object.entries(tracker).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (typeof entries !== 'object' || entries === null) continue;
    for (const [id, entry] of Object.entries(entries).sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!/^(CVE|TEMP)-/.test(id)) continue;
      const releases = Object.entries(entry.releases ?? {});
      if (releases.length === 0) continue;
      const urgencies = releases.map(([, r]) => r.urgency.replace(/\*+$/, ''));
      const total = urgencies.reduce(
        (best, u) => (URGENCY_RANK.indexOf(u) > URGENCY_RANK.indexOf(best) ? u : best),
        urgencies[0] ?? 'not yet assigned',
      );
      const sid = entry.releases.sid;
      const unstable = sid?.status === 'resolved' ? (sid.fixed_version ?? '') : '';
      if (total === 'unimportant' || total === 'end-of-life' || unstable === '0') continue;
      const other = new Set<string>();
      for (const [name, r] of releases) {
        if (name === 'sid' || r.status !== 'resolved' || r.fixed_version === undefined) continue;
        other.add(r.fixed_version);
        if (name === codename) {
          for (const v of archive.get(source) ?? [])
            if (compareVersions(v, r.fixed_version) >= 0) other.add(v);
        }
      }
      const here = entry.releases[codename];
      const fixedHere = here?.status === 'resolved' && here.fixed_version !== undefined;
      ids.add(id);
      lines.push([
        id,
        `${source},`,
        `,S${DEBSECAN_URGENCY[total] ?? ' '}?${fixedHere ? 'F' : ' '},${unstable},${[...other].sort().join(' ')}`,
      ]);
    }
  }
  const index = new Map([...ids].sort().map((id, i) => [id, i]));
  const body = [
    'VERSION 1',
    ...[...index.keys()].map((id) => `${id},,written by the test`),
    '',
    ...lines.map(([id, head, tail]) => `${head}${index.get(id)}${tail}`),
    '',
    '',
  ].join('\n');
  return deflateSync(body);
}

/**
 * debsecan on the subject's status file with `debsecanFeed` (`--format detail`). A finding is resolved
 * when debsecan says a fix is available for the suite; its fixed version is then the branch's
 * ("fixed on branch"; "fixed in unstable" is sid's), the lowest one above the installed version.
 */
export async function debsecanFindings(subject: ScanSubject, tracker: TrackerJson): Promise<Finding[]> {
  const archive = new Map<string, string[]>();
  for (const p of subject.installed)
    archive.set(p.source, [...(archive.get(p.source) ?? []), p.sourceVersion]);
  const feed = debsecanFeed(tracker, subject.codename, archive);
  const run = await inSidChroot(
    [
      'sh',
      '-c',
      `debsecan --suite ${subject.codename} --source "file://$PWD/feed/" --status status --format detail`,
    ],
    {
      status: subject.status,
      [`feed/${subject.codename}`]: feed,
    },
  );
  if (run.exitCode !== 0) throw new Error(`debsecan failed (${run.exitCode}): ${run.stderr.slice(-2000)}`);
  return run.stdout
    .split(/\n(?=(?:CVE|TEMP)-)/)
    .filter((block) => /^(CVE|TEMP)-/.test(block))
    .map((block) => {
      const id = block.split(/\s/)[0]!;
      const installed = /installed: (\S+) (\S+)/.exec(block)!;
      const fixAvailable = /fix is available for the selected suite/.test(block);
      const branch = [...block.matchAll(/fixed on branch: +\S+ (\S+)/g)]
        .map((m) => m[1]!)
        .sort(compareVersions);
      return {
        id,
        binary: installed[1]!,
        installed: installed[2]!,
        state: fixAvailable ? ('resolved' as const) : ('open' as const),
        ...(fixAvailable && branch[0] ? { fixed: branch[0] } : {}),
      };
    });
}

/**
 * A documented reason two tools differ: `explains(finding, entry)` says whether a finding one side has
 * and the other has not (or has with other values) is this rule's case; `entry` is the tracker's
 * verdict for the finding's source in the subject's release.
 */
export interface DifferenceRule {
  name: string;
  /** which side reports the finding: `ours` (rampart only), `theirs` (the other tool only) */
  side: 'ours' | 'theirs';
  explains(finding: Finding, entry: TrackerRelease | undefined): boolean;
}

export interface Comparison {
  /** findings both report with the same installed version, state and fixed version */
  agreed: Finding[];
  /** differences with the rule that explains each */
  explained: Array<{ rule: string; finding: Finding }>;
  /** differences no rule explains (the test fails on any) */
  unexplained: Array<{ ours?: Finding; theirs?: Finding }>;
}

/**
 * Pairs rampart's findings with another tool's by (id, binary package). `verdict` finds the tracker
 * release entry of a finding (through the binary's source).
 */
export function compareFindings(
  ours: readonly Finding[],
  theirs: readonly Finding[],
  rules: readonly DifferenceRule[],
  verdict: (f: Finding) => TrackerRelease | undefined,
): Comparison {
  const key = (f: Finding) => `${f.id} ${f.binary}`;
  const norm = (f: Finding): Finding => ({
    id: f.id,
    binary: f.binary,
    installed: f.installed,
    state: f.state,
    ...(f.fixed ? { fixed: f.fixed } : {}),
  });
  const mine = new Map(ours.map((f) => [key(f), norm(f)]));
  const other = new Map(theirs.map((f) => [key(f), norm(f)]));
  const result: Comparison = { agreed: [], explained: [], unexplained: [] };
  const explain = (side: 'ours' | 'theirs', f: Finding) => {
    const rule = rules.find((r) => r.side === side && r.explains(f, verdict(f)));
    if (rule) result.explained.push({ rule: rule.name, finding: f });
    return rule !== undefined;
  };
  for (const [k, f] of mine) {
    const o = other.get(k);
    if (o && JSON.stringify(o) === JSON.stringify(f)) result.agreed.push(f);
    else if (o) result.unexplained.push({ ours: f, theirs: o });
    else if (!explain('ours', f)) result.unexplained.push({ ours: f });
  }
  for (const [k, f] of other)
    if (!mine.has(k) && !explain('theirs', f)) result.unexplained.push({ theirs: f });
  return result;
}

/** The tracker's verdict for a finding of `subject`: its binary's source, in the subject's release. */
export function verdictIn(subject: ScanSubject, tracker: TrackerJson) {
  const sourceOf = new Map(subject.installed.map((p) => [p.name, p.source]));
  return (f: Finding) => tracker[sourceOf.get(f.binary) ?? f.binary]?.[f.id]?.releases[subject.codename];
}

/**
 * The differences every comparison allows, each a documented behaviour of the tool named:
 * - `unimportant-hidden`: rampart hides issues the tracker rates `unimportant` unless
 *   `--show-negligible` (README "Finding status"); debsbom lists them (its default `--min-urgency` is
 *   `not yet assigned`, which ranks below unimportant).
 * - `feed-leaves-out-unimportant` / `feed-leaves-out-end-of-life`: the tracker writes no debsecan entry
 *   for an issue whose overall urgency is `unimportant` or `end-of-life` (calculateDebsecan1), so
 *   debsecan cannot report what rampart does (`end_of_life` is shown by rampart).
 */
export const RULES = {
  unimportantHidden: {
    name: 'unimportant-hidden',
    side: 'theirs',
    explains: (_f, entry) => entry?.urgency === 'unimportant',
  },
  feedLeavesOutEndOfLife: {
    name: 'feed-leaves-out-end-of-life',
    side: 'ours',
    explains: (_f, entry) => entry?.urgency === 'end-of-life',
  },
  feedLeavesOutUnimportant: {
    name: 'feed-leaves-out-unimportant',
    side: 'ours',
    explains: (_f, entry) => entry?.urgency === 'unimportant',
  },
} satisfies Record<string, DifferenceRule>;

/** Runs `argv` in the sid tools chroot with `files` (name -> content) staged through a temp folder. */
async function inSidChroot(
  argv: readonly string[],
  files: Record<string, string | Buffer>,
  collect: readonly string[] = [],
): Promise<ChrootRun> {
  const staged = await mkdtemp(join(tmpdir(), 'rampart-scancmp-'));
  try {
    const paths: Record<string, string> = {};
    for (const [i, [name, content]] of Object.entries(files).entries()) {
      paths[name] = join(staged, String(i));
      await writeFile(paths[name], content);
    }
    return await runInSidChroot(argv, paths, collect);
  } finally {
    await rm(staged, { recursive: true, force: true });
  }
}
