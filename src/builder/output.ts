import { rename, rm, stat } from 'node:fs/promises';
import { RampartError } from '../errors.js';
import { writeDockerArchive } from '../oci/docker-archive.js';
import type { Image, Index } from '../oci/image.js';
import { writeLayout } from '../oci/layout-write.js';
import { writeOciArchive } from '../oci/oci-archive.js';
import { parseImageReference } from '../oci/reference.js';
import { tempPathFor } from '../util/atomic-file.js';

export type BuildOutput = {
  transport: 'oci' | 'oci-archive' | 'docker-archive';
  path: string;
  tag?: string;
  raw: string;
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
  if (
    (ref.transport !== 'oci' && ref.transport !== 'oci-archive' && ref.transport !== 'docker-archive') ||
    !ref.path
  ) {
    throw new RampartError(
      'UNSUPPORTED_TRANSPORT',
      `cannot build into '${value}': use oci:DIR:TAG, oci-archive:FILE or docker-archive:FILE`,
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
 * Writes the built index (or, for docker-archive, its single image). Blobs are written before
 * index.json / the archive rename, so an interrupted write leaves the previous output valid.
 * Returns the digest a reader of the output sees.
 */
export async function writeOutput(output: BuildOutput, index: Index, single?: Image): Promise<string> {
  switch (output.transport) {
    case 'oci':
      return writeLayoutStaged(output.path, index, output.tag ?? 'latest');
    case 'oci-archive':
      return (await writeOciArchive(output.path, index, output.tag ?? 'latest')).digest;
    case 'docker-archive': {
      if (!single) throw new RampartError('USAGE', 'docker-archive holds one architecture; pass --arch');
      return writeDockerArchive(output.path, single, output.tag);
    }
  }
}

/**
 * A new layout is written beside its final path and renamed into place, so a failed write
 * leaves nothing; an existing layout (other tags) is updated in place, blobs first and
 * index.json last, so it stays valid throughout.
 */
async function writeLayoutStaged(dir: string, index: Index, tag: string): Promise<string> {
  const exists = await stat(dir).then(
    () => true,
    () => false,
  );
  if (exists) return (await writeLayout(dir, index, tag)).digest;
  const staging = tempPathFor(dir);
  try {
    const { digest } = await writeLayout(staging, index, tag);
    await rename(staging, dir);
    return digest;
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}
