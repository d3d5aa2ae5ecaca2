import { RampartError } from '../errors.js';
import { type CopyEvent, copy } from '../oci/copy.js';
import type { Image, Index } from '../oci/image.js';
import { openSink } from '../oci/open.js';
import { platformToDebianArch } from '../oci/platform.js';
import { parseImageReference } from '../oci/reference.js';
import type { Platform } from '../oci/types.js';
import type { RegistryOptions } from '../registry/types.js';

export type BuildOutput = {
  transport: 'oci' | 'oci-archive' | 'docker-archive' | 'docker';
  /** The layout or archive; empty for a registry (docker://). */
  path: string;
  tag?: string;
  raw: string;
  /** How a docker:// output's registry is reached. */
  registry?: RegistryOptions;
};

/** The tag a build gets when its output names none: `latest`, or `latest-<variant>`. */
function defaultTag(variant?: string): string {
  return variant ? `latest-${variant}` : 'latest';
}

export function defaultOutput(name: string, variant?: string): string {
  return `oci:./out/${name}:${defaultTag(variant)}`;
}

/**
 * Parses a build destination. With the image's name, a docker-archive without NAME:TAG gets
 * `<name>:<default tag>` in its RepoTags, as `docker save` would write for a named image.
 */
export function parseOutput(
  value: string,
  image?: { name: string; variant?: string | undefined },
): BuildOutput {
  const ref = parseImageReference(value);
  // A registry gets the whole index, the root by its tag (by digest only when it names none).
  if (ref.transport === 'docker')
    return { transport: 'docker', path: '', ...(ref.tag ? { tag: ref.tag } : {}), raw: value };
  if (
    (ref.transport !== 'oci' && ref.transport !== 'oci-archive' && ref.transport !== 'docker-archive') ||
    !ref.path
  ) {
    throw new RampartError(
      'UNSUPPORTED_TRANSPORT',
      `cannot build into '${value}': use oci:DIR:TAG, oci-archive:FILE, docker-archive:FILE or docker://REG/REPO:TAG`,
    );
  }
  const tag =
    ref.tag ??
    (ref.transport === 'docker-archive' && image ? `${image.name}:${defaultTag(image.variant)}` : undefined);
  return { transport: ref.transport, path: ref.path, ...(tag ? { tag } : {}), raw: value };
}

/** Whether the output holds a single image rather than an index (docker-archive: the `docker save` format). */
export function holdsOneImage(output: BuildOutput): boolean {
  return output.transport === 'docker-archive';
}

/**
 * The architectures to build into `output` when none was asked for: all of the spec, or for a
 * single-image output the host's (else the spec's first), with `chosen` set so the caller can say so.
 */
export function archsForOutput(
  output: BuildOutput,
  specArchs: readonly string[],
  hostArch: string,
): { archs: string[]; chosen?: string; host?: boolean } {
  if (!holdsOneImage(output) || specArchs.length <= 1) return { archs: [...specArchs] };
  const host = specArchs.includes(hostArch);
  const chosen = host ? hostArch : specArchs[0]!;
  return { archs: [chosen], chosen, host };
}

/**
 * Writes the built index (or, for docker-archive, its single image) through the one `copy()`. Sinks
 * stage what they write (a new layout is renamed into place, an archive replaces the old one on
 * close; an existing layout gets index.json last), so an interrupted write leaves the previous
 * output valid; an abort of `signal` stops it the same way. Returns the digest a reader of the output sees.
 */
export async function writeOutput(
  output: BuildOutput,
  index: Index,
  single?: Image,
  signal?: AbortSignal,
  onEvent?: (event: CopyEvent) => void,
): Promise<string> {
  if (output.transport === 'docker-archive' && !single) {
    throw new RampartError('USAGE', 'docker-archive holds one architecture; pass --arch', {
      details: { option: '--arch' },
    });
  }
  const source = output.transport === 'docker-archive' && single ? single : index;
  const tag =
    output.tag ??
    (output.transport === 'docker-archive' || output.transport === 'docker' ? undefined : 'latest');
  // SIGINT/SIGTERM during the write (the build's signal) abort the copy, which drops its staging.
  const registry = output.registry ? { ...output.registry, ...(signal ? { signal } : {}) } : undefined;
  const sink = await openSink(output.raw, {
    ...(signal ? { lock: { signal } } : {}),
    ...(registry ? { registry } : {}),
  });
  // umoci 0.4 cannot pick a platform out of an index under one tag ("tag is ambiguous"), nor can it
  // from skopeo's own layouts: each platform image is also tagged `<tag>-<arch>` for it.
  // A single-platform index is unambiguous to it already.
  const platformTag =
    tag && output.transport !== 'docker' && source.kind === 'index' && source.manifest.manifests.length > 1
      ? (platform: Platform) => `${tag}-${platformToDebianArch(platform)}`
      : undefined;
  return (
    await copy(source, sink, {
      ...(tag ? { tag } : {}),
      ...(platformTag ? { platformTag } : {}),
      ...(signal ? { signal } : {}),
      ...(output.registry?.jobs ? { jobs: output.registry.jobs } : {}),
      ...(onEvent ? { onEvent } : {}),
    })
  ).digest;
}
