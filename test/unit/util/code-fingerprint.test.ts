import { appendFile, mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOG_CODE, catalogCacheKey } from '../../../src/sbom/catalog-cache.js';
import { METRICS_CODE, standardRootMetricsKey } from '../../../src/surface/compare.js';
import { RESOLUTION_CODE, resolvedKey } from '../../../src/surface/standard-root.js';

/**
 * One rule for the caches of computed values (catalogs, standard-root metrics and SBOM, resolved
 * standard roots): the key holds a fingerprint of the code each depends on, so a checkout whose
 * code changes without a version or format bump never reads an entry the old code wrote.
 */
const DIGEST = `sha256:${'a'.repeat(64)}`;
const REQUEST = { suite: 'trixie', architecture: 'amd64', packages: ['nodejs'] };
const RELEASES = [{ suite: 'trixie', inReleaseSha256: 'b'.repeat(64) }];

const keys: Record<string, { folders: readonly string[]; key: (root: string) => Promise<string> }> = {
  catalog: { folders: CATALOG_CODE, key: (root) => catalogCacheKey(DIGEST, root) },
  'standard-root metrics': {
    folders: METRICS_CODE,
    key: (root) => standardRootMetricsKey(1000, 'debian:trixie minbase', root),
  },
  'resolved standard root': { folders: RESOLUTION_CODE, key: (root) => resolvedKey(REQUEST, RELEASES, root) },
};
const ALL = ['sbom', 'oci', 'debian', 'util', 'surface', 'vuln', 'registry', 'cli'];

let root: string;
let tick = 1_700_000_000;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'rampart-code-fingerprint-'));
  for (const folder of ALL) {
    await mkdir(join(root, folder, 'nested'), { recursive: true });
    await writeFile(join(root, folder, 'nested', 'code.ts'), 'export const x = 1;\n');
    await utimes(join(root, folder, 'nested', 'code.ts'), tick, tick);
  }
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe.each(Object.entries(keys))('the %s cache key', (_name, { folders, key }) => {
  it('changes when a code file it depends on changes mtime or size, and only then', async () => {
    for (const folder of ALL) {
      const file = join(root, folder, 'nested', 'code.ts');
      const before = await key(root);
      expect(await key(root)).toBe(before);
      tick += 10;
      await utimes(file, tick, tick);
      const touched = await key(root);
      if (folders.includes(folder)) expect(touched, `${folder} mtime`).not.toBe(before);
      else expect(touched, `${folder} mtime`).toBe(before);
      await appendFile(file, '// grown\n');
      await utimes(file, tick, tick);
      const grown = await key(root);
      if (folders.includes(folder)) expect(grown, `${folder} size`).not.toBe(touched);
      else expect(grown, `${folder} size`).toBe(touched);
    }
  });
});

describe('the folders each cache depends on', () => {
  it('cover the catalogers for every computed value, the measuring code for metrics, the resolver for roots', () => {
    for (const folder of ['sbom', 'oci', 'debian', 'util']) expect(CATALOG_CODE).toContain(folder);
    for (const folder of [...CATALOG_CODE, 'surface']) expect(METRICS_CODE).toContain(folder);
    for (const folder of ['surface', 'debian', 'util']) expect(RESOLUTION_CODE).toContain(folder);
  });
});

describe('the code fingerprint', () => {
  it('ignores declaration files (types only, never run), and sees code files in nested folders', async () => {
    const key = (r: string) => catalogCacheKey(DIGEST, r);
    const before = await key(root);
    await writeFile(join(root, 'sbom', 'nested', 'code.d.ts'), 'export declare const x: 1;\n');
    expect(await key(root)).toBe(before);
    await mkdir(join(root, 'sbom', 'nested', 'deeper'), { recursive: true });
    await writeFile(join(root, 'sbom', 'nested', 'deeper', 'more.js'), 'export const y = 2;\n');
    expect(await key(root)).not.toBe(before);
  });
});
