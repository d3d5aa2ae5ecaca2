import { installedPackages } from '../../sbom/installed.js';
import type { LintCheck } from './types.js';
import { findingOf } from './types.js';

/**
 * End of life of Debian releases. Source: the Debian release and LTS pages
 * (https://www.debian.org/releases/, https://wiki.debian.org/LTS), as endoflife.date/debian
 * lists them, checked 2026-12. `security` is the end of regular security support, `lts` the end
 * of Debian LTS (after it, no security updates at all).
 */
export const DEBIAN_RELEASES: ReadonlyArray<{
  version: string;
  codename: string;
  security: string;
  lts: string;
}> = [
  { version: '8', codename: 'jessie', security: '2018-06-17', lts: '2020-06-30' },
  { version: '9', codename: 'stretch', security: '2020-07-06', lts: '2022-06-30' },
  { version: '10', codename: 'buster', security: '2022-09-10', lts: '2024-06-30' },
  { version: '11', codename: 'bullseye', security: '2024-08-14', lts: '2026-08-31' },
  { version: '12', codename: 'bookworm', security: '2026-06-10', lts: '2028-06-30' },
  { version: '13', codename: 'trixie', security: '2028-08-09', lts: '2030-06-30' },
];

function debianRelease(distro: { id: string; versionId?: string; versionCodename?: string } | undefined) {
  if (distro?.id !== 'debian') return undefined;
  const major = distro.versionId?.split('.')[0];
  return DEBIAN_RELEASES.find(
    (release) =>
      release.version === major ||
      (distro.versionCodename !== undefined && release.codename === distro.versionCodename),
  );
}

const eolDistro: LintCheck = {
  id: 'eol-distro',
  group: 'packages',
  severity: 'error',
  title: 'The distribution release gets no security updates',
  fix: 'Rebuild on a supported release (e.g. `contents.suites: [trixie, trixie-updates, trixie-security]`).',
  requires: [],
  run(context) {
    const release = debianRelease(context.sbom.distro);
    if (!release || context.now.toISOString().slice(0, 10) <= release.lts) return [];
    return [
      findingOf(
        this,
        `Debian ${release.version} (${release.codename}) reached its end of life on ${release.lts}, LTS included`,
        {
          kind: 'image',
        },
      ),
    ];
  },
};

const ltsOnlyDistro: LintCheck = {
  id: 'lts-only-distro',
  group: 'packages',
  severity: 'warning',
  title: 'The distribution release is past regular security support',
  fix: 'Plan the move to the current stable release; until then only Debian LTS (a subset of packages) gets fixes.',
  requires: [],
  run(context) {
    const release = debianRelease(context.sbom.distro);
    const today = context.now.toISOString().slice(0, 10);
    if (!release || today <= release.security || today > release.lts) return [];
    return [
      findingOf(
        this,
        `Debian ${release.version} (${release.codename}) left regular security support on ${release.security}; LTS runs until ${release.lts}`,
        { kind: 'image' },
      ),
    ];
  },
};

const outdatedPackage: LintCheck = {
  id: 'outdated-package',
  group: 'packages',
  severity: 'warning',
  title: 'A package has a newer version in the configured archive',
  fix: 'Rebuild the image (`rampart build SPEC` re-resolves the lock; `--locked` keeps the old versions).',
  requires: ['archive'],
  run(context) {
    const newer = context.newerVersion;
    if (!newer) return [];
    // Installed packages only: a Built-Using source (arch=source) is not in the image to update.
    return installedPackages(context.sbom.packages).flatMap((pkg) => {
      if (pkg.type !== 'deb') return [];
      const version = newer({
        name: pkg.name,
        version: pkg.version,
        ...(pkg.architecture ? { architecture: pkg.architecture } : {}),
      });
      return version
        ? [
            findingOf(this, `${pkg.name} ${pkg.version} has a newer version in the archive: ${version}`, {
              kind: 'package',
              name: pkg.name,
              version: pkg.version,
            }),
          ]
        : [];
    });
  },
};

export const PACKAGE_CHECKS: readonly LintCheck[] = [eolDistro, ltsOnlyDistro, outdatedPackage];
