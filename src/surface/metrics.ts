import { lstatSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fromSystemError, isRampartError, isSystemError, RampartError } from '../errors.js';
import type { FsNode, FsTree } from '../oci/fs-tree.js';
import { comparePaths } from '../oci/fs-tree.js';
import { flattenImage, readFiles } from '../oci/fs-view.js';
import { type Image, selectImage } from '../oci/image.js';
import { layerCompression } from '../oci/media-types.js';
import { openImage } from '../oci/open.js';
import { formatPlatform, parsePlatform } from '../oci/platform.js';
import type { TarNodeEntry } from '../oci/tar-safety.js';
import type { RegistryOptions } from '../registry/types.js';
import { DEFAULT_CATALOGERS } from '../sbom/catalog.js';
import { ELF_MAGIC, type ElfFileType, readElfFileType } from '../sbom/catalogers/binary/elf.js';
import { generateSbom, inputFromReference } from '../sbom/generate.js';
import { installedPackages } from '../sbom/installed.js';
import type { PackageType, SbomDocument, SbomPackage } from '../sbom/model.js';
import { OS_RELEASE_PATHS } from '../sbom/os-release.js';
import { directoryFileSource } from '../sbom/source/dir-source.js';
import { bufferReader, type FileSource } from '../sbom/source/file-source.js';
import { imageFileSource } from '../sbom/source/image-source.js';
import { isOnDefaultPath, rolesOf } from './classify.js';
import type { PathList, SurfaceMetrics } from './types.js';

/**
 * Counts findings by severity for the packages of an SBOM (issue 14's advisory store). Optional:
 * without it, or when it answers undefined (no store), metrics carry no `vulnerabilities`.
 */
export type VulnerabilityCounter = (
  sbom: SbomDocument,
  signal?: AbortSignal,
) => Promise<Record<string, number> | undefined>;

export interface MeasureOptions {
  /** For a multi-platform index (`os/arch[/variant]`); default: the host's. */
  platform?: string;
  /** How `docker://` references reach their registry. */
  registry?: RegistryOptions;
  signal?: AbortSignal;
  /** The hook for vulnerability counts by severity (see VulnerabilityCounter). */
  vulnerabilities?: VulnerabilityCounter;
  /** Paths listed per PathList (the `total` is always exact); default 1000. */
  maxPaths?: number;
  /** Receives the SBOM the packages were counted from (`--against` picks the main packages from it). */
  onSbom?: (sbom: SbomDocument) => void;
  /** Progress, one line per phase. */
  onProgress?: (event: { phase: 'open' | 'list' | 'read' | 'catalog' | 'done'; reference: string }) => void;
}

/** The metadata of one path that the metrics need: an image's tree node, or a directory's lstat. */
interface SurfaceNode {
  path: string;
  kind: FsNode['kind'] | 'other';
  /** permission bits with setuid/setgid/sticky */
  mode: number;
  size: number;
  xattrs?: Record<string, string>;
}

/** Everything measured from one subject, before it is summed up (so image and directory share one rule). */
interface Observed {
  subject: SurfaceMetrics['subject'];
  nodes: readonly SurfaceNode[];
  elf: ReadonlyMap<string, ElfFileType>;
  sbom: SbomDocument;
  passwd: string | undefined;
  user: string;
  exposedPorts: string[];
  compressedBytes?: number;
  capabilitiesMeasured: boolean;
  warnings: string[];
}

/**
 * Bump whenever measuring the same root or image would give other metrics (a new field, another
 * rule): cached metrics of standard roots are keyed by it (see standardRootMetrics in compare.ts).
 * 2: packages.total counts distribution packages only; packages.language added.
 */
export const METRICS_FORMAT = 2;

/** Headers plus program headers: real binaries keep their program header table in the first pages. */
const ELF_HEAD_BYTES = 64 * 1024;
/** /etc/passwd larger than this is not a passwd file anyone should trust; the user stays unresolved. */
const MAX_PASSWD_BYTES = 4 * 1024 * 1024;
const SECURITY_CAPABILITY = 'security.capability';

/**
 * Measures the attack surface of an image (any transport: `oci:`, `oci-archive:`,
 * `docker-archive:`, `docker://`, skopeo `dir:`) or a root filesystem (`dir:PATH` or a directory
 * path). Plain serialisable data (SurfaceMetrics); errors are RampartErrors.
 */
export async function measureSurface(
  reference: string,
  options: MeasureOptions = {},
): Promise<SurfaceMetrics> {
  const input = await inputFromReference(reference, options.platform);
  if (input.kind === 'directory') return measureDirectory(input.path, { ...options, reference });
  options.onProgress?.({ phase: 'open', reference });
  let image: Image;
  try {
    const opened = await openImage(input.ref, options.registry ? { registry: options.registry } : {});
    image = await selectImage(opened, options.platform ? parsePlatform(options.platform) : undefined);
  } catch (error) {
    if (isRampartError(error)) throw error;
    throw new RampartError('MALFORMED_MANIFEST', `cannot open image ${reference}: ${messageOf(error)}`, {
      cause: error,
      details: { location: reference },
    });
  }
  return measureImage(image, { ...options, reference });
}

/** Measures an opened image; `reference` is what the metrics name as their subject. */
export async function measureImage(
  image: Image,
  options: MeasureOptions & { reference: string },
): Promise<SurfaceMetrics> {
  const { reference, signal } = options;
  const warnings: string[] = [];
  options.onProgress?.({ phase: 'list', reference });
  // One read of each layer: the tree, every file's ELF type and the files the catalogers will
  // ask for come out of the same pass (the read that verifies the layer's digests).
  const kept = new LayerCapture();
  const tree = await flattenImage(image, {
    onSkippedEntry: (entry) =>
      warnings.push(
        `layer ${entry.layer} entry ${entry.index} ${JSON.stringify(entry.name)} was left out (${entry.reason}): ${entry.message}`,
      ),
    onFileBody: (layer, entry, body) => kept.take(layer, entry, body, signal),
  });
  throwIfCancelled(signal);
  options.onProgress?.({ phase: 'read', reference });
  const nodes: SurfaceNode[] = tree.entries().map((node) => ({
    path: node.path,
    kind: node.kind,
    mode: node.mode,
    size: node.size,
    ...(node.xattrs ? { xattrs: node.xattrs } : {}),
  }));
  const elf = new Map<string, ElfFileType>();
  for (const node of nodes) {
    if ((node.kind !== 'file' && node.kind !== 'hardlink') || node.size < 52) continue;
    const type = kept.elf.get(sourceKey(tree, node.path) ?? '');
    if (type) elf.set(node.path, type);
  }
  options.onProgress?.({ phase: 'catalog', reference });
  const listed = await imageFileSource(image, { flattenImage: async () => tree, readFiles }, () => undefined);
  const files: FileSource = {
    nodes: () => listed.nodes(),
    read: (paths, onError) => kept.read(image, tree, paths, onError),
  };
  const sbom = await catalog(files, reference, signal);
  let passwd: string | undefined;
  const passwdPath = tree.resolve('/etc/passwd');
  if (passwdPath !== undefined && (tree.get(passwdPath)?.size ?? 0) <= MAX_PASSWD_BYTES)
    for await (const { content } of kept.read(image, tree, new Set([passwdPath]), () => undefined))
      passwd = content.toString('utf8');
  const config = image.config.config ?? {};
  const compression = image.layers.map((layer) => layerCompression(layer.descriptor.mediaType));
  const compressed = compression.some((c) => c === 'gzip' || c === 'zstd');
  return summarise(
    {
      subject: {
        reference,
        digest: image.digest,
        platform: formatPlatform(image.config),
      },
      nodes,
      elf,
      sbom,
      passwd,
      user: config.User ?? '',
      exposedPorts: Object.keys(config.ExposedPorts ?? {}).sort(comparePaths),
      ...(compressed
        ? { compressedBytes: image.layers.reduce((sum, layer) => sum + layer.descriptor.size, 0) }
        : {}),
      capabilitiesMeasured: true,
      warnings,
    },
    options,
  );
}

/**
 * Measures a root filesystem directory. Capabilities are not measured: they live in the
 * `security.capability` extended attribute, and Node has no getxattr (a native addon or a
 * `getcap` child process would be needed); the metrics say so in `warnings` instead of claiming 0.
 */
export async function measureDirectory(
  root: string,
  options: MeasureOptions & { reference?: string } = {},
): Promise<SurfaceMetrics> {
  const reference = options.reference ?? `dir:${root}`;
  const { signal } = options;
  const warnings: string[] = [];
  options.onProgress?.({ phase: 'list', reference });
  await checkDirectory(root);
  const files = await directoryFileSource(root, (path, error) =>
    warnings.push(`${path}: could not list: ${messageOf(error)}`),
  );
  const nodes: SurfaceNode[] = [...files.nodes()].map((node) => ({
    path: node.path,
    kind: node.kind,
    // The SBOM walk does not stat directories (it lists them as 0755); world-writable needs their mode.
    mode: node.kind === 'directory' ? directoryMode(root, node.path) : node.mode,
    size: node.size,
  }));
  options.onProgress?.({ phase: 'read', reference });
  const elf = new Map<string, ElfFileType>();
  const open = files.openRandomAccess;
  if (!open) throw new Error('directory sources always offer random access');
  for (const node of nodes) {
    if (node.kind !== 'file' || node.size < 52) continue;
    throwIfCancelled(signal);
    try {
      const file = await open(node.path);
      try {
        const type = await readElfFileType(file.read, file.size);
        if (type) elf.set(node.path, type);
      } finally {
        await file.close();
      }
    } catch (error) {
      warnings.push(`${node.path}: could not read: ${messageOf(error)}`);
    }
  }
  let passwd: string | undefined;
  for await (const { content } of files.read(new Set(['/etc/passwd']), () => undefined))
    if (content.length <= MAX_PASSWD_BYTES) passwd = content.toString('utf8');
  options.onProgress?.({ phase: 'catalog', reference });
  const sbom = await catalog(files, reference, signal);
  warnings.push(
    'capabilities: not measured for a directory (Node cannot read the security.capability extended attribute); run `getcap -r ROOT` to list them',
  );
  return summarise(
    {
      subject: { reference },
      nodes,
      elf,
      sbom,
      passwd,
      user: '',
      exposedPorts: [],
      capabilitiesMeasured: false,
      warnings,
    },
    options,
  );
}

function directoryMode(root: string, path: string): number {
  try {
    return lstatSync(join(root, path)).mode & 0o7777;
  } catch {
    return 0o755;
  }
}

async function checkDirectory(root: string): Promise<void> {
  const info = await stat(root).catch((error: unknown) => {
    throw isSystemError(error)
      ? fromSystemError(error, { path: root, operation: 'read the directory' })
      : new RampartError('NOT_FOUND', `directory ${root} does not exist or cannot be read`, {
          cause: error,
          details: { path: root },
        });
  });
  if (!info.isDirectory())
    throw new RampartError('USAGE', `${root} is not a directory; give dir: a root filesystem directory`, {
      details: { value: root },
    });
}

async function catalog(files: FileSource, reference: string, signal: AbortSignal | undefined) {
  return generateSbom({ kind: 'files', ref: reference, files }, signal ? { signal } : {});
}

/** The tar entry (`layer:index`) holding a final regular file's or hardlink's bytes. */
function sourceKey(tree: FsTree, path: string): string | undefined {
  const source = tree.contentSource(path);
  return source ? `${source.layer}:${source.entry}` : undefined;
}

/** What the layer pass keeps of files the catalogers may ask for, in all (the rest is read again). */
const MAX_KEPT_BYTES = 64 * 1024 * 1024;
const OS_RELEASE_MAX_BYTES = 64 * 1024;

/**
 * What measureImage keeps from the one pass over the layers, by tar entry (`layer:index`): the
 * ELF type of every regular file, and the whole content of the entries the SBOM's catalogers
 * match by their own path, size and mode (plus os-release and /etc/passwd), up to
 * MAX_KEPT_BYTES in all. An entry may be hidden by a later layer; the final tree's
 * `contentSource` says which entry a path's bytes are. A wanted file that was not kept (over the
 * budget, or reached through a hardlink or symlink under another name) is read in a second pass
 * over only the layers holding such files (fs-view's readFiles).
 */
class LayerCapture {
  readonly elf = new Map<string, ElfFileType>();
  private readonly content = new Map<string, Buffer>();
  private keptBytes = 0;

  async take(
    layer: number,
    entry: TarNodeEntry,
    body: AsyncIterable<Buffer>,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    throwIfCancelled(signal);
    const path = `/${entry.path}`;
    const whole = this.keptBytes + entry.size <= MAX_KEPT_BYTES && wantedWhole(path, entry);
    if (whole) this.keptBytes += entry.size;
    const limit = whole ? entry.size : entry.size >= 52 ? ELF_HEAD_BYTES : 0;
    if (limit === 0) return; // drained by the layer reader
    const chunks: Buffer[] = [];
    let have = 0;
    let elfMagic: boolean | undefined;
    // Read on past what is kept without keeping it: breaking out would destroy the tar entry stream.
    for await (const chunk of body) {
      if (have >= limit || elfMagic === false) continue;
      chunks.push(chunk);
      have += chunk.length;
      // Most files are not ELF: once the magic says so, only a file kept whole needs more bytes.
      if (!whole && elfMagic === undefined && have >= 4)
        elfMagic = Buffer.concat(chunks).subarray(0, 4).equals(ELF_MAGIC);
    }
    const bytes = Buffer.concat(chunks);
    const key = `${layer}:${entry.index}`;
    if (whole) this.content.set(key, bytes);
    if (entry.size >= 52) {
      const type = await readElfFileType(bufferReader(bytes.subarray(0, ELF_HEAD_BYTES)), entry.size).catch(
        () => undefined,
      );
      if (type) this.elf.set(key, type);
    }
  }

  /**
   * FileSource.read over the image: the kept contents first, then one more pass for the rest.
   * Symlinks in a wanted path are resolved inside the image, as readFiles does.
   */
  async *read(
    image: Image,
    tree: FsTree,
    paths: ReadonlySet<string>,
    onError: (path: string, error: unknown) => void,
  ): AsyncIterable<{ path: string; content: Buffer }> {
    const missing = new Set<string>();
    for (const path of paths) {
      const resolved = tree.resolve(path);
      const node = resolved === undefined ? undefined : tree.get(resolved);
      if (!node || (node.kind !== 'file' && node.kind !== 'hardlink')) continue;
      const content = this.content.get(sourceKey(tree, node.path) ?? '');
      if (content) yield { path, content };
      else missing.add(path);
    }
    if (missing.size === 0) return;
    try {
      yield* readFiles(image, tree, missing);
    } catch (error) {
      // A layer that changed since it was read: keep what was read and report the rest.
      onError('(image layers)', error);
    }
  }
}

/** Whether a file is kept whole in the layer pass: a cataloger's file, os-release or /etc/passwd. */
function wantedWhole(path: string, entry: TarNodeEntry): boolean {
  if (path === '/etc/passwd') return entry.size <= MAX_PASSWD_BYTES;
  if ((OS_RELEASE_PATHS as readonly string[]).includes(path)) return entry.size <= OS_RELEASE_MAX_BYTES;
  const node = { path, kind: 'file' as const, size: entry.size, mode: entry.mode };
  return DEFAULT_CATALOGERS.some((cataloger) => cataloger.matches(node));
}

/** The one rule that turns observations into SurfaceMetrics, for images and directories alike. */
async function summarise(observed: Observed, options: MeasureOptions): Promise<SurfaceMetrics> {
  const max = options.maxPaths ?? 1000;
  options.onSbom?.(observed.sbom);
  const lists = {
    executablesOnPath: [] as string[],
    shells: [] as string[],
    packageManagers: [] as string[],
    interpreters: [] as string[],
    setuid: [] as string[],
    setgid: [] as string[],
    worldWritable: [] as string[],
    capabilities: [] as string[],
  };
  let files = 0;
  let bytes = 0;
  for (const node of observed.nodes) {
    const regular = node.kind === 'file' || node.kind === 'hardlink';
    if (regular) {
      files++;
      bytes += node.size;
      if (node.mode & 0o4000) lists.setuid.push(node.path);
      if (node.mode & 0o2000) lists.setgid.push(node.path);
      if (node.mode & 0o111 && isOnDefaultPath(node.path)) lists.executablesOnPath.push(node.path);
      if (node.xattrs?.[SECURITY_CAPABILITY] !== undefined) lists.capabilities.push(node.path);
    }
    // A sticky world-writable directory (/tmp, 1777) is the safe form: only owners remove entries.
    const stickyDirectory = node.kind === 'directory' && node.mode & 0o1000;
    if (node.kind !== 'symlink' && node.mode & 0o002 && !stickyDirectory) lists.worldWritable.push(node.path);
    if (regular || node.kind === 'symlink') {
      const roles = rolesOf(node.path);
      if (roles.includes('shell')) lists.shells.push(node.path);
      if (roles.includes('package-manager')) lists.packageManagers.push(node.path);
      if (roles.includes('interpreter')) lists.interpreters.push(node.path);
    }
  }
  let executables = 0;
  let sharedLibraries = 0;
  for (const type of observed.elf.values()) {
    if (type === 'executable') executables++;
    else if (type === 'shared-library') sharedLibraries++;
  }
  const counts = options.vulnerabilities
    ? await options.vulnerabilities(observed.sbom, options.signal)
    : undefined;
  const warnings = [...observed.warnings];
  for (const w of observed.sbom.warnings)
    if (w.skipped) warnings.push(`${w.path ?? w.skipped.name}: ${w.message}`);
  const pathList = (paths: string[]): PathList => ({
    total: paths.length,
    paths: paths.sort(comparePaths).slice(0, max),
  });
  options.onProgress?.({ phase: 'done', reference: observed.subject.reference });
  return withVulnerabilities(
    {
      subject: observed.subject,
      packages: countPackages(observed.sbom.packages),
      files,
      bytes: {
        uncompressed: bytes,
        ...(observed.compressedBytes !== undefined ? { compressed: observed.compressedBytes } : {}),
      },
      elf: { executables, sharedLibraries },
      executablesOnPath: pathList(lists.executablesOnPath),
      shells: pathList(lists.shells),
      packageManagers: pathList(lists.packageManagers),
      interpreters: pathList(lists.interpreters),
      setuid: pathList(lists.setuid),
      setgid: pathList(lists.setgid),
      worldWritable: pathList(lists.worldWritable),
      capabilities: pathList(lists.capabilities),
      user: resolveUser(observed.user, observed.passwd),
      exposedPorts: observed.exposedPorts,
      ...(warnings.length > 0 ? { warnings } : {}),
    },
    counts,
  );
}

/**
 * What counts as a package (one rule, for every side of every compare): `total` is the
 * distribution packages — the SBOM's `deb` packages, which the dpkg cataloger reads from dpkg's
 * database, so the figure is what `dpkg-query -W` lists (less packages of which only
 * configuration files are left). That is the unit a
 * distribution ships, patches and a scanner reports, and the unit the target and the
 * independent check (dpkg-query on the same root) are defined in. Language packages (npm, PyPI,
 * Maven, Go, Rust) are counted apart in `language`: a Debian `node-*` package ships an npm module
 * the SBOM lists too, identically on both sides of a compare, so adding them to `total` would
 * count that code twice and blur the reduction. Debian source packages named by Built-Using
 * (`architecture: 'source'`) say where code came from and are not installed: neither kind.
 * `byEcosystem` keeps every installed package by type.
 */
export function countPackages(
  packages: ReadonlyArray<Pick<SbomPackage, 'type' | 'architecture'>>,
): SurfaceMetrics['packages'] {
  const byEcosystem: Record<string, number> = {};
  let total = 0;
  let language = 0;
  // Installed packages only: a Debian source package named by Built-Using is where code came
  // from, not something the image holds.
  for (const pkg of installedPackages(packages)) {
    byEcosystem[pkg.type] = (byEcosystem[pkg.type] ?? 0) + 1;
    if (PACKAGE_KIND[pkg.type] === 'distribution') total++;
    else language++;
  }
  return { total, language, byEcosystem: sortedRecord(byEcosystem) };
}

/** Each SBOM package type is one kind or the other (a new type does not compile until it is sorted). */
const PACKAGE_KIND: Record<PackageType, 'distribution' | 'language'> = {
  deb: 'distribution',
  npm: 'language',
  pypi: 'language',
  golang: 'language',
  maven: 'language',
  cargo: 'language',
};

/**
 * Metrics with the vulnerability counts by severity set (or removed when undefined), keys in the
 * order summarise writes them; also for metrics cached without counts.
 */
export function withVulnerabilities(
  metrics: SurfaceMetrics,
  counts: Record<string, number> | undefined,
): SurfaceMetrics {
  const { vulnerabilities: _, warnings, ...rest } = metrics;
  return {
    ...rest,
    ...(counts ? { vulnerabilities: sortedRecord(counts) } : {}),
    ...(warnings ? { warnings } : {}),
  };
}

/**
 * The config's `User` (`name`, `uid`, `name:group`, `uid:gid`) and whether it runs as uid 0:
 * empty means root; a number is the uid; a name is looked up in the image's /etc/passwd. A name
 * that is not there cannot start (runc refuses it), so it is not root.
 */
export function resolveUser(user: string, passwd: string | undefined): SurfaceMetrics['user'] {
  const name = user.split(':')[0] ?? '';
  if (name === '') return { name: user, root: true };
  if (/^[0-9]+$/.test(name)) return { name: user, root: Number(name) === 0 };
  for (const line of (passwd ?? '').split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields.length >= 3) return { name: user, root: fields[2] === '0' };
  }
  return { name: user, root: false };
}

function sortedRecord(record: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => comparePaths(a, b)));
}

function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  throw new RampartError('CANCELLED', 'measuring the attack surface was cancelled', {
    cause: signal.reason,
    details: { operation: 'measure' },
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
