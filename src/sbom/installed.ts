import type { SbomPackage } from './model.js';

/*
 * Which packages of an SBOM are in the image, one rule for every reader of the model (scan,
 * lint, attack-surface metrics, the encoders): a Debian source package (architecture `source`)
 * is where code came from, not something installed. It is in the model only because a binary
 * names it in Built-Using / Static-Built-Using / X-Cargo-Built-Using: its code is compiled into
 * that binary, so a scanner matches it, but it has no files, no version of its own installed and
 * no place in the image's package list.
 */

/** What the rule reads of a package (SBOM packages, and records shaped like them). */
type PackageKind = { readonly type: string; readonly architecture?: string | undefined };

/** A Debian source package in the model (architecture `source`), not an installed package. */
export function isDebianSourcePackage(pkg: PackageKind): boolean {
  return pkg.type === 'deb' && pkg.architecture === 'source';
}

/** The packages installed in the image: every package but the Debian source packages. */
export function installedPackages<P extends PackageKind>(packages: readonly P[]): P[] {
  return packages.filter((pkg) => !isDebianSourcePackage(pkg));
}

/**
 * The installed packages and the Debian source packages compiled into them (named by an installed
 * package's `builtUsing`): the image's content, as a scanner matches it. A source package that no
 * package names (another tool's SBOM listing every binary's `Source:`) is left out: the binaries
 * built from it carry its findings.
 */
export function contentPackages(packages: readonly SbomPackage[]): SbomPackage[] {
  const builtUsing = new Set(packages.flatMap((pkg) => (pkg.builtUsing ?? []).map((ref) => ref.id)));
  return packages.filter((pkg) => !isDebianSourcePackage(pkg) || builtUsing.has(pkg.id));
}
