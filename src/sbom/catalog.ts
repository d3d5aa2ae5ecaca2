import { createHash } from 'node:crypto';
import { RampartError } from '../errors.js';
import { mapBounded } from '../util/map-bounded.js';
import {
  type CatalogContext,
  type Cataloger,
  type CatalogerRun,
  type RawPackage,
  rawPackageKey,
} from './cataloger.js';
import { binaryCataloger } from './catalogers/binary/cataloger.js';
import { dpkgCataloger } from './catalogers/dpkg/cataloger.js';
import { javaCataloger } from './catalogers/java/cataloger.js';
import { npmCataloger } from './catalogers/npm/cataloger.js';
import { pythonCataloger } from './catalogers/python/cataloger.js';
import { inheritDebianLicences } from './deb-owned-licences.js';
import { cpesFor } from './identity/cpe.js';
import { purlFor } from './identity/purl.js';
import type { SbomDistro, SbomPackage, SbomWarning } from './model.js';
import { comparePackages, compareText } from './order.js';
import { OS_RELEASE_PATHS, parseOsRelease } from './os-release.js';
import { resolveDependencies } from './relationships.js';
import { createPathResolver } from './resolve-path.js';
import type { FileNode, FileSource } from './source/file-source.js';

export const DEFAULT_CATALOGERS: readonly Cataloger[] = [
  dpkgCataloger,
  npmCataloger,
  pythonCataloger,
  javaCataloger,
  binaryCataloger,
];

/** os-release is a few hundred bytes and is read whole: a larger one (a gzip bomb) is not read. */
const MAX_OS_RELEASE_BYTES = 64 * 1024;

export interface CatalogResult {
  distro?: SbomDistro;
  packages: SbomPackage[];
  warnings: SbomWarning[];
}

/**
 * Runs the catalogers over one filesystem: the listing decides which files are read, the
 * source streams only those, and each cataloger turns its files into packages. Nothing a
 * cataloger meets in the files is fatal; it becomes a warning.
 */
export async function catalogFileSource(
  source: FileSource,
  catalogers: readonly Cataloger[] = DEFAULT_CATALOGERS,
  signal?: AbortSignal,
  options: { fileDigests?: boolean } = {},
): Promise<CatalogResult> {
  const warnings: SbomWarning[] = [];
  const nodes = [...source.nodes()];
  const resolve = createPathResolver(nodes);
  const runs = new Map<Cataloger, CatalogerRun>(catalogers.map((c) => [c, c.start()]));
  const contextFor = (cataloger: string): CatalogContext => ({
    warn: (path, message) => warnings.push({ cataloger, ...(path !== undefined ? { path } : {}), message }),
    resolve,
  });

  const wanted = new Map<string, Cataloger[]>();
  for (const node of nodes) {
    for (const cataloger of catalogers) {
      if (!cataloger.matches(node)) {
        const reason = cataloger.skipReason?.(node);
        if (reason && cataloger.skipHidesPackages) {
          // Padding a package database past the limit must not hide packages silently.
          warnings.push({
            cataloger: cataloger.name,
            path: node.path,
            message: reason,
            skipped: { name: node.path, reason: 'too-large' },
          });
        } else if (reason) contextFor(cataloger.name).warn(node.path, reason);
        continue;
      }
      const list = wanted.get(node.path);
      if (list) list.push(cataloger);
      else wanted.set(node.path, [cataloger]);
    }
  }
  let osReleasePath = OS_RELEASE_PATHS.map((p) => resolve(p)).find((p) => p !== undefined);
  const osReleaseSize = nodes.find((n) => n.path === osReleasePath)?.size ?? 0;
  if (osReleasePath && osReleaseSize > MAX_OS_RELEASE_BYTES) {
    warnings.push({
      cataloger: 'source',
      path: osReleasePath,
      message: `os-release of ${osReleaseSize} bytes is over the ${MAX_OS_RELEASE_BYTES / 1024} KiB limit; not read, the distribution is unknown`,
    });
    osReleasePath = undefined;
  }
  const paths = new Set(wanted.keys());
  if (osReleasePath) paths.add(osReleasePath);

  let distro: SbomDistro | undefined;
  const onReadError = (path: string, error: unknown) =>
    warnings.push({ cataloger: 'source', path, message: `could not read: ${errorMessage(error)}` });
  if (source.openRandomAccess) {
    await inspectInPlace(source, paths, wanted, runs, contextFor, onReadError, signal);
  }
  for await (const file of source.read(paths, onReadError)) {
    throwIfCancelled(signal);
    if (file.path === osReleasePath) distro = parseOsRelease(file.content.toString('utf8'));
    for (const cataloger of wanted.get(file.path) ?? []) {
      const ctx = contextFor(cataloger.name);
      try {
        await runs.get(cataloger)!.accept(file, ctx);
      } catch (error) {
        ctx.warn(file.path, `could not parse: ${errorMessage(error)}`);
      }
    }
  }

  const raw: RawPackage[] = [];
  for (const [cataloger, run] of runs) {
    const ctx = contextFor(cataloger.name);
    try {
      raw.push(...run.finish(ctx));
    } catch (error) {
      ctx.warn(undefined, `cataloger failed: ${errorMessage(error)}`);
    }
  }
  // Binaries are inspected concurrently; sort before merging so the output never depends on timing.
  raw.sort((a, b) => compareText(rawKey(a), rawKey(b)));
  inheritDebianLicences(raw, resolve);
  let packages = assignIdentity(mergeDuplicates(raw), distro, contextFor('identity'));
  if (options.fileDigests)
    packages = await withFileSha1s(packages, source, nodes, resolve, onReadError, signal);
  warnings.sort((a, b) =>
    compareText(
      `${a.path ?? ''}\0${a.cataloger}\0${a.message}`,
      `${b.path ?? ''}\0${b.cataloger}\0${b.message}`,
    ),
  );
  return { ...(distro ? { distro } : {}), packages, warnings };
}

/**
 * Sets `sha1` on every package file that is a regular file in the root (symlinked directories
 * followed inside the root), hashing each distinct file once. Files listed but absent keep none.
 */
async function withFileSha1s(
  packages: SbomPackage[],
  source: FileSource,
  nodes: readonly FileNode[],
  resolve: (path: string) => string | undefined,
  onReadError: (path: string, error: unknown) => void,
  signal: AbortSignal | undefined,
): Promise<SbomPackage[]> {
  const regular = new Set(nodes.filter((n) => n.kind === 'file' || n.kind === 'hardlink').map((n) => n.path));
  const resolved = new Map<string, string>();
  for (const pkg of packages)
    for (const file of pkg.files ?? []) {
      if (resolved.has(file.path)) continue;
      const target = resolve(file.path);
      if (target !== undefined && regular.has(target)) resolved.set(file.path, target);
    }
  const wanted = new Set(resolved.values());
  const sha1s = new Map<string, string>();
  if (source.sha1) {
    for await (const { path, sha1 } of source.sha1(wanted, onReadError)) {
      throwIfCancelled(signal);
      sha1s.set(path, sha1);
    }
  } else {
    for await (const { path, content } of source.read(wanted, onReadError)) {
      throwIfCancelled(signal);
      sha1s.set(path, createHash('sha1').update(content).digest('hex'));
    }
  }
  return packages.map((pkg) => {
    if (!pkg.files) return pkg;
    const files = pkg.files.map((file) => {
      const target = resolved.get(file.path);
      const sha1 = target === undefined ? undefined : sha1s.get(target);
      return sha1 ? { ...file, sha1 } : file;
    });
    return { ...pkg, files };
  });
}

const INSPECT_CONCURRENCY = 8;

/**
 * Files whose every cataloger can work from positional reads (binaries) are handled here and
 * removed from `paths`, so they are never read whole.
 */
async function inspectInPlace(
  source: FileSource,
  paths: Set<string>,
  wanted: Map<string, Cataloger[]>,
  runs: Map<Cataloger, CatalogerRun>,
  contextFor: (cataloger: string) => CatalogContext,
  onReadError: (path: string, error: unknown) => void,
  signal: AbortSignal | undefined,
): Promise<void> {
  const queue = [...paths].filter((path) => {
    const catalogers = wanted.get(path) ?? [];
    return catalogers.length > 0 && catalogers.every((c) => runs.get(c)?.inspect);
  });
  for (const path of queue) paths.delete(path);
  // A file that cannot be read or parsed is a warning, never a failure of the pool; the caller's
  // abort stops further files from starting and is CANCELLED, as in the read loop.
  await mapBounded(
    queue,
    INSPECT_CONCURRENCY,
    async (path) => {
      let file: Awaited<ReturnType<NonNullable<FileSource['openRandomAccess']>>>;
      try {
        file = await source.openRandomAccess!(path);
      } catch (error) {
        onReadError(path, error);
        return;
      }
      try {
        for (const cataloger of wanted.get(path) ?? []) {
          const ctx = contextFor(cataloger.name);
          await runs.get(cataloger)!.inspect!(path, file, ctx).catch((error: unknown) =>
            ctx.warn(path, `could not parse: ${errorMessage(error)}`),
          );
        }
      } finally {
        await file.close();
      }
    },
    { signal },
  ).catch((error: unknown) => {
    throwIfCancelled(signal);
    throw error;
  });
}

/**
 * The same ecosystem package found twice (lock file and installed tree) is one package with two
 * locations; a nested package (jar in a fat jar) is never merged (see rawPackageKey).
 */
function mergeDuplicates(raw: RawPackage[]): RawPackage[] {
  const byKey = new Map<string, RawPackage>();
  for (const pkg of raw) {
    const key = rawPackageKey(pkg);
    const seen = byKey.get(key);
    if (!seen) {
      byKey.set(key, { ...pkg, locations: [...pkg.locations] });
      continue;
    }
    seen.locations = [...new Set([...seen.locations, ...pkg.locations])];
    seen.license ??= pkg.license;
    seen.depends = [...(seen.depends ?? []), ...(pkg.depends ?? [])];
    seen.files ??= pkg.files;
    seen.sha256 ??= pkg.sha256;
    seen.description ??= pkg.description;
    seen.homepage ??= pkg.homepage;
    if (pkg.application) seen.application = true;
    if (pkg.builtUsing) seen.builtUsing = [...(seen.builtUsing ?? []), ...pkg.builtUsing];
    if (pkg.contains) seen.contains = [...(seen.contains ?? []), ...pkg.contains];
  }
  return [...byKey.values()];
}

function assignIdentity(
  raw: RawPackage[],
  distro: SbomDistro | undefined,
  ctx: CatalogContext,
): SbomPackage[] {
  const withIds = raw
    .flatMap((pkg) => {
      try {
        return [{ raw: pkg, purl: purlFor(pkg, distro) }];
      } catch (error) {
        ctx.warn(
          pkg.locations[0],
          `no valid purl for ${pkg.type} ${pkg.name}@${pkg.version}: ${errorMessage(error)}`,
        );
        return [];
      }
    })
    .sort((a, b) => compareText(a.purl, b.purl));
  const used = new Set<string>();
  const entries = withIds.map(({ raw: pkg, purl }) => {
    // The purl is the natural id; a second copy (same package in two places) gets a suffix.
    let id = purl;
    for (let n = 2; used.has(id); n++) id = `${purl}#${n}`;
    used.add(id);
    return { raw: pkg, id, purl };
  });
  const edges = resolveDependencies(entries);
  const idByKey = new Map(entries.map(({ raw: pkg, id }) => [rawPackageKey(pkg), id]));
  return entries
    .map(({ raw: pkg, id, purl }) => {
      const builtUsing = resolveBuiltUsing(pkg, idByKey);
      const contains = [...new Set((pkg.contains ?? []).flatMap((key) => idByKey.get(key) ?? []))].sort(
        compareText,
      );
      const out: SbomPackage = {
        id,
        name: pkg.name,
        version: pkg.version,
        type: pkg.type,
        purl,
        cpes: cpesFor(pkg),
        ...(pkg.license ? { license: pkg.license } : {}),
        ...(pkg.supplier ? { supplier: pkg.supplier } : {}),
        ...(pkg.source ? { source: pkg.source } : {}),
        ...(pkg.architecture ? { architecture: pkg.architecture } : {}),
        locations: [...new Set(pkg.locations)].sort(),
        ...(pkg.files ? { files: [...pkg.files].sort((a, b) => compareText(a.path, b.path)) } : {}),
        ...(pkg.sha256 ? { sha256: pkg.sha256 } : {}),
        dependsOn: edges.get(id) ?? [],
        ...(pkg.description ? { description: pkg.description } : {}),
        ...(pkg.homepage ? { homepage: pkg.homepage } : {}),
        ...(pkg.application ? { application: true } : {}),
        ...(builtUsing.length > 0 ? { builtUsing } : {}),
        ...(contains.length > 0 ? { contains } : {}),
      };
      return out;
    })
    .sort(comparePackages);
}

/**
 * A binary's Built-Using entries point at the Debian source packages (architecture `source`) the
 * dpkg cataloger reported for them; one source named by two fields keeps both.
 */
function resolveBuiltUsing(
  pkg: RawPackage,
  idByKey: ReadonlyMap<string, string>,
): NonNullable<SbomPackage['builtUsing']> {
  const seen = new Map<string, NonNullable<SbomPackage['builtUsing']>[number]>();
  for (const ref of pkg.builtUsing ?? []) {
    const key = rawPackageKey({
      type: 'deb',
      name: ref.name,
      version: ref.version,
      architecture: 'source',
      locations: [],
    });
    const id = idByKey.get(key);
    if (id) seen.set(`${id}\0${ref.field}`, { id, field: ref.field });
  }
  return [...seen.values()].sort((a, b) => compareText(a.id, b.id) || compareText(a.field, b.field));
}

function rawKey(pkg: RawPackage): string {
  return [pkg.type, pkg.name, pkg.version, pkg.architecture ?? '', pkg.locations[0] ?? ''].join('\0');
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** CANCELLED when the caller's signal has fired: checked per file read, so a big image stops promptly. */
function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  throw new RampartError('CANCELLED', 'the SBOM was cancelled', {
    cause: signal.reason,
    details: { operation: 'sbom' },
  });
}
