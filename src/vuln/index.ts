/** `rampart/vuln`: the scanner as a library (issue 14). */

export { trackerStatus } from './match/debian.js';
export { MATCHERS } from './match/index.js';
export type { Candidate, MatchContext, Matcher } from './match/matcher.js';
export { compareMavenVersions } from './match/maven-version.js';
export { osvAffects } from './match/osv-range.js';
export { compareByEcosystem, type VersionCompare } from './match/versions.js';
export { type DistroRelease, debianRelease } from './release.js';
export { findingsAtOrAbove, SCAN_WARNINGS, type ScanOptions, scanSbomDocument } from './scan.js';
export {
  chooseSeverity,
  SEVERITY_ORDER,
  scoreCvss,
  severityFromScore,
  severityFromUrgency,
} from './severity.js';
export * from './types.js';
export { decidingStatement, parseOpenVex, purlMatches, statementApplies } from './vex.js';
