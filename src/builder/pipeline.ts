import { mkdir, mkdtemp, readFile, rm, rmdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { resolveMirrors } from '../debian/apt-sources.js';
import { defaultCacheDir } from '../debian/cache.js';
import { downloadPackages } from '../debian/download.js';
import { RampartError } from '../errors.js';
import type { FetchFn } from '../http/fetch.js';
import { type Digest, digestHex, sha256Digest } from '../oci/digest.js';
import type { Image } from '../oci/image.js';
import { layerFromFile, newImage, newIndex } from '../oci/in-memory.js';
import { debianArchToPlatform } from '../oci/platform.js';
import { VERSION } from '../version.js';
import { assembleRootfs, type HardeningChange } from './assemble.js';
import { buildLayers } from './build-layers.js';
import { buildTimestamp, imageConfig, rfc3339, standardAnnotations } from './config.js';
import type { BuildEvent } from './events.js';
import { type LockedPackage, lockPathFor, writeLock } from './lock.js';
import { defaultOutput, parseOutput, writeOutput } from './output.js';
import { buildRecordPath, writeBuildRecord } from './record.js';
import { lockedContents, packageNamedIn, resolveContents } from './resolve.js';
import { generateSboms, type SbomToWrite, writeSboms } from './sboms.js';
import { applyVariant, loadImageSpec, type SpecLocator } from './spec.js';

export type { BuildEvent, BuildPhase } from './events.js';

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
  /** SOURCE_DATE_EPOCH (seconds); default from the environment. */
  sourceDateEpoch?: string;
  now?: Date;
  etcApt?: string;
  fetch?: FetchFn;
  /** Write SPDX and CycloneDX SBOMs of every platform into this directory. */
  sbomDir?: string;
  /** Override the spec's `contents.mirror`, `security-mirror` and `keyring` (e.g. from CLI flags). */
  repository?: { mirror?: string; securityMirror?: string; keyring?: string };
  /** Progress of each phase (the CLI draws it on stderr); without it the build reports nothing. */
  onProgress?: (event: BuildEvent) => void;
};

export type LayerSummary = {
  name: string;
  comment: string;
  digest: string;
  size: number;
  uncompressedSize: number;
  packages: string[];
};

export type PlatformSummary = {
  architecture: string;
  variant?: string;
  digest: string;
  /** Compressed bytes of config + layers. */
  size: number;
  packages: LockedPackage[];
  layers: LayerSummary[];
  caCertificates: number;
  /** Modes the build tightened (setuid/setgid, world-write). */
  hardening: HardeningChange[];
};

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
  skipped: Array<{ name: string; requiredBy: string }>;
  created: string;
};

/**
 * `rampart build`: spec -> verified packages (resolved or locked) -> one rootfs per
 * architecture, assembled without running package code -> deterministic layers -> an OCI
 * index, the lock and the build record. Everything is staged in a temp dir; the output is
 * only written once every architecture has built.
 */
export async function buildImage(opts: BuildOptions): Promise<BuildResult> {
  const startedOn = new Date();
  const report = opts.onProgress ?? (() => undefined);
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const loaded = await loadImageSpec(opts.specPath);
  const variantSpec = applyVariant(loaded.spec, opts.variant);
  // Where packages come from is not part of what is built: the lock stays valid on any mirror.
  const spec = opts.repository
    ? { ...variantSpec, contents: { ...variantSpec.contents, ...definedOnly(opts.repository) } }
    : variantSpec;
  const archs = opts.archs?.length ? opts.archs : spec.archs;
  const unknownArch = archs.filter((a) => !(spec.archs as string[]).includes(a));
  if (unknownArch.length) {
    throw new RampartError(
      'USAGE',
      `${opts.specPath} does not build ${unknownArch.join(', ')} (archs: ${spec.archs.join(', ')})`,
    );
  }
  const output = parseOutput(opts.output ?? defaultOutput(spec.name, spec.variant), spec);
  if (output.transport === 'docker-archive' && archs.length > 1) {
    throw new RampartError(
      'USAGE',
      `docker-archive holds one architecture; pass --arch (one of ${archs.join(', ')})`,
    );
  }
  const lockPath = lockPathFor(opts.specPath);
  let phase = startPhase();
  report({
    phase: 'resolve',
    kind: 'start',
    locked: opts.locked === true,
    lockPath,
    requested: spec.contents.packages.length,
    suites: [...spec.contents.suites],
    archs: [...archs],
  });
  const contents = opts.locked
    ? await lockedContents(spec, lockPath, archs)
    : await resolveContents(spec, {
        lockPath,
        archs,
        locate: loaded.locate,
        cacheDir,
        ...(opts.now ? { now: opts.now } : {}),
        ...(opts.etcApt ? { etcApt: opts.etcApt } : {}),
        ...(opts.fetch ? { fetch: opts.fetch } : {}),
        log: (message) => report({ phase: 'resolve', kind: 'index', message }),
      });
  const packagesByArch = new Map(archs.map((a) => [a, contents.variant.archs[a]!]));
  report({
    phase: 'resolve',
    kind: 'done',
    locked: opts.locked === true,
    packages: Object.fromEntries([...packagesByArch].map(([arch, pkgs]) => [arch, pkgs.length])),
    elapsedMs: phase.elapsedMs(),
  });
  const sourceDateEpoch = opts.sourceDateEpoch ?? process.env.SOURCE_DATE_EPOCH;
  const createdDate = buildTimestamp(
    sourceDateEpoch,
    contents.variant.releases.map((r) => r.date),
  );
  const created = rfc3339(createdDate);
  const epoch = Math.floor(createdDate.getTime() / 1000);

  const mirrors = await resolveMirrors(
    {
      ...(spec.contents.mirror ? { mirror: spec.contents.mirror } : {}),
      ...(spec.contents.securityMirror ? { securityMirror: spec.contents.securityMirror } : {}),
      ...(spec.contents.keyring ? { keyring: spec.contents.keyring } : {}),
    },
    opts.etcApt,
  );
  const all = [...packagesByArch.values()].flat();
  let debPaths: Map<string, string>;
  phase = startPhase();
  const fetched = { packages: 0, bytes: 0 };
  try {
    debPaths = await downloadPackages(all, {
      mirrors,
      cacheDir,
      onProgress: (event) => {
        if (event.kind !== 'done') return report({ phase: 'download', ...event });
        if (!event.cached) {
          fetched.packages++;
          fetched.bytes += event.pkg.size;
        }
        // downloadPackages hands back the entries it was given: these are locked packages.
        report({ phase: 'download', kind: 'package', pkg: event.pkg as LockedPackage, cached: event.cached });
      },
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
    });
  } catch (error) {
    if (opts.locked && error instanceof RampartError && /HTTP 404|HTTP 410/.test(error.message)) {
      throw new RampartError(
        'LOCK_STALE',
        `the archive no longer serves a package of ${lockPath} (${error.message}); run without --locked to re-resolve`,
        { cause: error },
      );
    }
    throw error;
  }
  report({
    phase: 'download',
    kind: 'done',
    packages: debPaths.size,
    fetched: fetched.packages,
    fetchedBytes: fetched.bytes,
    elapsedMs: phase.elapsedMs(),
  });

  const annotations = standardAnnotations({
    name: spec.name,
    ...(spec.description ? { description: spec.description } : {}),
    ...(spec.version ? { version: spec.version } : {}),
    created,
    extra: spec.annotations,
  });

  // Layers are staged beside the output (same filesystem) and the stage is removed whatever happens.
  const outParent = dirname(resolve(output.path));
  const createdParent = await mkdir(outParent, { recursive: true });
  const work = await mkdtemp(join(outParent, '.rampart-build-'));
  let succeeded = false;
  try {
    const images: Array<{ image: Image; arch: string }> = [];
    const platforms: PlatformSummary[] = [];
    for (const arch of archs) {
      const pkgs = packagesByArch.get(arch)!;
      phase = startPhase();
      report({ phase: 'assemble', kind: 'start', arch, packages: pkgs.length });
      const debs = pkgs.map((pkg) => ({ pkg, path: debPaths.get(pkg.sha256)! }));
      const rootfs = await assembleRootfs(debs, spec, { cacheDir, locate: loaded.locate }).catch(
        (error: unknown) => {
          throw atPackagePosition(error, spec.contents.packages, loaded.locate);
        },
      );
      report({
        phase: 'assemble',
        kind: 'done',
        arch,
        packages: pkgs.length,
        paths: rootfs.tree.nodes.size,
        elapsedMs: phase.elapsedMs(),
      });
      phase = startPhase();
      report({ phase: 'layers', kind: 'start', arch });
      let layerPhase = startPhase();
      const layers = await buildLayers(rootfs.tree, rootfs.installed, {
        dir: work,
        sourceDateEpoch: epoch,
        cacheDir,
        onLayer: ({ plan, built, cached }) => {
          report({
            phase: 'layers',
            kind: 'layer',
            arch,
            name: plan.name,
            entries: plan.paths.length,
            digest: built.descriptor.digest,
            size: built.descriptor.size,
            uncompressedSize: built.uncompressedSize,
            cached,
            elapsedMs: layerPhase.elapsedMs(),
          });
          layerPhase = startPhase();
        },
      });
      report({
        phase: 'layers',
        kind: 'done',
        arch,
        layers: layers.length,
        size: layers.reduce((n, l) => n + l.built.descriptor.size, 0),
        elapsedMs: phase.elapsedMs(),
      });
      const platform = debianArchToPlatform(arch);
      const config = imageConfig({
        platform,
        created,
        user: rootfs.accounts.user,
        workingDir: spec.workDir ?? rootfs.accounts.home,
        ...(spec.entrypoint ? { entrypoint: spec.entrypoint } : {}),
        ...(spec.cmd ? { cmd: spec.cmd } : {}),
        environment: spec.environment,
        labels: annotations,
        layers: layers.map((l) => ({ diffID: l.built.diffID as Digest, comment: l.plan.comment })),
        hasCaBundle: rootfs.caCertificates > 0,
      });
      const image = newImage({
        config,
        layers: layers.map((l) => layerFromFile(l.built.path, l.built.descriptor, l.built.diffID as Digest)),
        annotations,
      });
      images.push({ image, arch });
      platforms.push({
        architecture: arch,
        ...(platform.variant ? { variant: platform.variant } : {}),
        digest: image.digest,
        size: image.rawConfig.length + layers.reduce((n, l) => n + l.built.descriptor.size, 0),
        packages: pkgs,
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
      });
    }
    const index = newIndex(
      images.map(({ image, arch }) => ({ image, platform: debianArchToPlatform(arch) })),
      annotations,
    );
    // Everything that can fail slowly (SBOM cataloging reads every layer) happens before the
    // output is replaced; what follows it are small atomic writes.
    const sbomDocs: SbomToWrite[] = [];
    if (opts.sbomDir) {
      // One image at a time, so each architecture's SBOM is reported as it is ready.
      for (const one of images) {
        phase = startPhase();
        report({ phase: 'sboms', kind: 'start', arch: one.arch });
        const docs = await generateSboms(
          opts.sbomDir,
          `${spec.name}${spec.variant ? `-${spec.variant}` : ''}`,
          [one],
          () => undefined,
        );
        sbomDocs.push(...docs);
        report({
          phase: 'sboms',
          kind: 'done',
          arch: one.arch,
          packages: docs.reduce((n, d) => n + d.doc.packages.length, 0),
          elapsedMs: phase.elapsedMs(),
        });
      }
    }
    phase = startPhase();
    report({ phase: 'write', kind: 'start', reference: output.raw });
    const written = await writeOutput(output, index, images.length === 1 ? images[0]!.image : undefined);
    const sboms = await writeSboms(sbomDocs);
    if (contents.lockToWrite) await writeLock(lockPath, contents.lockToWrite);
    const recordPath = buildRecordPath(output.path, output.transport, spec.variant);
    await writeBuildRecord(recordPath, {
      recordVersion: 1,
      builder: { name: 'rampart', version: VERSION },
      spec: {
        path: opts.specPath,
        sha256: digestHex(sha256Digest(loaded.text)),
        name: spec.name,
        ...(spec.variant ? { variant: spec.variant } : {}),
      },
      lock: { path: lockPath, sha256: digestHex(sha256Digest(await readFile(lockPath))) },
      releases: contents.variant.releases,
      output: { reference: output.raw, digest: written },
      platforms: platforms.map((p) => ({
        architecture: p.architecture,
        digest: p.digest,
        packages: p.packages.length,
      })),
      ...(sourceDateEpoch ? { sourceDateEpoch: epoch } : {}),
      startedOn: startedOn.toISOString(),
      finishedOn: new Date().toISOString(),
    });
    succeeded = true;
    report({
      phase: 'write',
      kind: 'done',
      reference: output.raw,
      digest: written,
      elapsedMs: phase.elapsedMs(),
    });
    return {
      name: spec.name,
      ...(spec.variant ? { variant: spec.variant } : {}),
      reference: output.raw,
      digest: written,
      platforms,
      lock: lockPath,
      record: recordPath,
      sboms,
      skipped: contents.variant.skipped,
      created,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
    if (!succeeded && createdParent) await removeEmptyDirs(outParent, createdParent);
  }
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

/** Prefixes an assembly error with the spec position of the first requested package it names. */
function atPackagePosition(error: unknown, packages: readonly string[], locate: SpecLocator): unknown {
  if (!(error instanceof RampartError)) return error;
  // Spec errors (files[].source, accounts) already say where they are; they are not about a package.
  if (error.code === 'SPEC_INVALID') return error;
  const named = packageNamedIn(error.message, packages);
  const where = locate(named >= 0 ? ['contents', 'packages', named] : ['contents', 'packages']);
  return new RampartError(error.code, `${where}: ${error.message}`, { cause: error });
}

/** A phase's stopwatch. */
function startPhase(): { elapsedMs: () => number } {
  const started = performance.now();
  return { elapsedMs: () => Math.round(performance.now() - started) };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
