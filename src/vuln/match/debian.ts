import { compareVersions } from '../../debian/version.js';
import type { SbomPackage } from '../../sbom/model.js';
import { osvDebianEcosystem } from '../release.js';
import type { AffectedRecord, FindingStatus } from '../types.js';
import { type Candidate, isWithdrawn, type MatchContext, type Matcher } from './matcher.js';
import { osvCandidate } from './osv-range.js';

/**
 * The Debian security tracker's fields → a finding status (README "Finding status"), for an
 * installed SOURCE version. `undefined` fixedVersion with `not_affected` means no finding.
 */
export function trackerStatus(
  debian: NonNullable<AffectedRecord['debian']>,
  installedSourceVersion: string,
): { status: FindingStatus; fixedVersion?: string } {
  if (debian.status === 'resolved') {
    const fixed = debian.fixedVersion;
    if (fixed === undefined || fixed === '' || fixed === '0') return { status: 'not_affected' };
    let installedIsFixed: boolean;
    try {
      installedIsFixed = compareVersions(installedSourceVersion, fixed) >= 0;
    } catch {
      // A fixed version dpkg cannot parse: report it open rather than hide it.
      return { status: 'affected' };
    }
    return installedIsFixed ? { status: 'not_affected' } : { status: 'fixed', fixedVersion: fixed };
  }
  // open, undetermined (unknown whether affected: reported, as the tracker lists it for the release)
  const urgency = debian.urgency?.replace(/\*+$/, '').trim();
  if (urgency === 'end-of-life') return { status: 'end_of_life' };
  if (debian.nodsaReason === 'postponed') return { status: 'fix_deferred' };
  if (debian.nodsaReason === 'ignored') return { status: 'will_not_fix' };
  if (urgency === 'unimportant') return { status: 'will_not_fix' };
  return { status: 'affected' };
}

/**
 * Debian packages are looked up by their SOURCE package (dpkg `Source:`, which may name another
 * version: binNMUs `+bN` are built from an unchanged source) against the image's release: the
 * tracker's entries for the release codename, and OSV `Debian:<major>` records. Versions compare
 * in dpkg order. The finding keeps the binary name and version (scan.ts).
 */
export const debianMatcher: Matcher = {
  ecosystem: 'deb',
  lookupNames: (pkg) => [pkg.source?.name ?? pkg.name],
  match(pkg: SbomPackage, context: MatchContext): Candidate[] {
    const release = context.release;
    if (!release?.codename) return [];
    const sourceName = pkg.source?.name ?? pkg.name;
    const sourceVersion = pkg.source?.version ?? pkg.version;
    const osvRelease = osvDebianEcosystem(release);
    const out: Candidate[] = [];
    for (const record of context.reader.affected('deb', sourceName)) {
      if (record.debian && record.source !== 'osv') {
        if (record.release !== release.codename) continue;
        const verdict = trackerStatus(record.debian, sourceVersion);
        out.push({ vulnerabilityId: record.vulnerabilityId, record, ...verdict, authoritative: true });
      } else if (record.osv) {
        if (record.release !== undefined && record.release !== osvRelease) continue;
        if (isWithdrawn(record, context)) continue;
        out.push(osvCandidate({ ...record, osv: record.osv }, sourceVersion, compareVersions));
      }
    }
    return out;
  },
};

export { compareVersions as compareDebianVersions };
