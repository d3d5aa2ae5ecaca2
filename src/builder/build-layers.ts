import { type BuiltLayer, buildLayer, type LayerEntry } from '../oci/layer-writer.js';
import { cachedLayer, layerCacheKey, storeLayer } from './build-cache.js';
import { type LayerPlanEntry, planLayers } from './layering.js';
import type { FileTree } from './tree.js';

/** Builds the planned layers' blobs into `dir`, in order. */
export async function buildLayers(
  tree: FileTree,
  installed: readonly string[],
  opts: {
    dir: string;
    sourceDateEpoch: number;
    cacheDir?: string;
    log?: (message: string) => void;
    /** Called as each layer is ready, in order (`cached`: taken from the layer cache). */
    onLayer?: (layer: { plan: LayerPlanEntry; built: BuiltLayer; cached: boolean }) => void;
  },
): Promise<Array<{ plan: LayerPlanEntry; built: BuiltLayer }>> {
  const result: Array<{ plan: LayerPlanEntry; built: BuiltLayer }> = [];
  for (const plan of planLayers(tree, installed)) {
    const entries = layerEntries(tree, plan.paths);
    const key = opts.cacheDir ? layerCacheKey(entries, opts.sourceDateEpoch) : undefined;
    let built = opts.cacheDir && key ? await cachedLayer(opts.cacheDir, key) : undefined;
    const cached = built !== undefined;
    if (!built) {
      built = await buildLayer(entries, { dir: opts.dir, sourceDateEpoch: opts.sourceDateEpoch });
      if (opts.cacheDir && key) built = await storeLayer(opts.cacheDir, key, built);
    }
    opts.log?.(
      `layer ${plan.name}: ${plan.paths.length} entries, ${built.descriptor.size} bytes${cached ? ' (cached)' : ''}`,
    );
    opts.onLayer?.({ plan, built, cached });
    result.push({ plan, built });
  }
  return result;
}

export function layerEntries(tree: FileTree, paths: readonly string[]): LayerEntry[] {
  return paths.map((path) => {
    const node = tree.get(path)!;
    const entry: LayerEntry = { path, type: node.type, mode: node.mode, uid: node.uid, gid: node.gid };
    if (node.type === 'file') entry.content = node.content ?? Buffer.alloc(0);
    if (node.target !== undefined) entry.target = node.target;
    return entry;
  });
}
