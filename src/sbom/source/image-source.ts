import type { FileContent, FileNode, FileNodeKind, FileSource } from './file-source.js';

/** The parts of src/oci's FsTree this adapter needs (kept structural so sbom/ builds on its own). */
export interface FsTreeLike {
  entries(): ReadonlyArray<{
    path: string;
    kind: string;
    mode: number;
    size: number;
    linkTarget?: string;
  }>;
}

export interface LayeredImage {
  layers: ReadonlyArray<unknown>;
}

export interface ImageFsAccess<I, T extends FsTreeLike> {
  flattenImage(image: I): Promise<T>;
  readFiles(image: I, tree: T, wanted: ReadonlySet<string>): AsyncIterable<FileContent>;
}

/**
 * A FileSource over an image's flattened filesystem: the layers are streamed once to list the
 * tree, and once more (only if something matched) to read the catalogers' files.
 */
export async function imageFileSource<I extends LayeredImage, T extends FsTreeLike>(
  fullImage: I,
  oci: ImageFsAccess<I, T>,
  onError: (path: string, error: unknown) => void,
): Promise<FileSource> {
  const { image, tree } = await flattenSkippingBadLayers(fullImage, oci, onError);
  const nodes: FileNode[] = tree.entries().map((entry) => ({
    path: entry.path,
    kind: toKind(entry.kind),
    size: entry.size,
    mode: entry.mode & 0o7777,
    ...(entry.linkTarget !== undefined ? { linkTarget: entry.linkTarget } : {}),
  }));
  return {
    nodes: () => nodes,
    async *read(paths, onError) {
      if (paths.size === 0) return;
      try {
        yield* oci.readFiles(image, tree, paths);
      } catch (error) {
        // A truncated or corrupt layer: keep what was read so far and report the rest.
        onError('(image layers)', error);
      }
    },
  };
}

/**
 * A truncated or corrupt layer should cost the packages in that layer, not the whole SBOM: when
 * flattening fails, each layer is tried on its own and the unreadable ones are left out (with a
 * warning). The returned image has only the good layers, so tree and reads stay consistent.
 * When no layer can be read the image is corrupt, and that is an error: an empty SBOM would tell
 * a scanner there is nothing to find.
 */
async function flattenSkippingBadLayers<I extends LayeredImage, T extends FsTreeLike>(
  image: I,
  oci: ImageFsAccess<I, T>,
  onError: (path: string, error: unknown) => void,
): Promise<{ image: I; tree: T }> {
  try {
    return { image, tree: await oci.flattenImage(image) };
  } catch (firstError) {
    const good: unknown[] = [];
    for (const [index, layer] of image.layers.entries()) {
      try {
        await oci.flattenImage({ ...image, layers: [layer] });
        good.push(layer);
      } catch (error) {
        onError(`(layer ${index})`, error);
      }
    }
    if (good.length === 0 || good.length === image.layers.length) throw firstError;
    const partial = { ...image, layers: good } as I;
    return { image: partial, tree: await oci.flattenImage(partial) };
  }
}

function toKind(kind: string): FileNodeKind {
  if (kind === 'file' || kind === 'directory' || kind === 'symlink' || kind === 'hardlink') return kind;
  return 'other';
}
