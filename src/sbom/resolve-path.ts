import type { FileNode } from './source/file-source.js';

const MAX_LINK_HOPS = 40;

/**
 * Resolves a path inside a root the way the kernel would inside a chroot: `..` stops at `/`,
 * absolute link targets restart at the root, so resolution can never leave the tree.
 */
export function createPathResolver(nodes: Iterable<FileNode>): (path: string) => string | undefined {
  const byPath = new Map<string, FileNode>();
  for (const node of nodes) byPath.set(node.path, node);
  return (path) => {
    let hops = 0;
    let pending = splitPath(path);
    let resolved: string[] = [];
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === '.') continue;
      if (part === '..') {
        resolved.pop();
        continue;
      }
      const candidate = `/${[...resolved, part].join('/')}`;
      const node = byPath.get(candidate);
      // Layers may omit parent directory entries, so only a missing leaf means "not found".
      if (!node && pending.length === 0) return undefined;
      if (node?.kind === 'symlink' && node.linkTarget !== undefined) {
        if (++hops > MAX_LINK_HOPS) return undefined;
        const target = splitPath(node.linkTarget);
        if (node.linkTarget.startsWith('/')) resolved = [];
        pending = [...target, ...pending];
        continue;
      }
      resolved.push(part);
    }
    return `/${resolved.join('/')}`;
  };
}

function splitPath(path: string): string[] {
  return path.split('/').filter((part) => part.length > 0);
}
