import { createRequire } from 'node:module';
import type { PackageURL as PackageURLClass } from 'packageurl-js';

/*
 * packageurl-js (15 modules) loads on first use, synchronously (`require`: it is CommonJS): a warm
 * scan of a Debian image, whose purls come from the cached catalog, never parses or renders one.
 */
const require = createRequire(import.meta.url);
let packageUrlModule: typeof import('packageurl-js') | undefined;
/** packageurl-js's `PackageURL`, loaded on the first call. */
export function packageUrl(): typeof PackageURLClass {
  packageUrlModule ??= require('packageurl-js') as typeof import('packageurl-js');
  return packageUrlModule.PackageURL;
}

import type { RawPackage } from '../cataloger.js';
import type { SbomDistro } from '../model.js';

/** The purl of a catalogued package; Debian purls carry arch, distro and (when it differs) upstream. */
export function purlFor(pkg: RawPackage, distro: SbomDistro | undefined): string {
  switch (pkg.type) {
    case 'deb': {
      const qualifiers: Record<string, string> = {};
      if (pkg.architecture) qualifiers.arch = pkg.architecture;
      const distroQualifier = distroQualifierFor(distro);
      if (distroQualifier) qualifiers.distro = distroQualifier;
      if (pkg.source && (pkg.source.name !== pkg.name || pkg.source.version !== pkg.version)) {
        qualifiers.upstream =
          pkg.source.version === pkg.version ? pkg.source.name : `${pkg.source.name}@${pkg.source.version}`;
      }
      return renderPurl('deb', distro?.id ?? 'debian', pkg.name, pkg.version, qualifiers);
    }
    case 'npm': {
      const scoped = /^(@[^/]+)\/(.+)$/.exec(pkg.name);
      return scoped
        ? renderPurl('npm', scoped[1]!, scoped[2]!, pkg.version)
        : renderPurl('npm', undefined, pkg.name, pkg.version);
    }
    case 'pypi':
      return renderPurl('pypi', undefined, normalisePythonName(pkg.name), pkg.version);
    case 'golang': {
      const slash = pkg.name.lastIndexOf('/');
      return slash > 0
        ? renderPurl('golang', pkg.name.slice(0, slash), pkg.name.slice(slash + 1), pkg.version)
        : renderPurl('golang', undefined, pkg.name, pkg.version);
    }
    case 'maven':
      return renderPurl('maven', pkg.namespace, pkg.name, pkg.version);
    case 'cargo':
      return renderPurl('cargo', undefined, pkg.name, pkg.version);
  }
}

/** `debian-13` from os-release; the codename stands in on testing/unstable where VERSION_ID is absent. */
export function distroQualifierFor(distro: SbomDistro | undefined): string | undefined {
  if (!distro) return undefined;
  const version = distro.versionId ?? distro.versionCodename;
  return version ? `${distro.id}-${version}` : distro.id;
}

/** PEP 503 normalisation: runs of `-`, `_`, `.` become one `-`, lower case. */
export function normalisePythonName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/**
 * The canonical purl string for the given parts (packageurl-js, which applies each type's rules),
 * with `+` spelled `%2B` as the purl spec's test suite and vulnerability databases write it
 * (`pkg:deb/debian/attr@1:2.4.47-2%2Bb1`); a `:` (an epoch, a URL scheme in a qualifier) stays
 * literal, as the suite writes it.
 */
export function renderPurl(
  type: string,
  namespace: string | undefined,
  name: string,
  version: string,
  qualifiers?: Record<string, string>,
  subpath?: string,
): string {
  const PackageURL = packageUrl();
  const purl = new PackageURL(
    type,
    namespace ?? null,
    name,
    version || null,
    qualifiers && Object.keys(qualifiers).length > 0 ? qualifiers : null,
    subpath ?? null,
  );
  // packageurl-js percent-encodes every `:`; the suite leaves it literal (versions and qualifier values alike).
  return purl.toString().replace(/\+/g, '%2B').replace(/%3A/gi, ':');
}
