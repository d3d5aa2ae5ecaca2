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

/**
 * The distro an SBOM without os-release facts names in its Debian purls (`distro=debian-13`,
 * `distro=debian-13.2`, `distro=debian-trixie`): SPDX documents carry no OS element, and other
 * tools' SBOMs write the qualifier too. The most frequent value wins.
 */
export function distroFromPurls(purls: string[]): SbomDistro | undefined {
  const counts = new Map<string, number>();
  for (const purl of purls) {
    if (!purl.startsWith('pkg:deb/')) continue;
    const m = /[?&]distro=([^&#]+)/.exec(purl);
    if (m) counts.set(decodeURIComponent(m[1]!), (counts.get(decodeURIComponent(m[1]!)) ?? 0) + 1);
  }
  const best = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0];
  const m = best ? /^([a-z]+)-(.+)$/.exec(best) : null;
  if (!m) return undefined;
  const value = m[2]!;
  if (/^\d+(\.\d+)*$/.test(value)) {
    const codename = m[1] === 'debian' ? DEBIAN_CODENAMES[value.split('.')[0]!] : undefined;
    return { id: m[1]!, versionId: value, ...(codename ? { versionCodename: codename } : {}) };
  }
  return { id: m[1]!, versionCodename: value };
}
