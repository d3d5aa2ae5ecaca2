/**
 * The public surface of src/debian (also `rampart/debian`): dpkg versions, deb822, verified APT
 * repositories, the resolver, verified downloads, the .deb reader and the download cache. Modules
 * and names not listed here are internals and may change without notice.
 */
export {
  type AptMirrors,
  type AptSource,
  DEFAULT_KEYRING,
  parseDeb822Sources,
  parseOneLineSources,
  readHostAptSources,
  resolveMirrors,
} from './apt-sources.js';
export { defaultCacheDir } from './cache.js';
export {
  type CacheUsage,
  cacheUsage,
  type PruneOptions as CachePruneOptions,
  type PruneResult as CachePruneResult,
  pruneCache,
  sweepAbandonedCacheTemps,
} from './cache-maintenance.js';
export {
  type DebControl,
  type DebEntry,
  type DebEntryHeader,
  type DebEntryType,
  readDeb,
  readDebData,
} from './deb-reader.js';
export { field, type Paragraph, parseDeb822 } from './deb822.js';
export {
  type DownloadablePackage,
  type DownloadEvent,
  type DownloadOptions,
  downloadPackages,
} from './download.js';
export {
  parseRelease,
  type Release,
  type ReleaseFileEntry,
  readKeyring,
  verifyInRelease,
} from './inrelease.js';
export { diffLockedPackages, findLockedInIndex, type LockDiff } from './lock.js';
export { type BinaryPackage, PackageIndex, parsePackagesFile } from './package-index.js';
export { formatRelation, parseRelations, type Relation, type RelationGroup } from './relations.js';
export {
  type LoadedRelease,
  type LoadedRepositories,
  type LoadRepositoriesOptions,
  loadRepositories,
} from './repository.js';
export {
  type LockedPackage,
  type Resolution,
  type ResolveRequest,
  resolvePackageClosure,
} from './resolver.js';
export {
  compareVersions,
  type DebianVersion,
  parseVersion,
  satisfiesConstraint,
  type VersionOp,
} from './version.js';
