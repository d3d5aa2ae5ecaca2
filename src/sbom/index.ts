/**
 * The public surface of src/sbom (also `rampart/sbom`): generate an SBOM of an image or a root
 * filesystem, encode it (SPDX 2.3, CycloneDX 1.6, rampart JSON, a table), read SPDX/CycloneDX back.
 */
export { type CatalogResult, catalogFileSource, DEFAULT_CATALOGERS } from './catalog.js';
export { type CachedCatalog, type CatalogCache, catalogCache } from './catalog-cache.js';
export type { CatalogContext, Cataloger, CatalogerRun, RawPackage } from './cataloger.js';
export { type CycloneDxEncodeOptions, encodeCycloneDxJson } from './encode/cyclonedx.js';
export {
  type EncodeOptions,
  encodeSbom,
  type OutputSpec,
  parseOutputSpec,
  SBOM_FORMATS,
  type SbomFormat,
} from './encode/index.js';
export { encodeSpdxJson, type SpdxEncodeOptions } from './encode/spdx.js';
export { encodeTable } from './encode/table.js';
export {
  type GenerateOptions,
  generateSbom,
  inputFromReference,
  type OpenedImage,
  type SbomInput,
} from './generate.js';
export * from './model.js';
export { comparePackages } from './order.js';
export { readSbom } from './read/read-sbom.js';
export { directoryFileSource } from './source/dir-source.js';
export { type FileContent, type FileNode, type FileSource, memoryFileSource } from './source/file-source.js';
export { writeSbomFiles } from './write.js';
