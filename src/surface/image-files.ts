import type { Readable } from 'node:stream';
import { RampartError } from '../errors.js';
import type { FsTree } from '../oci/fs-tree.js';
import { comparePaths, normaliseTreePath } from '../oci/fs-tree.js';
import { readLayerEntries } from '../oci/tar-safety.js';

type LayeredImage = { layers: ReadonlyArray<{ uncompressed(): Promise<Readable> }> };

/**
 * Streams the final content of the wanted regular files (and hardlinks) of an image to `visit`,
 * one layer read per layer that holds any of them. Unlike `readFiles` (src/oci/fs-view.ts), which
 * buffers each file whole for the catalogers' small metadata files, this hands over the body as a
 * stream: diff hashes every changed file (a 100 MB `node` binary included) and lint reads only a
 * bounded prefix, so neither may hold a whole file in memory. `visit` may stop reading early; the
 * rest of the entry is drained. Paths sharing one stored entry (hardlinks) are visited together.
 */
export async function visitFinalFiles(
  image: LayeredImage,
  tree: FsTree,
  wanted: Iterable<string>,
  visit: (paths: string[], body: AsyncIterable<Buffer>) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const byLayer = new Map<number, Map<number, string[]>>();
  for (const path of [...new Set([...wanted].map(normaliseTreePath))].sort(comparePaths)) {
    const node = tree.get(path);
    if (!node || (node.kind !== 'file' && node.kind !== 'hardlink')) continue;
    const source = tree.contentSource(path);
    if (!source) continue;
    const entries = byLayer.get(source.layer) ?? new Map<number, string[]>();
    entries.set(source.entry, [...(entries.get(source.entry) ?? []), path]);
    byLayer.set(source.layer, entries);
  }
  for (const layer of [...byLayer.keys()].sort((a, b) => a - b)) {
    const remaining = byLayer.get(layer) as Map<number, string[]>;
    const layerRef = image.layers[layer];
    if (!layerRef) throw new RampartError('MALFORMED_ARCHIVE', `image has no layer ${layer}`);
    // Lenient as when the tree was built, so entry positions agree.
    const lenient = { onSkippedEntry: () => undefined };
    for await (const { entry, body } of readLayerEntries(await layerRef.uncompressed(), lenient)) {
      if (signal?.aborted)
        throw new RampartError('CANCELLED', 'reading image files was cancelled', {
          cause: signal.reason,
          details: { operation: 'read image files' },
        });
      const paths = remaining.get(entry.index);
      if (!paths) continue;
      await visit(paths, body);
      remaining.delete(entry.index);
      if (remaining.size === 0) break;
    }
    if (remaining.size > 0)
      throw new RampartError(
        'MALFORMED_ARCHIVE',
        `layer ${layer} changed between reads: entries ${[...remaining.keys()].join(', ')} were not found again`,
      );
  }
}
