/**
 * rampart as a library: everything the CLI does, as functions. Each domain is also its own entry
 * point (`rampart/oci`, `rampart/registry`, `rampart/debian`, `rampart/builder`, `rampart/sbom`,
 * `rampart/errors`); this module re-exports them all. Loading it loads no CLI code.
 *
 *   import { buildImage, generateSbom, openImage } from 'rampart';
 */

// Both domains name a package pinned by a lock; the lock file's (what a build records) is the one
// exported here. The resolver's is `Resolution['packages'][number]`.
export type { LockedPackage } from './builder/index.js';
export * from './builder/index.js';
export * from './debian/index.js';
export * from './errors.js';
export * from './oci/index.js';
export * from './registry/index.js';
export * from './sbom/index.js';
export { VERSION } from './version.js';
