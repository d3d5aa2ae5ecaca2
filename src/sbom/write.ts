import { writeFileAtomic } from '../util/atomic-file.js';
import { type EncodeOptions, encodeSbom, type SbomFormat } from './encode/index.js';
import type { SbomDocument } from './model.js';

/**
 * Writes one file per requested format, each atomically (temp file in the same directory, then
 * rename), so a reader never sees half an SBOM next to an image.
 */
export async function writeSbomFiles(
  doc: SbomDocument,
  outputs: ReadonlyArray<{ format: SbomFormat; path: string }>,
  options: EncodeOptions = {},
): Promise<void> {
  for (const { format, path } of outputs) {
    // Failures come as RampartErrors naming the path (READ_ONLY_FILESYSTEM, NO_SPACE, ...).
    await writeFileAtomic(path, encodeSbom(doc, format, options), {
      operation: `write the ${format} SBOM`,
    });
  }
}
