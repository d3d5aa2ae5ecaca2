import type { SbomDistro } from '../sbom/model.js';

/**
 * Debian VERSION_ID (major) → codename, for os-release files without VERSION_CODENAME (Debian 9 and
 * older, and images whose os-release was trimmed). Testing/unstable carry no VERSION_ID; their
 * os-release names the codename (`trixie/sid` PRETTY_NAME), which the SBOM keeps.
 */
const DEBIAN_CODENAMES: Record<string, string> = {
  '7': 'wheezy',
  '8': 'jessie',
  '9': 'stretch',
  '10': 'buster',
  '11': 'bullseye',
  '12': 'bookworm',
  '13': 'trixie',
  '14': 'forky',
  '15': 'duke',
};

export interface DistroRelease {
  id: string;
  version: string;
  codename: string;
}

/** The release an image runs, from its os-release; the codename from VERSION_ID when os-release has none. */
export function debianRelease(distro: SbomDistro | undefined): DistroRelease | undefined {
  if (!distro) return undefined;
  const version = distro.versionId ?? '';
  const major = version.split('.')[0] ?? '';
  const codename = distro.versionCodename ?? DEBIAN_CODENAMES[major] ?? '';
  return { id: distro.id, version, codename };
}

/** OSV's ecosystem qualifier for a Debian release: `Debian:13` (major only, as osv.dev writes it). */
export function osvDebianEcosystem(release: DistroRelease): string | undefined {
  const major = release.version.split('.')[0];
  if (major) return `Debian:${major}`;
  const entry = Object.entries(DEBIAN_CODENAMES).find(([, name]) => name === release.codename);
  return entry ? `Debian:${entry[0]}` : undefined;
}
