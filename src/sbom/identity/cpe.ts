import type { RawPackage } from '../cataloger.js';
import { normalisePythonName } from './purl.js';

/**
 * One deterministic CPE 2.3 per package where the ecosystem makes a guess reasonable
 * (vendor = product = the package name, as syft's first candidate). Matchers should prefer purls.
 */
export function cpesFor(pkg: RawPackage): string[] {
  if (!pkg.version) return [];
  switch (pkg.type) {
    case 'deb':
      return [cpe(pkg.name, pkg.name, pkg.version)];
    case 'npm': {
      const product = pkg.name.replace(/^@[^/]+\//, '');
      return [cpe(product, product, pkg.version)];
    }
    case 'pypi': {
      const product = normalisePythonName(pkg.name);
      return [cpe(`python-${product}`, product, pkg.version)];
    }
    default:
      return [];
  }
}

function cpe(vendor: string, product: string, version: string): string {
  return `cpe:2.3:a:${quoteCpeValue(vendor)}:${quoteCpeValue(product)}:${quoteCpeValue(version)}:*:*:*:*:*:*:*`;
}

/** CPE 2.3 formatted-string quoting: everything but alphanumerics, `_`, `-` and `.` gets a backslash. */
function quoteCpeValue(value: string): string {
  return value.toLowerCase().replace(/[^a-z0-9_.-]/g, (c) => `\\${c}`);
}
