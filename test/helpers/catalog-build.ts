import { copyFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type BuildResult, buildImage } from '../../src/builder/pipeline.js';

const IMAGES = resolve(import.meta.dirname, '../../images');

export interface CatalogImage {
  /** `oci:LAYOUT:TAG` */
  ref: string;
  layout: string;
  tag: string;
  result: BuildResult;
}

/**
 * Builds one image of the catalog (`images/<name>.yaml`) from the real Debian archive (the host's
 * mirror) into `work`, with the suite's shared download cache (the default cache dir, which the e2e
 * project points at `.cache/e2e`). The spec is copied first so its lock lands in `work`, not in
 * `images/`. Warm (packages downloaded), nodejs or python3 for one architecture takes about 10–30 s.
 */
export async function buildCatalogImage(
  name: string,
  work: string,
  opts: { archs?: string[]; key?: string } = {},
): Promise<CatalogImage> {
  const key = opts.key ?? name;
  const specDir = join(work, 'specs', key);
  await mkdir(specDir, { recursive: true });
  const spec = join(specDir, `${name}.yaml`);
  await copyFile(join(IMAGES, `${name}.yaml`), spec);
  const layout = join(work, 'out', key);
  const tag = 'latest';
  const result = await buildImage({
    specPath: spec,
    output: `oci:${layout}:${tag}`,
    archs: opts.archs ?? ['amd64'],
  });
  return { ref: `oci:${layout}:${tag}`, layout, tag, result };
}
