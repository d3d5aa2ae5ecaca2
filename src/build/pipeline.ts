import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { resolveMirrors } from '../debian/apt-sources.js';
import { defaultCacheDir } from '../debian/cache.js';
import { downloadPackages } from '../debian/download.js';
import { RampartError } from '../errors.js';
import type { FetchFn } from '../http/fetch.js';
import type { Digest } from '../oci/digest.js';
import type { Image } from '../oci/image.js';
import { layerFromFile, newImage, newIndex } from '../oci/in-memory.js';
import { debianArchToPlatform } from '../oci/platform.js';
import { VERSION } from '../version.js';
import { addAppFiles } from './app-files.js';
import { assembleRootfs } from './assemble.js';
import { buildLayers } from './build-layers.js';
import { buildTimestamp, imageConfig, rfc3339, standardAnnotations } from './config.js';
import { type LockedPackage, lockPathFor, writeLock } from './lock.js';
import { defaultOutput, parseOutput, writeOutput } from './output.js';
import { buildRecordPath, writeBuildRecord } from './record.js';
import { lockedContents, resolveContents } from './resolve.js';
import { applyVariant, loadImageSpec, type SpecLocator } from './spec.js';

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
  /** Progress lines (the CLI sends them to stderr). */
  log?: (message: string) => void;
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
  const log = opts.log ?? (() => undefined);
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const loaded = await loadImageSpec(opts.specPath);
  const spec = applyVariant(loaded.spec, opts.variant);
  const archs = opts.archs?.length ? opts.archs : spec.archs;
  const unknownArch = archs.filter((a) => !(spec.archs as string[]).includes(a));
  if (unknownArch.length) {
    throw new RampartError(
      'USAGE',
      `${opts.specPath} does not build ${unknownArch.join(', ')} (archs: ${spec.archs.join(', ')})`,
    );
  }
  const output = parseOutput(opts.output ?? defaultOutput(spec.name, spec.variant));
  if (output.transport === 'docker-archive' && archs.length > 1) {
    throw new RampartError(
      'USAGE',
      `docker-archive holds one architecture; pass --arch (one of ${archs.join(', ')})`,
    );
  }
  const lockPath = lockPathFor(opts.specPath);
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
        log,
      });
  const packagesByArch = new Map(archs.map((a) => [a, contents.variant.archs[a]!]));

  const mirrors = await resolveMirrors(
    {
      ...(spec.contents.mirror ? { mirror: spec.contents.mirror } : {}),
      ...(spec.contents.securityMirror ? { securityMirror: spec.contents.securityMirror } : {}),
      ...(spec.contents.keyring ? { keyring: spec.contents.keyring } : {}),
    },
    opts.etcApt,
  );
  const all = [...packagesByArch.values()].flat();
  log(`downloading ${all.length} packages`);
  let debPaths: Map<string, string>;
  try {
    debPaths = await downloadPackages(all, {
      mirrors,
      cacheDir,
      onProgress: (event) => {
        if (event.kind === 'done' && !event.cached)
          log(`fetched ${event.pkg.name} ${event.pkg.version} (${event.pkg.architecture})`);
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

  const sourceDateEpoch = opts.sourceDateEpoch ?? process.env.SOURCE_DATE_EPOCH;
  const createdDate = buildTimestamp(
    sourceDateEpoch,
    contents.variant.releases.map((r) => r.date),
  );
  const created = rfc3339(createdDate);
  const epoch = Math.floor(createdDate.getTime() / 1000);
  const annotations = standardAnnotations({
    name: spec.name,
    ...(spec.description ? { description: spec.description } : {}),
    ...(spec.version ? { version: spec.version } : {}),
    created,
    extra: spec.annotations,
  });

  // Layers are staged beside the output (same filesystem) and the stage is removed whatever happens.
  const outParent = dirname(resolve(output.path));
  await mkdir(outParent, { recursive: true });
  const work = await mkdtemp(join(outParent, '.rampart-build-'));
  try {
    const images: Array<{ image: Image; arch: string }> = [];
    const platforms: PlatformSummary[] = [];
    for (const arch of archs) {
      const pkgs = packagesByArch.get(arch)!;
      log(`${arch}: assembling ${pkgs.length} packages`);
      const debs = pkgs.map((pkg) => ({ pkg, path: debPaths.get(pkg.sha256)! }));
      const rootfs = await assembleRootfs(debs, spec, { cacheDir }).catch((error: unknown) => {
        throw atPackagePosition(error, spec.contents.packages, loaded.locate);
      });
      await addAppFiles(rootfs.tree, spec.files, spec.baseDir, loaded.locate);
      const layers = await buildLayers(rootfs.tree, rootfs.installed, {
        dir: work,
        sourceDateEpoch: epoch,
        cacheDir,
        log: (m) => log(`${arch}: ${m}`),
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
    log(`writing ${output.raw}`);
    const written = await writeOutput(output, index, images.length === 1 ? images[0]!.image : undefined);
    const sboms = opts.sbomDir
      ? await writeSboms(opts.sbomDir, `${spec.name}${spec.variant ? `-${spec.variant}` : ''}`, images, log)
      : [];
    if (contents.lockToWrite) await writeLock(lockPath, contents.lockToWrite);
    const recordPath = buildRecordPath(output.path, output.transport, spec.variant);
    await writeBuildRecord(recordPath, {
      recordVersion: 1,
      builder: { name: 'rampart', version: VERSION },
      spec: {
        path: opts.specPath,
        sha256: createHash('sha256').update(loaded.text).digest('hex'),
        name: spec.name,
        ...(spec.variant ? { variant: spec.variant } : {}),
      },
      lock: { path: lockPath, sha256: await sha256File(lockPath) },
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
  }
}

/** Prefixes an assembly error with the spec position of the first requested package it names. */
function atPackagePosition(error: unknown, packages: readonly string[], locate: SpecLocator): unknown {
  if (!(error instanceof RampartError)) return error;
  const named = packages.findIndex(
    (p) => error.message.includes(` ${p} `) || error.message.includes(` ${p}`),
  );
  const where = locate(named >= 0 ? ['contents', 'packages', named] : ['contents', 'packages']);
  return new RampartError(error.code, `${where}: ${error.message}`, { cause: error });
}

/** `<dir>/<name>-<arch>.spdx.json` and `.cdx.json`, cataloged from the built image itself. */
async function writeSboms(
  dir: string,
  base: string,
  images: ReadonlyArray<{ image: Image; arch: string }>,
  log: (message: string) => void,
): Promise<string[]> {
  const { generateSbom } = await import('../sbom/generate.js');
  const { writeSbomFiles } = await import('../sbom/write.js');
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const { image, arch } of images) {
    const doc = await generateSbom({ kind: 'image-object', ref: `${base}@${image.digest}`, image });
    const outputs = [
      { format: 'spdx-json' as const, path: join(dir, `${base}-${arch}.spdx.json`) },
      { format: 'cyclonedx-json' as const, path: join(dir, `${base}-${arch}.cdx.json`) },
    ];
    await writeSbomFiles(doc, outputs);
    written.push(...outputs.map((o) => o.path));
    log(`${arch}: SBOM with ${doc.packages.length} packages`);
  }
  return written;
}

async function sha256File(path: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}
