import { RampartError } from '../errors.js';
import { compareTreePaths } from '../util/compare-text.js';
import { safeEntryPath } from '../util/entry-path.js';
import { sameBytes, type TreeContent } from './content.js';

export type NodeType = 'file' | 'directory' | 'symlink' | 'hardlink';

/** One path of the assembled root filesystem. `owner` says who put it there (a package, or a rampart step). */
export type TreeNode = {
  type: NodeType;
  mode: number;
  uid: number;
  gid: number;
  /** Regular-file bytes, or a verified reference to them (read when the layer is written). */
  content?: TreeContent;
  /** Symlink target as written, or the canonical tree path a hardlink points at. */
  target?: string;
  /** Layering key: a package name or a generated-content label such as `(config)`. */
  owner: string;
};

/** A root-owned 0644 regular file: what the post-install steps rampart replaces write. */
export function rootFile(content: string | Buffer, owner: string): TreeNode {
  return { type: 'file', mode: 0o644, uid: 0, gid: 0, content: Buffer.from(content), owner };
}

/** Top-level directories that merged-/usr Debian turns into symlinks into /usr. */
export const USR_MERGED_DIRS = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32', 'libo32'] as const;
const MERGED = new Set<string>(USR_MERGED_DIRS);

/**
 * Turns an archive path (`./usr/bin/x`, `/lib/y`, `bin/`) into a canonical tree path with no
 * leading `/` or `./`, under /usr for merged-/usr aliases. Returns '' for the root itself.
 * The path goes through the one archive path rule (src/util/entry-path.ts): `..`, NUL and
 * overlong names are PATH_TRAVERSAL.
 */
export function canonicalPath(raw: string, type: NodeType = 'file'): string {
  const normalised = safeEntryPath(raw, undefined, { absolute: 'root' });
  const parts = normalised === '' ? [] : normalised.split('/');
  const first = parts[0];
  // `/lib` as a directory, or anything below it, lives in /usr; a top-level symlink `lib -> usr/lib` stays.
  if (first !== undefined && MERGED.has(first) && (parts.length > 1 || type === 'directory')) {
    parts.unshift('usr');
  }
  return parts.join('/');
}

/**
 * A relative symlink target rewritten for a link that canonicalPath moved into /usr: the
 * target is resolved from where the package put the link and made relative to where it is
 * now (`lib/x -> ../usr/lib/y` becomes `usr/lib/x -> y`). Absolute targets and links that
 * did not move are returned unchanged.
 */
export function movedSymlinkTarget(originalPath: string, canonical: string, target: string): string {
  const original = safeEntryPath(originalPath, undefined, { absolute: 'root' });
  if (target.startsWith('/') || original === canonical) return target;
  const resolved: string[] = parentOf(original).split('/').filter(Boolean);
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') resolved.pop();
    else resolved.push(part);
  }
  const absolute = canonicalPath(resolved.join('/'));
  const from = parentOf(canonical).split('/').filter(Boolean);
  const to = absolute.split('/').filter(Boolean);
  let common = 0;
  while (common < from.length && common < to.length && from[common] === to[common]) common++;
  const relative = [...from.slice(common).map(() => '..'), ...to.slice(common)].join('/');
  return relative === '' ? '.' : relative;
}

export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

/** The in-memory root filesystem the build assembles: canonical path -> node. */
export class FileTree {
  readonly nodes = new Map<string, TreeNode>();
  /** Every owner that shipped a directory, so each layer can carry the directories it needs. */
  readonly directoryOwners = new Map<string, Set<string>>();

  get(path: string): TreeNode | undefined {
    return this.nodes.get(path);
  }

  has(path: string): boolean {
    return this.nodes.has(path);
  }

  /**
   * Adds a node. Two owners writing the same path is a FILE_CONFLICT unless both wrote the
   * same thing; directories merge and keep the first writer's metadata.
   */
  add(path: string, node: TreeNode): void {
    if (path === '') return;
    this.ensureParents(path, node.owner);
    const existing = this.nodes.get(path);
    if (existing) {
      if (existing.type === 'directory' && node.type === 'directory') {
        this.directoryOwners.get(path)?.add(node.owner);
        return;
      }
      if (sameContent(existing, node)) return;
      throw new RampartError(
        'FILE_CONFLICT',
        `/${path} is shipped by both ${existing.owner} and ${node.owner} with different contents; exclude one of them (contents.exclude)`,
        { details: { path: `/${path}`, packages: [existing.owner, node.owner] } },
      );
    }
    this.nodes.set(path, node);
    if (node.type === 'directory') this.directoryOwners.set(path, new Set([node.owner]));
  }

  /** Replaces or creates a node without conflict checks (for generated files that supersede a package's). */
  put(path: string, node: TreeNode): void {
    this.ensureParents(path, node.owner);
    this.nodes.set(path, node);
    if (node.type === 'directory') {
      const owners = this.directoryOwners.get(path) ?? new Set<string>();
      owners.add(node.owner);
      this.directoryOwners.set(path, owners);
    }
  }

  delete(path: string): void {
    this.nodes.delete(path);
    this.directoryOwners.delete(path);
  }

  /** Sorted paths, so everything derived from the tree is deterministic. */
  paths(): string[] {
    return [...this.nodes.keys()].sort(comparePaths);
  }

  private ensureParents(path: string, owner: string): void {
    const missing: string[] = [];
    for (let parent = parentOf(path); parent !== ''; parent = parentOf(parent)) {
      const node = this.nodes.get(parent);
      if (node) {
        if (node.type !== 'directory') {
          throw new RampartError(
            'FILE_CONFLICT',
            `/${path} (from ${owner}) needs /${parent} to be a directory, but ${node.owner} ships it as a ${node.type}`,
            { details: { path: `/${parent}`, packages: [node.owner, owner] } },
          );
        }
        this.directoryOwners.get(parent)?.add(owner);
        break;
      }
      missing.push(parent);
    }
    for (const dir of missing.reverse()) {
      this.nodes.set(dir, { type: 'directory', mode: 0o755, uid: 0, gid: 0, owner });
      this.directoryOwners.set(dir, new Set([owner]));
    }
  }
}

function sameContent(a: TreeNode, b: TreeNode): boolean {
  if (a.type !== b.type) return false;
  if (a.type === 'symlink' || a.type === 'hardlink') return a.target === b.target;
  if ((a.mode & 0o7777) !== (b.mode & 0o7777) || a.uid !== b.uid || a.gid !== b.gid) return false;
  return sameBytes(a.content, b.content);
}

/** Byte order on the path segments: parents sort before children, like `find | sort` in the C locale. */
export const comparePaths = compareTreePaths;
