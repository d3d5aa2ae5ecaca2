import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadPackages } from '../../../src/debian/download.js';
import { loadRepositories } from '../../../src/debian/repository.js';
import { isRampartError } from '../../../src/errors.js';
import {
  type AptRepo,
  createAptRepo,
  createGpgKey,
  disposeGpgKey,
  type GpgKey,
} from '../../helpers/apt-repo.js';

const NO_HOST_APT = '/nonexistent-apt-config';
let repo: AptRepo;
let otherKey: GpgKey;
let work: string;

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function expectCode(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isRampartError(error), `expected a RampartError, got ${String(error)}`).toBe(true);
  expect((error as { code: string }).code).toBe(code);
  expect((error as Error).message).toMatch(message);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-repo-test-'));
  repo = await createAptRepo([
    {
      name: 'good',
      architectures: ['amd64', 'arm64'],
      packages: [
        { name: 'hello', version: '1.0-1', depends: 'libhello (>= 1.0)' },
        { name: 'libhello', version: '1.2-1', multiArch: 'same' },
        { name: 'libhello', version: '1.2-1', architecture: 'arm64', multiArch: 'same' },
        { name: 'hello-data', version: '1.0-1', architecture: 'all' },
      ],
    },
    { name: 'tampered-packages', packages: [{ name: 'tp', version: '1' }] },
    { name: 'tampered-deb', packages: [{ name: 'td', version: '1' }] },
    { name: 'bad-signature', packages: [{ name: 'bs', version: '1' }] },
    { name: 'no-signature', packages: [{ name: 'ns', version: '1' }] },
    {
      name: 'expired',
      validUntil: new Date(Date.now() - 3_600_000),
      packages: [{ name: 'ex', version: '1' }],
    },
    { name: 'missing-index', packages: [{ name: 'mi', version: '1' }] },
    { name: 'no-by-hash', acquireByHash: false, packages: [{ name: 'nb', version: '1' }] },
    { name: 'wrapped', packages: [{ name: 'wr', version: '1' }] },
  ]);
  otherKey = await createGpgKey(work, 'Someone Else <else@example.invalid>');
  // Tamper after signing: the Release still lists the old hashes.
  for (const path of ['Packages.xz', `by-hash/SHA256/${await fileSha('tampered-packages', 'Packages.xz')}`]) {
    await appendFile(repo.path(`dists/tampered-packages/main/binary-amd64/${path}`), 'x');
  }
  const inRelease = repo.path('dists/bad-signature/InRelease');
  await writeFile(
    inRelease,
    (await readFile(inRelease, 'utf8')).replace('Label: Rampart Tests', 'Label: Rampart Evil'),
  );
  // Unsigned text around the signed block must never be read as part of the Release: here it
  // claims a different Packages.xz hash, which would fail the fetch if it were believed.
  const fake = `SHA256:\n ${'0'.repeat(64)} 1 main/binary-amd64/Packages.xz\n`;
  const wrapped = repo.path('dists/wrapped/InRelease');
  await writeFile(wrapped, `Origin: evil\nDate: now\n${fake}\n${await readFile(wrapped, 'utf8')}\n${fake}`);
  await writeFile(
    repo.path('dists/no-signature/InRelease'),
    await readFile(repo.path('dists/no-signature/Release')),
  );
  // A validly signed Release of another suite, served where 'replayed' was asked for.
  await mkdir(repo.path('dists/replayed'), { recursive: true });
  await copyFile(repo.path('dists/no-by-hash/InRelease'), repo.path('dists/replayed/InRelease'));
  for (const path of ['Packages.xz', 'Packages']) {
    const sha = await fileSha('missing-index', path);
    await rm(repo.path(`dists/missing-index/main/binary-amd64/${path}`));
    await rm(repo.path(`dists/missing-index/main/binary-amd64/by-hash/SHA256/${sha}`));
  }
});

afterAll(async () => {
  await repo?.close();
  if (otherKey) disposeGpgKey(otherKey);
  await rm(work, { recursive: true, force: true });
});

async function fileSha(suite: string, name: string): Promise<string> {
  return sha256(await readFile(repo.path(`dists/${suite}/main/binary-amd64/${name}`)));
}

const load = async (suite: string, extra: Partial<Parameters<typeof loadRepositories>[0]> = {}) =>
  loadRepositories({
    suites: [suite],
    architectures: ['amd64'],
    mirror: repo.url,
    keyring: repo.key.keyring,
    cacheDir: await mkdtemp(join(work, 'cache-')),
    etcApt: NO_HOST_APT,
    ...extra,
  });

describe('loadRepositories against a signed local repository', () => {
  it('verifies InRelease, fetches Packages.xz by hash and indexes each architecture', async () => {
    const cacheDir = await mkdtemp(join(work, 'cache-'));
    const result = await load('good', { architectures: ['amd64', 'arm64'], cacheDir });
    const amd64 = result.indexes.get('amd64');
    const arm64 = result.indexes.get('arm64');
    expect(result.index).toBe(amd64);
    expect(amd64?.candidates('libhello').map((p) => p.architecture)).toEqual(['amd64']);
    expect(arm64?.candidates('libhello').map((p) => p.architecture)).toEqual(['arm64']);
    expect(amd64?.candidates('hello-data')[0]?.architecture).toBe('all');
    expect(arm64?.candidates('hello')).toEqual([]);
    const hello = amd64?.candidates('hello')[0];
    const pool = await readFile(repo.path(hello?.filename ?? ''));
    expect(hello?.sha256).toBe(sha256(pool));
    expect(hello?.suite).toBe('good');
    expect(result.releases).toEqual([
      expect.objectContaining({
        suite: 'good',
        inReleaseSha256: sha256(await readFile(repo.path('dists/good/InRelease'))),
        url: `${repo.url}/dists/good/InRelease`,
      }),
    ]);
    const xzSha = await fileSha('good', 'Packages.xz');
    expect(result.releases[0]?.indexes.map((i) => [i.path, i.sha256])).toEqual([
      ['main/binary-amd64/Packages.xz', xzSha],
      [
        'main/binary-arm64/Packages.xz',
        sha256(await readFile(repo.path('dists/good/main/binary-arm64/Packages.xz'))),
      ],
    ]);
    expect(repo.requests.get(`/dists/good/main/binary-amd64/by-hash/SHA256/${xzSha}`)).toBe(1);
    expect(repo.requests.get('/dists/good/main/binary-amd64/Packages.xz')).toBeUndefined();

    // Warm: InRelease is revalidated with a conditional request and Packages is not fetched again.
    const before = repo.requests.get(`/dists/good/main/binary-amd64/by-hash/SHA256/${xzSha}`);
    const warm = await load('good', { architectures: ['amd64', 'arm64'], cacheDir });
    expect(warm.index.candidates('hello')[0]?.version).toBe('1.0-1');
    expect(repo.lastHeaders.get('/dists/good/InRelease')?.['if-none-match']).toBeTruthy();
    expect(repo.requests.get(`/dists/good/main/binary-amd64/by-hash/SHA256/${xzSha}`)).toBe(before);
  });

  it('downloads packages into the cache, verifying their hashes', async () => {
    const cacheDir = await mkdtemp(join(work, 'cache-'));
    const { index } = await load('good', { cacheDir });
    const pkgs = ['hello', 'libhello', 'hello-data'].map((n) => index.candidates(n)[0]!);
    const events: string[] = [];
    const paths = await downloadPackages(pkgs, {
      mirrors: { mirror: repo.url },
      cacheDir,
      concurrency: 2,
      onProgress: (e) => events.push(e.kind),
    });
    expect(paths.size).toBe(3);
    for (const pkg of pkgs) {
      const bytes = await readFile(paths.get(pkg.sha256)!);
      expect(sha256(bytes)).toBe(pkg.sha256);
      expect(bytes).toEqual(await readFile(repo.path(pkg.filename)));
    }
    expect(events.filter((k) => k === 'done')).toHaveLength(3);
    const poolRequests = repo.requests.get(`/${pkgs[0]!.filename}`);
    await downloadPackages(pkgs, { mirrors: { mirror: repo.url }, cacheDir });
    expect(repo.requests.get(`/${pkgs[0]!.filename}`)).toBe(poolRequests);
  });

  it('lets two processes fill one cache at the same time without corrupting it', async () => {
    const cacheDir = await mkdtemp(join(work, 'shared-'));
    const script = `
      const { loadRepositories } = await import(${JSON.stringify(resolve('src/debian/repository.ts'))});
      const { downloadPackages } = await import(${JSON.stringify(resolve('src/debian/download.ts'))});
      const [url, keyring, cacheDir] = process.argv.slice(1);
      const { index, mirrors } = await loadRepositories({ suites: ['good'], architectures: ['amd64'], mirror: url,
        keyring, cacheDir, etcApt: '/nonexistent' });
      const pkgs = ['hello', 'libhello', 'hello-data'].map((n) => index.candidates(n)[0]);
      const paths = await downloadPackages(pkgs, { mirrors, cacheDir, concurrency: 1 });
      console.log(JSON.stringify([...paths.values()].sort()));`;
    const run = () =>
      promisify(execFile)('node', [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        script,
        repo.url,
        repo.key.keyring,
        cacheDir,
      ]);
    const [a, b] = await Promise.all([run(), run()]);
    expect(JSON.parse(a.stdout)).toEqual(JSON.parse(b.stdout));
    const blobs = await readdir(join(cacheDir, 'blobs', 'sha256'));
    expect(blobs.filter((name) => name.startsWith('.tmp'))).toEqual([]);
    for (const blob of blobs)
      expect(sha256(await readFile(join(cacheDir, 'blobs', 'sha256', blob)))).toBe(blob);
    expect(blobs.length).toBeGreaterThanOrEqual(5); // InRelease, Packages.xz, three .debs
  });

  it('uses the canonical path when the Release does not offer by-hash', async () => {
    const { index } = await load('no-by-hash');
    expect(index.candidates('nb')).toHaveLength(1);
    expect(repo.requests.get('/dists/no-by-hash/main/binary-amd64/Packages.xz')).toBe(1);
  });

  it('refuses a Packages index whose hash differs from the signed Release', async () => {
    await expectCode(load('tampered-packages'), 'DIGEST_MISMATCH', /tampered-packages.*expected sha256/);
  });

  it('refuses a .deb whose hash differs from the index and leaves nothing in the cache', async () => {
    const cacheDir = await mkdtemp(join(work, 'cache-'));
    const { index } = await load('tampered-deb', { cacheDir });
    const pkg = index.candidates('td')[0]!;
    await appendFile(repo.path(pkg.filename), 'tampered');
    await expectCode(
      downloadPackages([pkg], { mirrors: { mirror: repo.url }, cacheDir }),
      'DIGEST_MISMATCH',
      new RegExp(pkg.filename.replace(/[.+]/g, '\\$&')),
    );
    await expect(readFile(join(cacheDir, 'blobs', 'sha256', pkg.sha256))).rejects.toThrow();
  });

  it('refuses an InRelease whose signed text was altered', async () => {
    await expectCode(
      load('bad-signature'),
      'SIGNATURE_INVALID',
      /bad OpenPGP signature.*bad-signature\/InRelease/,
    );
  });

  it('reads only the signed part of InRelease', async () => {
    const { index } = await load('wrapped');
    expect(index.candidates('wr')).toHaveLength(1);
  });

  it('refuses an unsigned InRelease', async () => {
    await expectCode(load('no-signature'), 'SIGNATURE_INVALID', /no-signature\/InRelease/);
  });

  it("refuses another suite's signed Release served for the requested suite", async () => {
    await expectCode(load('replayed'), 'SIGNATURE_INVALID', /signed for suite no-by-hash.*not replayed/);
  });

  it('refuses a Release signed by a key that is not in the keyring', async () => {
    await expectCode(load('good', { keyring: otherKey.keyring }), 'SIGNATURE_INVALID', /unknown key/);
  });

  it('refuses an expired Release, using the clock it is given', async () => {
    await expectCode(load('expired'), 'RELEASE_EXPIRED', /expired\/InRelease expired at/);
    await expectCode(
      load('good', { now: new Date(Date.now() + 30 * 86_400_000) }),
      'RELEASE_EXPIRED',
      /good\/InRelease expired/,
    );
  });

  it('reports a missing index: unknown suite, unlisted architecture, deleted file', async () => {
    await expectCode(load('no-such-suite'), 'INDEX_MISSING', /no-such-suite\/InRelease not found/);
    await expectCode(load('good', { architectures: ['riscv64'] }), 'INDEX_MISSING', /binary-riscv64/);
    await expectCode(load('missing-index'), 'INDEX_MISSING', /missing on the mirror/);
  });
});
