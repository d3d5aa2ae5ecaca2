import { readFile } from 'node:fs/promises';
import type * as z from 'zod/mini';
import { lockEntry } from '../debian/lock.js';
import { lockedPackageSchema } from '../debian/locked-package.js';
import { RampartError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { compareText } from '../util/compare-text.js';
import { _default, array, boolean, literal, object, optional, record, string } from '../util/zod.js';

export type { LockedPackage } from '../debian/locked-package.js';

const releaseSchema = object({
  suite: string(),
  inReleaseSha256: string(),
  date: string(),
  validUntil: optional(string()),
  url: string(),
});
export type LockedRelease = z.infer<typeof releaseSchema>;

/** What the lock was resolved for: a different request means the lock no longer matches the spec. */
const requestSchema = object({
  suites: array(string()),
  packages: array(string()),
  exclude: array(string()),
  skip: array(string()),
  recommends: boolean(),
});
export type LockRequest = z.infer<typeof requestSchema>;

const variantLockSchema = object({
  request: requestSchema,
  releases: array(releaseSchema),
  /** Debian architecture -> packages sorted by name. */
  archs: record(string(), array(lockedPackageSchema)),
  /** Packages left out as maintainer-script-only dependencies, for the summary. */
  skipped: _default(array(object({ name: string(), requiredBy: string() })), []),
});
export type VariantLock = z.infer<typeof variantLockSchema>;

const lockSchema = object({
  lockVersion: literal(1),
  name: string(),
  /** Keyed by variant name; the main image is `default`. */
  variants: record(string(), variantLockSchema),
});
export type LockFile = z.infer<typeof lockSchema>;

export const DEFAULT_VARIANT_KEY = 'default';

/** `images/nodejs.yaml` -> `images/nodejs.lock.json`. */
export function lockPathFor(specPath: string): string {
  return `${specPath.replace(/\.ya?ml$/, '')}.lock.json`;
}

export async function readLock(path: string): Promise<LockFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RampartError('IO', `cannot read lock file ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new RampartError('SPEC_INVALID', `lock file ${path} is not valid JSON; delete it and build again`, {
      cause: error,
    });
  }
  const parsed = lockSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new RampartError(
      'SPEC_INVALID',
      `lock file ${path} is malformed at ${issue.path.join('.') || '(root)'}: ${issue.message}; delete it and build again`,
    );
  }
  return parsed.data;
}

/** Canonical JSON (sorted packages, stable key order) so a re-resolve with no changes rewrites identical bytes. */
export function serializeLock(lock: LockFile): string {
  const variants = Object.fromEntries(
    Object.keys(lock.variants)
      .sort()
      .map((key) => {
        const v = lock.variants[key]!;
        const archs = Object.fromEntries(
          Object.keys(v.archs)
            .sort()
            .map((arch) => [
              arch,
              [...v.archs[arch]!].sort((a, b) => compareText(a.name, b.name)).map(lockEntry),
            ]),
        );
        return [
          key,
          {
            request: v.request,
            releases: [...v.releases].sort((a, b) => compareText(a.suite, b.suite)),
            archs,
            skipped: [...v.skipped].sort((a, b) => compareText(a.name, b.name)),
          },
        ];
      }),
  );
  return `${JSON.stringify({ lockVersion: 1, name: lock.name, variants }, null, 2)}\n`;
}

export async function writeLock(path: string, lock: LockFile): Promise<void> {
  await writeFileAtomic(path, serializeLock(lock));
}

/** Compares the spec's request with the lock's; returns what differs, or undefined when it matches. */
export function requestMismatch(locked: LockRequest, wanted: LockRequest): string | undefined {
  const same = (a: readonly string[], b: readonly string[]) =>
    a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);
  if (!same(locked.suites, wanted.suites)) return 'contents.suites';
  if (!same(locked.packages, wanted.packages)) return 'contents.packages';
  if (!same(locked.exclude, wanted.exclude)) return 'contents.exclude';
  if (!same(locked.skip, wanted.skip)) return 'contents.skip';
  if (locked.recommends !== wanted.recommends) return 'contents.recommends';
  return undefined;
}
