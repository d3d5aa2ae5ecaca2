import { compareText } from '../util/compare-text.js';
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

export { compareText };
