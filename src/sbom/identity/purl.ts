import { PackageURL } from 'packageurl-js';
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
      return render('deb', distro?.id ?? 'debian', pkg.name, pkg.version, qualifiers);
    }
    case 'npm': {
      const scoped = /^(@[^/]+)\/(.+)$/.exec(pkg.name);
      return scoped
        ? render('npm', scoped[1]!, scoped[2]!, pkg.version)
        : render('npm', undefined, pkg.name, pkg.version);
    }
    case 'pypi':
      return render('pypi', undefined, normalisePythonName(pkg.name), pkg.version);
    case 'golang': {
      const slash = pkg.name.lastIndexOf('/');
      return slash > 0
        ? render('golang', pkg.name.slice(0, slash), pkg.name.slice(slash + 1), pkg.version)
        : render('golang', undefined, pkg.name, pkg.version);
    }
    case 'maven':
      return render('maven', pkg.namespace, pkg.name, pkg.version);
    case 'cargo':
      return render('cargo', undefined, pkg.name, pkg.version);
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

function render(
  type: string,
  namespace: string | undefined,
  name: string,
  version: string,
  qualifiers?: Record<string, string>,
): string {
  const purl = new PackageURL(type, namespace ?? null, name, version || null, qualifiers ?? null, null);
  // Vulnerability databases and syft spell `+` as %2B and an epoch's `:` as %3A; packageurl-js
  // leaves both literal.
  const text = purl.toString().replace(/\+/g, '%2B');
  const end = text.search(/[?#]/);
  const head = end < 0 ? text : text.slice(0, end);
  const at = head.lastIndexOf('@');
  if (at < 0) return text;
  return `${head.slice(0, at + 1)}${head.slice(at + 1).replace(/:/g, '%3A')}${text.slice(head.length)}`;
}
