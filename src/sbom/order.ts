import type { SbomPackage } from './model.js';

/** Orders packages deterministically: by type, name, version, then id. */
export function comparePackages(a: SbomPackage, b: SbomPackage): number {
  return cmp(a.type, b.type) || cmp(a.name, b.name) || cmp(a.version, b.version) || cmp(a.id, b.id);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
