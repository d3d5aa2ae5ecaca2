/**
 * The public surface of src/oci (also `rampart/oci`): open, select, read and write images and
 * indexes from any transport, references, digests, platforms and the OCI document types. Modules
 * not named here are internals and may change without notice.
 */
export {
  type Digest,
  digestHex,
  digestStream,
  isDigest,
  parseDigest,
  sha256Digest,
  verifyingStream,
} from './digest.js';
export { extractLayers } from './extract.js';
export type { FsNode, FsNodeKind, FsTree } from './fs-tree.js';
export { flattenImage, readFiles } from './fs-view.js';
export { type Image, type ImageOrIndex, type Index, type Layer, selectImage } from './image.js';
export {
  isIndexMediaType,
  isManifestMediaType,
  type KnownMediaType,
  type LayerCompression,
  layerCompression,
  MediaType,
} from './media-types.js';
export { openImage, writeImage } from './open.js';
export {
  debianArchToPlatform,
  formatPlatform,
  hostPlatform,
  parsePlatform,
  platformMatches,
  platformToDebianArch,
} from './platform.js';
export {
  formatImageReference,
  type ImageReference,
  parseImageReference,
  type Transport,
} from './reference.js';
export { type ImageSummary, summarizeImage, totalLayerSize } from './summary.js';
export type {
  ContainerConfig,
  Descriptor,
  History,
  ImageConfig,
  ImageManifest,
  IndexManifest,
  Platform,
} from './types.js';
