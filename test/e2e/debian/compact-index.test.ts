/**
 * The compact index (compact-index.ts) against the real archive: for trixie's whole
 * main/binary-amd64 index, every name and every provided name gets exactly the answer a full
 * parse of the verified Packages file gives.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ContentCache, defaultCacheDir } from '../../../src/debian/cache.js';
import { PackageIndex, parsePackagesFile } from '../../../src/debian/package-index.js';
import { loadRepositories } from '../../../src/debian/repository.js';
import { decompressBuffer } from '../../../src/util/decompress.js';

let compact: PackageIndex;
let parsed: PackageIndex;

beforeAll(async () => {
  const cacheDir = defaultCacheDir();
  // trixie alone (no -updates/-security): the full parse below reads that one index.
  const { index, releases } = await loadRepositories({
    suites: ['trixie'],
    architectures: ['amd64'],
    cacheDir,
    updates: false,
  });
  compact = index;
  const file = releases[0]?.indexes.find((entry) => entry.path === 'main/binary-amd64/Packages.xz');
  if (!file) throw new Error('trixie lists no main/binary-amd64/Packages.xz');
  const xz = await new ContentCache(cacheDir).readBlob(file.sha256);
  const text = (await decompressBuffer(xz, 'xz')).toString('utf8');
  parsed = new PackageIndex(parsePackagesFile(text, { suite: 'trixie', component: 'main' }));
});

describe('compact index of the real trixie main/binary-amd64', () => {
  it('has every package and answers every name as the full parse does', () => {
    expect(compact.size).toBe(parsed.size);
    expect(compact.size).toBeGreaterThan(50_000);
    const names = [...parsed.names()];
    expect([...compact.names()].sort()).toEqual([...names].sort());
    for (const name of names) {
      const mine = compact.candidates(name).map(({ paragraph: _, ...p }) => p);
      expect(mine, name).toEqual(parsed.candidates(name));
    }
  });

  it('answers every provided name as the full parse does', () => {
    const provided = new Set<string>();
    for (const name of parsed.names()) {
      for (const pkg of parsed.candidates(name)) for (const p of pkg.provides) provided.add(p.name);
    }
    expect(provided.size).toBeGreaterThan(1000);
    for (const name of provided) {
      const key = (e: { pkg: { name: string; version: string }; version?: string }) =>
        `${e.pkg.name} ${e.pkg.version} ${e.version ?? ''}`;
      expect(compact.providers(name).map(key).sort(), name).toEqual(parsed.providers(name).map(key).sort());
    }
  });
});
