export { type AssembledRootfs, assembleRootfs } from './assemble.js';
export { LAYER_TIERS, planLayers } from './layering.js';
export { type LockedPackage, type LockFile, lockPathFor, readLock } from './lock.js';
export {
  type BuildEvent,
  type BuildOptions,
  type BuildResult,
  buildImage,
  type PlatformSummary,
} from './pipeline.js';
export { type BuildRecord, buildRecordPath } from './record.js';
export { DEFAULT_SKIP } from './resolve.js';
export { applyVariant, type ImageSpec, loadImageSpec, parseImageSpec } from './spec.js';
