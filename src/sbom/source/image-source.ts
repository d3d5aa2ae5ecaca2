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

/**
 * An entry the flattener left out (see src/oci/fs-view.ts FlattenOptions), with its layer; with
 * no `index` and reason 'unreadable-layer', a whole layer that could not be read.
 */
export interface SkippedImageEntry {
  layer: number;
  index?: number;
  name: string;
  reason: string;
  message: string;
}

export interface ImageFsAccess<I, T extends FsTreeLike> {
  flattenImage(image: I, options?: { onSkippedEntry?: (entry: SkippedImageEntry) => void }): Promise<T>;
  readFiles(image: I, tree: T, wanted: ReadonlySet<string>): AsyncIterable<FileContent>;
}

/**
 * A FileSource over an image's flattened filesystem: the layers are streamed once to list the
 * tree, and once more (only if something matched) to read the catalogers' files.
 */
export async function imageFileSource<I extends LayeredImage, T extends FsTreeLike>(
  fullImage: I,
  oci: ImageFsAccess<I, T>,
  onSkippedEntry: (entry: SkippedImageEntry) => void,
): Promise<FileSource> {
  const { image, tree } = await flattenSkippingBadLayers(fullImage, oci, onSkippedEntry);
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
 * One hostile entry costs only that entry: the flattener runs leniently and reports each entry it
 * leaves out (`..`, absolute, NUL, overlong, written through a symlink, a broken hardlink), so a
 * `../x` entry cannot hide the `/var/lib/dpkg/status` beside it.
 *
 * A truncated or corrupt layer (the tar or its compression cannot be read to the end; its digest
 * was never verified) costs the packages in that layer, not the whole SBOM: each layer is tried
 * on its own and the unreadable ones are left out (with a warning). The returned image has only
 * the good layers, so tree and reads stay consistent. When no layer can be read the image is
 * corrupt, and that is an error: an empty SBOM would tell a scanner there is nothing to find.
 */
async function flattenSkippingBadLayers<I extends LayeredImage, T extends FsTreeLike>(
  image: I,
  oci: ImageFsAccess<I, T>,
  onSkippedEntry: (entry: SkippedImageEntry) => void,
): Promise<{ image: I; tree: T }> {
  const flatten = async (layers: readonly number[]) => {
    const skipped: SkippedImageEntry[] = [];
    const tree = await oci.flattenImage(
      { ...image, layers: layers.map((i) => image.layers[i]) },
      // The flattener numbers the layers it was given; report the image's own numbers.
      { onSkippedEntry: (entry) => skipped.push({ ...entry, layer: layers[entry.layer] ?? entry.layer }) },
    );
    return { tree, skipped };
  };
  const all = image.layers.map((_, i) => i);
  let result: { tree: T; skipped: SkippedImageEntry[] };
  let kept = all;
  try {
    result = await flatten(all);
  } catch (firstError) {
    const good: number[] = [];
    for (const index of all) {
      try {
        await flatten([index]);
        good.push(index);
      } catch (error) {
        onSkippedEntry({
          layer: index,
          name: '',
          reason: 'unreadable-layer',
          message: error instanceof Error ? error.message : String(error),
        });
      }
    }
    if (good.length === 0 || good.length === all.length) throw firstError;
    kept = good;
    result = await flatten(good);
  }
  for (const entry of result.skipped) onSkippedEntry(entry);
  const partial = kept === all ? image : ({ ...image, layers: kept.map((i) => image.layers[i]) } as I);
  return { image: partial, tree: result.tree };
}

function toKind(kind: string): FileNodeKind {
  if (kind === 'file' || kind === 'directory' || kind === 'symlink' || kind === 'hardlink') return kind;
  return 'other';
}
