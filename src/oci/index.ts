/**
 * The public surface of src/oci (also `rampart/oci`): open, select, read and write images and
 * indexes from any transport, references, digests, platforms and the OCI document types. Modules
 * not named here are internals and may change without notice.
 */

export {
  type Attachment,
  type AttachmentKind,
  type AttachmentStore,
  copiedManifestDigests,
  type FoundAttachment,
  findAttachments,
  layoutAttachmentStore,
  legacyAttachmentTag,
  MAX_ATTACHMENTS,
  parseSubject,
  referrersTag,
} from './attachments.js';
export {
  type CopiedBytes,
  type CopyEvent,
  type CopyOptions,
  type CopyResult,
  copy,
  DEFAULT_JOBS,
} from './copy.js';
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
export {
  artifactTypeOf,
  type Image,
  type ImageOrIndex,
  type Index,
  type Layer,
  type Manifest,
  type OciObject,
  resolveImage,
  selectImage,
} from './image.js';
export {
  isIndexMediaType,
  isManifestMediaType,
  type KnownMediaType,
  type LayerCompression,
  layerCompression,
  MediaType,
} from './media-types.js';
export { checkHoldsAttachments, openAttachmentStore, openImage, openSink, writeImage } from './open.js';
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
export type { ImageSink, PutManifestOptions } from './sink.js';
export {
  type ArtifactSummary,
  type ImageSummary,
  type RootfsSummary,
  summarizeArtifact,
  summarizeImage,
  summarizeRootfsDirectory,
  totalLayerSize,
} from './summary.js';
export type {
  ContainerConfig,
  Descriptor,
  History,
  ImageConfig,
  ImageManifest,
  IndexManifest,
  Platform,
} from './types.js';
export { validate } from './validate.js';
