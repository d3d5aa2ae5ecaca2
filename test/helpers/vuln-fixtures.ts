import type { SbomDocument, SbomPackage } from '../../src/sbom/model.js';

/** Shared scanner fixtures: packages, SBOMs and hand-made tracker entries (in the tracker's real JSON format). */
export const NOW = new Date('2026-12-06T00:00:00Z');

export function deb(name: string, version: string, source?: { name: string; version: string }): SbomPackage {
  const upstream =
    source && (source.name !== name || source.version !== version)
      ? `&upstream=${encodeURIComponent(source.version === version ? source.name : `${source.name}@${source.version}`)}`
      : '';
  return {
    id: `deb:${name}@${version}`,
    name,
    version,
    type: 'deb',
    purl: `pkg:deb/debian/${name}@${encodeURIComponent(version)}?arch=amd64&distro=debian-13${upstream}`,
    cpes: [],
    licenses: [],
    locations: ['/var/lib/dpkg/status'],
    dependsOn: [],
    ...(source ? { source } : {}),
  };
}

export function lang(type: SbomPackage['type'], name: string, version: string, purl: string): SbomPackage {
  return {
    id: `${type}:${name}@${version}`,
    name,
    version,
    type,
    purl,
    cpes: [],
    licenses: [],
    locations: [],
    dependsOn: [],
  };
}

export function sbom(
  packages: SbomPackage[],
  distro = { id: 'debian', versionId: '13', versionCodename: 'trixie' },
): SbomDocument {
  return {
    source: { kind: 'image', ref: 'test', digest: `sha256:${'a'.repeat(64)}` },
    distro,
    packages,
    warnings: [],
  };
}

export const trixie = (fields: Record<string, unknown>) => ({
  releases: { trixie: { repositories: {}, ...fields } },
});

/**
 * Hand-made tracker entries in the tracker's real JSON format (keys are SOURCE packages): the
 * acceptance's `nodejs` and `openssl` entries and one entry per version edge case.
 */
export const HANDMADE = {
  nodejs: { 'CVE-2026-1000': trixie({ status: 'open', urgency: 'high' }) },
  openssl: {
    'CVE-2026-2000': trixie({ status: 'resolved', fixed_version: '3.5.1-1+deb13u1', urgency: 'medium' }),
    'CVE-2026-2001': trixie({ status: 'resolved', fixed_version: '3.0.0-1', urgency: 'high' }), // below installed
    'CVE-2026-2002': trixie({ status: 'resolved', fixed_version: '0', urgency: 'high' }), // never affected
    'CVE-2026-2003': trixie({ status: 'resolved', fixed_version: '3.5.1-1', urgency: 'high' }), // = installed
    'CVE-2026-2004': { releases: { bookworm: { status: 'open', repositories: {}, urgency: 'high' } } }, // other release
  },
  // epochs: the installed 1:1.35.0-4 is above an epoch-less 1.36.0-1 and below 1:1.36.0-1.
  busybox: {
    'CVE-2026-3000': trixie({ status: 'resolved', fixed_version: '1.36.0-1', urgency: 'low' }),
    'CVE-2026-3001': trixie({ status: 'resolved', fixed_version: '1:1.36.0-1', urgency: 'low' }),
    'CVE-2026-3002': trixie({ status: 'open', urgency: 'unimportant' }),
  },
  // a binNMU: binary libfoo1 2.0-1+b1 built from source foo 2.0-1; and a source version that differs
  // from the binary's (libbar1 1:5.0-1 from bar 4.2-3).
  foo: { 'CVE-2026-4000': trixie({ status: 'resolved', fixed_version: '2.0-1', urgency: 'medium' }) },
  bar: { 'CVE-2026-4001': trixie({ status: 'resolved', fixed_version: '4.2-4', urgency: 'medium' }) },
  // +debNuM security updates and ~ pre-releases
  glibc: {
    'CVE-2026-5000': trixie({ status: 'resolved', fixed_version: '2.41-12+deb13u1', urgency: 'high' }),
    'CVE-2026-5001': trixie({ status: 'resolved', fixed_version: '2.41-12+deb13u2', urgency: 'high' }),
  },
  pre: {
    'CVE-2026-6000': trixie({ status: 'resolved', fixed_version: '1.0-1', urgency: 'low' }),
    'CVE-2026-6001': trixie({ status: 'resolved', fixed_version: '1.0~rc1-1', urgency: 'low' }),
  },
  // statuses
  zlib: {
    'CVE-2026-7000': trixie({
      status: 'open',
      urgency: 'low',
      nodsa: 'Minor issue',
      nodsa_reason: 'ignored',
    }),
    'CVE-2026-7001': trixie({
      status: 'open',
      urgency: 'medium',
      nodsa: 'Minor issue',
      nodsa_reason: 'postponed',
    }),
    'CVE-2026-7002': trixie({ status: 'open', urgency: 'end-of-life' }),
    'CVE-2026-7003': trixie({ status: 'undetermined', urgency: 'not yet assigned' }),
  },
};

export const IMAGE = [
  deb('nodejs', '20.19.2+dfsg-1'),
  deb('libssl3t64', '3.5.1-1', { name: 'openssl', version: '3.5.1-1' }),
  deb('busybox', '1:1.35.0-4'),
  deb('libfoo1', '2.0-1+b1', { name: 'foo', version: '2.0-1' }),
  deb('libbar1', '1:5.0-1', { name: 'bar', version: '4.2-3' }),
  deb('libc6', '2.41-12+deb13u1', { name: 'glibc', version: '2.41-12+deb13u1' }),
  deb('pre', '1.0~rc2-1'),
  deb('zlib1g', '1:1.3.dfsg+really1.3.1-1+b1', { name: 'zlib', version: '1:1.3.dfsg+really1.3.1-1' }),
];
