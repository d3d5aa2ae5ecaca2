import type {
  AdvisoryEcosystem,
  AdvisoryReader,
  AdvisorySourceStatus,
  AffectedRecord,
  VexStatementRecord,
  VulnerabilityRecord,
} from '../../src/vuln/types.js';

/**
 * An AdvisoryReader over plain records, for matcher tests that should not depend on the SQLite
 * store. Same semantics as the store: affected() by (ecosystem, exact name), aliasesOf() both
 * directions.
 */
export function memoryAdvisoryReader(data: {
  affected?: AffectedRecord[];
  vulnerabilities?: VulnerabilityRecord[];
  vex?: VexStatementRecord[];
  releases?: string[];
  sources?: AdvisorySourceStatus[];
  built?: string;
}): AdvisoryReader {
  // PyPI names are looked up in PEP 503 normal form (the store does the same).
  const keyOf = (ecosystem: AdvisoryEcosystem, name: string) =>
    `${ecosystem}\0${ecosystem === 'pypi' ? name.toLowerCase().replace(/[-_.]+/g, '-') : name}`;
  const byKey = new Map<string, AffectedRecord[]>();
  for (const r of data.affected ?? []) {
    const key = keyOf(r.ecosystem, r.packageName);
    byKey.set(key, [...(byKey.get(key) ?? []), r]);
  }
  const vulns = new Map((data.vulnerabilities ?? []).map((v) => [v.id, v]));
  const releases = data.releases ?? [
    ...new Set((data.affected ?? []).filter((r) => r.source === 'debian-tracker').map((r) => r.release!)),
  ];
  return {
    affected: (ecosystem: AdvisoryEcosystem, name: string) => byKey.get(keyOf(ecosystem, name)) ?? [],
    vulnerability: (id) => vulns.get(id),
    aliasesOf: (id) => {
      const out = new Set<string>();
      for (const v of vulns.values()) {
        if (v.id === id) for (const a of v.aliases) out.add(a);
        else if (v.aliases.includes(id)) out.add(v.id);
      }
      out.delete(id);
      return [...out];
    },
    vexStatements: () => data.vex ?? [],
    debianReleases: () => releases,
    status: () => ({
      path: ':memory:',
      schemaVersion: 1,
      built: data.built ?? '2026-12-06T00:00:00Z',
      sources: data.sources ?? [
        { name: 'debian-tracker', records: byKey.size, updated: '2026-12-06T00:00:00Z' },
      ],
    }),
    close: () => {},
  };
}

type TrackerJson = Record<
  string,
  Record<string, { description?: string; releases: Record<string, Record<string, unknown>> }>
>;

/** The Debian tracker JSON (real format) → records, as the store's importer files them. */
export function trackerRecords(json: TrackerJson): {
  affected: AffectedRecord[];
  vulnerabilities: VulnerabilityRecord[];
} {
  const affected: AffectedRecord[] = [];
  const vulnerabilities = new Map<string, VulnerabilityRecord>();
  for (const [source, issues] of Object.entries(json)) {
    for (const [id, issue] of Object.entries(issues)) {
      if (!vulnerabilities.has(id))
        vulnerabilities.set(id, {
          id,
          source: 'debian-tracker',
          aliases: [],
          ...(issue.description ? { summary: issue.description } : {}),
          cvss: [],
          severityLabels: [],
          urls: [],
        });
      for (const [release, r] of Object.entries(issue.releases)) {
        const s = (k: string) => (typeof r[k] === 'string' ? (r[k] as string) : undefined);
        affected.push({
          vulnerabilityId: id,
          source: 'debian-tracker',
          ecosystem: 'deb',
          packageName: source,
          release,
          debian: {
            status: s('status') ?? 'undetermined',
            ...(s('fixed_version') !== undefined ? { fixedVersion: s('fixed_version') } : {}),
            ...(s('urgency') ? { urgency: s('urgency') } : {}),
            ...(s('nodsa') !== undefined ? { nodsa: s('nodsa') } : {}),
            ...(s('nodsa_reason') ? { nodsaReason: s('nodsa_reason') } : {}),
          },
        });
      }
    }
  }
  return { affected, vulnerabilities: [...vulnerabilities.values()] };
}

const ECOSYSTEMS: Record<string, AdvisoryEcosystem> = {
  npm: 'npm',
  PyPI: 'pypi',
  Go: 'golang',
  Maven: 'maven',
  'crates.io': 'cargo',
  Debian: 'deb',
};

interface OsvJson {
  id: string;
  aliases?: string[];
  withdrawn?: string;
  affected?: Array<{
    package: { ecosystem: string; name: string };
    ranges?: Array<{ type: string; events: Array<Record<string, string>> }>;
    versions?: string[];
  }>;
  severity?: Array<{ type: string; score: string }>;
  database_specific?: { severity?: unknown };
  references?: Array<{ url: string }>;
}

/** One OSV record (real format) → records. */
export function osvRecords(json: OsvJson): {
  affected: AffectedRecord[];
  vulnerabilities: VulnerabilityRecord[];
} {
  const affected: AffectedRecord[] = [];
  for (const a of json.affected ?? []) {
    const [eco, release] = String(a.package?.ecosystem ?? '').split(':');
    const ecosystem = ECOSYSTEMS[eco ?? ''];
    if (!ecosystem) continue;
    affected.push({
      vulnerabilityId: json.id,
      source: 'osv',
      ecosystem,
      packageName: a.package.name,
      ...(release ? { release: `${eco}:${release}` } : {}),
      osv: {
        ranges: (a.ranges ?? []).map((r) => ({ type: r.type, events: r.events })),
        ...(a.versions ? { versions: a.versions } : {}),
        ...(json.withdrawn ? { withdrawn: json.withdrawn } : {}),
      },
    });
  }
  const severity = json.database_specific?.severity;
  return {
    affected,
    vulnerabilities: [
      {
        id: json.id,
        source: 'osv',
        aliases: json.aliases ?? [],
        cvss: (json.severity ?? [])
          .filter((s) => /^CVSS_V[34]$/.test(s.type))
          .map((s) => ({ version: String(s.score).slice(5, 8), vector: s.score })),
        severityLabels: typeof severity === 'string' ? [{ source: 'osv', label: severity }] : [],
        urls: (json.references ?? []).map((r) => r.url).slice(0, 3),
        ...(json.withdrawn ? { withdrawn: json.withdrawn } : {}),
      },
    ],
  };
}
