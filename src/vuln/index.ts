/** `rampart/vuln`: the scanner as a library (issue 14). */

export {
  encodeScan,
  encodeScanCycloneDx,
  encodeScanOpenVex,
  encodeScanSarif,
  encodeScanTable,
  SCAN_FORMATS,
  type ScanEncodeOptions,
  type ScanFormat,
} from './encode/index.js';
// The advisory store and its feeds (vstore).
export {
  detectFormat,
  type FeedImportResult,
  IMPORT_FORMATS,
  type ImportFormat,
  type ImportInput,
  type ImportOptions,
  importAdvisories,
} from './import/index.js';
export { trackerStatus } from './match/debian.js';
export { MATCHERS } from './match/index.js';
export type { Candidate, MatchContext, Matcher } from './match/matcher.js';
export { compareMavenVersions } from './match/maven-version.js';
export { osvAffects } from './match/osv-range.js';
export { compareByEcosystem, type VersionCompare } from './match/versions.js';
export { type DistroRelease, debianRelease } from './release.js';
export { findingsAtOrAbove, SCAN_WARNINGS, type ScanOptions, scanSbomDocument } from './scan.js';
export {
  type ScanInputOptions,
  type ScanInputResult,
  sbomForInput,
  scanInput,
  verifiedAttachedVex,
} from './scan-input.js';
export {
  chooseSeverity,
  SEVERITY_ORDER,
  scoreCvss,
  severityFromScore,
  severityFromUrgency,
} from './severity.js';
export { type FeedReport, STALE_AFTER_MS, type StoreStatusReport, storeStatusReport } from './status.js';
export {
  AdvisoryStore,
  AdvisoryWriter,
  type FeedStatus,
  normalizePackageName,
  type OpenStoreOptions,
  openAdvisoryStore,
} from './store.js';
export { ADVISORY_DB_VARIABLE, advisoryDbPath } from './store-path.js';
export * from './types.js';
export {
  configuredFeeds,
  DEFAULT_FEEDS,
  type FeedConfig,
  type FeedUpdateResult,
  type UpdateEvent,
  type UpdateOptions,
  updateAdvisories,
} from './update.js';
export { decidingStatement, parseOpenVex, purlMatches, statementApplies } from './vex.js';
