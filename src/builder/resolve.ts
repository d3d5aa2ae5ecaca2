import { loadRepositories } from '../debian/repository.js';
import { resolvePackageClosure } from '../debian/resolver.js';
import { RampartError } from '../errors.js';
import type { FetchFn } from '../http/fetch.js';
import { compareText } from '../util/compare-text.js';
import {
  DEFAULT_VARIANT_KEY,
  type LockedPackage,
  type LockedRelease,
  type LockFile,
  type LockRequest,
  readLock,
  requestMismatch,
  type VariantLock,
} from './lock.js';
import type { ImageSpec, SpecLocator } from './spec.js';

/**
 * Dependencies that only maintainer scripts use. Nothing from a package runs during assembly,
 * so by default they are treated as satisfied and left out (the build summary lists them).
 * A spec overrides the list with `contents.skip`; a package the spec asks for is never skipped.
 */
export const DEFAULT_SKIP = [
  'adduser',
  'awk',
  'cdebconf',
  'debconf',
  'debconf-2.0',
  'debianutils',
  'dpkg',
  'gawk',
  'init-system-helpers',
  'lsb-base',
  'mawk',
  'openssl',
  'perl-base',
  'sysvinit-utils',
  'ucf',
  'usr-is-merged',
  'usrmerge',
] as const;

export function lockRequestFor(spec: ImageSpec): LockRequest {
  const requested = new Set(spec.contents.packages.map((p) => p.split(/[:=]/)[0]!));
  const skip = (spec.contents.skip ?? [...DEFAULT_SKIP]).filter((p) => !requested.has(p));
  return {
    suites: spec.contents.suites,
    packages: [...spec.contents.packages].sort(),
    exclude: [...spec.contents.exclude].sort(),
    skip: [...skip].sort(),
    recommends: spec.contents.recommends,
  };
}

export function variantKey(spec: ImageSpec): string {
  return spec.variant ?? DEFAULT_VARIANT_KEY;
}

export type ResolvedContents = {
  variant: VariantLock;
  /** The lock file to write after a successful build (undefined with --locked: it is unchanged). */
  lockToWrite?: LockFile;
};

/** Reads the lock for `--locked`, failing with LOCK_STALE when it no longer matches the spec. */
export async function lockedContents(
  spec: ImageSpec,
  lockPath: string,
  archs: readonly string[],
): Promise<ResolvedContents> {
  const lock = await readLock(lockPath);
  const key = variantKey(spec);
  const entry = lock?.variants[key];
  if (!lock || !entry) {
    throw new RampartError(
      'LOCK_STALE',
      `${lockPath} has no entry for ${spec.name}${spec.variant ? ` variant ${spec.variant}` : ''}; build once without --locked to create it`,
    );
  }
  const changed = requestMismatch(entry.request, lockRequestFor(spec));
  if (changed) {
    throw new RampartError(
      'LOCK_STALE',
      `${lockPath} was resolved for a different ${changed} than the spec now asks for; run without --locked to update the lock`,
    );
  }
  const missing = archs.filter((a) => !entry.archs[a]);
  if (missing.length) {
    throw new RampartError(
      'LOCK_STALE',
      `${lockPath} has no packages for ${missing.join(', ')}; run without --locked to resolve them`,
    );
  }
  return { variant: entry };
}

/** Resolves the spec against the verified archive and returns the lock entry plus the merged lock. */
export async function resolveContents(
  spec: ImageSpec,
  opts: {
    lockPath: string;
    archs: readonly string[];
    locate: SpecLocator;
    cacheDir?: string;
    now?: Date;
    etcApt?: string;
    fetch?: FetchFn;
    signal?: AbortSignal;
    log?: (message: string) => void;
  },
): Promise<ResolvedContents> {
  const request = lockRequestFor(spec);
  const repos = await loadRepositories({
    suites: spec.contents.suites,
    architectures: [...opts.archs],
    ...(spec.contents.mirror ? { mirror: spec.contents.mirror } : {}),
    ...(spec.contents.securityMirror ? { securityMirror: spec.contents.securityMirror } : {}),
    ...(spec.contents.keyring ? { keyring: spec.contents.keyring } : {}),
    ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.etcApt ? { etcApt: opts.etcApt } : {}),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.log ? { log: opts.log, warn: opts.log } : {}),
  });
  const archs: Record<string, LockedPackage[]> = {};
  const skipped = new Map<string, string>();
  for (const arch of opts.archs) {
    const index = repos.indexes.get(arch)!;
    try {
      const resolution = resolvePackageClosure(index, {
        packages: spec.contents.packages,
        architecture: arch,
        withRecommends: spec.contents.recommends,
        exclude: spec.contents.exclude,
        skip: request.skip,
      });
      archs[arch] = resolution.packages;
      for (const s of resolution.skipped) if (!skipped.has(s.name)) skipped.set(s.name, s.requiredBy);
    } catch (error) {
      throw withSpecPosition(error, spec, opts.locate, arch);
    }
  }
  // Only the lock's fields: the per-arch index list would make a lock resolved for one
  // architecture look like a different archive state than one resolved for all of them.
  const releases: LockedRelease[] = repos.releases.map((r) => ({
    suite: r.suite,
    inReleaseSha256: r.inReleaseSha256,
    date: r.date,
    ...(r.validUntil ? { validUntil: r.validUntil } : {}),
    url: r.url,
  }));
  const variant: VariantLock = {
    request,
    releases,
    archs,
    skipped: [...skipped].map(([name, requiredBy]) => ({ name, requiredBy })),
  };
  // Keep the other variants, and this variant's other architectures when they came from the same archive state.
  const existing = await readLock(opts.lockPath).catch(() => undefined);
  const previous = existing?.variants[variantKey(spec)];
  if (previous && JSON.stringify(previous.releases) === JSON.stringify(sortReleases(releases))) {
    for (const [arch, pkgs] of Object.entries(previous.archs)) if (!archs[arch]) archs[arch] = pkgs;
  }
  const lockToWrite: LockFile = {
    lockVersion: 1,
    name: spec.name,
    variants: { ...(existing?.variants ?? {}), [variantKey(spec)]: variant },
  };
  return { variant, lockToWrite };
}

function sortReleases(releases: LockedRelease[]): LockedRelease[] {
  return [...releases].sort((a, b) => compareText(a.suite, b.suite));
}

/** Points a resolver error at the spec line that asked for (or excluded) the package it is about. */
function withSpecPosition(error: unknown, spec: ImageSpec, locate: SpecLocator, arch: string): unknown {
  if (!(error instanceof RampartError)) return error;
  const about = packagesOf(error);
  const i = specIndexOf(about, spec.contents.packages);
  const j = specIndexOf(about, spec.contents.exclude);
  const where =
    i >= 0
      ? locate(['contents', 'packages', i])
      : j >= 0
        ? locate(['contents', 'exclude', j])
        : locate(['contents', 'packages']);
  return new RampartError(error.code, `${where}: ${error.message} (${arch})`, {
    cause: error,
    details: error.details as never,
  });
}

/**
 * The packages an error is about, from its details (never its message): `details.package`
 * (resolver and .deb errors), `details.packages` (file conflicts), `details.chain` (unsatisfiable).
 */
export function packagesOf(error: RampartError): string[] {
  const details = error.details as { package?: unknown; packages?: unknown };
  const list: string[] = [];
  if (typeof details.package === 'string') list.push(details.package);
  if (Array.isArray(details.packages)) list.push(...details.packages.filter((p) => typeof p === 'string'));
  return list;
}

/** Index of the first spec entry (`name`, `name=version`, `name:arch`) naming one of `names`, or -1. */
export function specIndexOf(names: readonly string[], specEntries: readonly string[]): number {
  const wanted = new Set(names);
  return specEntries.findIndex((entry) => wanted.has(entry.split(/[:=]/)[0]!));
}
