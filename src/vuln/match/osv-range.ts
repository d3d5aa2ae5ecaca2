import type { AffectedRecord } from '../types.js';
import type { Candidate } from './matcher.js';
import type { VersionCompare } from './versions.js';

export interface RangeVerdict {
  affected: boolean;
  /** The lowest `fixed` event above the installed version in the range that matched. */
  fixedVersion?: string;
}

/**
 * OSV's evaluation (ossf/osv-schema, "Evaluation"): a version is affected when it is listed in
 * `versions`, or when, walking a range's ECOSYSTEM/SEMVER events in version order, the last
 * `introduced` at or below it is not followed by a `fixed` at or below it (or a `last_affected`
 * below it). GIT ranges name commits, which an installed package does not carry: skipped.
 * A version (or event) the ecosystem cannot order makes that range not match: a hostile or
 * malformed record never turns into a finding by accident, and never aborts the scan.
 */
export function osvAffects(
  osv: NonNullable<AffectedRecord['osv']>,
  version: string,
  compare: VersionCompare,
): RangeVerdict {
  const cmp = (a: string, b: string): number | undefined => {
    try {
      return compare(a, b);
    } catch {
      return undefined;
    }
  };
  let listed = false;
  for (const v of osv.versions ?? []) if (v === version || cmp(v, version) === 0) listed = true;
  let fixedVersion: string | undefined;
  let affected = listed;
  for (const range of osv.ranges) {
    if (range.type !== 'ECOSYSTEM' && range.type !== 'SEMVER') continue;
    const events = range.events.flatMap((e) => {
      const [kind, value] = Object.entries(e).find(([k]) => k !== 'limit') ?? [];
      return kind && typeof value === 'string' ? [{ kind, value }] : [];
    });
    let inRange = false;
    let ok = true;
    for (const event of sortEvents(events, cmp)) {
      if (event.kind === 'introduced') {
        const c = event.value === '0' ? 1 : cmp(version, event.value);
        if (c === undefined) ok = false;
        else if (c >= 0) inRange = true;
      } else if (event.kind === 'fixed') {
        const c = cmp(version, event.value);
        if (c === undefined) ok = false;
        else if (c >= 0) inRange = false;
      } else if (event.kind === 'last_affected') {
        const c = cmp(version, event.value);
        if (c === undefined) ok = false;
        else if (c > 0) inRange = false;
      }
    }
    if (!ok || !inRange) continue;
    affected = true;
    // The fix that closes this range for us: the lowest fixed event above the installed version.
    for (const e of events) {
      if (e.kind !== 'fixed' || (cmp(e.value, version) ?? -1) <= 0) continue;
      if (fixedVersion === undefined || (cmp(e.value, fixedVersion) ?? 1) < 0) fixedVersion = e.value;
    }
  }
  return fixedVersion !== undefined ? { affected, fixedVersion } : { affected };
}

function sortEvents(
  events: Array<{ kind: string; value: string }>,
  cmp: (a: string, b: string) => number | undefined,
): Array<{ kind: string; value: string }> {
  // introduced "0" is below everything; at equal versions an introduced comes before a fixed.
  const rank = (e: { kind: string }) => (e.kind === 'introduced' ? 0 : 1);
  return [...events].sort((a, b) => {
    if (a.kind === 'introduced' && a.value === '0') return -1;
    if (b.kind === 'introduced' && b.value === '0') return 1;
    return (cmp(a.value, b.value) ?? 0) || rank(a) - rank(b);
  });
}

/** An OSV record's verdict on an installed version, as a matcher's candidate (never authoritative). */
export function osvCandidate(
  record: AffectedRecord & { osv: NonNullable<AffectedRecord['osv']> },
  version: string,
  compare: VersionCompare,
): Candidate {
  const verdict = osvAffects(record.osv, version, compare);
  return {
    vulnerabilityId: record.vulnerabilityId,
    record,
    status: !verdict.affected ? 'not_affected' : verdict.fixedVersion ? 'fixed' : 'affected',
    ...(verdict.fixedVersion ? { fixedVersion: verdict.fixedVersion } : {}),
    authoritative: false,
  };
}
