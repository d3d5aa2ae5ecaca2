import type { KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromSystemError, RampartError } from '../errors.js';
import type { FetchFn } from '../http/fetch.js';
import type { Digest } from '../oci/digest.js';
import { digestHex, sha256Digest } from '../oci/digest.js';
import type { Image, OciObject } from '../oci/image.js';
import type { OpenOptions } from '../oci/open.js';
import { openImage } from '../oci/open.js';
import { platformToDebianArch } from '../oci/platform.js';
import { diffImages, type ImageDifference } from './layer-diff.js';
import { BUILD_TYPE_PREFIX, parseRampartProvenance, type RebuildParameters } from './provenance.js';
import { verifyAttestations } from './verify-attestation.js';

/**
 * `rampart verify --rebuild`: provenance checked by building again. The SLSA provenance signed by
 * the key is read, the spec (embedded, or a file whose sha256 is the recorded one) and the lock
 * (embedded, checked against its recorded sha256) are built again with the same builder
 * (`--locked`: exactly the recorded .debs, verified from the archive's InRelease down, or from
 * the cache), and the result is compared with the image: the digests, and where they differ,
 * each platform's config and layers, and inside a differing layer its files.
 */

export interface RebuildOptions extends OpenOptions {
  /** The spec to build instead of the embedded one; its sha256 must be the provenance's. */
  specPath?: string;
  cacheDir?: string;
  /** Mirror and keyring overrides, as for `build` (the spec's, or the host's, otherwise). */
  repository?: { mirror?: string; securityMirror?: string; keyring?: string };
  allowOutsideContext?: string[];
  clock?: () => Date;
  fetch?: FetchFn;
  etcApt?: string;
  /** Where the rebuild is staged (default the system temp dir); removed afterwards. */
  workDir?: string;
  signal?: AbortSignal;
}

export interface PlatformRebuild {
  architecture: string;
  digest: Digest;
  rebuiltDigest?: Digest;
  equal: boolean;
  /** Where they differ (absent when equal, or when the rebuild has no image of this platform). */
  difference?: ImageDifference;
}

export interface RebuildResult {
  /** Whether the rebuild has the image's digest. */
  reproduced: boolean;
  digest: Digest;
  rebuiltDigest: Digest;
  provenance: {
    /** The attestation manifest the provenance came from. */
    manifest: Digest;
    buildType: string;
    builderId?: string;
  };
  spec: { sha256: string; from: 'provenance' | 'file'; path?: string };
  platforms: PlatformRebuild[];
}

export async function rebuildAndCompare(
  ref: string,
  key: KeyObject,
  options: RebuildOptions = {},
): Promise<RebuildResult> {
  const open = options.registry ? { registry: options.registry } : {};
  const verified = await verifyAttestations(ref, key, {
    ...open,
    type: 'slsaprovenance1',
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const found = verified.attestations.find(
    (a) =>
      a.valid &&
      typeof a.statement?.predicate === 'object' &&
      String(
        (a.statement.predicate as { buildDefinition?: { buildType?: unknown } }).buildDefinition?.buildType,
      ).startsWith(BUILD_TYPE_PREFIX),
  );
  if (!found?.statement) {
    throw new RampartError(
      'PROVENANCE_INVALID',
      `${ref} has no SLSA provenance of a rampart build signed by this key; build it with --sign-key`,
      { details: { digest: verified.digest } },
    );
  }
  const predicate = found.statement.predicate as Record<string, unknown>;
  const parameters = parseRampartProvenance(predicate);
  const builderId = (predicate.runDetails as { builder?: { id?: unknown } } | undefined)?.builder?.id;
  const lockText = parameters.internalParameters.lock.content;
  // A redacted lock differs from the recorded one only in release URLs, which a locked build does not read.
  if (
    !parameters.internalParameters.lock.redacted &&
    digestHex(sha256Digest(lockText)) !== parameters.internalParameters.lock.sha256
  ) {
    throw new RampartError(
      'PROVENANCE_INVALID',
      'the lock in the provenance is not the one its sha256 names',
      {
        details: { field: 'buildDefinition.internalParameters.lock', digest: verified.digest },
      },
    );
  }
  const work = await mkdtemp(join(options.workDir ?? tmpdir(), 'rampart-rebuild-'));
  try {
    const spec = await specToBuild(parameters, work, options.specPath);
    const lockPath = join(work, 'provenance.lock.json');
    await writeFile(lockPath, lockText);
    const output = `oci:${join(work, 'rebuilt')}:rebuilt`;
    const { buildImage } = await import('../builder/pipeline.js');
    const external = parameters.externalParameters;
    await buildImage({
      specPath: spec.path,
      lockPath,
      locked: true,
      archs: external.archs,
      ...(external.variant ? { variant: external.variant } : {}),
      output,
      // A rebuild is compared, not recorded: no scan of it into a build record that is thrown away.
      advisoryDb: false,
      // Only what the provenance recorded: the verifier's own SOURCE_DATE_EPOCH must not leak in.
      env: external.sourceDateEpoch ? { SOURCE_DATE_EPOCH: external.sourceDateEpoch } : {},
      ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
      ...(options.repository ? { repository: options.repository } : {}),
      ...(options.allowOutsideContext ? { allowOutsideContext: options.allowOutsideContext } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.etcApt ? { etcApt: options.etcApt } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const image = await openImage(ref, open);
    const rebuilt = await openImage(output);
    const platforms = await comparePlatforms(image, rebuilt, external.archs, options.signal);
    // A platform manifest's provenance is compared with that platform of the rebuilt index.
    const rebuiltDigest =
      image.kind === 'index' ? rebuilt.digest : (platforms[0]?.rebuiltDigest ?? rebuilt.digest);
    return {
      reproduced: rebuiltDigest === image.digest,
      digest: image.digest,
      rebuiltDigest,
      provenance: {
        manifest: found.manifest,
        buildType: parameters.buildType,
        ...(typeof builderId === 'string' ? { builderId } : {}),
      },
      spec: {
        sha256: external.spec.sha256,
        from: options.specPath ? 'file' : 'provenance',
        ...(options.specPath ? { path: options.specPath } : {}),
      },
      platforms,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The spec file to build: `--spec` checked against the recorded digest, or the embedded text. */
async function specToBuild(
  parameters: RebuildParameters,
  work: string,
  specPath: string | undefined,
): Promise<{ path: string }> {
  const recorded = parameters.externalParameters.spec;
  if (specPath) {
    let text: Buffer;
    try {
      text = await readFile(specPath);
    } catch (error) {
      throw fromSystemError(error, { path: specPath, operation: 'read' });
    }
    const actual = digestHex(sha256Digest(text));
    if (actual !== recorded.sha256) {
      throw new RampartError(
        'DIGEST_MISMATCH',
        `the spec ${specPath} is not the one the provenance records (sha256 ${recorded.sha256})`,
        { details: { expected: recorded.sha256, actual, path: specPath } },
      );
    }
    return { path: specPath };
  }
  if (recorded.content === undefined) {
    throw new RampartError(
      'PROVENANCE_INVALID',
      'the provenance does not embed the spec; pass it with --spec FILE',
      { details: { field: 'buildDefinition.externalParameters.spec.content' } },
    );
  }
  // A redacted spec lost a mirror's credentials (give --mirror); the signature still covers it.
  if (!recorded.redacted && digestHex(sha256Digest(recorded.content)) !== recorded.sha256) {
    throw new RampartError(
      'PROVENANCE_INVALID',
      'the spec in the provenance is not the one its sha256 names',
      {
        details: { field: 'buildDefinition.externalParameters.spec' },
      },
    );
  }
  // The name only decides the lock's default path, which the rebuild overrides.
  const path = join(work, 'spec.yaml');
  await writeFile(path, recorded.content);
  return { path };
}

async function comparePlatforms(
  image: OciObject,
  rebuilt: OciObject,
  archs: readonly string[],
  signal?: AbortSignal,
): Promise<PlatformRebuild[]> {
  const rebuiltImages = await platformImages(rebuilt);
  const compare = async (one: Image, architecture: string): Promise<PlatformRebuild> => {
    const other = rebuiltImages.get(architecture);
    if (!other) return { architecture, digest: one.digest, equal: false };
    const equal = other.digest === one.digest;
    return {
      architecture,
      digest: one.digest,
      rebuiltDigest: other.digest,
      equal,
      ...(equal ? {} : { difference: await diffImages(one, other, signal) }),
    };
  };
  if (image.kind !== 'index') {
    const one = image.kind === 'image' ? image : await image.toImage();
    return [await compare(one, archs.length === 1 ? archs[0]! : platformToDebianArch(one.config))];
  }
  const out: PlatformRebuild[] = [];
  for (const [architecture, one] of await platformImages(image)) out.push(await compare(one, architecture));
  return out;
}

async function platformImages(object: OciObject): Promise<Map<string, Image>> {
  const out = new Map<string, Image>();
  if (object.kind !== 'index') {
    const image = object.kind === 'image' ? object : await object.toImage();
    out.set(platformToDebianArch(image.config), image);
    return out;
  }
  for (const entry of object.manifest.manifests) {
    if (!entry.platform) continue;
    out.set(platformToDebianArch(entry.platform), await object.image(entry));
  }
  return out;
}
