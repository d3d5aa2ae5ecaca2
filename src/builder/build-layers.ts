import { addAbortSignal } from 'node:stream';
import { type BuiltLayer, buildLayer, type LayerEntry } from '../oci/layer-writer.js';
import { cachedLayer, layerCacheKey, storeLayer } from './build-cache.js';
import { isContentRef, openContent } from './content.js';
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
    signal?: AbortSignal;
    log?: (message: string) => void;
    /** Called as each layer is ready, in order (`cached`: taken from the layer cache). */
    onLayer?: (layer: { plan: LayerPlanEntry; built: BuiltLayer; cached: boolean }) => void;
  },
): Promise<Array<{ plan: LayerPlanEntry; built: BuiltLayer }>> {
  const result: Array<{ plan: LayerPlanEntry; built: BuiltLayer }> = [];
  for (const plan of planLayers(tree, installed)) {
    opts.signal?.throwIfAborted();
    const entries = layerEntries(tree, plan.paths);
    const key = opts.cacheDir ? layerCacheKey(entries, opts.sourceDateEpoch) : undefined;
    let built = opts.cacheDir && key ? await cachedLayer(opts.cacheDir, key) : undefined;
    const cached = built !== undefined;
    if (!built) {
      built = await buildLayer(withSignal(entries, opts.signal), {
        dir: opts.dir,
        sourceDateEpoch: opts.sourceDateEpoch,
      });
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

/** The layer's entries; referenced file contents are streamed (and verified) as the tar is written. */
export function layerEntries(
  tree: FileTree,
  paths: readonly string[],
): Array<LayerEntry & { sha256?: string }> {
  return paths.map((path) => {
    const node = tree.get(path)!;
    const entry: LayerEntry & { sha256?: string } = {
      path,
      type: node.type,
      mode: node.mode,
      uid: node.uid,
      gid: node.gid,
    };
    if (node.type === 'file') {
      const content = node.content;
      if (isContentRef(content)) {
        entry.content = () => openContent(content);
        entry.size = content.size;
        entry.sha256 = content.sha256;
      } else entry.content = content ?? Buffer.alloc(0);
    }
    if (node.target !== undefined) entry.target = node.target;
    return entry;
  });
}

/** Streamed contents stop as soon as the signal fires (the layer writer then fails and cleans up). */
function withSignal(entries: LayerEntry[], signal: AbortSignal | undefined): LayerEntry[] {
  if (!signal) return entries;
  return entries.map((e) => {
    const open = e.content;
    if (typeof open !== 'function') return e;
    return { ...e, content: () => addAbortSignal(signal, open()) };
  });
}
