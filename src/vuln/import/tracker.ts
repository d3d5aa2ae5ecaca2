/**
 * The Debian security tracker's JSON dump (`/tracker/data/json`):
 * `{ source: { CVE-or-TEMP-id: { description?, scope?, debianbug?, releases: { codename:
 * { status, repositories, fixed_version?, urgency?, nodsa?, nodsa_reason? } } } } }`.
 * Keys are SOURCE package names. Each (source, id, release) becomes one `AffectedRecord` with
 * the tracker's fields verbatim (the matcher decides what they mean); each id one
 * `VulnerabilityRecord`. The document is streamed member by member (`json-split.ts`); an entry
 * that does not have this shape is counted, sampled and skipped.
 */
import type { AffectedRecord, VulnerabilityRecord } from '../types.js';
import { splitTopLevelObject } from './json-split.js';
import type { RecordSink } from './sink.js';

export const TRACKER_SOURCE = 'debian-tracker' as const;

/** The tracker's page for an id. */
export function trackerUrl(id: string): string {
  return `https://security-tracker.debian.org/tracker/${encodeURIComponent(id)}`;
}

const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]*$/;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new Error(`${field} is not a string`);
  return value;
}

/** The affected records and vulnerability of one tracker entry; throws (a message) when malformed. */
export function trackerEntry(
  sourcePackage: string,
  id: string,
  entry: unknown,
): { vulnerability: VulnerabilityRecord; affected: AffectedRecord[] } {
  if (!isObject(entry)) throw new Error('entry is not an object');
  if (id.length === 0 || id.length > 200) throw new Error('bad id');
  // The tracker writes an entry with no release left as `"releases": []`.
  const releases = Array.isArray(entry.releases) && entry.releases.length === 0 ? {} : entry.releases;
  if (!isObject(releases)) throw new Error('releases is not an object');
  const description = optionalString(entry.description, 'description');
  const affected: AffectedRecord[] = [];
  for (const [release, value] of Object.entries(releases)) {
    if (!isObject(value)) throw new Error(`releases.${release} is not an object`);
    const status = value.status;
    if (typeof status !== 'string' || status.length === 0)
      throw new Error(`releases.${release}.status is missing`);
    const debian: NonNullable<AffectedRecord['debian']> = { status };
    const fixedVersion = optionalString(value.fixed_version, `releases.${release}.fixed_version`);
    const urgency = optionalString(value.urgency, `releases.${release}.urgency`);
    const nodsa = optionalString(value.nodsa, `releases.${release}.nodsa`);
    const nodsaReason = optionalString(value.nodsa_reason, `releases.${release}.nodsa_reason`);
    if (fixedVersion !== undefined) debian.fixedVersion = fixedVersion;
    if (urgency !== undefined) debian.urgency = urgency;
    if (nodsa !== undefined) debian.nodsa = nodsa;
    if (nodsaReason !== undefined) debian.nodsaReason = nodsaReason;
    affected.push({
      vulnerabilityId: id,
      source: TRACKER_SOURCE,
      ecosystem: 'deb',
      packageName: sourcePackage,
      release,
      debian,
    });
  }
  const urls = [trackerUrl(id)];
  if (typeof entry.debianbug === 'number' && Number.isSafeInteger(entry.debianbug)) {
    urls.push(`https://bugs.debian.org/${entry.debianbug}`);
  }
  const vulnerability: VulnerabilityRecord = {
    id,
    source: TRACKER_SOURCE,
    aliases: [],
    cvss: [],
    severityLabels: [],
    urls,
    ...(description !== undefined ? { summary: description } : {}),
  };
  return { vulnerability, affected };
}

/** Streams a tracker dump into `sink`. Records = (source package, id) entries. */
export async function importTracker(
  chunks: AsyncIterable<Uint8Array>,
  location: string,
  sink: RecordSink,
): Promise<void> {
  for await (const member of splitTopLevelObject(chunks, { location, source: TRACKER_SOURCE })) {
    sink.progress(member.bytes);
    if (!member.ok) {
      sink.skip(member.key ?? '(unnamed member)', member.reason);
      continue;
    }
    const sourcePackage = member.key;
    if (!PACKAGE_NAME.test(sourcePackage) || sourcePackage.length > 200) {
      sink.skip(sourcePackage.slice(0, 200), 'not a Debian source package name');
      continue;
    }
    if (!isObject(member.value)) {
      sink.skip(sourcePackage, 'not an object of vulnerabilities');
      continue;
    }
    const affected: AffectedRecord[] = [];
    for (const [id, entry] of Object.entries(member.value)) {
      let parsed: ReturnType<typeof trackerEntry>;
      try {
        parsed = trackerEntry(sourcePackage, id, entry);
      } catch (error) {
        sink.skip(`${sourcePackage}/${id.slice(0, 200)}`, (error as Error).message);
        continue;
      }
      sink.vulnerability(parsed.vulnerability);
      for (const record of parsed.affected) {
        affected.push(record);
        sink.debianRelease(record.release!);
      }
      sink.record();
    }
    sink.affected(affected);
  }
}
