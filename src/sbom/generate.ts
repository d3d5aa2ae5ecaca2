import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { fromSystemError, isRampartError, isSystemError, RampartError } from '../errors.js';
import { parsePlatform } from '../oci/platform.js';
import { isSkopeoDir } from '../oci/skopeo-dir-detect.js';
import type { VerifyBlobOptions } from '../oci/verified-blob.js';
import type { RegistryOptions } from '../registry/types.js';
import { sourceDateEpoch } from '../util/source-date-epoch.js';
import type { CatalogCache } from './catalog-cache.js';
import type { Cataloger } from './cataloger.js';
import type { SbomDocument, SbomSource, SbomWarning } from './model.js';
import type { FileSource } from './source/file-source.js';
import type { FsTreeLike, SkippedImageEntry } from './source/image-source.js';

/** What to catalog. `image` opens a reference with src/oci; `image-object` takes an already opened image. */
export type SbomInput =
  | { kind: 'directory'; path: string }
  | { kind: 'image'; ref: string; platform?: string; registry?: RegistryOptions }
  | { kind: 'image-object'; ref: string; image: OpenedImage }
  | { kind: 'files'; ref: string; files: FileSource; created?: string };

/** The parts of src/oci's Image that the SBOM needs. */
export interface OpenedImage {
  digest: string;
  config: unknown;
  /** Each layer's compressed blob, as a stream that fails unless its digest and size match. */
  layers: ReadonlyArray<{
    blob(): Promise<Readable>;
    verifyBlob?(options?: VerifyBlobOptions): Promise<void>;
  }>;
}

export interface GenerateOptions {
  catalogers?: readonly Cataloger[];
  /** Defaults to process.env; SOURCE_DATE_EPOCH sets the document time when the image has none. */
  env?: NodeJS.ProcessEnv;
  /**
   * The document clock: the time of a directory's SBOM (a directory has no creation time of its
   * own). May be fixed or anything else a caller wants in the document; it is never compared
   * with file times (that is `wallClock`).
   */
  now?: () => Date;
  /**
   * The wall clock, in ms since the epoch (`Date.now` by default), that the racy window of
   * `cache.verifiedBlobs` is measured against (`VerifyBlobOptions.wallClock`, verified-blob.ts):
   * file times are wall-clock times, so a fixed or future document clock there would record files
   * changed a moment ago. For tests; a library caller leaves it alone.
   */
  wallClock?: () => number;
  /** Stops the catalog (CANCELLED) between files; an image's layers are read as the files are. */
  signal?: AbortSignal;
  /**
   * Hash every file the packages list (SHA-1, streamed) so SPDX output with files is valid
   * (SPDX 2.3 requires a SHA-1 on each file); `rampart sbom --files` sets it. Reads the whole root.
   */
  fileDigests?: boolean;
  /**
   * Catalogs of images by manifest digest (`catalog-cache.ts`): an image this rampart cataloged
   * before is not read again. Used for images with the default catalogers, no file digests and a
   * creation time of their own (so the document depends on nothing but the image).
   */
  cache?: CatalogCache;
}

/** Catalogs an image or a root filesystem into rampart's SBOM model. */
export async function generateSbom(input: SbomInput, options: GenerateOptions = {}): Promise<SbomDocument> {
  const env = options.env ?? process.env;
  const early: SbomWarning[] = [];
  let files: FileSource;
  let source: SbomSource;
  let cached: { cache: CatalogCache; digest: string } | undefined;
  switch (input.kind) {
    case 'directory': {
      const info = await stat(input.path).catch((error: unknown) => {
        throw isSystemError(error)
          ? fromSystemError(error, { path: input.path, operation: 'read the directory' })
          : new RampartError('NOT_FOUND', `directory ${input.path} does not exist or cannot be read`, {
              cause: error,
              details: { path: input.path },
            });
      });
      if (!info.isDirectory()) {
        throw new RampartError(
          'USAGE',
          `${input.path} is not a directory; give dir: a root filesystem directory`,
          {
            details: { value: input.path },
          },
        );
      }
      const { directoryFileSource } = await import('./source/dir-source.js');
      files = await directoryFileSource(input.path, (path, error) =>
        early.push({ cataloger: 'source', path, message: `could not list: ${messageOf(error)}` }),
      );
      source = { kind: 'directory', ref: input.path };
      break;
    }
    case 'files':
      files = input.files;
      source = { kind: 'directory', ref: input.ref, ...(input.created ? { created: input.created } : {}) };
      break;
    case 'image':
    case 'image-object': {
      const oci = await loadOci();
      const image =
        input.kind === 'image-object'
          ? input.image
          : await openAndSelect(oci, input.ref, input.platform, input.registry);
      const config = configOf(image);
      const platform = config.os && config.architecture ? `${config.os}/${config.architecture}` : undefined;
      source = {
        kind: 'image',
        ref: input.ref,
        digest: image.digest,
        ...(platform ? { platform } : {}),
        ...(config.created ? { created: config.created } : {}),
      };
      if (options.cache && !options.catalogers && !options.fileDigests && config.created) {
        cached = { cache: options.cache, digest: image.digest };
        const hit = await options.cache.get(image.digest);
        if (hit) {
          // The catalog is the catalog of these bytes only if these are the bytes: a corrupt or
          // tampered layer fails here as it fails uncached (a docker-archive's uncompressed layers
          // are named by their diff_ids, so the manifest digest alone binds nothing there).
          await verifyLayerBlobs(image, {
            ...(options.cache.verifiedBlobs ? { record: options.cache.verifiedBlobs } : {}),
            ...(options.signal ? { signal: options.signal } : {}),
            ...(options.wallClock ? { wallClock: options.wallClock } : {}),
          }).catch((error: unknown) => {
            throw layerReadError(error, input.ref);
          });
          return { source, ...hit };
        }
      }
      const onSkippedEntry = (entry: SkippedImageEntry) =>
        early.push(skippedEntryWarning(entry, layerDigest(image.layers[entry.layer])));
      // Loaded only now: a cached catalog needs neither the layer reader nor the catalogers.
      const { imageFileSource } = await import('./source/image-source.js');
      files = await imageFileSource(image, oci, onSkippedEntry).catch((error: unknown) => {
        throw layerReadError(error, input.ref);
      });
      break;
    }
  }
  if (!source.created) {
    const epoch = sourceDateEpoch(env);
    if (epoch !== undefined) source.created = new Date(epoch * 1000).toISOString();
    // A directory has no creation time: the SBOM is as of now, not 1970.
    else if (input.kind === 'directory') source.created = (options.now?.() ?? new Date()).toISOString();
  }
  const { catalogFileSource, DEFAULT_CATALOGERS } = await import('./catalog.js');
  const result = await catalogFileSource(files, options.catalogers ?? DEFAULT_CATALOGERS, options.signal, {
    fileDigests: options.fileDigests === true,
  });
  // An empty answer must never look like a clean one (a skopeo dir read as a root gave `[]`).
  const empty: SbomWarning[] =
    result.packages.length === 0
      ? [
          {
            cataloger: 'source',
            message: `no package of any ecosystem found in ${source.ref}: no dpkg database, npm, Python, Java or Go metadata; check the reference points at the image or root you meant`,
          },
        ]
      : [];
  const catalog = {
    ...(result.distro ? { distro: result.distro } : {}),
    packages: result.packages,
    warnings: [...early, ...result.warnings, ...empty],
  };
  // An empty catalog's warning names the reference; it is cheap to make again anyway.
  if (result.packages.length > 0) await cached?.cache.put(cached.digest, catalog);
  return { source, ...catalog };
}

/**
 * `dir:PATH` (as in src/oci) and a bare directory path (as in syft) are root filesystems; they are
 * walked directly rather than packed into a layer first. Everything else is an image reference.
 */
export async function inputFromReference(ref: string, platform?: string): Promise<SbomInput> {
  const rootfs = /^(?:dir|rootfs):(.+)$/.exec(ref);
  // skopeo's dir: format is an image (manifest and blobs), not a root filesystem.
  const skopeoDir = await isSkopeoDir(rootfs ? rootfs[1]! : ref);
  if (rootfs && !(ref.startsWith('dir:') && skopeoDir)) return { kind: 'directory', path: rootfs[1]! };
  if (skopeoDir)
    return { kind: 'image', ref: rootfs ? ref : `dir:${ref}`, ...(platform ? { platform } : {}) };
  if (
    !/^[a-z-]+:/.test(ref) &&
    (await stat(ref)
      .then((s) => s.isDirectory())
      .catch(() => false))
  )
    return { kind: 'directory', path: ref };
  return { kind: 'image', ref, ...(platform ? { platform } : {}) };
}

/** The warning that records an entry (or a whole layer) left out of the catalog. */
function skippedEntryWarning(entry: SkippedImageEntry, digest: string | undefined): SbomWarning {
  const where =
    entry.index === undefined ? `layer ${entry.layer}` : `layer ${entry.layer} entry ${entry.index}`;
  return {
    cataloger: 'source',
    path: entry.index === undefined ? `(layer ${entry.layer})` : entry.name,
    message:
      entry.index === undefined
        ? `unreadable, skipped: ${entry.message}`
        : `unsafe entry skipped (${where}, ${entry.reason}): ${entry.message}`,
    skipped: {
      layer: entry.layer,
      ...(digest ? { layerDigest: digest } : {}),
      ...(entry.index !== undefined ? { entry: entry.index } : {}),
      name: entry.name,
      reason: entry.reason,
    },
  };
}

function layerDigest(layer: unknown): string | undefined {
  const digest = (layer as { descriptor?: { digest?: unknown } } | undefined)?.descriptor?.digest;
  return typeof digest === 'string' ? digest : undefined;
}

const MAX_LISTED_ENTRIES = 100;

/**
 * UNSAFE_ENTRIES when the catalog left out layer entries or whole layers (see SbomWarning
 * `skipped`): the SBOM may miss what the image holds. `rampart sbom` fails with it unless
 * `--allow-unsafe-entries`; library callers decide for themselves.
 */
export function unsafeEntriesError(doc: SbomDocument): RampartError | undefined {
  const skipped = doc.warnings.flatMap((w) => (w.skipped ? [w.skipped] : []));
  if (skipped.length === 0) return undefined;
  const shown = skipped
    .slice(0, 3)
    .map((s) => `${JSON.stringify(s.name || `(layer ${s.layer ?? '?'})`)} (${s.reason})`)
    .join(', ');
  return new RampartError(
    'UNSAFE_ENTRIES',
    `${doc.source.ref}: ${skipped.length} entr${skipped.length === 1 ? 'y was' : 'ies were'} unsafe, unreadable or too large and left out of the SBOM: ${shown}${skipped.length > 3 ? ', ...' : ''}; the SBOM records each in its warnings; pass --allow-unsafe-entries to accept it`,
    {
      details: {
        count: skipped.length,
        // A layer of a million `../` entries must not make an error too big to print or store.
        entries: skipped.slice(0, MAX_LISTED_ENTRIES).map((s) => ({
          path: s.name,
          reason: s.reason,
          ...(s.layerDigest || s.layer !== undefined ? { layer: s.layerDigest ?? String(s.layer) } : {}),
        })),
      },
    },
  );
}

interface OciModules {
  openImage(ref: string, options?: { registry?: RegistryOptions }): Promise<unknown>;
  selectImage(x: unknown, platform?: unknown): Promise<OpenedImage>;
  flattenImage(
    image: OpenedImage,
    options?: { onSkippedEntry?: (entry: SkippedImageEntry) => void },
  ): Promise<FsTreeLike>;
  readFiles(
    image: OpenedImage,
    tree: FsTreeLike,
    wanted: ReadonlySet<string>,
  ): AsyncIterable<{ path: string; content: Buffer }>;
}

/** src/oci is imported lazily so that directory SBOMs (and this module's tests) need none of it. */
async function loadOci(): Promise<OciModules> {
  const paths = ['../oci/open.js', '../oci/image.js'];
  // The layer reader (and tar-stream under it) only when layers are read: not for a cached catalog.
  const fsView = '../oci/fs-view.js';
  try {
    const [open, image] = await Promise.all(paths.map((p) => import(p)));
    return {
      openImage: open.openImage,
      selectImage: image.selectImage,
      flattenImage: async (opened, options) => (await import(fsView)).flattenImage(opened, options),
      readFiles: async function* (opened, tree, wanted) {
        yield* (await import(fsView)).readFiles(opened, tree, wanted);
      },
    };
  } catch (error) {
    throw new RampartError(
      'UNSUPPORTED_TRANSPORT',
      `image support (src/oci) is not available: ${messageOf(error)}`,
      { cause: error, details: { transport: 'image' } },
    );
  }
}

async function openAndSelect(
  oci: OciModules,
  ref: string,
  platform?: string,
  registry?: RegistryOptions,
): Promise<OpenedImage> {
  try {
    const opened = await oci.openImage(ref, registry ? { registry } : {});
    const wanted = platform ? parsePlatform(platform) : undefined;
    return await oci.selectImage(opened, wanted);
  } catch (error) {
    if (isRampartError(error)) throw error;
    throw new RampartError('MALFORMED_MANIFEST', `cannot open image ${ref}: ${messageOf(error)}`, {
      cause: error,
      details: { location: ref },
    });
  }
}

function configOf(image: OpenedImage): { os?: string; architecture?: string; created?: string } {
  if (typeof image.config !== 'object' || image.config === null) return {};
  const c = image.config as Record<string, unknown>;
  return {
    ...(typeof c.os === 'string' ? { os: c.os } : {}),
    ...(typeof c.architecture === 'string' ? { architecture: c.architecture } : {}),
    ...(typeof c.created === 'string' ? { created: c.created } : {}),
  };
}

/** A failure reading an image's layers, as one error: rampart's own as is, anything else MALFORMED_ARCHIVE. */
function layerReadError(error: unknown, ref: string): unknown {
  if (isRampartError(error)) return error;
  return new RampartError(
    'MALFORMED_ARCHIVE',
    `cannot read the layers of ${ref}: ${messageOf(error)}; the image is corrupt or truncated, copy or pull it again`,
    { cause: error, details: { reference: ref } },
  );
}

/**
 * Checks every layer blob against its digest and size (`verifyLayerBlob`, src/oci), the bytes
 * dropped: what a catalog cache hit still costs, next to the gunzip, untar and catalogers it
 * saves. With a record, an OCI layout's blob file unchanged since rampart hashed it is not read.
 */
async function verifyLayerBlobs(image: OpenedImage, options: VerifyBlobOptions): Promise<void> {
  const { verifyLayerBlob } = await import('../oci/verified-blob.js');
  for (const layer of image.layers) await verifyLayerBlob(layer, options);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
