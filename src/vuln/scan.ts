import { contentPackages } from '../sbom/installed.js';
import type { SbomDocument, SbomPackage } from '../sbom/model.js';
import { compareText } from '../util/compare-text.js';
import { type Candidate, MATCHERS, type MatchContext } from './match/index.js';
import { compareByEcosystem } from './match/versions.js';
import { PrefetchingReader } from './prefetch.js';
import { debianRelease, distroFromPurls } from './release.js';
import { chooseSeverity, SEVERITY_ORDER, severityRank } from './severity.js';
import type {
  AdvisoryEcosystem,
  AdvisoryReader,
  FindingStatus,
  ScanMatch,
  ScanResult,
  Severity,
  SuppressedMatch,
  VexStatementRecord,
  VulnerabilityRecord,
} from './types.js';
import { decidingStatement } from './vex.js';

export interface ScanOptions {
  /** Show findings the distro rates unimportant (severity `negligible`); hidden by default. */
  showNegligible?: boolean;
  /** Only findings with a fix (`--only-fixed`, `--ignore-unfixed`). */
  onlyFixed?: boolean;
  /** VEX statements besides the store's own (`--vex FILE`, verified attestations). */
  vex?: VexStatementRecord[];
  /** The scanned image's digest, for VEX products that name the image (default: the SBOM's). */
  imageDigest?: string;
  /** The scan time (OSV `withdrawn`, store age); default now. */
  now?: Date;
}

/** Stable warning codes in `ScanResult.warnings`. */
export const SCAN_WARNINGS = {
  unknownRelease: 'UNKNOWN_DISTRO_RELEASE',
  staleDb: 'DB_STALE',
  emptyDb: 'DB_EMPTY',
} as const;

const STALE_MS = 24 * 60 * 60 * 1000;

/**
 * Matches every package of an SBOM against the advisory store: each ecosystem's matcher gives
 * candidates; candidates whose ids alias each other (CVE, DSA, GHSA, DEBIAN-CVE, …) become one
 * finding with every id in `aliases`; the distro's own verdict wins for distro packages; severity
 * by the one precedence rule (severity.ts); VEX moves findings to `suppressed`. No I/O beyond the
 * reader; the result is plain data, in a stable order.
 * What is scanned is one rule, applied here so every caller (scan, build's record, compare, diff,
 * a library user) gets it: the installed packages and the Debian source packages compiled into
 * them (Built-Using), `contentPackages`. A source package only named as a binary's `Source:` is
 * pedigree: the binaries built from it carry its findings.
 */
export function scanSbomDocument(
  reader: AdvisoryReader,
  sbom: SbomDocument,
  options: ScanOptions = {},
): ScanResult {
  const packages = contentPackages(sbom.packages);
  const now = options.now ?? new Date();
  const warnings: ScanResult['warnings'] = [];
  const release = debianRelease(sbom.distro ?? distroFromPurls(sbom.packages.map((p) => p.purl)));
  const hasDeb = packages.some((p) => p.type === 'deb');
  const status = reader.status();
  if (hasDeb) {
    const known = new Set(reader.debianReleases());
    if (release?.id !== 'debian' || !release.codename || !known.has(release.codename)) {
      const what = !release
        ? 'the image has no /etc/os-release'
        : release.id !== 'debian'
          ? `distro ${JSON.stringify(release.id)} is not Debian`
          : `Debian ${release.version || '?'} (${release.codename || 'no codename'}) is not in the advisory store (it knows: ${[...known].sort(compareText).join(', ') || 'none'})`;
      warnings.push({
        code: SCAN_WARNINGS.unknownRelease,
        message: `${what}: Debian packages were not matched against the security tracker`,
      });
    }
  }
  if (status.sources.length === 0)
    warnings.push({
      code: SCAN_WARNINGS.emptyDb,
      message: 'the advisory store has no data: run `rampart db update`',
    });
  for (const s of status.sources) {
    const age = now.getTime() - Date.parse(s.updated);
    if (age > STALE_MS)
      warnings.push({
        code: SCAN_WARNINGS.staleDb,
        message: `advisory source ${s.name} was updated ${Math.floor(age / 3_600_000)} h ago (over 24 h): run \`rampart db update\``,
      });
  }

  // Every store lookup of the scan in a few batched queries: all packages' records (one query
  // per ecosystem), then the aliases of every candidate id, then the records of every finding's
  // ids; the matchers and `decide` then read from what was fetched.
  const batch = new PrefetchingReader(reader);
  const namesByEcosystem = new Map<AdvisoryEcosystem, string[]>();
  for (const pkg of packages) {
    const matcher = MATCHERS[pkg.type as AdvisoryEcosystem];
    if (!matcher) continue;
    const names = namesByEcosystem.get(matcher.ecosystem) ?? [];
    names.push(...matcher.lookupNames(pkg));
    namesByEcosystem.set(matcher.ecosystem, names);
  }
  for (const [ecosystem, names] of namesByEcosystem) {
    batch.prefetchAffected(ecosystem, names);
    // OSV matchers read each record's vulnerability (`withdrawn`) while matching.
    if (ecosystem !== 'deb')
      batch.prefetchVulnerabilities(
        names.flatMap((n) => batch.affected(ecosystem, n).map((r) => r.vulnerabilityId)),
      );
  }
  const context: MatchContext = {
    reader: batch,
    release: release?.id === 'debian' ? release : undefined,
    now,
  };
  const aliasCache = new Map<string, string[]>();
  const idsOf = (id: string): string[] => {
    let ids = aliasCache.get(id);
    if (!ids) {
      // aliasesOf is the closure in both directions, a record's own aliases included (the contract).
      ids = [...new Set([id, ...upstreamCve(id), ...batch.aliasesOf(id)])];
      aliasCache.set(id, ids);
    }
    return ids;
  };
  const vuln = (id: string) => batch.vulnerability(id);
  const statements = [...reader.vexStatements(), ...(options.vex ?? [])];
  const imageDigest = options.imageDigest ?? sbom.source.digest;

  const matched: Array<{ pkg: SbomPackage; candidates: Candidate[] }> = [];
  for (const pkg of packages) {
    const matcher = MATCHERS[pkg.type as AdvisoryEcosystem];
    if (!matcher) continue;
    const candidates = matcher.match(pkg, context);
    // No feed says this package is affected: no finding, and no alias or vulnerability lookups.
    if (!candidates.some((c) => c.status !== 'not_affected')) continue;
    matched.push({ pkg, candidates });
  }
  batch.prefetchAliases(matched.flatMap(({ candidates }) => candidates.map((c) => c.vulnerabilityId)));
  const decided = matched.flatMap(({ pkg, candidates }) =>
    groupByAlias(candidates, idsOf).flatMap(({ ids, candidates: group }) => {
      const actionable = actionableCandidates(pkg, group, options.showNegligible === true);
      return actionable.length > 0 ? [{ pkg, ids, actionable }] : [];
    }),
  );
  batch.prefetchVulnerabilities(decided.flatMap(({ ids }) => [...ids]));

  const matches: ScanMatch[] = [];
  const suppressed: SuppressedMatch[] = [];
  for (const { pkg, ids: groupIds, actionable } of decided) {
    const finding = decide(pkg, groupIds, actionable, vuln);
    if (!options.showNegligible && finding.vulnerability.severity === 'negligible') continue;
    const ids = [finding.vulnerability.id, ...finding.vulnerability.aliases];
    const vex = statements.length ? decidingStatement(statements, ids, pkg.purl, imageDigest) : undefined;
    if (vex && (vex.status === 'not_affected' || vex.status === 'fixed')) {
      suppressed.push({
        vulnerability: {
          ...finding.vulnerability,
          status: vex.status === 'not_affected' ? 'not_affected' : finding.vulnerability.status,
        },
        package: finding.package,
        vex: {
          status: vex.status,
          ...(vex.justification ? { justification: vex.justification } : {}),
          ...(vex.author ? { author: vex.author } : {}),
        },
      });
      continue;
    }
    if (options.onlyFixed && finding.vulnerability.fixedVersion === undefined) continue;
    matches.push(finding);
  }
  matches.sort(compareMatches);
  suppressed.sort(compareMatches);
  return {
    matches,
    suppressed,
    distro: { id: release?.id ?? '', version: release?.version ?? '', codename: release?.codename ?? '' },
    db: {
      built: status.built,
      sources: status.sources.map((s) => ({ name: s.name, records: s.records, updated: s.updated })),
    },
    warnings,
  };
}

/**
 * osv.dev's distro records (`DEBIAN-CVE-2024-1234`, `UBUNTU-CVE-…`) are the distro's view of one
 * CVE and name it in `upstream`, not `aliases`: the id itself ties them to the CVE.
 */
function upstreamCve(id: string): string[] {
  const m = /^[A-Z]+-(CVE-\d{4}-\d+)$/.exec(id);
  return m ? [m[1]!] : [];
}

/** Union of candidates whose ids (with their aliases) overlap: one vulnerability, one finding. */
function groupByAlias(
  candidates: Candidate[],
  idsOf: (id: string) => string[],
): Array<{ ids: Set<string>; candidates: Candidate[] }> {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let root = x;
    while (parent.get(root) !== undefined && parent.get(root) !== root) root = parent.get(root)!;
    parent.set(x, root);
    return root;
  };
  const union = (a: string, b: string) => {
    if (!parent.has(a)) parent.set(a, a);
    if (!parent.has(b)) parent.set(b, b);
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent.set(ra, rb);
  };
  for (const c of candidates) for (const alias of idsOf(c.vulnerabilityId)) union(c.vulnerabilityId, alias);
  const groups = new Map<string, { ids: Set<string>; candidates: Candidate[] }>();
  for (const c of candidates) {
    const root = find(c.vulnerabilityId);
    let g = groups.get(root);
    if (!g) {
      g = { ids: new Set(), candidates: [] };
      groups.set(root, g);
    }
    g.candidates.push(c);
    for (const id of idsOf(c.vulnerabilityId)) g.ids.add(id);
  }
  return [...groups.values()];
}

const STATUS_PREFERENCE: FindingStatus[] = [
  'fixed',
  'affected',
  'fix_deferred',
  'will_not_fix',
  'end_of_life',
];

/**
 * The candidates of one vulnerability group on one package that make a finding: the deciding
 * feed's (the distro's own when it has a verdict) that are not "not affected"; none when there
 * is no such candidate, or when the distro rates the issue unimportant and it is hidden.
 */
function actionableCandidates(
  pkg: SbomPackage,
  candidates: Candidate[],
  showNegligible: boolean,
): Candidate[] {
  const authoritative = candidates.filter((c) => c.authoritative);
  const used = authoritative.length > 0 ? authoritative : candidates;
  const actionable = used.filter((c) => c.status !== 'not_affected');
  if (actionable.length === 0) return [];
  // The distro rates it unimportant and it is hidden: no vulnerability lookups for it.
  if (!showNegligible) {
    const early = chooseSeverity(
      pkg.type,
      actionable.map((c) => c.record),
      [],
    );
    if (early.severitySource === 'debian-tracker' && early.severity === 'negligible') return [];
  }
  return actionable;
}

/** One vulnerability group on one package, with its actionable candidates → a finding. */
function decide(
  pkg: SbomPackage,
  ids: Set<string>,
  actionable: Candidate[],
  vuln: (id: string) => VulnerabilityRecord | undefined,
): ScanMatch {
  actionable.sort((a, b) => STATUS_PREFERENCE.indexOf(a.status) - STATUS_PREFERENCE.indexOf(b.status));
  const status = actionable[0]!.status;
  const compare = compareByEcosystem[pkg.type as AdvisoryEcosystem];
  let fixedVersion: string | undefined;
  for (const c of actionable) {
    if (c.fixedVersion === undefined) continue;
    if (fixedVersion === undefined) fixedVersion = c.fixedVersion;
    else {
      try {
        if (compare(c.fixedVersion, fixedVersion) > 0) fixedVersion = c.fixedVersion;
      } catch {
        /* keep the first */
      }
    }
  }
  const sortedIds = [...ids].sort(compareText);
  const primary =
    sortedIds.find((id) => id.startsWith('CVE-')) ??
    actionable.map((c) => c.vulnerabilityId).sort(compareText)[0] ??
    sortedIds[0]!;
  const vulns = [primary, ...sortedIds.filter((id) => id !== primary)]
    .map(vuln)
    .filter((v): v is VulnerabilityRecord => v !== undefined);
  const severity = chooseSeverity(
    pkg.type,
    actionable.map((c) => c.record),
    vulns,
  );
  const urls = [...new Set(vulns.flatMap((v) => v.urls))].sort(compareText);
  return {
    vulnerability: {
      id: primary,
      aliases: sortedIds.filter((id) => id !== primary),
      severity: severity.severity,
      severitySource: severity.severitySource,
      ...(severity.cvss.length
        ? { cvss: severity.cvss.map((c) => ({ version: c.version, vector: c.vector, score: c.score })) }
        : {}),
      status,
      ...(status === 'fixed' && fixedVersion !== undefined ? { fixedVersion } : {}),
      urls,
    },
    package: {
      name: pkg.name,
      version: pkg.version,
      type: pkg.type,
      purl: pkg.purl,
      ...(pkg.source && (pkg.source.name !== pkg.name || pkg.source.version !== pkg.version)
        ? { source: { name: pkg.source.name, version: pkg.source.version } }
        : {}),
    },
  };
}

function compareMatches(a: ScanMatch, b: ScanMatch): number {
  return (
    compareText(a.package.name, b.package.name) ||
    compareText(a.package.version, b.package.version) ||
    compareText(a.package.purl, b.package.purl) ||
    severityRank(b.vulnerability.severity) - severityRank(a.vulnerability.severity) ||
    compareText(a.vulnerability.id, b.vulnerability.id)
  );
}

/** `--fail-on LEVEL`: the findings left after VEX at or above LEVEL (`unknown` counts as none). */
export function findingsAtOrAbove(result: ScanResult, level: Severity): ScanMatch[] {
  const min = severityRank(level);
  return result.matches.filter(
    (m) => m.vulnerability.severity !== 'unknown' && severityRank(m.vulnerability.severity) >= min,
  );
}

export { SEVERITY_ORDER };

/**
 * Findings left after VEX, counted by severity (every level present, zeros included): the
 * `vulnerabilities` metric of `rampart compare` and of the maintenance service's reports.
 */
export function countBySeverity(result: ScanResult): Record<Severity, number> {
  const counts = Object.fromEntries(SEVERITY_ORDER.map((s) => [s, 0])) as Record<Severity, number>;
  for (const match of result.matches) counts[match.vulnerability.severity]++;
  return counts;
}
