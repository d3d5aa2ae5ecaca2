import { createHash } from 'node:crypto';
import type { Digest } from '../oci/digest.js';
import type { Image, Layer } from '../oci/image.js';
import { readLayerEntries, type SkippedEntry } from '../oci/tar-safety.js';
import { compareText } from '../util/compare-text.js';

/**
 * Where two images of one platform differ: layer by layer (by position), and inside a layer
 * whose digest differs, file by file (type, mode, owner, size, content digest, link target).
 * Layers are read as streams; only one line of facts per file is held.
 */

export interface FileFacts {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  sha256?: string;
  linkTarget?: string;
}

export interface FileDifference {
  path: string;
  /** `only-in-image`: the verified image has it and the rebuild does not; `only-in-rebuild`: the reverse. */
  change: 'only-in-image' | 'only-in-rebuild' | 'modified';
  /** In the image verified. */
  expected?: FileFacts;
  /** In the rebuilt image. */
  rebuilt?: FileFacts;
}

export interface LayerDifference {
  /** Position in the manifest (0-based). */
  index: number;
  expected?: Digest;
  rebuilt?: Digest;
  files: FileDifference[];
  /** More files differ than are listed (MAX_FILE_DIFFERENCES). */
  truncated?: boolean;
}

export interface ImageDifference {
  /** Whether the configs (created time, env, entrypoint, diff_ids...) differ. */
  config: boolean;
  layers: LayerDifference[];
}

/** Bound on the files listed per layer: a different base can differ everywhere. */
export const MAX_FILE_DIFFERENCES = 1000;

export async function diffImages(
  expected: Image,
  rebuilt: Image,
  signal?: AbortSignal,
): Promise<ImageDifference> {
  const layers: LayerDifference[] = [];
  const count = Math.max(expected.layers.length, rebuilt.layers.length);
  for (let index = 0; index < count; index++) {
    signal?.throwIfAborted();
    const a = expected.layers[index];
    const b = rebuilt.layers[index];
    if (a && b && a.descriptor.digest === b.descriptor.digest) continue;
    const before = a ? await layerFiles(a, signal) : new Map<string, FileFacts>();
    const after = b ? await layerFiles(b, signal) : new Map<string, FileFacts>();
    const files = diffFiles(before, after);
    layers.push({
      index,
      ...(a ? { expected: a.descriptor.digest } : {}),
      ...(b ? { rebuilt: b.descriptor.digest } : {}),
      files: files.slice(0, MAX_FILE_DIFFERENCES),
      ...(files.length > MAX_FILE_DIFFERENCES ? { truncated: true } : {}),
    });
  }
  return { config: expected.configDescriptor.digest !== rebuilt.configDescriptor.digest, layers };
}

/** Every entry of a layer with its facts (whiteouts as type `whiteout`), content hashed while read. */
export async function layerFiles(layer: Layer, signal?: AbortSignal): Promise<Map<string, FileFacts>> {
  const files = new Map<string, FileFacts>();
  // A hostile entry (a path leaving the root, a bad link) is a difference to report, not a failure.
  const onSkippedEntry = (skipped: SkippedEntry) =>
    files.set(skipped.name, { type: `unsafe:${skipped.reason}`, mode: 0, uid: 0, gid: 0, size: 0 });
  for await (const { entry, body } of readLayerEntries(await layer.uncompressed(), { onSkippedEntry })) {
    signal?.throwIfAborted();
    if (entry.kind === 'whiteout') {
      files.set(entry.path, { type: 'whiteout', mode: 0, uid: 0, gid: 0, size: 0 });
      continue;
    }
    if (entry.kind === 'opaque') {
      files.set(`${entry.dir}/.wh..wh..opq`, { type: 'opaque', mode: 0, uid: 0, gid: 0, size: 0 });
      continue;
    }
    let sha256: string | undefined;
    if (entry.type === 'file') {
      const hash = createHash('sha256');
      for await (const chunk of body) hash.update(chunk);
      sha256 = hash.digest('hex');
    }
    const linkTarget = entry.symlinkTarget ?? entry.hardlinkTarget;
    files.set(entry.path, {
      type: entry.type,
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      size: entry.size,
      ...(sha256 ? { sha256 } : {}),
      ...(linkTarget !== undefined ? { linkTarget } : {}),
    });
  }
  return files;
}

/** The files that are only on one side, or differ in any fact, sorted by path. */
export function diffFiles(
  expected: ReadonlyMap<string, FileFacts>,
  rebuilt: ReadonlyMap<string, FileFacts>,
): FileDifference[] {
  const out: FileDifference[] = [];
  for (const [path, facts] of expected) {
    const other = rebuilt.get(path);
    if (!other) out.push({ path, change: 'only-in-image', expected: facts });
    else if (!sameFacts(facts, other))
      out.push({ path, change: 'modified', expected: facts, rebuilt: other });
  }
  for (const [path, facts] of rebuilt) {
    if (!expected.has(path)) out.push({ path, change: 'only-in-rebuild', rebuilt: facts });
  }
  return out.sort((a, b) => compareText(a.path, b.path));
}

function sameFacts(a: FileFacts, b: FileFacts): boolean {
  return (
    a.type === b.type &&
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    a.size === b.size &&
    a.sha256 === b.sha256 &&
    a.linkTarget === b.linkTarget
  );
}
