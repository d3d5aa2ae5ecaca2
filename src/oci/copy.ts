import { addAbortSignal } from 'node:stream';
import { RampartError } from '../errors.js';
import { startOnRead } from '../util/start-on-read.js';
import { needsOciConversion, ociMediaType, toOciIndex, toOciManifest } from './convert.js';
import type { Digest } from './digest.js';
import { sha256Digest } from './digest.js';
import type { Image, Index, Manifest, OciObject } from './image.js';
import { selectIndexEntry } from './image.js';
import { isImageConfigMediaType } from './media-types.js';
import { formatPlatform, platformMatches } from './platform.js';
import type { ImageSink } from './sink.js';
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
      status: 'start' | 'copied' | 'exists';
    }
  | { kind: 'manifest'; time: Date; digest: Digest; mediaType: string; root: boolean };

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
}

export interface CopyResult {
  /** The digest a reader of the destination sees for the root. */
  digest: Digest;
  mediaType: string;
  /** The platform copied, when one image was chosen from an index. */
  platform?: string;
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

  const checkAborted = (): void => {
    if (signal?.aborted) {
      throw new RampartError('CANCELLED', `copy to ${sink.location} was cancelled`, {
        cause: signal.reason,
        details: { operation: 'copy' },
      });
    }
  };

  const putBlobs = async (
    node: Manifest | Image,
    blobs: readonly Descriptor[],
    verbatim?: Verbatim,
  ): Promise<void> => {
    for (const original of blobs) {
      checkAborted();
      const descriptor =
        sink.wantsOciMediaTypes && !verbatim
          ? { ...original, mediaType: ociMediaType(original.mediaType) }
          : original;
      if (seen.has(descriptor.digest)) continue;
      seen.add(descriptor.digest);
      const base = {
        time: now(),
        digest: descriptor.digest,
        size: descriptor.size,
        mediaType: descriptor.mediaType,
      };
      if (await sink.hasBlob(descriptor)) {
        emit({ kind: 'blob', ...base, status: 'exists' });
        continue;
      }
      emit({ kind: 'blob', ...base, status: 'start' });
      const stream = await node.blob(original.digest);
      // The abort is wired on the first read: a sink may open its file first, and an error emitted
      // before it listens would reach nobody.
      const abortable = signal
        ? startOnRead(
            () => addAbortSignal(signal, stream),
            () => stream.destroy(),
          )
        : stream;
      await sink.putBlob(descriptor, abortable);
      emit({ kind: 'blob', ...base, time: now(), status: 'copied' });
    }
  };

  const writeManifest = async (
    node: Manifest | Image,
    root: boolean,
    platform?: Platform,
    verbatim?: Verbatim,
  ): Promise<Written> => {
    const { manifest } = node;
    await putBlobs(node, [manifest.config, ...manifest.layers], verbatim);
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
      const child = await index.child(entry);
      const written = await writeNode(child, false, undefined, verbatim ? { tag: undefined } : undefined);
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
    // A sink holding one image holds a runnable one: an artifact is refused here, by name.
    if (root.kind === 'manifest' && !sink.storesIndex) root = await root.toImage();
    const written = await writeNode(root, true, platform);
    for (const attachment of options.attachments ?? []) {
      await writeNode(await attachment.open(), true, undefined, { tag: attachment.tag });
    }
    checkAborted();
    await sink.close();
    return {
      digest: written.readBack,
      mediaType: written.descriptor.mediaType,
      ...(chosen ? { platform: chosen } : {}),
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

/** The platform of a runnable image (its config's), read when not already at hand. */
async function platformOf(node: Manifest | Image): Promise<Platform | undefined> {
  let config: ImageConfig;
  if (node.kind === 'image') config = node.config;
  else if (isImageConfigMediaType(node.configDescriptor.mediaType)) {
    config = parseJsonBytes(ImageConfigSchema, await node.readConfig(), `config of ${node.digest}`);
  } else return undefined;
  const { os, architecture, variant } = config;
  if (!os || !architecture || os === 'unknown') return undefined;
  return variant ? { os, architecture, variant } : { os, architecture };
}
