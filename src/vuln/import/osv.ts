/**
 * OSV records (https://ossf.github.io/osv-schema/): one JSON object per vulnerability, from a
 * single file, a directory of them, or an ecosystem's `all.zip`. Each `affected[]` entry of an
 * ecosystem rampart matches becomes one `AffectedRecord` with its ranges and versions verbatim
 * (the matchers compare versions); entries of other ecosystems are left out, not counted as
 * malformed. `withdrawn` is kept on both records so the matcher can honour it.
 */
import type { AdvisoryEcosystem, AffectedRecord, VulnerabilityRecord } from '../types.js';

export const OSV_SOURCE = 'osv' as const;

/** OSV ecosystem names (before any `:suffix`) to purl types. */
const ECOSYSTEMS: Record<string, AdvisoryEcosystem> = {
  Debian: 'deb',
  npm: 'npm',
  PyPI: 'pypi',
  Go: 'golang',
  Maven: 'maven',
  'crates.io': 'cargo',
};

/** The purl type of an OSV ecosystem string (`Debian:12`, `npm`), or undefined when rampart has no matcher for it. */
export function ecosystemOf(osvEcosystem: string): AdvisoryEcosystem | undefined {
  const colon = osvEcosystem.indexOf(':');
  const base = colon === -1 ? osvEcosystem : osvEcosystem.slice(0, colon);
  return Object.hasOwn(ECOSYSTEMS, base) ? ECOSYSTEMS[base] : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringArray(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
    throw new Error(`${field} is not a list of strings`);
  return value as string[];
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new Error(`${field} is not a string`);
  return value;
}

/** `CVSS:3.1/AV:N/...` → `3.1`; undefined for vectors without a version prefix (CVSS v2). */
function cvssVersion(vector: string): string | undefined {
  return /^CVSS:(\d\.\d)\//.exec(vector)?.[1];
}

/** Whether a parsed JSON document looks like an OSV record (for format detection). */
export function looksLikeOsv(doc: unknown): boolean {
  return (
    isObject(doc) &&
    typeof doc.id === 'string' &&
    ('affected' in doc || 'modified' in doc || 'schema_version' in doc)
  );
}

/** The records of one OSV document; throws (a message) when it is malformed. */
export function osvRecord(doc: unknown): { vulnerability: VulnerabilityRecord; affected: AffectedRecord[] } {
  if (!isObject(doc)) throw new Error('not a JSON object');
  const id = doc.id;
  if (typeof id !== 'string' || id.length === 0 || id.length > 200) throw new Error('id is missing');
  const aliases = stringArray(doc.aliases, 'aliases');
  const withdrawn = optionalString(doc.withdrawn, 'withdrawn');
  const summary = optionalString(doc.summary, 'summary') ?? optionalString(doc.details, 'details');
  const cvss: VulnerabilityRecord['cvss'] = [];
  const severities = doc.severity ?? [];
  if (!Array.isArray(severities)) throw new Error('severity is not a list');
  for (const severity of severities) {
    if (!isObject(severity) || typeof severity.score !== 'string')
      throw new Error('severity entry has no score');
    const version = cvssVersion(severity.score);
    if (version && (severity.type === 'CVSS_V3' || severity.type === 'CVSS_V4')) {
      cvss.push({ version, vector: severity.score, source: id });
    }
  }
  const severityLabels: VulnerabilityRecord['severityLabels'] = [];
  const databaseSeverity = isObject(doc.database_specific) ? doc.database_specific.severity : undefined;
  if (typeof databaseSeverity === 'string') severityLabels.push({ source: 'osv', label: databaseSeverity });
  const urls: string[] = [];
  const references = doc.references ?? [];
  if (!Array.isArray(references)) throw new Error('references is not a list');
  for (const reference of references) {
    if (isObject(reference) && typeof reference.url === 'string') urls.push(reference.url);
  }
  const vulnerability: VulnerabilityRecord = { id, source: OSV_SOURCE, aliases, cvss, severityLabels, urls };
  if (summary !== undefined) vulnerability.summary = summary;
  const published = optionalString(doc.published, 'published');
  const modified = optionalString(doc.modified, 'modified');
  if (published !== undefined) vulnerability.published = published;
  if (modified !== undefined) vulnerability.modified = modified;
  if (withdrawn !== undefined) vulnerability.withdrawn = withdrawn;

  const affected: AffectedRecord[] = [];
  const entries = doc.affected ?? [];
  if (!Array.isArray(entries)) throw new Error('affected is not a list');
  for (const [index, entry] of entries.entries()) {
    if (!isObject(entry)) throw new Error(`affected[${index}] is not an object`);
    const pkg = entry.package;
    if (!isObject(pkg)) continue; // A record may affect a git repository only (no package): nothing to match.
    if (typeof pkg.ecosystem !== 'string' || typeof pkg.name !== 'string' || pkg.name.length === 0) {
      throw new Error(`affected[${index}].package has no ecosystem or name`);
    }
    const ecosystem = ecosystemOf(pkg.ecosystem);
    if (!ecosystem) continue;
    const ranges: NonNullable<AffectedRecord['osv']>['ranges'] = [];
    const rawRanges = entry.ranges ?? [];
    if (!Array.isArray(rawRanges)) throw new Error(`affected[${index}].ranges is not a list`);
    for (const range of rawRanges) {
      if (!isObject(range) || typeof range.type !== 'string' || !Array.isArray(range.events)) {
        throw new Error(`affected[${index}] has a range without type or events`);
      }
      const events: Array<Record<string, string>> = [];
      for (const event of range.events) {
        if (!isObject(event) || Object.values(event).some((v) => typeof v !== 'string')) {
          throw new Error(`affected[${index}] has a malformed range event`);
        }
        events.push(event as Record<string, string>);
      }
      ranges.push({ type: range.type, events });
    }
    const versions = stringArray(entry.versions, `affected[${index}].versions`);
    const osv: NonNullable<AffectedRecord['osv']> = { ranges };
    if (versions.length > 0) osv.versions = versions;
    if (withdrawn !== undefined) osv.withdrawn = withdrawn;
    const record: AffectedRecord = {
      vulnerabilityId: id,
      source: OSV_SOURCE,
      ecosystem,
      packageName: pkg.name,
      osv,
    };
    if (pkg.ecosystem.includes(':')) record.release = pkg.ecosystem;
    affected.push(record);
  }
  return { vulnerability, affected };
}
