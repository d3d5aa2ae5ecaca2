import { createRequire } from 'node:module';
import { compareVersions as compareDebian } from '../../debian/version.js';
import type { AdvisoryEcosystem } from '../types.js';
import { compareMavenVersions } from './maven-version.js';

/** Compares two versions of one ecosystem; throws on a version the ecosystem cannot order. */
export type VersionCompare = (a: string, b: string) => number;

/*
 * semver (47 modules) and pep440 are loaded on first use, synchronously (`require`, which loads
 * pep440's ES module too): a scan of an image without npm, Go, Rust or Python packages (most
 * distroless images) never needs them, and loading them was a tenth of `rampart scan`'s start.
 */
const require = createRequire(import.meta.url);
let semverModule: typeof import('semver') | undefined;
let pep440Module: typeof import('@renovatebot/pep440') | undefined;
const semver = () => (semverModule ??= require('semver') as typeof import('semver'));
const pep440 = () =>
  (pep440Module ??= require('@renovatebot/pep440') as typeof import('@renovatebot/pep440'));

function semverCompare(a: string, b: string): number {
  const pa = semver().parse(a, { loose: true });
  const pb = semver().parse(b, { loose: true });
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
    const { valid, compare } = pep440();
    if (!valid(a) || !valid(b)) throw new Error(`not a PEP 440 version: ${!valid(a) ? a : b}`);
    return compare(a, b);
  },
  maven: compareMavenVersions,
};
