import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { RampartError } from '../errors.js';
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
    const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await writeFile(temp, encodeSbom(doc, format, options));
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw new RampartError('IO', `cannot write ${format} SBOM to ${path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
}
