import type { SbomPackage } from '../../sbom/model.js';
import type { DistroRelease } from '../release.js';
import type { AdvisoryEcosystem, AdvisoryReader, AffectedRecord, FindingStatus } from '../types.js';

/** One feed's verdict on one installed package for one vulnerability id. */
export interface Candidate {
  vulnerabilityId: string;
  record: AffectedRecord;
  /** `not_affected` verdicts are kept so the distro's own "fixed before yours" can overrule other feeds. */
  status: FindingStatus;
  fixedVersion?: string;
  /**
   * The distro's own verdict (the Debian tracker for deb packages). When a vulnerability has one,
   * other feeds' verdicts for it (OSV's Debian records) are not used: rampart agrees with the tracker.
   */
  authoritative: boolean;
}

export interface MatchContext {
  reader: AdvisoryReader;
  release: DistroRelease | undefined;
  /** For OSV `withdrawn` */
  now: Date;
}

/** grype's layout: one matcher per ecosystem, each knowing its version order and name rules. */
export interface Matcher {
  ecosystem: AdvisoryEcosystem;
  match(pkg: SbomPackage, context: MatchContext): Candidate[];
  /** The names `match` looks the package up by (`reader.affected`), so a scan can fetch them all at once. */
  lookupNames(pkg: SbomPackage): string[];
}

/** OSV withdrawn: a record withdrawn at or before the scan time is ignored. */
export function isWithdrawn(record: AffectedRecord, context: MatchContext, withdrawn?: string): boolean {
  const when = record.osv?.withdrawn ?? withdrawn;
  if (!when) return false;
  const t = Date.parse(when);
  // An unparseable date still says the record was withdrawn.
  return Number.isNaN(t) || t <= context.now.getTime();
}
