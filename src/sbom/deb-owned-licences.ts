import type { RawPackage } from './cataloger.js';

/**
 * A Java archive that a Debian package installs (its path is in that package's md5sums) is covered by
 * the Debian package's copyright file. Maven packages found in it (the archive itself or archives
 * nested in it) that declare no licence of their own — no pom.xml `<licenses>`, no Bundle-License —
 * take the Debian package's declared licence; a pom's own declaration is kept. Paths are compared
 * after symlink resolution inside the root (`resolve`), so a usr-merged or linked path still matches.
 */
export function inheritDebianLicences(
  raw: RawPackage[],
  resolve: (path: string) => string | undefined,
): void {
  const owner = new Map<string, RawPackage>();
  for (const pkg of raw) {
    if (pkg.type !== 'deb' || !pkg.license) continue;
    for (const file of pkg.files ?? []) {
      if (!/\.(?:jar|war|ear)$/i.test(file.path)) continue;
      const path = resolve(file.path) ?? file.path;
      if (!owner.has(path)) owner.set(path, pkg);
    }
  }
  if (owner.size === 0) return;
  for (const pkg of raw) {
    if (pkg.type !== 'maven' || pkg.license) continue;
    const archive = pkg.locations[0]?.split('!/')[0];
    const deb = archive ? owner.get(resolve(archive) ?? archive) : undefined;
    if (deb?.license) pkg.license = deb.license;
  }
}
