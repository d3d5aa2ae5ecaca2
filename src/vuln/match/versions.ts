import * as pep440 from '@renovatebot/pep440';
import semver from 'semver';
import { compareVersions as compareDebian } from '../../debian/version.js';
import type { AdvisoryEcosystem } from '../types.js';
import { compareMavenVersions } from './maven-version.js';

/** Compares two versions of one ecosystem; throws on a version the ecosystem cannot order. */
export type VersionCompare = (a: string, b: string) => number;

function semverCompare(a: string, b: string): number {
  const pa = semver.parse(a, { loose: true });
  const pb = semver.parse(b, { loose: true });
  if (!pa || !pb) throw new Error(`not a semantic version: ${!pa ? a : b}`);
  return pa.compare(pb);
}

/** Go module versions are semver with a `v`; the toolchain (`stdlib`) writes `go1.22.1` or `go1.22`. */
function goVersion(v: string): string {
  let text = v.trim().replace(/^go/, '').replace(/^v/, '');
  // go1.22 and go1.22rc1: complete to three components, as OSV's Go records do (1.22.0-rc.1).
  const pre = /^(\d+)\.(\d+)(?:\.(\d+))?((?:rc|beta|alpha)\d+)?(.*)$/.exec(text);
  if (pre) {
    const [, major, minor, patch, tag, rest] = pre;
    text = `${major}.${minor}.${patch ?? '0'}${tag ? `-${tag.replace(/(\D+)(\d+)/, '$1.$2')}` : ''}${rest ?? ''}`;
  }
  return text;
}

export const compareByEcosystem: Record<AdvisoryEcosystem, VersionCompare> = {
  deb: compareDebian,
  npm: semverCompare,
  cargo: semverCompare,
  golang: (a, b) => semverCompare(goVersion(a), goVersion(b)),
  pypi: (a, b) => {
    if (!pep440.valid(a) || !pep440.valid(b))
      throw new Error(`not a PEP 440 version: ${!pep440.valid(a) ? a : b}`);
    return pep440.compare(a, b);
  },
  maven: compareMavenVersions,
};
