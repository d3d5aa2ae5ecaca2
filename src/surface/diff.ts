import { createHash } from 'node:crypto';
import { compareVersions } from '../debian/version.js';
import type { FsNode, FsTree } from '../oci/fs-tree.js';
import { comparePaths } from '../oci/fs-tree.js';
import { flattenImage } from '../oci/fs-view.js';
import type { Image } from '../oci/image.js';
import { generateSbom } from '../sbom/generate.js';
import type { SbomDocument, SbomPackage } from '../sbom/model.js';
import { compareUtf8 } from '../util/compare-text.js';
import type { ScanMatch } from '../vuln/types.js';
import { visitFinalFiles } from './image-files.js';

/**
 * `rampart diff OLD NEW` (issue 15 item 3): what changed between two versions of an image, as plain
 * data. The JSON form of `ImageDiff` is a contract (README "rampart diff"); the maintenance service
 * publishes its Markdown rendering (diff-render.ts) with every rebuild.
 */

export interface DiffSubject {
  reference: string;
  digest: string;
  platform: string;
}

export interface DiffPackage {
  name: string;
  version: string;
  /** Ecosystem (purl type): deb, npm, pypi, golang, maven, cargo. */
  type: string;
  architecture?: string;
  purl: string;
}

export interface DiffPackageChange {
  name: string;
  type: string;
  architecture?: string;
  from: string;
  to: string;
  /** Debian versions are ordered by dpkg's rule; other ecosystems by text, so only 'changed' is sure. */
  direction: 'upgrade' | 'downgrade' | 'changed';
}

export interface DiffFile {
  path: string;
  kind: string;
  size: number;
  mode: string;
  linkTarget?: string;
}

/** What makes a file "changed": any of these differ. mtime is left out on purpose (rebuilds move it). */
export type FileChangeReason = 'kind' | 'content' | 'size' | 'mode' | 'owner' | 'link-target';

export interface DiffFileChange {
  path: string;
  reasons: FileChangeReason[];
  old: DiffFile;
  new: DiffFile;
}

export type ConfigField =
  | 'user'
  | 'env'
  | 'entrypoint'
  | 'cmd'
  | 'workingDir'
  | 'labels'
  | 'exposedPorts'
  | 'stopSignal'
  | 'platform';

/** One config change; `key` names the variable/label/port for the keyed fields. Absent old/new: added/removed. */
export interface DiffConfigChange {
  field: ConfigField;
  key?: string;
  old?: string;
  new?: string;
}

export interface DiffFinding {
  id: string;
  severity: string;
  package: string;
  version: string;
}

export interface ImageDiff {
  schemaVersion: 1;
  old: DiffSubject;
  new: DiffSubject;
  packages: { added: DiffPackage[]; removed: DiffPackage[]; changed: DiffPackageChange[] };
  files: {
    added: DiffFile[];
    removed: DiffFile[];
    changed: DiffFileChange[];
    /** Sum of regular-file sizes, new minus old. */
    bytesDelta: number;
  };
  config: DiffConfigChange[];
  /** Present only when a scanner was given (an advisory store exists). */
  findings?: { fixed: DiffFinding[]; introduced: DiffFinding[] };
}

/** The optional scanner hook: the findings of one SBOM (issue 14's `scanSbomDocument` fits). */
export type FindingsScanner = (sbom: SbomDocument, signal?: AbortSignal) => Promise<ScanMatch[]>;

export interface DiffInput {
  reference: string;
  image: Image;
}

export interface DiffOptions {
  scanFindings?: FindingsScanner;
  signal?: AbortSignal;
  onProgress?: (event: { phase: 'catalog' | 'files' | 'digests' | 'findings'; side?: 'old' | 'new' }) => void;
}

export async function diffImages(
  oldInput: DiffInput,
  newInput: DiffInput,
  options: DiffOptions = {},
): Promise<ImageDiff> {
  const { signal, onProgress } = options;
  const sides = [oldInput, newInput] as const;
  const sboms: SbomDocument[] = [];
  const trees: FsTree[] = [];
  for (const [i, side] of sides.entries()) {
    onProgress?.({ phase: 'catalog', side: i === 0 ? 'old' : 'new' });
    sboms.push(
      await generateSbom(
        { kind: 'image-object', ref: side.reference, image: side.image },
        signal ? { signal } : {},
      ),
    );
    onProgress?.({ phase: 'files', side: i === 0 ? 'old' : 'new' });
    trees.push(await flattenImage(side.image, { onSkippedEntry: () => undefined }));
  }
  const [oldSbom, newSbom] = sboms as [SbomDocument, SbomDocument];
  const [oldTree, newTree] = trees as [FsTree, FsTree];
  onProgress?.({ phase: 'digests' });
  const files = await diffFiles(oldInput.image, oldTree, newInput.image, newTree, signal);
  const result: ImageDiff = {
    schemaVersion: 1,
    old: subjectOf(oldInput),
    new: subjectOf(newInput),
    packages: diffPackages(oldSbom.packages, newSbom.packages),
    files,
    config: diffConfig(oldInput.image, newInput.image),
  };
  if (options.scanFindings) {
    onProgress?.({ phase: 'findings' });
    const before = await options.scanFindings(oldSbom, signal);
    const after = await options.scanFindings(newSbom, signal);
    result.findings = diffFindings(before, after);
  }
  return result;
}

function subjectOf(input: DiffInput): DiffSubject {
  const { config } = input.image;
  return {
    reference: input.reference,
    digest: input.image.digest,
    platform: platformText(config),
  };
}

function platformText(config: { os: string; architecture: string; variant?: string | undefined }): string {
  return `${config.os}/${config.architecture}${config.variant ? `/${config.variant}` : ''}`;
}

/**
 * Packages are matched by ecosystem, name and architecture (and, outside Debian, where they were
 * found, so two copies of one npm package in two apps stay apart). A name with one version on each
 * side is a change; anything else is listed as removed and added versions.
 */
export function diffPackages(
  oldPackages: readonly SbomPackage[],
  newPackages: readonly SbomPackage[],
): ImageDiff['packages'] {
  const group = (packages: readonly SbomPackage[]) => {
    const map = new Map<string, SbomPackage[]>();
    for (const pkg of packages) {
      const key = packageKey(pkg);
      map.set(key, [...(map.get(key) ?? []), pkg]);
    }
    return map;
  };
  const before = group(oldPackages);
  const after = group(newPackages);
  const added: DiffPackage[] = [];
  const removed: DiffPackage[] = [];
  const changed: DiffPackageChange[] = [];
  for (const key of new Set([...before.keys(), ...after.keys()])) {
    const a = uniqueVersions(before.get(key) ?? []);
    const b = uniqueVersions(after.get(key) ?? []);
    const gone = a.filter((pkg) => !b.some((other) => other.version === pkg.version));
    const come = b.filter((pkg) => !a.some((other) => other.version === pkg.version));
    if (gone.length === 1 && come.length === 1 && a.length === 1 && b.length === 1) {
      const [from, to] = [gone[0] as SbomPackage, come[0] as SbomPackage];
      changed.push({
        name: to.name,
        type: to.type,
        ...(to.architecture ? { architecture: to.architecture } : {}),
        from: from.version,
        to: to.version,
        direction: directionOf(to.type, from.version, to.version),
      });
      continue;
    }
    removed.push(...gone.map(toDiffPackage));
    added.push(...come.map(toDiffPackage));
  }
  const byName = (x: { name: string; type: string; version?: string }, y: typeof x) =>
    compareUtf8(x.name, y.name) ||
    compareUtf8(x.type, y.type) ||
    compareUtf8(x.version ?? '', y.version ?? '');
  return { added: added.sort(byName), removed: removed.sort(byName), changed: changed.sort(byName) };
}

function packageKey(pkg: SbomPackage): string {
  const where = pkg.type === 'deb' ? '' : (pkg.locations[0] ?? '').replace(/\/[^/]*$/, '');
  return `${pkg.type}\0${pkg.name}\0${pkg.architecture ?? ''}\0${where}`;
}

function uniqueVersions(packages: SbomPackage[]): SbomPackage[] {
  const seen = new Map<string, SbomPackage>();
  for (const pkg of packages) if (!seen.has(pkg.version)) seen.set(pkg.version, pkg);
  return [...seen.values()];
}

function toDiffPackage(pkg: SbomPackage): DiffPackage {
  return {
    name: pkg.name,
    version: pkg.version,
    type: pkg.type,
    ...(pkg.architecture ? { architecture: pkg.architecture } : {}),
    purl: pkg.purl,
  };
}

function directionOf(type: string, from: string, to: string): DiffPackageChange['direction'] {
  if (type !== 'deb') return 'changed';
  try {
    return compareVersions(from, to) < 0 ? 'upgrade' : 'downgrade';
  } catch {
    return 'changed';
  }
}

function toDiffFile(node: FsNode): DiffFile {
  return {
    path: node.path,
    kind: node.kind,
    size: node.kind === 'file' || node.kind === 'hardlink' ? node.size : 0,
    mode: (node.mode & 0o7777).toString(8).padStart(4, '0'),
    ...(node.linkTarget !== undefined ? { linkTarget: node.linkTarget } : {}),
  };
}

const hasContent = (node: FsNode) => node.kind === 'file' || node.kind === 'hardlink';

/**
 * Files by path. Changed means: another kind, mode (permission and setuid/setgid/sticky bits),
 * owner, link target, size, or — for regular files of equal size — content by sha256. A hardlink
 * compares by the content it shares. Files whose bytes come from the same entry of a layer with
 * the same diff_id on both sides are equal without being read; every other candidate is hashed
 * from a stream.
 */
async function diffFiles(
  oldImage: Image,
  oldTree: FsTree,
  newImage: Image,
  newTree: FsTree,
  signal?: AbortSignal,
): Promise<ImageDiff['files']> {
  const oldNodes = new Map(oldTree.entries().map((node) => [node.path, node]));
  const newNodes = new Map(newTree.entries().map((node) => [node.path, node]));
  const added: DiffFile[] = [];
  const removed: DiffFile[] = [];
  const changed: DiffFileChange[] = [];
  const toHash: string[] = [];
  let bytesDelta = 0;
  // Regular files only: a hardlink shares its target's bytes and would count them twice.
  for (const node of newNodes.values()) if (node.kind === 'file') bytesDelta += node.size;
  for (const node of oldNodes.values()) if (node.kind === 'file') bytesDelta -= node.size;
  const pending = new Map<string, FileChangeReason[]>();
  for (const [path, before] of oldNodes) {
    const after = newNodes.get(path);
    if (!after) {
      removed.push(toDiffFile(before));
      continue;
    }
    const reasons: FileChangeReason[] = [];
    if (before.kind !== after.kind) reasons.push('kind');
    if ((before.mode & 0o7777) !== (after.mode & 0o7777)) reasons.push('mode');
    if (before.uid !== after.uid || before.gid !== after.gid) reasons.push('owner');
    if (before.linkTarget !== after.linkTarget && before.kind === after.kind) reasons.push('link-target');
    if (hasContent(before) && hasContent(after)) {
      if (before.size !== after.size) reasons.push('size');
      else if (!sameStoredEntry(oldImage, oldTree, newImage, newTree, path)) toHash.push(path);
    }
    pending.set(path, reasons);
  }
  for (const [path, after] of newNodes) if (!oldNodes.has(path)) added.push(toDiffFile(after));
  if (toHash.length > 0) {
    const oldDigests = await hashFiles(oldImage, oldTree, toHash, signal);
    const newDigests = await hashFiles(newImage, newTree, toHash, signal);
    for (const path of toHash)
      if (oldDigests.get(path) !== newDigests.get(path)) pending.get(path)?.push('content');
  }
  for (const [path, reasons] of pending) {
    if (reasons.length === 0) continue;
    changed.push({
      path,
      reasons,
      old: toDiffFile(oldNodes.get(path) as FsNode),
      new: toDiffFile(newNodes.get(path) as FsNode),
    });
  }
  const byPath = (a: { path: string }, b: { path: string }) => comparePaths(a.path, b.path);
  return {
    added: added.sort(byPath),
    removed: removed.sort(byPath),
    changed: changed.sort(byPath),
    bytesDelta,
  };
}

function sameStoredEntry(oldImage: Image, oldTree: FsTree, newImage: Image, newTree: FsTree, path: string) {
  const a = oldTree.contentSource(path);
  const b = newTree.contentSource(path);
  if (!a || !b || a.entry !== b.entry) return false;
  const la = oldImage.layers[a.layer];
  const lb = newImage.layers[b.layer];
  return la !== undefined && lb !== undefined && la.diffID === lb.diffID;
}

async function hashFiles(image: Image, tree: FsTree, paths: string[], signal?: AbortSignal) {
  const digests = new Map<string, string>();
  await visitFinalFiles(
    image,
    tree,
    paths,
    async (names, body) => {
      const hash = createHash('sha256');
      for await (const chunk of body) hash.update(chunk);
      const digest = hash.digest('hex');
      for (const name of names) digests.set(name, digest);
    },
    signal,
  );
  return digests;
}

type Config = NonNullable<Image['config']['config']>;

function diffConfig(oldImage: Image, newImage: Image): DiffConfigChange[] {
  const a: Config = oldImage.config.config ?? {};
  const b: Config = newImage.config.config ?? {};
  const changes: DiffConfigChange[] = [];
  const scalar = (field: ConfigField, x: string | undefined, y: string | undefined) => {
    if ((x ?? '') !== (y ?? ''))
      changes.push({
        field,
        ...(x !== undefined && x !== '' ? { old: x } : {}),
        ...(y !== undefined && y !== '' ? { new: y } : {}),
      });
  };
  const keyed = (field: ConfigField, x: Record<string, string>, y: Record<string, string>) => {
    for (const key of [...new Set([...Object.keys(x), ...Object.keys(y)])].sort(compareUtf8)) {
      if (x[key] === y[key]) continue;
      changes.push({
        field,
        key,
        ...(key in x ? { old: x[key] as string } : {}),
        ...(key in y ? { new: y[key] as string } : {}),
      });
    }
  };
  const list = (value: readonly string[] | null | undefined) => (value ? JSON.stringify(value) : undefined);
  scalar('platform', platformText(oldImage.config), platformText(newImage.config));
  scalar('user', a.User, b.User);
  keyed('env', envMap(a.Env), envMap(b.Env));
  scalar('entrypoint', list(a.Entrypoint), list(b.Entrypoint));
  scalar('cmd', list(a.Cmd), list(b.Cmd));
  scalar('workingDir', a.WorkingDir, b.WorkingDir);
  keyed('labels', { ...(a.Labels ?? {}) }, { ...(b.Labels ?? {}) });
  keyed('exposedPorts', portMap(a.ExposedPorts), portMap(b.ExposedPorts));
  scalar('stopSignal', a.StopSignal, b.StopSignal);
  return changes;
}

/** `KEY=VALUE` entries as a map; the last one wins, as in the runtime. */
export function envMap(env: readonly string[] | null | undefined): Record<string, string> {
  const map: Record<string, string> = {};
  for (const entry of env ?? []) {
    const eq = entry.indexOf('=');
    if (eq === -1) map[entry] = '';
    else map[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return map;
}

function portMap(ports: Record<string, unknown> | null | undefined): Record<string, string> {
  return Object.fromEntries(Object.keys(ports ?? {}).map((port) => [port, 'exposed']));
}

function diffFindings(before: ScanMatch[], after: ScanMatch[]): NonNullable<ImageDiff['findings']> {
  const key = (m: ScanMatch) => `${m.vulnerability.id}\0${m.package.name}`;
  const toFinding = (m: ScanMatch): DiffFinding => ({
    id: m.vulnerability.id,
    severity: m.vulnerability.severity,
    package: m.package.name,
    version: m.package.version,
  });
  const open = (matches: ScanMatch[]) =>
    new Map(matches.filter((m) => m.vulnerability.status !== 'not_affected').map((m) => [key(m), m]));
  const a = open(before);
  const b = open(after);
  const order = (x: DiffFinding, y: DiffFinding) =>
    compareUtf8(x.id, y.id) || compareUtf8(x.package, y.package);
  return {
    fixed: [...a]
      .filter(([k]) => !b.has(k))
      .map(([, m]) => toFinding(m))
      .sort(order),
    introduced: [...b]
      .filter(([k]) => !a.has(k))
      .map(([, m]) => toFinding(m))
      .sort(order),
  };
}
