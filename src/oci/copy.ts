import { addAbortSignal, Readable } from 'node:stream';
import { RampartError } from '../errors.js';
import { forwardRecyclable } from '../util/chunk-pool.js';
import { mapBounded } from '../util/map-bounded.js';
import { startOnRead } from '../util/start-on-read.js';
import { needsOciConversion, ociMediaType, toOciIndex, toOciManifest } from './convert.js';
import type { Digest } from './digest.js';
import { forwardVerified, sha256Digest } from './digest.js';
import type { Image, Index, Manifest, OciObject } from './image.js';
import { selectIndexEntry } from './image.js';
import { isImageConfigMediaType } from './media-types.js';
import { formatPlatform, platformMatches } from './platform.js';
import type { BlobOrigin, ImageSink } from './sink.js';
import type { Descriptor, ImageConfig, Platform } from './types.js';
import { ImageConfigSchema, parseJsonBytes } from './types.js';

export type CopyEvent =
  | { kind: 'platform'; time: Date; platform: string; digest: Digest }
  | {
      kind: 'blob';
      time: Date;
      digest: Digest;
      size: number;
      mediaType: string;
      /** `exists`: the destination had it (skipped); `mounted`: taken from another repository. */
      status: 'start' | 'copied' | 'exists' | 'mounted';
    }
  /**
   * What the copy will transfer at most: blobs (each once) and their bytes, before the first; then
   * one more for each attachment copied (`attachment: true`), before its blobs.
   */
  | { kind: 'plan'; time: Date; blobs: number; bytes: number; attachment?: true }
  /** Bytes of one blob sent so far (at most one event per MiB, and one at the end), for progress bars. */
  | { kind: 'blob-progress'; time: Date; digest: Digest; bytes: number; size: number }
  | { kind: 'manifest'; time: Date; digest: Digest; mediaType: string; root: boolean };

/** Default number of blobs transferred at once. */
export const DEFAULT_JOBS = 4;
const PROGRESS_STEP = 1024 * 1024;
/** Indexes within indexes: real ones nest one or two deep. */
export const MAX_INDEX_DEPTH = 8;
/**
 * Bound on the bytes of the manifests one copy holds (an index's children are read by the plan and
 * kept until written): a real index's children take kilobytes, and a source listing many manifests
 * near the 4 MiB each may have must not take all memory.
 */
export const MAX_COPY_MANIFEST_BYTES = 32 * 1024 * 1024;

export interface CopyOptions {
  /** Copy only this platform's image of an index (sinks that hold one image need one). */
  platform?: Platform;
  /** The tag (or NAME:TAG for docker-archive) of the root manifest at the destination. */
  tag?: string;
  /**
   * Also tag each platform image of a root index (e.g. `latest-amd64`): tools that cannot choose
   * a platform from an index (umoci 0.4) take one of these. Undefined: no extra tag.
   */
  platformTag?: (platform: Platform) => string | undefined;
  signal?: AbortSignal;
  onEvent?: (event: CopyEvent) => void;
  /** Clock for event times. */
  now?: () => Date;
  /**
   * Attachments (signatures, attestations, SBOMs, referrers; see attachments.ts) written beside the
   * root, in the same commit: byte for byte (never converted, so their digests and the subjects
   * that name them hold), each listed at the top under its legacy tag or untagged. Each is opened
   * when written, so one manifest at a time is held, however many a source lists.
   */
  attachments?: ReadonlyArray<{ open(): Promise<Manifest | Index>; tag?: string }>;
  /** Blob transfers run at once (default 4); manifests are written one by one, in order. */
  jobs?: number;
  /** Where the source's blobs live: a sink on the same registry mounts them instead of uploading. */
  mountFrom?: BlobOrigin;
}

/** Blob bytes by what happened to them; a blob counts once however many manifests name it. */
export interface CopiedBytes {
  /** Sent to the destination. */
  pushed: number;
  /** Already at the destination. */
  skipped: number;
  /** Mounted from another repository of the same registry. */
  mounted: number;
}

export interface CopyResult {
  /** The digest a reader of the destination sees for the root. */
  digest: Digest;
  mediaType: string;
  /** The platform copied, when one image was chosen from an index. */
  platform?: string;
  /** Every platform copied (of each image of an index, or of the one image), in order. */
  platforms: string[];
  bytes: CopiedBytes;
}

/** An attachment being written: kept byte for byte, at the top under this tag (or untagged). */
interface Verbatim {
  tag: string | undefined;
}

interface Written {
  descriptor: Descriptor;
  readBack: Digest;
  raw: Buffer;
}

/**
 * Copies an image, an artifact or a whole index to a sink: every blob (once, skipping those the
 * sink holds), then manifests children first, root last with the tag, then commits. Raw manifests
 * are kept byte for byte unless the sink needs OCI media types for Docker ones. Any failure or abort
 * drops what the sink staged.
 */
export async function copy(
  source: OciObject,
  sink: ImageSink,
  options: CopyOptions = {},
): Promise<CopyResult> {
  const now = options.now ?? (() => new Date());
  const emit = (event: CopyEvent): void => options.onEvent?.(event);
  const { signal } = options;
  const seen = new Set<Digest>();
  /**
   * Config bytes read (verified) to find a root's platform, by digest: written from here rather
   * than downloaded a second time (one request less per image, a round trip to a distant registry).
   */
  const configs = new Map<Digest, Buffer>();
  const platformOf = (node: Manifest | Image) => platformOfNode(node, configs);

  const checkAborted = (): void => {
    if (signal?.aborted) {
      throw new RampartError('CANCELLED', `copy to ${sink.location} was cancelled`, {
        cause: signal.reason,
        details: { operation: 'copy' },
      });
    }
  };

  const jobs = Math.max(1, Math.floor(options.jobs ?? DEFAULT_JOBS));
  const bytes: CopiedBytes = { pushed: 0, skipped: 0, mounted: 0 };
  const platforms: string[] = [];
  /** Children of the indexes being copied, read once by the plan and written after their blobs. */
  const children = new Map<Digest, Manifest | Index>();
  let heldBytes = 0;
  /** Nodes already planned: an index listing one child many times (or a DAG of them) is walked once. */
  const planned = new Set<string>();
  /** Children already written, by digest (and kept-verbatim or not): each is written once. */
  const writtenChildren = new Map<string, Promise<Written>>();
  const transfers: { node: Manifest | Image; original: Descriptor; descriptor: Descriptor }[] = [];

  /** Reads the tree (indexes' children), listing each blob once, before anything is written. */
  const plan = async (
    node: OciObject,
    root: boolean,
    platform?: Platform,
    depth = 0,
    verbatim?: boolean,
  ): Promise<void> => {
    checkAborted();
    if (node.kind === 'index') {
      // A registry can serve indexes of indexes without end (each a new digest): nesting is bounded.
      if (depth >= MAX_INDEX_DEPTH) {
        throw new RampartError(
          'MALFORMED_MANIFEST',
          `index ${node.digest} is nested more than ${MAX_INDEX_DEPTH} indexes deep`,
          { details: { location: node.digest } },
        );
      }
      for (const entry of node.manifest.manifests) {
        checkAborted();
        const child = children.get(entry.digest) ?? (await node.child(entry));
        if (!children.has(entry.digest)) {
          heldBytes += child.rawManifest.length;
          if (heldBytes > MAX_COPY_MANIFEST_BYTES) {
            throw new RampartError(
              'TOO_LARGE',
              `the manifests listed by ${node.digest} take more than ${MAX_COPY_MANIFEST_BYTES} bytes`,
              { details: { limit: MAX_COPY_MANIFEST_BYTES, digest: node.digest } },
            );
          }
          children.set(entry.digest, child);
        }
        // An attachment's platforms (an index of per-platform SBOMs) are not the image's.
        if (entry.platform && child.kind !== 'index' && !verbatim)
          platforms.push(formatPlatform(entry.platform));
        const key = `${verbatim ? 'verbatim' : 'image'} ${entry.digest}`;
        if (planned.has(key)) continue;
        planned.add(key);
        await plan(child, false, undefined, depth + 1, verbatim);
      }
      return;
    }
    if (root) {
      const found = platform ?? (await platformOf(node));
      if (found) platforms.push(formatPlatform(found));
    }
    const { manifest } = node;
    for (const original of [manifest.config, ...manifest.layers]) {
      const descriptor =
        sink.wantsOciMediaTypes && !verbatim
          ? { ...original, mediaType: ociMediaType(original.mediaType) }
          : original;
      if (seen.has(descriptor.digest)) continue;
      seen.add(descriptor.digest);
      transfers.push({ node, original, descriptor });
    }
  };

  /** One blob: skipped when present, mounted when the sink can, else streamed (reopened on retry). */
  const transfer = async (
    { node, original, descriptor }: (typeof transfers)[number],
    stop: AbortSignal,
  ): Promise<void> => {
    const base = { digest: descriptor.digest, size: descriptor.size, mediaType: descriptor.mediaType };
    if (await sink.hasBlob(descriptor)) {
      bytes.skipped += descriptor.size;
      emit({ kind: 'blob', time: now(), ...base, status: 'exists' });
      return;
    }
    if (options.mountFrom && sink.mountBlob && (await sink.mountBlob(descriptor, options.mountFrom))) {
      bytes.mounted += descriptor.size;
      emit({ kind: 'blob', time: now(), ...base, status: 'mounted' });
      return;
    }
    if (stop.aborted) return;
    emit({ kind: 'blob', time: now(), ...base, status: 'start' });
    // An image's config is at hand (read and verified when it was opened): never read twice.
    const held =
      node.kind === 'image' && original.digest === node.configDescriptor.digest
        ? node.rawConfig
        : configs.get(original.digest);
    const open = async (): Promise<Readable> =>
      counted(held ? Readable.from([held]) : await node.blob(original.digest), stop, (sent) =>
        emit({
          kind: 'blob-progress',
          time: now(),
          digest: descriptor.digest,
          bytes: sent,
          size: descriptor.size,
        }),
      );
    const outcome = await sink.putBlob(descriptor, await open(), open);
    if (outcome === 'exists') bytes.skipped += descriptor.size;
    else if (outcome === 'mounted') bytes.mounted += descriptor.size;
    else bytes.pushed += descriptor.size;
    emit({ kind: 'blob', time: now(), ...base, status: outcome === 'exists' ? 'exists' : 'copied' });
  };

  /** `jobs` transfers at a time; the first failure stops the others (their streams are destroyed). */
  const transferAll = async (): Promise<void> => {
    try {
      await mapBounded(transfers, jobs, (item, _index, stop) => transfer(item, stop), { signal });
    } catch (error) {
      checkAborted(); // the caller's abort is CANCELLED, whatever the transfers failed with
      throw error;
    }
  };

  const writeManifest = async (
    node: Manifest | Image,
    root: boolean,
    platform?: Platform,
    verbatim?: Verbatim,
  ): Promise<Written> => {
    const { manifest } = node;
    let raw = node.rawManifest;
    let mediaType = node.mediaType;
    if (verbatim) return put(raw, mediaType, root, undefined, root ? node.artifactType : undefined, verbatim);
    if (sink.wantsOciMediaTypes && needsOciConversion(mediaType)) {
      const converted = toOciManifest(manifest);
      raw = Buffer.from(JSON.stringify(converted));
      mediaType = converted.mediaType as string;
    }
    const rootPlatform = root ? (platform ?? (await platformOf(node))) : undefined;
    return put(raw, mediaType, root, rootPlatform, root ? node.artifactType : undefined);
  };

  const writeIndex = async (index: Index, root: boolean, verbatim?: Verbatim): Promise<Written> => {
    const manifests: Descriptor[] = [];
    let changed = false;
    for (const entry of index.manifest.manifests) {
      checkAborted();
      const child = children.get(entry.digest) ?? (await index.child(entry));
      const key = `${verbatim ? 'verbatim' : 'image'} ${entry.digest}`;
      let writing = writtenChildren.get(key);
      if (!writing) {
        writing = writeNode(child, false, undefined, verbatim ? { tag: undefined } : undefined);
        writtenChildren.set(key, writing);
      }
      const written = await writing;
      if (written.descriptor.digest !== entry.digest) changed = true;
      const platformTag =
        root && !verbatim && entry.platform ? options.platformTag?.(entry.platform) : undefined;
      if (platformTag && child.kind !== 'index') {
        await sink.putManifest(written.raw, written.descriptor.mediaType, platformTag, {
          platform: entry.platform as Platform,
        });
      }
      manifests.push({
        ...entry,
        mediaType: written.descriptor.mediaType,
        digest: written.descriptor.digest,
        size: written.descriptor.size,
      });
    }
    let raw = index.rawManifest;
    let mediaType = index.mediaType;
    if (!verbatim && (changed || (sink.wantsOciMediaTypes && needsOciConversion(mediaType)))) {
      const converted = toOciIndex(index.manifest, manifests);
      raw = Buffer.from(JSON.stringify(converted));
      mediaType = converted.mediaType as string;
    }
    return put(raw, mediaType, root, undefined, root && verbatim ? index.artifactType : undefined, verbatim);
  };

  const put = async (
    raw: Buffer,
    mediaType: string,
    root: boolean,
    platform?: Platform,
    artifactType?: string,
    verbatim?: Verbatim,
  ): Promise<Written> => {
    checkAborted();
    const digest = sha256Digest(raw);
    const tag = verbatim ? verbatim.tag : options.tag;
    const readBack = await sink.putManifest(raw, mediaType, root ? tag : undefined, {
      child: !root,
      ...(verbatim && root ? { attachment: true } : {}),
      ...(platform ? { platform } : {}),
      ...(artifactType ? { artifactType } : {}),
    });
    emit({ kind: 'manifest', time: now(), digest, mediaType, root });
    return { descriptor: { mediaType, digest, size: raw.length }, readBack, raw };
  };

  const writeNode = (
    node: OciObject,
    root: boolean,
    platform?: Platform,
    verbatim?: Verbatim,
  ): Promise<Written> =>
    node.kind === 'index' ? writeIndex(node, root, verbatim) : writeManifest(node, root, platform, verbatim);

  try {
    let root: OciObject = source;
    let chosen: string | undefined;
    let platform: Platform | undefined;
    if (source.kind === 'index' && (options.platform || !sink.storesIndex)) {
      const entry = selectIndexEntry(source, options.platform);
      root = await source.image(entry);
      platform = entry.platform;
      chosen = entry.platform ? formatPlatform(entry.platform) : undefined;
      if (chosen) emit({ kind: 'platform', time: now(), platform: chosen, digest: entry.digest });
    } else if (source.kind !== 'index' && options.platform) {
      const found = await platformOf(source);
      if (!found || !platformMatches(found, options.platform)) {
        throw new RampartError(
          'MANIFEST_NOT_FOUND',
          `${source.digest} is ${found ? formatPlatform(found) : 'not a runnable image'}, not ${formatPlatform(options.platform)}`,
          {
            details: {
              digest: source.digest,
              platform: formatPlatform(options.platform),
              available: found ? [formatPlatform(found)] : [],
            },
          },
        );
      }
    }
    // Attachments name their subject by digest: a rewrite of the image would orphan them.
    if (options.attachments?.length && sink.wantsOciMediaTypes) {
      const rewritten =
        needsOciConversion(root.mediaType) ||
        (root.kind === 'index' && root.manifest.manifests.some((e) => needsOciConversion(e.mediaType)));
      if (rewritten) {
        throw new RampartError(
          'UNSUPPORTED_OPERATION',
          `${root.digest} has Docker media types, which ${sink.location} rewrites to OCI ones: the manifest digests change and the attachments would name digests that are not there; copy it to docker:// instead, or without --with-attachments`,
          { details: { reference: sink.location, operation: 'copy --with-attachments' } },
        );
      }
    }
    // A sink holding one image holds a runnable one: an artifact is refused here, by name.
    if (root.kind === 'manifest' && !sink.storesIndex) root = await root.toImage();
    const emitPlan = (attachment: boolean) =>
      emit({
        kind: 'plan',
        time: now(),
        blobs: transfers.length,
        bytes: transfers.reduce((sum, t) => sum + t.descriptor.size, 0),
        ...(attachment ? { attachment } : {}),
      });
    await plan(root, true, platform);
    emitPlan(false);
    await transferAll();
    const written = await writeNode(root, true, platform);
    for (const attachment of options.attachments ?? []) {
      const object = await attachment.open();
      transfers.length = 0;
      await plan(object, false, undefined, 0, true);
      emitPlan(true);
      await transferAll();
      await writeNode(object, true, undefined, { tag: attachment.tag });
    }
    checkAborted();
    await sink.close();
    return {
      digest: written.readBack,
      mediaType: written.descriptor.mediaType,
      ...(chosen ? { platform: chosen } : {}),
      platforms,
      bytes,
    };
  } catch (error) {
    await sink.abort().catch(() => undefined);
    if (signal?.aborted && !(error instanceof RampartError && error.code === 'CANCELLED')) {
      throw new RampartError('CANCELLED', `copy to ${sink.location} was cancelled`, {
        cause: error,
        details: { operation: 'copy' },
      });
    }
    throw error;
  }
}

/**
 * The platform of a runnable image (its config's), read when not already at hand (in `configs`,
 * where the bytes read, verified by `readConfig`, are kept).
 */
async function platformOfNode(
  node: Manifest | Image,
  configs: Map<Digest, Buffer>,
): Promise<Platform | undefined> {
  let config: ImageConfig;
  if (node.kind === 'image') config = node.config;
  else if (isImageConfigMediaType(node.configDescriptor.mediaType)) {
    const raw = configs.get(node.configDescriptor.digest) ?? (await node.readConfig());
    configs.set(node.configDescriptor.digest, raw);
    config = parseJsonBytes(ImageConfigSchema, raw, `config of ${node.digest}`);
  } else return undefined;
  const { os, architecture, variant } = config;
  if (!os || !architecture || os === 'unknown') return undefined;
  return variant ? { os, architecture, variant } : { os, architecture };
}

/**
 * A blob stream that reports bytes read (each MiB, and the end) and is destroyed by `stop`. Wired on
 * the first read: a sink may open its file first, and an error emitted before it listens would
 * reach nobody.
 */
function counted(stream: Readable, stop: AbortSignal, report: (bytes: number) => void): Readable {
  // Bytes and errors pass through unchanged: a verified source stays verified. Counted by a
  // listener, not a Transform: one stream less for every chunk of every blob.
  return forwardRecyclable(
    stream,
    forwardVerified(
      stream,
      startOnRead(
        () => {
          let sent = 0;
          let reported = 0;
          const source = addAbortSignal(stop, stream);
          source.on('data', (chunk: Buffer) => {
            sent += chunk.length;
            if (sent - reported >= PROGRESS_STEP) {
              reported = sent;
              report(sent);
            }
          });
          source.once('end', () => {
            if (sent !== reported) report(sent);
          });
          return source;
        },
        () => stream.destroy(),
      ),
    ),
  );
}
