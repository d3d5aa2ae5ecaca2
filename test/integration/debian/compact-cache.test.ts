/**
 * The parsed-index cache holds each Packages index in its compact form (compact-index.ts) as a
 * content-addressed blob. A damaged blob must read as a miss and be rebuilt from the verified
 * index, never answer the resolver.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRepositories } from '../../../src/debian/repository.js';
import { type AptRepo, createAptRepo } from '../../helpers/apt-repo.js';

let repo: AptRepo;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-compact-cache-'));
  repo = await createAptRepo([
    {
      name: 'stable',
      packages: [
        { name: 'hello', version: '1.0-1', depends: 'libhello (>= 1.0)' },
        { name: 'libhello', version: '1.2-1', provides: 'hello-lib (= 1.2)' },
      ],
    },
  ]);
});

afterAll(async () => {
  await repo?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const load = (cacheDir: string) =>
  loadRepositories({
    suites: ['stable'],
    architectures: ['amd64'],
    mirror: repo.url,
    keyring: repo.key.keyring,
    cacheDir,
    etcApt: '/nonexistent-apt-config',
  });

/** Blobs of the cache that are compact indexes (they start with `Package: `). */
async function compactBlobs(cacheDir: string): Promise<string[]> {
  const dir = join(cacheDir, 'blobs', 'sha256');
  const found: string[] = [];
  for (const name of await readdir(dir)) {
    const head = (await readFile(join(dir, name))).subarray(0, 9).toString('latin1');
    if (head === 'Package: ') found.push(join(dir, name));
  }
  return found;
}

describe('compact index cache', () => {
  it('answers from the cache, and rebuilds a damaged compact blob instead of trusting it', async () => {
    const cacheDir = join(work, 'cache');
    const first = await load(cacheDir);
    expect(first.index.candidates('hello')[0]?.version).toBe('1.0-1');
    const [blob] = await compactBlobs(cacheDir);
    expect(blob).toBeDefined();
    const original = await readFile(blob as string);

    // Same size, other content: a cache that only checked sizes would serve it.
    const tampered = Buffer.from(
      original.toString('latin1').replace('Version: 1.0-1', 'Version: 9.0-1'),
      'latin1',
    );
    expect(tampered.length).toBe(original.length);
    await writeFile(blob as string, tampered);

    const second = await load(cacheDir);
    expect(second.index.candidates('hello')[0]?.version).toBe('1.0-1');
    expect(second.index.providers('hello-lib')).toMatchObject([
      { pkg: { name: 'libhello' }, version: '1.2' },
    ]);
    expect(await readFile(blob as string)).toEqual(original);
  });
});
