/**
 * The public surface of src/builder (also `rampart/builder`): build an image from a spec, read
 * specs and locks. Modules and names not listed here are internals and may change without notice.
 */
export { type FileSourceRecord, PSEUDO_FILESYSTEMS } from './app-files.js';
export { type AssembledRootfs, assembleRootfs, type HardeningChange } from './assemble.js';
export { type ContentRef, ContentStore, openContent, type TreeContent } from './content.js';
export { LAYER_TIERS, planLayers } from './layering.js';
export {
  DEFAULT_VARIANT_KEY,
  type LockedPackage,
  type LockedRelease,
  type LockFile,
  type LockRequest,
  lockPathFor,
  readLock,
  type VariantLock,
} from './lock.js';
export {
  type BuildEvent,
  type BuildOptions,
  type BuildPhase,
  type BuildResult,
  buildImage,
  type LayerSummary,
  type PlatformSummary,
} from './pipeline.js';
export type { BuildInvocation } from './record.js';
export { type BuildRecord, buildRecordPath } from './record.js';
export { DEFAULT_SKIP } from './resolve.js';
export {
  applyVariant,
  type DebianArch,
  type FileSpec,
  type GroupSpec,
  type ImageSpec,
  loadImageSpec,
  type PathSpec,
  parseImageSpec,
  type SpecLocator,
  SUPPORTED_ARCHS,
  type UserSpec,
  type VariantSpec,
} from './spec.js';
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
