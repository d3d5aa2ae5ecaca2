import { RampartError } from '../errors.js';
import { compareText } from '../util/compare-text.js';
import type { LockedPackage } from './locked-package.js';
import type { BinaryPackage, PackageIndex } from './package-index.js';

/**
 * Map locked entries back to index entries, so a build from a lock downloads exactly what
 * was resolved. Throws RampartError 'LOCK_STALE' naming the first package the index no
 * longer carries (or carries with a different hash) — the archive moved on; re-resolve.
 */
export function findLockedInIndex(index: PackageIndex, locked: readonly LockedPackage[]): BinaryPackage[] {
  return locked.map((entry) => {
    const candidates = index.candidates(entry.name);
    const match = candidates.find(
      (p) =>
        p.version === entry.version && p.architecture === entry.architecture && p.sha256 === entry.sha256,
    );
    if (match) return match;
    const sameVersion = candidates.find(
      (p) => p.version === entry.version && p.architecture === entry.architecture,
    );
    const why = sameVersion
      ? `its sha256 in the index is ${sameVersion.sha256}, the lock has ${entry.sha256}`
      : `the index has ${candidates.map((p) => `${p.version} ${p.architecture}`).join(', ') || 'no such package'}`;
    throw new RampartError(
      'LOCK_STALE',
      `locked ${entry.name} ${entry.version} ${entry.architecture} (${entry.suite}) is not in the index: ${why}; re-resolve the lock`,
      { details: { package: entry.name } },
    );
  });
}

export interface LockDiff {
  added: LockedPackage[];
  removed: LockedPackage[];
  changed: Array<{ from: LockedPackage; to: LockedPackage }>;
}

/** What a re-resolve changed, keyed by name and architecture; each list sorted by name. */
export function diffLockedPackages(
  before: readonly LockedPackage[],
  after: readonly LockedPackage[],
): LockDiff {
  const key = (p: LockedPackage) => `${p.name}:${p.architecture}`;
  const old = new Map(before.map((p) => [key(p), p]));
  const next = new Map(after.map((p) => [key(p), p]));
  const diff: LockDiff = { added: [], removed: [], changed: [] };
  for (const [k, to] of next) {
    const from = old.get(k);
    if (from === undefined) diff.added.push(to);
    else if (from.version !== to.version || from.sha256 !== to.sha256) diff.changed.push({ from, to });
  }
  for (const [k, from] of old) if (!next.has(k)) diff.removed.push(from);
  const byName = (a: LockedPackage, b: LockedPackage) => compareText(key(a), key(b));
  diff.added.sort(byName);
  diff.removed.sort(byName);
  diff.changed.sort((a, b) => byName(a.to, b.to));
  return diff;
}

/**
 * A lock entry with exactly the lock's fields, in the documented order: the JSON users' scripts
 * read (`rampart apt resolve -o json`, `<spec>.lock.json`) never carries extra index fields.
 */
export function lockEntry(p: LockedPackage): LockedPackage {
  return {
    name: p.name,
    version: p.version,
    architecture: p.architecture,
    source: p.source,
    sourceVersion: p.sourceVersion,
    suite: p.suite,
    filename: p.filename,
    size: p.size,
    sha256: p.sha256,
  };
}
