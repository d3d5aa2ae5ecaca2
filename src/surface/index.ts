/** Attack-surface metrics and comparison (issue 15): `rampart/surface`. */
export * from './classify.js';
export {
  type AgainstOptions,
  type CompareOptions,
  type CompareRow,
  compareAgainst,
  compareMetrics,
  compareRows,
  compareSurfaces,
  formatCompareText,
  reductionPercent,
} from './compare.js';
export { renderCompareHtml } from './html-report.js';
export {
  type MeasureOptions,
  measureDirectory,
  measureImage,
  measureSurface,
  resolveUser,
  type VulnerabilityCounter,
} from './metrics.js';
export {
  ensureStandardRoot,
  mainPackages,
  parseAgainst,
  type StandardRoot,
  type StandardRootRequest,
} from './standard-root.js';
export type * from './types.js';
