import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type AptMirrors, mirrorForSuite, resolveMirrors } from '../debian/apt-sources.js';
import { downloadPackages } from '../debian/download.js';
import { RampartError } from '../errors.js';
import { type FetchFn, redactUrl } from '../http/fetch.js';
import { type Digest, digestHex, sha256Digest } from '../oci/digest.js';
import type { Image, Index } from '../oci/image.js';
import { layerFromFile, newImage, newIndex } from '../oci/in-memory.js';
import { debianArchToPlatform } from '../oci/platform.js';
import { type Environment, sourceDateEpoch } from '../util/source-date-epoch.js';
import { VERSION } from '../version.js';
import type { FileSourceRecord } from './app-files.js';
import { type AssembledRootfs, assembleRootfs } from './assemble.js';
import { buildLayers } from './build-layers.js';
import { buildTimestamp, imageConfig, rfc3339, standardAnnotations } from './config.js';
import { ContentStore } from './content.js';
import type { BuildEventBody } from './events.js';
import type { LockedPackage, LockedRelease, LockFile, VariantLock } from './lock.js';
import { writeLock } from './lock.js';
import { type BuildOutput, writeOutput } from './output.js';
import { type BuildRecord, writeBuildRecord } from './record.js';
import {
  lockedContents,
  packagesOf,
  type ResolvedContents,
  resolveContents,
  specIndexOf,
} from './resolve.js';
import type { ImageSpec, SpecLocator } from './spec.js';

/*
 * The build as named stages: resolve -> plan -> fetch -> (assemble -> layer) per architecture ->
 * write -> record. Each is exported and callable alone; buildImage (pipeline.ts) only chains them.
 * What a stage needs from the outside world (clock, environment, cache, HTTP, cancellation,
 * progress) comes in through a BuildContext, never from globals.
 */

export type BuildContext = {
  clock: () => Date;
  env: Environment;
  cacheDir: string;
  fetch?: FetchFn;
  etcApt?: string;
  signal?: AbortSignal;
  report: (event: BuildEventBody) => void;
};

/** Throws CANCELLED when the build's signal has fired: called between and inside stages. */
export function checkCancelled(ctx: Pick<BuildContext, 'signal'>, operation = 'build'): void {
  if (!ctx.signal?.aborted) return;
  throw cancelled(ctx.signal, operation);
}

export function cancelled(signal: AbortSignal, operation = 'build'): RampartError<'CANCELLED'> {
  return new RampartError('CANCELLED', `${operation} cancelled`, {
    cause: signal.reason,
    details: { operation },
  });
}

/** The request, checked before anything slow happens (pure). */
export function checkRequest(
  spec: ImageSpec,
  specPath: string,
  requestedArchs: readonly string[] | undefined,
  output: BuildOutput,
): string[] {
  const archs = requestedArchs?.length ? [...requestedArchs] : [...spec.archs];
  const unknownArch = archs.filter((a) => !(spec.archs as string[]).includes(a));
  if (unknownArch.length) {
    throw new RampartError(
      'USAGE',
      `${specPath} does not build ${unknownArch.join(', ')} (archs: ${spec.archs.join(', ')})`,
      { details: { option: '--arch', value: unknownArch.join(',') } },
    );
  }
  if (output.transport === 'docker-archive' && archs.length > 1) {
    throw new RampartError(
      'USAGE',
      `docker-archive holds one architecture; pass --arch (one of ${archs.join(', ')})`,
      { details: { option: '--output', value: output.raw } },
    );
  }
  return archs;
}

// ---- resolve -------------------------------------------------------------------------------

/** Stage 1: the packages, from the lock (`locked`) or resolved against the verified archive. */
export async function resolveStage(
  spec: ImageSpec,
  opts: { lockPath: string; archs: readonly string[]; locked: boolean; locate: SpecLocator },
  ctx: BuildContext,
): Promise<ResolvedContents> {
  checkCancelled(ctx);
  if (opts.locked) return lockedContents(spec, opts.lockPath, opts.archs);
  return resolveContents(spec, {
    lockPath: opts.lockPath,
    archs: opts.archs,
    locate: opts.locate,
    cacheDir: ctx.cacheDir,
    now: ctx.clock(),
    ...(ctx.etcApt ? { etcApt: ctx.etcApt } : {}),
    ...(ctx.fetch ? { fetch: ctx.fetch } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    log: (message) => ctx.report({ phase: 'resolve', kind: 'index', message }),
  });
}

// ---- plan (pure) ---------------------------------------------------------------------------

export type BuildPlan = {
  name: string;
  variant?: string;
  archs: string[];
  /** Packages per architecture, in lock order. */
  packages: Record<string, LockedPackage[]>;
  /** Every distinct .deb to fetch (by sha256), once. */
  downloads: LockedPackage[];
  releases: LockedRelease[];
  /** RFC 3339 image time, identical for every platform. */
  created: string;
  /** Seconds: file mtimes in the layers. */
  epoch: number;
  /** SOURCE_DATE_EPOCH was set (rather than the newest InRelease date used). */
  epochFromEnvironment: boolean;
  annotations: Record<string, string>;
};

/** Stage 2: spec + lock -> what to fetch and assemble. No I/O; the environment is only read for SOURCE_DATE_EPOCH. */
export function planBuild(
  spec: ImageSpec,
  lock: Pick<VariantLock, 'archs' | 'releases'>,
  archs: readonly string[],
  env: Environment,
): BuildPlan {
  const packages: Record<string, LockedPackage[]> = {};
  for (const arch of archs) {
    const pkgs = lock.archs[arch];
    if (!pkgs) {
      throw new RampartError('LOCK_STALE', `the lock has no packages for ${arch}; run without --locked`, {
        details: {},
      });
    }
    packages[arch] = pkgs;
  }
  const downloads = [...new Map(archs.flatMap((a) => packages[a]!).map((p) => [p.sha256, p])).values()];
  const createdDate = buildTimestamp(
    env,
    lock.releases.map((r) => r.date),
  );
  const created = rfc3339(createdDate);
  return {
    name: spec.name,
    ...(spec.variant ? { variant: spec.variant } : {}),
    archs: [...archs],
    packages,
    downloads,
    releases: lock.releases,
    created,
    epoch: Math.floor(createdDate.getTime() / 1000),
    epochFromEnvironment: sourceDateEpoch(env) !== undefined,
    annotations: standardAnnotations({
      name: spec.name,
      ...(spec.description ? { description: spec.description } : {}),
      ...(spec.version ? { version: spec.version } : {}),
      created,
      extra: spec.annotations,
    }),
  };
}

// ---- fetch ---------------------------------------------------------------------------------

export type FetchedPackages = {
  /** sha256 -> verified .deb in the cache. */
  paths: Map<string, string>;
  /** sha256 -> the URL it is served from (for the build record). */
  urls: Map<string, string>;
};

/**
 * Stage 3: every planned .deb, verified against the lock's sha256, into the cache. With
 * `locked`, a package the archive no longer serves (HTTP 404/410) is LOCK_STALE.
 */
export async function fetchStage(
  plan: BuildPlan,
  spec: ImageSpec,
  opts: { locked: boolean; lockPath: string },
  ctx: BuildContext,
): Promise<FetchedPackages> {
  checkCancelled(ctx);
  const mirrors = await resolveMirrors(
    {
      ...(spec.contents.mirror ? { mirror: spec.contents.mirror } : {}),
      ...(spec.contents.securityMirror ? { securityMirror: spec.contents.securityMirror } : {}),
      ...(spec.contents.keyring ? { keyring: spec.contents.keyring } : {}),
    },
    ctx.etcApt,
  );
  const started = stopwatch();
  const fetched = { packages: 0, bytes: 0 };
  let paths: Map<string, string>;
  try {
    paths = await downloadPackages(plan.downloads, {
      mirrors,
      cacheDir: ctx.cacheDir,
      onProgress: (event) => {
        if (event.kind !== 'done') {
          // The build event gets its own time and job id from ctx.report.
          const { timestamp: _timestamp, jobId: _jobId, ...download } = event;
          return ctx.report({ phase: 'download', ...download });
        }
        if (!event.cached) {
          fetched.packages++;
          fetched.bytes += event.pkg.size;
        }
        // downloadPackages hands back the entries it was given: these are locked packages.
        ctx.report({
          phase: 'download',
          kind: 'package',
          pkg: event.pkg as LockedPackage,
          cached: event.cached,
        });
      },
      ...(ctx.fetch ? { fetch: ctx.fetch } : {}),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
  } catch (error) {
    checkCancelled(ctx);
    const status = httpStatusOf(error);
    if (opts.locked && (status === 404 || status === 410)) {
      throw new RampartError(
        'LOCK_STALE',
        `the archive no longer serves a package of ${opts.lockPath} (${(error as Error).message}); run without --locked to re-resolve`,
        { cause: error, details: { lock: opts.lockPath } },
      );
    }
    throw error;
  }
  ctx.report({
    phase: 'download',
    kind: 'done',
    packages: paths.size,
    fetched: fetched.packages,
    fetchedBytes: fetched.bytes,
    elapsedMs: started(),
  });
  return { paths, urls: packageUrls(plan.downloads, mirrors) };
}

/** The HTTP status a NETWORK error carries (`details.status`, the contract between areas). */
function httpStatusOf(error: unknown): number | undefined {
  if (!(error instanceof RampartError) || error.code !== 'NETWORK') return undefined;
  const status = (error.details as { status?: unknown }).status;
  return typeof status === 'number' ? status : undefined;
}

/** Each package's URL as the build record shows it: without the mirror's credentials. */
export function packageUrls(pkgs: readonly LockedPackage[], mirrors: AptMirrors): Map<string, string> {
  return new Map(pkgs.map((p) => [p.sha256, redactUrl(`${mirrorForSuite(p.suite, mirrors)}/${p.filename}`)]));
}

// ---- assemble ------------------------------------------------------------------------------

/** Stage 4 (per architecture): the root filesystem, nothing from a package run. */
export async function assembleStage(
  plan: BuildPlan,
  arch: string,
  spec: ImageSpec,
  fetched: Pick<FetchedPackages, 'paths'>,
  opts: { locate: SpecLocator; allowOutsideContext?: readonly string[]; workDir: string },
  ctx: BuildContext,
): Promise<AssembledRootfs> {
  checkCancelled(ctx);
  const pkgs = plan.packages[arch]!;
  const started = stopwatch();
  ctx.report({ phase: 'assemble', kind: 'start', arch, packages: pkgs.length });
  const debs = pkgs.map((pkg) => ({ pkg, path: fetched.paths.get(pkg.sha256)! }));
  const rootfs = await assembleRootfs(debs, spec, {
    cacheDir: ctx.cacheDir,
    locate: opts.locate,
    // `files:` bytes are spooled beside the output and go away with the build's staging.
    fileStore: new ContentStore(join(opts.workDir, 'files')),
    ...(opts.allowOutsideContext ? { allowOutsideContext: opts.allowOutsideContext } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  }).catch((error: unknown) => {
    if (ctx.signal?.aborted) throw cancelled(ctx.signal);
    throw atPackagePosition(error, spec.contents.packages, opts.locate);
  });
  ctx.report({
    phase: 'assemble',
    kind: 'done',
    arch,
    packages: pkgs.length,
    paths: rootfs.tree.nodes.size,
    elapsedMs: started(),
  });
  return rootfs;
}

/** Prefixes an assembly error with the spec position of the first requested package it concerns. */
function atPackagePosition(error: unknown, packages: readonly string[], locate: SpecLocator): unknown {
  if (!(error instanceof RampartError)) return error;
  // Spec errors (files[].source, accounts) already say where they are; they are not about a package.
  if (error.code === 'SPEC_INVALID' || error.code === 'SOURCE_OUTSIDE_CONTEXT' || error.code === 'CANCELLED')
    return error;
  const named = specIndexOf(packagesOf(error), packages);
  const where = locate(named >= 0 ? ['contents', 'packages', named] : ['contents', 'packages']);
  return new RampartError(error.code, `${where}: ${error.message}`, {
    cause: error,
    details: error.details as never,
  });
}

// ---- layer ---------------------------------------------------------------------------------

export type PlatformSummary = {
  architecture: string;
  variant?: string;
  digest: string;
  /** Compressed bytes of config + layers. */
  size: number;
  packages: LockedPackage[];
  layers: Array<{
    name: string;
    comment: string;
    digest: string;
    size: number;
    uncompressedSize: number;
    packages: string[];
  }>;
  caCertificates: number;
  /** Modes the build tightened (setuid/setgid, world-write). */
  hardening: AssembledRootfs['hardened'];
};

/** Stage 5 (per architecture): deterministic layer blobs in `workDir` (or the layer cache), and the image over them. */
export async function layerStage(
  plan: BuildPlan,
  arch: string,
  spec: ImageSpec,
  rootfs: AssembledRootfs,
  opts: { workDir: string },
  ctx: BuildContext,
): Promise<{ image: Image; summary: PlatformSummary }> {
  checkCancelled(ctx);
  const started = stopwatch();
  ctx.report({ phase: 'layers', kind: 'start', arch });
  let layerStarted = stopwatch();
  const layers = await buildLayers(rootfs.tree, rootfs.installed, {
    dir: opts.workDir,
    sourceDateEpoch: plan.epoch,
    cacheDir: ctx.cacheDir,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    onLayer: ({ plan: layer, built, cached }) => {
      ctx.report({
        phase: 'layers',
        kind: 'layer',
        arch,
        name: layer.name,
        entries: layer.paths.length,
        digest: built.descriptor.digest,
        size: built.descriptor.size,
        uncompressedSize: built.uncompressedSize,
        cached,
        elapsedMs: layerStarted(),
      });
      layerStarted = stopwatch();
    },
  }).catch((error: unknown) => {
    if (ctx.signal?.aborted) throw cancelled(ctx.signal);
    throw error;
  });
  ctx.report({
    phase: 'layers',
    kind: 'done',
    arch,
    layers: layers.length,
    size: layers.reduce((n, l) => n + l.built.descriptor.size, 0),
    elapsedMs: started(),
  });
  const platform = debianArchToPlatform(arch);
  const config = imageConfig({
    platform,
    created: plan.created,
    user: rootfs.accounts.user,
    workingDir: spec.workDir ?? rootfs.accounts.home,
    ...(spec.entrypoint ? { entrypoint: spec.entrypoint } : {}),
    ...(spec.cmd ? { cmd: spec.cmd } : {}),
    environment: spec.environment,
    labels: plan.annotations,
    layers: layers.map((l) => ({ diffID: l.built.diffID as Digest, comment: l.plan.comment })),
    hasCaBundle: rootfs.caCertificates > 0,
  });
  const image = newImage({
    config,
    layers: layers.map((l) => layerFromFile(l.built.path, l.built.descriptor, l.built.diffID as Digest)),
    annotations: plan.annotations,
  });
  return {
    image,
    summary: {
      architecture: arch,
      ...(platform.variant ? { variant: platform.variant } : {}),
      digest: image.digest,
      size: image.rawConfig.length + layers.reduce((n, l) => n + l.built.descriptor.size, 0),
      packages: plan.packages[arch]!,
      caCertificates: rootfs.caCertificates,
      hardening: rootfs.hardened,
      layers: layers.map((l) => ({
        name: l.plan.name,
        comment: l.plan.comment,
        digest: l.built.descriptor.digest,
        size: l.built.descriptor.size,
        uncompressedSize: l.built.uncompressedSize,
        packages: l.plan.owners.filter((o) => !o.startsWith('(')),
      })),
    },
  };
}

// ---- write ---------------------------------------------------------------------------------

/** The OCI index over the platforms' images (pure). */
export function indexOf(plan: BuildPlan, images: ReadonlyArray<{ image: Image; arch: string }>): Index {
  return newIndex(
    images.map(({ image, arch }) => ({ image, platform: debianArchToPlatform(arch) })),
    plan.annotations,
  );
}

/** Stage 6: the output, through output.ts (the one place that writes it); returns the digest a reader sees. */
export async function writeStage(
  output: BuildOutput,
  images: ReadonlyArray<{ image: Image; arch: string }>,
  ctx: BuildContext,
  plan: BuildPlan,
): Promise<string> {
  checkCancelled(ctx);
  return writeOutput(
    output,
    indexOf(plan, images),
    images.length === 1 ? images[0]!.image : undefined,
    ctx.signal,
    // A push takes long enough to need progress; a local write is over before a bar would draw.
    output.transport === 'docker'
      ? (event) => ctx.report({ phase: 'write', kind: 'copy', event })
      : undefined,
  );
}

// ---- record --------------------------------------------------------------------------------

export type RecordInput = {
  plan: BuildPlan;
  spec: ImageSpec;
  specPath: string;
  specText: string;
  lockPath: string;
  lockToWrite?: LockFile;
  output: BuildOutput;
  digest: string;
  platforms: ReadonlyArray<{ architecture: string; digest: string; packages: number }>;
  fetched: Pick<FetchedPackages, 'urls'>;
  fileSources: readonly FileSourceRecord[];
  invocation: BuildRecord['invocation'];
  startedOn: Date;
  recordPath: string;
  /** Each image's scan, when an advisory store exists. */
  scans?: BuildRecord['scans'];
};

/** The build record v2 (pure): what SLSA provenance needs, from what the stages produced. */
export function buildRecordOf(input: RecordInput, lockSha256: string, finishedOn: Date): BuildRecord {
  const { plan, spec } = input;
  return {
    recordVersion: 2,
    builder: { id: BUILDER_ID, name: 'rampart', version: VERSION },
    spec: {
      path: input.specPath,
      sha256: digestHex(sha256Digest(input.specText)),
      name: spec.name,
      ...(spec.variant ? { variant: spec.variant } : {}),
    },
    lock: { path: input.lockPath, sha256: lockSha256 },
    invocation: input.invocation,
    releases: plan.releases.map((r) => ({
      suite: r.suite,
      url: redactUrl(r.url),
      inReleaseSha256: r.inReleaseSha256,
      date: r.date,
      ...(r.validUntil ? { validUntil: r.validUntil } : {}),
    })),
    packages: plan.downloads.map((p) => ({
      name: p.name,
      version: p.version,
      architecture: p.architecture,
      url: redactUrl(input.fetched.urls.get(p.sha256) ?? p.filename),
      sha256: p.sha256,
      size: p.size,
    })),
    files: input.fileSources.map((f) => ({
      source: f.source,
      type: f.type,
      sha256: f.sha256,
      files: f.files,
    })),
    output: { reference: input.output.raw, digest: input.digest },
    platforms: input.platforms.map((p) => ({ ...p })),
    ...(plan.epochFromEnvironment ? { sourceDateEpoch: plan.epoch } : {}),
    created: plan.created,
    startedOn: input.startedOn.toISOString(),
    finishedOn: finishedOn.toISOString(),
    ...(input.scans ? { scans: input.scans } : {}),
  };
}

/** Stage 7: the lock (when resolved) and the build record beside the output. */
export async function recordStage(input: RecordInput, ctx: BuildContext): Promise<BuildRecord> {
  if (input.lockToWrite) await writeLock(input.lockPath, input.lockToWrite);
  const lockSha256 = digestHex(sha256Digest(await readFile(input.lockPath)));
  const record = buildRecordOf(input, lockSha256, ctx.clock());
  await writeBuildRecord(input.recordPath, record);
  return record;
}

/** SLSA `builder.id`: what built the image, as a package URL of this version. */
export const BUILDER_ID = `pkg:npm/rampart@${VERSION}`;

/** A stage's stopwatch (elapsed time for progress only; record times come from the clock). */
export function stopwatch(): () => number {
  const started = performance.now();
  return () => Math.round(performance.now() - started);
}
