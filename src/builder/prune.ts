import type { NodeType } from './tree.js';

export type PruneOptions = {
  /** Locale directories kept under /usr/share/locale (default: only `C`). */
  keepLocales: string[];
  /** Keep /usr/share/doc entirely instead of only the copyright files. */
  keepDocs: boolean;
  /** Extra globs (`*` within a segment, `**` across segments) of paths to leave out. */
  drop: string[];
};

export const DEFAULT_PRUNE: PruneOptions = { keepLocales: ['C'], keepDocs: false, drop: [] };

/** Directories a runtime image never reads; dropped with everything below them. */
const DROPPED_TREES = [
  'usr/share/man',
  'usr/share/info',
  'usr/share/lintian',
  'usr/share/bug',
  'usr/share/linda',
];

/**
 * Returns a predicate saying whether a canonical tree path stays in the image.
 * Copyright files under /usr/share/doc always stay: they are the licence notices the
 * distributed binaries require.
 */
export function pathFilter(options: PruneOptions = DEFAULT_PRUNE): (path: string, type: NodeType) => boolean {
  const drops = options.drop.map((glob) => globToRegExp(glob.replace(/^\/+/, '')));
  const locales = new Set(options.keepLocales);
  return (path, type) => {
    for (const tree of DROPPED_TREES) {
      if (path === tree || path.startsWith(`${tree}/`)) return false;
    }
    if (!options.keepDocs && path.startsWith('usr/share/doc/')) {
      const rest = path.slice('usr/share/doc/'.length).split('/');
      // usr/share/doc/<pkg> (a directory, or a symlink to a sibling package's directory) and its copyright.
      if (rest.length === 1) return type === 'directory' || type === 'symlink';
      if (rest.length === 2 && rest[1] === 'copyright') return true;
      return false;
    }
    if (path.startsWith('usr/share/locale/')) {
      const rest = path.slice('usr/share/locale/'.length).split('/');
      if (rest.length > 1 || type === 'directory') {
        if (!locales.has(rest[0]!)) return false;
      }
    }
    return !drops.some((re) => re.test(path));
  };
}

/** `*` matches within one path segment, `**` across segments; a match also drops everything below. */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source.replace(/\/+$/, '')}(/.*)?$`);
}
