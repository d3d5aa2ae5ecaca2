/**
 * The public surface of src/builder (also `rampart/builder`): build an image from a spec, read
 * specs and locks. Modules and names not listed here are internals and may change without notice.
 */
export { type AssembledRootfs, assembleRootfs, type HardeningChange } from './assemble.js';
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
