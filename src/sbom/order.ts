import type { SbomPackage } from './model.js';

/** Orders packages deterministically: by type, name, version, then id. */
export function comparePackages(a: SbomPackage, b: SbomPackage): number {
  return (
    compareText(a.type, b.type) ||
    compareText(a.name, b.name) ||
    compareText(a.version, b.version) ||
    compareText(a.id, b.id)
  );
}

/**
 * Code-unit order. Not localeCompare: that follows the process locale (LANG), so the same image
 * would give differently ordered documents on differently configured machines.
 */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
