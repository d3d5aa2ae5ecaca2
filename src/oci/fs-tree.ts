import { compareUtf8 } from '../util/compare-text.js';

/**
 * The merged filesystem of an image as metadata only: one node per path, no file contents.
 * Built by `flattenLayers` (fs-view.ts); read by the SBOM catalogers, compare and lint.
 */

export type FsNodeKind =
  | 'file'
  | 'directory'
  | 'symlink'
  | 'hardlink'
  | 'char-device'
  | 'block-device'
  | 'fifo';

export interface FsNode {
  /** absolute, normalised, '/' for the root, no trailing slash */
  path: string;
  kind: FsNodeKind;
  /** permission bits including setuid/setgid/sticky, no file-type bits */
  mode: number;
  uid: number;
  gid: number;
  /** bytes of content; a hardlink reports the size of the file it shares content with */
  size: number;
  /** symlink target as stored, or hardlink target as an absolute path */
  linkTarget?: string;
  /** seconds since the epoch */
  mtime: number;
  /** index of the layer that last wrote it */
  layer: number;
  xattrs?: Record<string, string>;
  devMajor?: number;
  devMinor?: number;
}

/** Where the bytes of a regular file (or of a hardlink's shared inode) live: entry `entry` of layer `layer`. */
export interface ContentSource {
  layer: number;
  entry: number;
}

const MAX_SYMLINK_HOPS = 40;

/** Lexical normalisation to an absolute path: '.' dropped, '..' pops (and stays at the root). */
export function normaliseTreePath(path: string): string {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}

export function parentPath(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}

/** Byte-wise order of the UTF-8 encodings, so the order is the same everywhere (and parents sort first). */
export const comparePaths = compareUtf8;

export class FsTree {
  protected readonly nodes = new Map<string, FsNode>();
  protected readonly childIndex = new Map<string, Set<string>>();
  protected readonly contentSources = new Map<string, ContentSource>();
  private sortedCache: FsNode[] | undefined;

  get(path: string): FsNode | undefined {
    return this.nodes.get(normaliseTreePath(path));
  }

  has(path: string): boolean {
    return this.nodes.has(normaliseTreePath(path));
  }

  /** Every node, sorted by path. */
  entries(): FsNode[] {
    this.sortedCache ??= [...this.nodes.values()].sort((a, b) => comparePaths(a.path, b.path));
    return [...this.sortedCache];
  }

  /** Direct children of `dir`, sorted by path; empty if `dir` is missing or not a directory. */
  children(dir: string): FsNode[] {
    const paths = this.childIndex.get(normaliseTreePath(dir));
    if (!paths) return [];
    return [...paths]
      .sort(comparePaths)
      .map((path) => this.nodes.get(path))
      .filter((node): node is FsNode => node !== undefined);
  }

  /**
   * Resolves symlinks the way the kernel would inside a chroot: absolute targets restart at the
   * root and '..' at the root stays at the root, so the result never escapes the image.
   * Returns the final path, or undefined if a component is missing, not a directory, or loops.
   */
  resolve(path: string): string | undefined {
    const pending = path
      .split('/')
      .filter((part) => part !== '' && part !== '.')
      .reverse();
    let current: string[] = [];
    let hops = 0;
    while (pending.length > 0) {
      const part = pending.pop() as string;
      if (part === '..') {
        current.pop();
        continue;
      }
      const candidate = `/${[...current, part].join('/')}`;
      const node = this.nodes.get(candidate);
      if (!node) return undefined;
      if (node.kind === 'symlink') {
        hops++;
        if (hops > MAX_SYMLINK_HOPS) return undefined;
        const target = node.linkTarget ?? '';
        if (target.startsWith('/')) current = [];
        const targetParts = target.split('/').filter((p) => p !== '' && p !== '.');
        for (let i = targetParts.length - 1; i >= 0; i--) pending.push(targetParts[i] as string);
        continue;
      }
      if (pending.length > 0 && node.kind !== 'directory') return undefined;
      current.push(part);
    }
    return `/${current.join('/')}`;
  }

  /** The tar entry holding the bytes of a regular file or hardlink; used by `readFiles`. */
  contentSource(path: string): ContentSource | undefined {
    return this.contentSources.get(normaliseTreePath(path));
  }

  get size(): number {
    return this.nodes.size;
  }

  protected invalidate(): void {
    this.sortedCache = undefined;
  }
}

/** The mutable side of FsTree, used only while applying layers. Paths given here are already normalised. */
export class FsTreeBuilder extends FsTree {
  constructor(root: FsNode) {
    super();
    this.nodes.set('/', root);
    this.childIndex.set('/', new Set());
  }

  /** Sets `node` at its path; the parent must exist. A directory replaced by a non-directory loses its subtree. */
  put(node: FsNode, content?: ContentSource): void {
    const existing = this.nodes.get(node.path);
    if (existing?.kind === 'directory' && node.kind !== 'directory') this.removeSubtree(node.path);
    this.nodes.set(node.path, node);
    if (node.path !== '/') this.childIndex.get(parentPath(node.path))?.add(node.path);
    if (node.kind === 'directory') {
      if (!this.childIndex.has(node.path)) this.childIndex.set(node.path, new Set());
    } else {
      this.childIndex.delete(node.path);
    }
    if (content) this.contentSources.set(node.path, content);
    else this.contentSources.delete(node.path);
    this.invalidate();
  }

  /** Removes `path` and everything below it (the root itself is never removed, only emptied). */
  removeSubtree(path: string): void {
    if (path === '/') {
      this.removeChildren('/');
      return;
    }
    if (!this.nodes.has(path)) return;
    this.removeChildren(path);
    this.nodes.delete(path);
    this.childIndex.delete(path);
    this.contentSources.delete(path);
    this.childIndex.get(parentPath(path))?.delete(path);
    this.invalidate();
  }

  removeChildren(dir: string): void {
    const children = this.childIndex.get(dir);
    if (!children) return;
    for (const child of [...children]) this.removeSubtree(child);
  }
}
