import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureStandardRoot, type StandardRootRequest } from '../../../src/surface/standard-root.js';
import { type AptRepo, createAptRepo, type DebSpec } from '../../helpers/apt-repo.js';

/**
 * The standard root of `compare --against`, from a small signed local archive: built once, then
 * found again from the archive state alone (no index read), and resolved afresh when the archive
 * publishes a new Release.
 */
const base: DebSpec[] = [
  { name: 'base-files', version: '1', essential: true, files: { 'etc/debian_version': '13\n' } },
  { name: 'apt', version: '3.0', depends: 'base-files', files: { 'usr/bin/apt': '#!/bin/sh\n' } },
  { name: 'libhello', version: '1.0-1', files: { 'usr/lib/libhello.so.1': 'lib' } },
];
const hello = (version: string): DebSpec => ({
  name: 'hello',
  version,
  depends: 'libhello',
  files: { 'usr/share/hello/version': `${version}\n` },
});

let work: string;
let v1: AptRepo;
let v2: AptRepo;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-standard-root-'));
  v1 = await createAptRepo([{ name: 'std', packages: [...base, hello('1.0-1')] }]);
  // The same archive (same key, same suite) after an update of hello: a new signed Release.
  v2 = await createAptRepo([{ name: 'std', packages: [...base, hello('2.0-1')] }], { key: v1.key });
});

afterAll(async () => {
  await v2?.close();
  await v1?.close();
  await rm(work, { recursive: true, force: true });
});

async function rootOf(repo: AptRepo) {
  const lines: string[] = [];
  const request: StandardRootRequest = {
    suite: 'std',
    architecture: 'amd64',
    packages: ['hello'],
    mirrors: { mirror: repo.url, keyring: repo.key.keyring },
    cacheDir: join(work, 'cache'),
    log: (line) => lines.push(line),
  };
  const root = await ensureStandardRoot(request);
  // loadRepositories logs one line per Packages index it reads.
  return { root, indexesRead: lines.filter((l) => l.includes('/binary-amd64:')).length };
}

describe('ensureStandardRoot', () => {
  it('builds the root once, then finds it from the verified archive state without reading an index', async () => {
    const cold = await rootOf(v1);
    expect(cold.root).toMatchObject({
      cached: false,
      description: 'debian:std minbase + hello',
      packages: 4,
    });
    expect(cold.indexesRead).toBe(1);
    expect(await readFile(join(cold.root.path, 'usr/share/hello/version'), 'utf8')).toBe('1.0-1\n');

    const warm = await rootOf(v1);
    expect(warm.root).toEqual({ ...cold.root, cached: true });
    expect(warm.indexesRead).toBe(0);
  });

  it('resolves again when the archive publishes a new Release (the state is in the key)', async () => {
    const updated = await rootOf(v2);
    expect(updated.indexesRead).toBe(1);
    expect(updated.root.cached).toBe(false);
    expect(await readFile(join(updated.root.path, 'usr/share/hello/version'), 'utf8')).toBe('2.0-1\n');
    const again = await rootOf(v2);
    expect(again).toEqual({ root: { ...updated.root, cached: true }, indexesRead: 0 });
  });
});
