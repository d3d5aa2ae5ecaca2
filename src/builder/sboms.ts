import { join } from 'node:path';
import type { Image } from '../oci/image.js';
import type { SbomDocument } from '../sbom/model.js';

/*
 * The build's SBOMs, in two steps so the slow, fallible part (cataloging reads every layer)
 * runs before the output is replaced and only small atomic writes follow it. The SBOM modules
 * are loaded only when SBOMs are asked for.
 */

export type SbomToWrite = {
  doc: SbomDocument;
  outputs: Array<{ format: 'spdx-json' | 'cyclonedx-json'; path: string }>;
};

/**
 * `<dir>/<name>-<arch>.spdx.json` and `.cdx.json`, cataloged from the built image itself. The
 * catalog is kept in the build's cache dir (`cacheDir`: `--cache`, else rampart's cache dir by the
 * build's environment), where `rampart scan` with the same cache reuses it.
 */
export async function generateSboms(
  dir: string,
  base: string,
  images: ReadonlyArray<{ image: Image; arch: string }>,
  log: (message: string) => void,
  cacheDir: string,
): Promise<SbomToWrite[]> {
  const [{ generateSbom }, { catalogCache }] = await Promise.all([
    import('../sbom/generate.js'),
    import('../sbom/catalog-cache.js'),
  ]);
  const cache = catalogCache(cacheDir);
  const result: SbomToWrite[] = [];
  for (const { image, arch } of images) {
    const doc = await generateSbom(
      { kind: 'image-object', ref: `${base}@${image.digest}`, image },
      { cache },
    );
    result.push({
      doc,
      outputs: [
        { format: 'spdx-json', path: join(dir, `${base}-${arch}.spdx.json`) },
        { format: 'cyclonedx-json', path: join(dir, `${base}-${arch}.cdx.json`) },
      ],
    });
    log(`${arch}: SBOM with ${doc.packages.length} packages`);
  }
  return result;
}

export async function writeSboms(sboms: readonly SbomToWrite[]): Promise<string[]> {
  if (sboms.length === 0) return [];
  const { writeSbomFiles } = await import('../sbom/write.js');
  const written: string[] = [];
  for (const { doc, outputs } of sboms) {
    await writeSbomFiles(doc, outputs);
    written.push(...outputs.map((o) => o.path));
  }
  return written;
}
