export { type FileSourceRecord, PSEUDO_FILESYSTEMS } from './app-files.js';
export { type AssembledRootfs, assembleRootfs } from './assemble.js';
export { type ContentRef, ContentStore, type FileContent, openContent } from './content.js';
export { LAYER_TIERS, planLayers } from './layering.js';
export { type LockedPackage, type LockFile, lockPathFor, readLock } from './lock.js';
export {
  type BuildEvent,
  type BuildOptions,
  type BuildResult,
  buildImage,
  type PlatformSummary,
} from './pipeline.js';
export type { BuildInvocation } from './record.js';
export { type BuildRecord, buildRecordPath } from './record.js';
export { DEFAULT_SKIP } from './resolve.js';
export { applyVariant, type ImageSpec, loadImageSpec, parseImageSpec } from './spec.js';
export {
  assembleStage,
  BUILDER_ID,
  type BuildContext,
  type BuildPlan,
  buildRecordOf,
  checkRequest,
  type FetchedPackages,
  fetchStage,
  layerStage,
  planBuild,
  recordStage,
  resolveStage,
  writeStage,
} from './stages.js';
