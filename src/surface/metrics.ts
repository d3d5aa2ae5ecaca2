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
import { readLayerEntries } from '../oci/tar-safety.js';
import type { RegistryOptions } from '../registry/types.js';
import { type ElfFileType, readElfFileType } from '../sbom/catalogers/binary/elf.js';
import { generateSbom, inputFromReference } from '../sbom/generate.js';
import { installedPackages } from '../sbom/installed.js';
import type { SbomDocument } from '../sbom/model.js';
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
  const tree = await flattenImage(image, {
    onSkippedEntry: (entry) =>
      warnings.push(
        `layer ${entry.layer} entry ${entry.index} ${JSON.stringify(entry.name)} was left out (${entry.reason}): ${entry.message}`,
      ),
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
  options.onProgress?.({ phase: 'catalog', reference });
  // The catalogers list the tree already built (no second flatten) and read their files in the
  // same pass that takes every file's first bytes: flatten + one pass in all.
  const heads: Heads = { elf: new Map(), passwd: undefined, done: false };
  const listed = await imageFileSource(image, { flattenImage: async () => tree, readFiles }, () => undefined);
  const files: FileSource = {
    nodes: () => listed.nodes(),
    read: (paths) => readLayersOnce(image, tree, paths, heads, signal),
  };
  const sbom = await catalog(files, reference, signal);
  if (!heads.done) for await (const _ of readLayersOnce(image, tree, new Set(), heads, signal));
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
      elf: heads.elf,
      sbom,
      passwd: heads.passwd,
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

interface Heads {
  elf: Map<string, ElfFileType>;
  passwd: string | undefined;
  done: boolean;
}

/**
 * The one pass over the layers after the flatten: it yields the whole content of the files the
 * catalogers asked for (symlinks in their paths resolved inside the image, as fs-view's readFiles
 * does) and, on the way, keeps the first bytes of every final regular file (its ELF type) and
 * /etc/passwd into `heads`. Only layers holding such entries are read.
 */
async function* readLayersOnce(
  image: Image,
  tree: FsTree,
  wanted: ReadonlySet<string>,
  heads: Heads,
  signal: AbortSignal | undefined,
): AsyncIterable<{ path: string; content: Buffer }> {
  const keyOf = (path: string) => {
    const source = tree.contentSource(path);
    return source ? { key: `${source.layer}:${source.entry}`, layer: source.layer } : undefined;
  };
  const headPaths = new Map<string, string[]>();
  const wholePaths = new Map<string, string[]>();
  const layers = new Set<number>();
  const add = (map: Map<string, string[]>, path: string, at: { key: string; layer: number }) => {
    const list = map.get(at.key);
    if (list) list.push(path);
    else map.set(at.key, [path]);
    layers.add(at.layer);
  };
  for (const node of tree.entries()) {
    if ((node.kind !== 'file' && node.kind !== 'hardlink') || node.size < 52) continue;
    const at = keyOf(node.path);
    if (at) add(headPaths, node.path, at);
  }
  for (const path of wanted) {
    const resolved = tree.resolve(path);
    const node = resolved === undefined ? undefined : tree.get(resolved);
    const at = node && (node.kind === 'file' || node.kind === 'hardlink') ? keyOf(node.path) : undefined;
    if (at) add(wholePaths, path, at);
  }
  const passwdPath = tree.resolve('/etc/passwd');
  const passwdAt = passwdPath === undefined ? undefined : keyOf(passwdPath);
  if (passwdAt) layers.add(passwdAt.layer);
  for (const layer of [...layers].sort((a, b) => a - b)) {
    const lenient = { onSkippedEntry: () => undefined };
    const stream = await (image.layers[layer] as Image['layers'][number]).uncompressed();
    for await (const { entry, body } of readLayerEntries(stream, lenient)) {
      const key = `${layer}:${entry.index}`;
      const forHead = headPaths.get(key);
      const whole = wholePaths.get(key);
      const isPasswd = passwdAt?.key === key;
      if (!forHead && !whole && !isPasswd) continue;
      throwIfCancelled(signal);
      const limit = whole ? Number.POSITIVE_INFINITY : isPasswd ? MAX_PASSWD_BYTES + 1 : ELF_HEAD_BYTES;
      const chunks: Buffer[] = [];
      let kept = 0;
      // The rest of a big file is read (the tar stream goes on) but not kept.
      for await (const chunk of body) {
        if (kept >= limit) continue;
        chunks.push(chunk);
        kept += chunk.length;
      }
      const content = Buffer.concat(chunks);
      if (isPasswd && content.length <= MAX_PASSWD_BYTES) heads.passwd = content.toString('utf8');
      if (forHead) {
        const size = entry.kind === 'node' ? entry.size : content.length;
        const type = await readElfFileType(bufferReader(content), size).catch(() => undefined);
        if (type) for (const path of forHead) heads.elf.set(path, type);
      }
      for (const path of whole ?? []) yield { path, content };
    }
  }
  heads.done = true;
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
  const byEcosystem: Record<string, number> = {};
  // Installed packages only: a Debian source package named by Built-Using (`architecture:
  // 'source'`) is where code came from, not something the image holds.
  const installed = installedPackages(observed.sbom.packages);
  for (const pkg of installed) byEcosystem[pkg.type] = (byEcosystem[pkg.type] ?? 0) + 1;
  const vulnerabilities = options.vulnerabilities
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
  return {
    subject: observed.subject,
    packages: { total: installed.length, byEcosystem: sortedRecord(byEcosystem) },
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
    ...(vulnerabilities ? { vulnerabilities: sortedRecord(vulnerabilities) } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
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
