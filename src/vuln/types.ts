/**
 * The scanner's contract (issue 14). Three parts are built in parallel against it:
 * - the advisory store and its importers (`store.ts`, `import/*.ts`, `rampart db ...`),
 * - the matchers, statuses, severities, VEX and outputs (`match/*.ts`, `scan.ts`, `rampart scan`),
 * - the comparisons with debsbom/debsecan and the benchmark.
 * Everything here is plain serialisable data so the maintenance service can store and ship it.
 */

/** Ecosystems with advisories; the values are purl types, as SbomPackage['type']. */
export type AdvisoryEcosystem = 'deb' | 'npm' | 'pypi' | 'golang' | 'maven' | 'cargo';

/** Where an advisory record came from. */
export type AdvisorySourceName = 'debian-tracker' | 'osv' | 'openvex';

/**
 * One statement "package P in release R is affected by vulnerability V" as a feed states it,
 * normalised. The Debian tracker gives one per (source package, CVE, release); an OSV record one
 * per `affected[]` entry (with its ranges).
 */
export interface AffectedRecord {
  /** The id the feed files it under: CVE-2024-1234, DSA-5678-1, GHSA-..., PYSEC-..., TEMP-... */
  vulnerabilityId: string;
  source: AdvisorySourceName;
  ecosystem: AdvisoryEcosystem;
  /** For Debian: the SOURCE package name. For others: the package name as the ecosystem writes it. */
  packageName: string;
  /** Debian: the release codename (`trixie`, `bookworm`); OSV: the ecosystem's qualifier (`Debian:13`), else absent. */
  release?: string;
  /**
   * Debian tracker fields verbatim: status `resolved` | `open` | `undetermined`; `fixed_version`
   * (`"0"` means never affected); `urgency` (`low`, `medium`, `high`, `unimportant`,
   * `not yet assigned`, `end-of-life`, with `**` marks kept); `nodsa` and `nodsa_reason`
   * (`ignored`, `postponed`).
   */
  debian?: {
    status: string;
    fixedVersion?: string;
    urgency?: string;
    nodsa?: string;
    nodsaReason?: string;
  };
  /** OSV ranges (type ECOSYSTEM | SEMVER | GIT) and explicit versions, verbatim. */
  osv?: {
    ranges: Array<{ type: string; events: Array<Record<string, string>> }>;
    versions?: string[];
    withdrawn?: string;
  };
}

/** Per-vulnerability facts shared by all its affected records. */
export interface VulnerabilityRecord {
  id: string;
  source: AdvisorySourceName;
  aliases: string[];
  summary?: string;
  /** CVSS vectors as the feed gives them (v3.0, v3.1, v4.0); scores are computed by the matcher. */
  cvss: Array<{ version: string; vector: string; source?: string }>;
  /** Feed-specific severity labels: OSV `database_specific.severity`, the tracker's urgency. */
  severityLabels: Array<{ source: string; label: string }>;
  urls: string[];
  published?: string;
  modified?: string;
  withdrawn?: string;
}

/** A VEX statement as imported (OpenVEX 0.2.0), normalised. */
export interface VexStatementRecord {
  vulnerabilityId: string;
  aliases: string[];
  /** Product identifiers: purls (any qualifiers) and/or image digests (`sha256:...`). */
  products: string[];
  /** Subcomponent purls, when the statement names them. */
  subcomponents: string[];
  status: 'not_affected' | 'affected' | 'fixed' | 'under_investigation';
  justification?: string;
  impactStatement?: string;
  author?: string;
  timestamp?: string;
  /** The document it came from: a file path, a URL or an attestation digest. */
  document: string;
}

export interface AdvisorySourceStatus {
  name: string;
  records: number;
  /** RFC 3339: when the data was last imported/updated. */
  updated: string;
  /** The feed URL or file it was last imported from. */
  location?: string;
  /** Conditional-request validators kept for `db update`. */
  etag?: string;
  lastModified?: string;
  /** Records the last import skipped as malformed. */
  skipped?: number;
}

export interface ImportProgress {
  source: string;
  records: number;
  skipped: number;
  bytes?: number;
  totalBytes?: number;
}

export interface ImportResult {
  source: AdvisorySourceName;
  location: string;
  format: string;
  records: number;
  skipped: number;
  /** The first few skipped records with why (id or position, reason). */
  skippedSamples: Array<{ record: string; reason: string }>;
}

/**
 * Read side of the advisory store: what the matchers need. The store is SQLite (`node:sqlite`) in
 * the cache dir; tests may also build one in a temp file. Queries are synchronous (node:sqlite is).
 */
export interface AdvisoryReader {
  /** Affected records for one package name in one ecosystem (Debian: the SOURCE name), any release. */
  affected(ecosystem: AdvisoryEcosystem, packageName: string): AffectedRecord[];
  vulnerability(id: string): VulnerabilityRecord | undefined;
  /** Ids that alias this one (both directions), not including itself. */
  aliasesOf(id: string): string[];
  vexStatements(): VexStatementRecord[];
  /** Debian releases the tracker data knows (codenames), so an unknown release can be reported. */
  debianReleases(): string[];
  status(): { path: string; schemaVersion: number; built: string; sources: AdvisorySourceStatus[] };
  close(): void;
  /**
   * Batch forms of `affected`, `aliasesOf` and `vulnerability`: the same answers for many names or
   * ids from one query each (a scan asks them for every package of an image at once). Optional: a
   * reader without them is asked one name or id at a time.
   */
  affectedMany?(ecosystem: AdvisoryEcosystem, packageNames: readonly string[]): Map<string, AffectedRecord[]>;
  /** The alias graph's edges (both directions) at each of `ids`: `aliasesOf` is the closure over them. */
  aliasEdges?(ids: readonly string[]): Map<string, string[]>;
  vulnerabilities?(ids: readonly string[]): Map<string, VulnerabilityRecord>;
}

/** Finding status, in Trivy's vocabulary (README: mapping from the tracker's fields). */
export type FindingStatus =
  | 'fixed'
  | 'affected'
  | 'will_not_fix'
  | 'fix_deferred'
  | 'end_of_life'
  | 'not_affected';

export type Severity = 'negligible' | 'low' | 'medium' | 'high' | 'critical' | 'unknown';

/** One entry of `rampart scan -o json` `matches[]` (a contract for users' scripts). */
export interface ScanMatch {
  vulnerability: {
    id: string;
    aliases: string[];
    severity: Severity;
    severitySource: string;
    cvss?: Array<{ version: string; vector: string; score: number }>;
    status: FindingStatus;
    fixedVersion?: string;
    urls: string[];
  };
  package: {
    name: string;
    version: string;
    type: string;
    purl: string;
    source?: { name: string; version: string };
  };
}

export interface SuppressedMatch extends ScanMatch {
  vex: { status: string; justification?: string; author?: string };
}

/** `rampart scan -o json`. */
export interface ScanResult {
  matches: ScanMatch[];
  suppressed: SuppressedMatch[];
  distro: { id: string; version: string; codename: string };
  db: { built: string; sources: Array<{ name: string; records: number; updated: string }> };
  /** Warnings: unknown distro release, packages without a matcher, stale store (> 24 h). */
  warnings: Array<{ code: string; message: string }>;
}
