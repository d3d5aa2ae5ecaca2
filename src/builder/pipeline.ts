import { mkdir, mkdtemp, readFile, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { defaultCacheDir } from '../debian/cache.js';
import { sweepAbandonedCacheTemps } from '../debian/cache-maintenance.js';
import { RampartError } from '../errors.js';
import { type FetchFn, redactUrl } from '../http/fetch.js';
import type { Image } from '../oci/image.js';
import { openAttachmentStore, openImage, writeImage } from '../oci/open.js';
import { platformToDebianArch } from '../oci/platform.js';
import type { RegistryOptions } from '../registry/types.js';
import type { SbomDocument } from '../sbom/model.js';
import type { BuildSigningOptions, SignedBuild } from '../sign/build-attestations.js';
import type { Environment } from '../util/source-date-epoch.js';
import { stagingDirPrefix, sweepAbandonedStaging } from '../util/staging.js';
import { checkWritable } from '../util/writable.js';
import type { HardeningChange } from './assemble.js';
import type { BuildEvent, BuildEventBody } from './events.js';
import { lockPathFor } from './lock.js';
import { type BuildOutput, defaultOutput, parseOutput } from './output.js';
import { buildRecordPath } from './record.js';
import { generateSboms, type SbomToWrite, writeSboms } from './sboms.js';
import {
  buildAdvisoryDb,
  type RecordedScan,
  type ScanFailure,
  scanStage,
  vexFromScans,
} from './scan-stage.js';
import { applyVariant, loadImageSpec } from './spec.js';
import {
  assembleStage,
  type BuildContext,
  cancelled,
  checkCancelled,
  checkRequest,
  fetchStage,
  layerStage,
  type PlatformSummary,
  planBuild,
  recordStage,
  resolveStage,
  stopwatch,
  writeStage,
} from './stages.js';

export type { BuildEvent, BuildPhase } from './events.js';
export type { PlatformSummary } from './stages.js';

export type BuildOptions = {
  specPath: string;
  variant?: string;
  /** Subset of the spec's archs; default all of them. */
  archs?: string[];
  /** `oci:DIR:TAG` (default `oci:./out/<name>:latest[-variant]`), `oci-archive:FILE`, `docker-archive:FILE`. */
  output?: string;
  /** Build exactly the lock; fail with LOCK_STALE when it no longer fits. */
  locked?: boolean;
  cacheDir?: string;
  /** The environment (SOURCE_DATE_EPOCH); default process.env. */
  env?: Environment;
  /** The clock (InRelease freshness, the record's start/finish, event times); default the system's. */
  clock?: () => Date;
  /** @deprecated use `clock`; kept so existing callers pinning the time still work. */
  now?: Date;
  etcApt?: string;
  fetch?: FetchFn;
  /** Stops the build between and inside stages (downloads included); it then fails with CANCELLED. */
  signal?: AbortSignal;
  /** Carried on every progress event, for services that run several builds. */
  jobId?: string;
  /** Write SPDX and CycloneDX SBOMs of every platform into this directory. */
  sbomDir?: string;
  /** Override the spec's `contents.mirror`, `security-mirror` and `keyring` (e.g. from CLI flags). */
  repository?: { mirror?: string; securityMirror?: string; keyring?: string };
  /** How a docker:// output's registry is reached (credentials, TLS, --jobs). */
  registry?: RegistryOptions;
  /** Directories besides the spec's own that `files[].source` may come from. */
  allowOutsideContext?: string[];
  /** Progress of each phase (the CLI draws it on stderr); without it the build reports nothing. */
  onProgress?: (event: BuildEvent) => void;
  /**
   * The advisory store each image is scanned with, into the build record (issue 14 item 8):
   * default `$RAMPART_ADVISORY_DB`, else `vuln/advisories.db` in rampart's cache dir (`env`'s
   * `XDG_CACHE_HOME`, not `cacheDir`), used only when it exists; `false` never scans.
   */
  advisoryDb?: string | false;
  /**
   * Sign every manifest and the index, and attach SLSA provenance, SBOMs and OpenVEX to each
   * platform image (`--sign-key`); not for docker-archive, which cannot hold attachments.
   */
  sign?: BuildSigningOptions;
  /** The lock to read and write (default `<spec>.lock.json`); `verify --rebuild` gives the provenance's. */
  lockPath?: string;
};

export type LayerSummary = PlatformSummary['layers'][number];

export type BuildResult = {
  name: string;
  variant?: string;
  reference: string;
  digest: string;
  platforms: PlatformSummary[];
  lock: string;
  record: string;
  /** SBOM files written (with `sbomDir`). */
  sboms: string[];
  /** What `sign` attached. */
  signed?: SignedBuild;
  /** Images the build scanned but could not (also in the record's `scans`): warn, not fail. */
  scanErrors?: Array<{ architecture: string; digest: string; db: string; error: ScanFailure }>;
  skipped: Array<{ name: string; requiredBy: string }>;
  created: string;
};

export type { HardeningChange };

/**
 * `rampart build`: resolve -> plan -> fetch -> assemble and layer each architecture -> SBOMs ->
 * write -> record (the stages live in stages.ts, each callable alone). Everything is staged in a
 * temp dir beside the output; the output is only written once every architecture has built.
 */
export async function buildImage(opts: BuildOptions): Promise<BuildResult> {
  const ctx = contextOf(opts);
  checkCancelled(ctx);
  const startedOn = ctx.clock();
  const loaded = await loadImageSpec(opts.specPath);
  const variantSpec = applyVariant(loaded.spec, opts.variant);
  // Where packages come from is not part of what is built: the lock stays valid on any mirror.
  const spec = opts.repository
    ? { ...variantSpec, contents: { ...variantSpec.contents, ...definedOnly(opts.repository) } }
    : variantSpec;
  const parsedOutput = parseOutput(opts.output ?? defaultOutput(spec.name, spec.variant), spec);
  const output = opts.registry ? { ...parsedOutput, registry: opts.registry } : parsedOutput;
  const toRegistry = output.transport === 'docker';
  const archs = checkRequest(spec, opts.specPath, opts.archs, output);
  if (opts.sign && output.transport === 'docker-archive') {
    throw new RampartError(
      'USAGE',
      'docker-archive cannot hold signatures or attestations; build --sign-key into oci:, oci-archive: or docker://',
      { details: { option: '--sign-key', value: output.raw } },
    );
  }
  // Every destination is checked before anything is downloaded or built: a read-only output or
  // SBOM folder fails now, not after the image is written.
  if (!toRegistry) await checkWritable(output.path, { inside: output.transport === 'oci' });
  if (opts.sbomDir) await checkWritable(opts.sbomDir, { inside: true });
  const lockPath = opts.lockPath ?? lockPathFor(opts.specPath);
  const locked = opts.locked === true;
  // Temp files of builds and downloads killed mid-write (their process is gone): in the cache they
  // would wait for `rampart cache prune`, beside the spec's lock and in the SBOM folder for ever.
  await sweepAbandonedCacheTemps(ctx.cacheDir);
  await sweepAbandonedStaging(dirname(resolve(lockPath)));
  if (opts.sbomDir) await sweepAbandonedStaging(resolve(opts.sbomDir));

  let started = stopwatch();
  ctx.report({
    phase: 'resolve',
    kind: 'start',
    locked,
    lockPath,
    requested: spec.contents.packages.length,
    suites: [...spec.contents.suites],
    archs: [...archs],
  });
  const contents = await resolveStage(spec, { lockPath, archs, locked, locate: loaded.locate }, ctx);
  const plan = planBuild(spec, contents.variant, archs, ctx.env);
  ctx.report({
    phase: 'resolve',
    kind: 'done',
    locked,
    packages: Object.fromEntries(archs.map((arch) => [arch, plan.packages[arch]!.length])),
    elapsedMs: started(),
  });
  const fetched = await fetchStage(plan, spec, { locked, lockPath }, ctx);

  // Layers are staged beside the output (same filesystem) and the stage is removed whatever happens.
  // A registry output has no folder: its layers are staged in the temp dir.
  const outParent = toRegistry ? tmpdir() : dirname(resolve(output.path));
  const createdParent = await mkdir(outParent, { recursive: true });
  await sweepAbandonedStaging(outParent);
  const workDir = await mkdtemp(join(outParent, stagingDirPrefix('build')));
  let succeeded = false;
  try {
    const images: Array<{ image: Image; arch: string }> = [];
    const platforms: PlatformSummary[] = [];
    let fileSources: Awaited<ReturnType<typeof assembleStage>>['fileSources'] = [];
    for (const arch of archs) {
      const rootfs = await assembleStage(
        plan,
        arch,
        spec,
        fetched,
        {
          locate: loaded.locate,
          workDir,
          ...(opts.allowOutsideContext ? { allowOutsideContext: opts.allowOutsideContext } : {}),
        },
        ctx,
      );
      fileSources = rootfs.fileSources;
      const { image, summary } = await layerStage(plan, arch, spec, rootfs, { workDir }, ctx);
      images.push({ image, arch });
      platforms.push(summary);
    }
    // Everything that can fail slowly (SBOM cataloging reads every layer) happens before the
    // output is replaced; what follows it are small atomic writes.
    const sbomDocs: SbomToWrite[] = [];
    if (opts.sbomDir || opts.sign) {
      // One image at a time, so each architecture's SBOM is reported as it is ready.
      for (const one of images) {
        checkCancelled(ctx);
        started = stopwatch();
        ctx.report({ phase: 'sboms', kind: 'start', arch: one.arch });
        const docs = await generateSboms(
          opts.sbomDir ?? workDir,
          `${spec.name}${spec.variant ? `-${spec.variant}` : ''}`,
          [one],
          () => undefined,
          ctx.cacheDir,
        );
        sbomDocs.push(...docs);
        ctx.report({
          phase: 'sboms',
          kind: 'done',
          arch: one.arch,
          packages: docs.reduce((n, d) => n + d.doc.packages.length, 0),
          elapsedMs: started(),
        });
      }
    }
    const advisoryDb = buildAdvisoryDb(opts.advisoryDb, ctx);
    const scans = advisoryDb
      ? await scanStage(
          advisoryDb,
          images,
          images.map((_, i) => sbomDocs[i]?.doc),
          ctx,
        )
      : undefined;
    started = stopwatch();
    ctx.report({ phase: 'write', kind: 'start', reference: output.raw });
    // An archive cannot be added to: a signed build is written into a staged layout, signed
    // there, and copied with its attachments into the archive last.
    const staged = opts.sign && output.transport === 'oci-archive' ? stagedLayout(workDir, output) : output;
    const digest = await writeStage(staged, images, ctx, plan);
    const sboms = opts.sbomDir ? await writeSboms(sbomDocs) : [];
    // A registry holds no build record: it goes beside the spec and its lock.
    const recordPath = toRegistry
      ? join(dirname(lockPath), `${spec.name}${spec.variant ? `-${spec.variant}` : ''}.build.json`)
      : buildRecordPath(output.path, output.transport, spec.variant);
    const sde = ctx.env.SOURCE_DATE_EPOCH;
    const record = await recordStage(
      {
        plan,
        spec,
        specPath: opts.specPath,
        specText: loaded.text,
        lockPath,
        ...(contents.lockToWrite ? { lockToWrite: contents.lockToWrite } : {}),
        output,
        digest,
        platforms: platforms.map((p) => ({
          architecture: p.architecture,
          digest: p.digest,
          packages: p.packages.length,
        })),
        fetched,
        fileSources,
        invocation: {
          spec: opts.specPath,
          ...(opts.variant ? { variant: opts.variant } : {}),
          archs,
          output: output.raw,
          locked,
          ...(opts.sbomDir ? { sbomDir: opts.sbomDir } : {}),
          ...(opts.repository ? { repository: recordedRepository(opts.repository) } : {}),
          ...(opts.allowOutsideContext?.length ? { allowOutsideContext: opts.allowOutsideContext } : {}),
          ...(sde ? { sourceDateEpoch: sde } : {}),
        },
        startedOn,
        recordPath,
        ...(scans ? { scans } : {}),
      },
      ctx,
    );
    let signed: SignedBuild | undefined;
    if (opts.sign) {
      checkCancelled(ctx);
      const signing = stopwatch();
      const { attachBuildAttestations } = await import('../sign/build-attestations.js');
      signed = await attachBuildAttestations(
        {
          reference: staged.raw,
          digest: digest as `sha256:${string}`,
          record,
          specText: loaded.text,
          lockText: await readFile(lockPath, 'utf8'),
          sboms: sbomsByArch(images, sbomDocs),
          clock: ctx.clock,
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        },
        // The scan (when a store exists) supplies the OpenVEX statements, unless the caller did.
        scans && !opts.sign.vexStatements
          ? { ...opts.sign, vexStatements: vexFromScans(scans, spec.name) }
          : opts.sign,
        output.registry ? { registry: output.registry } : {},
      );
      if (staged !== output) await copyWithAttachments(staged, output, ctx.signal);
      ctx.report({
        phase: 'write',
        kind: 'signed',
        signatures: signed.signatures.length,
        attestations: signed.attestations.length,
        elapsedMs: signing(),
      });
    }
    succeeded = true;
    ctx.report({ phase: 'write', kind: 'done', reference: output.raw, digest, elapsedMs: started() });
    return {
      name: spec.name,
      ...(spec.variant ? { variant: spec.variant } : {}),
      reference: output.raw,
      digest,
      platforms,
      lock: lockPath,
      record: recordPath,
      sboms,
      ...(signed ? { signed } : {}),
      ...(scanErrors(scans) ?? {}),
      skipped: contents.variant.skipped,
      created: plan.created,
    };
  } catch (error) {
    if (ctx.signal?.aborted) throw cancelled(ctx.signal);
    throw error;
  } finally {
    await rm(workDir, { recursive: true, force: true });
    if (!succeeded && createdParent) await removeEmptyDirs(outParent, createdParent);
  }
}

function scanErrors(scans: RecordedScan[] | undefined): Pick<BuildResult, 'scanErrors'> | undefined {
  const failed = (scans ?? []).flatMap((s) => ('error' in s ? [s] : []));
  return failed.length ? { scanErrors: failed } : undefined;
}

/** A layout in the build's staging dir standing in for an archive output until it is signed. */
function stagedLayout(workDir: string, output: BuildOutput): BuildOutput {
  const path = join(workDir, 'signed-layout');
  const tag = output.tag ?? 'latest';
  return { transport: 'oci', path, tag, raw: `oci:${path}:${tag}` };
}

/** The staged, signed layout into the archive: manifests byte for byte, attachments and platform tags kept. */
async function copyWithAttachments(from: BuildOutput, to: BuildOutput, signal?: AbortSignal): Promise<void> {
  const source = await openImage(from.raw);
  const tag = to.tag ?? 'latest';
  const platformTag =
    source.kind === 'index' && source.manifest.manifests.length > 1
      ? (platform: Parameters<typeof platformToDebianArch>[0]) => `${tag}-${platformToDebianArch(platform)}`
      : undefined;
  await writeImage(`${to.transport}:${to.path}:${tag}`, source, {
    attachmentsFrom: await openAttachmentStore(from.raw),
    ...(platformTag ? { platformTag } : {}),
    ...(signal ? { signal } : {}),
  });
}

function sbomsByArch(
  images: ReadonlyArray<{ arch: string }>,
  docs: readonly SbomToWrite[],
): Map<string, SbomDocument> {
  // generateSboms was called once per image, in this order.
  return new Map(images.map((one, i) => [one.arch, docs[i]!.doc]));
}

/** The defaults of the outside world, filled in once: every stage gets them from here. */
function contextOf(opts: BuildOptions): BuildContext {
  const clock = opts.clock ?? (opts.now ? () => opts.now as Date : () => new Date());
  const listener = opts.onProgress;
  const report = listener
    ? (event: BuildEventBody) =>
        listener({ ...event, at: clock().toISOString(), ...(opts.jobId ? { jobId: opts.jobId } : {}) })
    : () => undefined;
  const signal = opts.signal;
  const env = opts.env ?? process.env;
  return {
    clock,
    env,
    cacheDir: opts.cacheDir ?? defaultCacheDir(env),
    ...(opts.etcApt ? { etcApt: opts.etcApt } : {}),
    ...(opts.fetch || signal ? { fetch: fetchWithSignal(opts.fetch ?? fetch, signal) } : {}),
    ...(signal ? { signal } : {}),
    report,
  };
}

/** Downloads get the build's signal through the fetch options, alongside any of their own. */
function fetchWithSignal(base: FetchFn, signal: AbortSignal | undefined): FetchFn {
  if (!signal) return base;
  return ((input: Parameters<FetchFn>[0], init?: Parameters<FetchFn>[1]) =>
    base(input, {
      ...init,
      signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal,
    })) as FetchFn;
}

/** Removes `dir` and its parents up to `top` while they are empty: a failed build leaves no trace. */
async function removeEmptyDirs(dir: string, top: string): Promise<void> {
  for (let d = dir; d.startsWith(top); d = dirname(d)) {
    const removed = await rmdir(d).then(
      () => true,
      () => false,
    );
    if (!removed || d === top) return;
  }
}

/** `--mirror`/`--security-mirror` as the build record shows them: without credentials. */
export function recordedRepository(
  repository: NonNullable<BuildOptions['repository']>,
): Partial<NonNullable<BuildOptions['repository']>> {
  const { mirror, securityMirror, keyring } = repository;
  return definedOnly({
    mirror: mirror === undefined ? undefined : redactUrl(mirror),
    securityMirror: securityMirror === undefined ? undefined : redactUrl(securityMirror),
    keyring,
  });
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
