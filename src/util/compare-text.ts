/**
 * Code-unit order, for everything rampart sorts into its outputs (locks, SBOMs, layers, reports).
 * Not localeCompare: that follows the process locale (LANG), so the same input would give
 * differently ordered output on differently configured machines.
 */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Byte order of the UTF-8 encodings (differs from compareText only past the BMP): the order of
 * image filesystem views, the same everywhere, parents before children.
 */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * Tree order of '/'-separated paths: byte order with '/' sorting before every other byte, so each
 * directory is followed by its whole subtree, like `find | sort` in the C locale (tar order).
 */
export function compareTreePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a.replaceAll('/', '\0')), Buffer.from(b.replaceAll('/', '\0')));
}
