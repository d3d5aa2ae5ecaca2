import { stat } from 'node:fs/promises';
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
  const passwdPath = tree.resolve('/etc/passwd');
  const heads = await readHeads(image, tree, passwdPath, signal);
  const nodes: SurfaceNode[] = tree.entries().map((node) => ({
    path: node.path,
    kind: node.kind,
    mode: node.mode,
    size: node.size,
    ...(node.xattrs ? { xattrs: node.xattrs } : {}),
  }));
  options.onProgress?.({ phase: 'catalog', reference });
  // The catalogers read their files from the tree already built: no second flatten.
  const files = await imageFileSource(image, { flattenImage: async () => tree, readFiles }, () => undefined);
  const sbom = await catalog(files, reference, signal);
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
    mode: node.mode,
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

/**
 * One more pass over the layers that hold final regular files: the first bytes of each (for its
 * ELF type) and the whole of /etc/passwd. Only layers with such entries are read.
 */
async function readHeads(
  image: Image,
  tree: FsTree,
  passwdPath: string | undefined,
  signal: AbortSignal | undefined,
): Promise<{ elf: Map<string, ElfFileType>; passwd: string | undefined }> {
  const pathsBySource = new Map<string, string[]>();
  const layers = new Set<number>();
  for (const node of tree.entries()) {
    if ((node.kind !== 'file' && node.kind !== 'hardlink') || node.size < 52) continue;
    const source = tree.contentSource(node.path);
    if (!source) continue;
    const key = `${source.layer}:${source.entry}`;
    const paths = pathsBySource.get(key);
    if (paths) paths.push(node.path);
    else pathsBySource.set(key, [node.path]);
    layers.add(source.layer);
  }
  const passwdSource = passwdPath === undefined ? undefined : tree.contentSource(passwdPath);
  if (passwdSource) layers.add(passwdSource.layer);
  const elf = new Map<string, ElfFileType>();
  let passwd: string | undefined;
  for (const layer of [...layers].sort((a, b) => a - b)) {
    const lenient = { onSkippedEntry: () => undefined };
    const stream = await (image.layers[layer] as Image['layers'][number]).uncompressed();
    for await (const { entry, body } of readLayerEntries(stream, lenient)) {
      const key = `${layer}:${entry.index}`;
      const paths = pathsBySource.get(key);
      const isPasswd =
        passwdSource !== undefined && passwdSource.layer === layer && passwdSource.entry === entry.index;
      if (!paths && !isPasswd) continue;
      throwIfCancelled(signal);
      const limit = isPasswd ? MAX_PASSWD_BYTES + 1 : ELF_HEAD_BYTES;
      const chunks: Buffer[] = [];
      let kept = 0;
      // Unread bytes are drained by the reader; the rest of a big file is read but not kept.
      for await (const chunk of body) {
        if (kept >= limit) continue;
        chunks.push(chunk);
        kept += chunk.length;
      }
      const head = Buffer.concat(chunks);
      if (isPasswd && head.length <= MAX_PASSWD_BYTES) passwd = head.toString('utf8');
      if (!paths) continue;
      const size = entry.kind === 'node' ? entry.size : head.length;
      const type = await readElfFileType(bufferReader(head), size).catch(() => undefined);
      if (type) for (const path of paths) elf.set(path, type);
    }
  }
  return { elf, passwd };
}

/** The one rule that turns observations into SurfaceMetrics, for images and directories alike. */
async function summarise(observed: Observed, options: MeasureOptions): Promise<SurfaceMetrics> {
  const max = options.maxPaths ?? 1000;
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
  for (const pkg of observed.sbom.packages) byEcosystem[pkg.type] = (byEcosystem[pkg.type] ?? 0) + 1;
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
    packages: { total: observed.sbom.packages.length, byEcosystem: sortedRecord(byEcosystem) },
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
