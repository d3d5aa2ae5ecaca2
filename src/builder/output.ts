import { RampartError } from '../errors.js';
import { copy } from '../oci/copy.js';
import type { Image, Index } from '../oci/image.js';
import { openSink } from '../oci/open.js';
import { parseImageReference } from '../oci/reference.js';

export type BuildOutput = {
  transport: 'oci' | 'oci-archive' | 'docker-archive';
  path: string;
  tag?: string;
  raw: string;
};

export function defaultOutput(name: string, variant?: string): string {
  return `oci:./out/${name}:${variant ? `latest-${variant}` : 'latest'}`;
}

export function parseOutput(value: string): BuildOutput {
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
  return { transport: ref.transport, path: ref.path, ...(ref.tag ? { tag: ref.tag } : {}), raw: value };
}

/**
 * Writes the built index (or, for docker-archive, its single image) through the one `copy()`. Sinks
 * stage what they write (a new layout is renamed into place, an archive replaces the old one on
 * close; an existing layout gets index.json last), so an interrupted write leaves the previous
 * output valid. Returns the digest a reader of the output sees.
 */
export async function writeOutput(output: BuildOutput, index: Index, single?: Image): Promise<string> {
  if (output.transport === 'docker-archive' && !single) {
    throw new RampartError('USAGE', 'docker-archive holds one architecture; pass --arch', {
      details: { option: '--arch' },
    });
  }
  const source = output.transport === 'docker-archive' && single ? single : index;
  const tag = output.tag ?? (output.transport === 'docker-archive' ? undefined : 'latest');
  const sink = await openSink(output.raw);
  return (await copy(source, sink, tag ? { tag } : {})).digest;
}
