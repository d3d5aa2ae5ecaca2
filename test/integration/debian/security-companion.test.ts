/**
 * A 404 for the implied `-security` suite of the Debian archive (verified with the Debian
 * keyring) is an error, not a warning: otherwise a man in the middle hides every security fix
 * by answering 404 (review finding 6). Other archives keep the warning. The Debian keyring is
 * played by the test key, at a fixed path standing in for DEFAULT_KEYRING.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LoadRepositoriesOptions, loadRepositories } from '../../../src/debian/repository.js';
import { isRampartError } from '../../../src/errors.js';
import { type AptRepo, createAptRepo } from '../../helpers/apt-repo.js';

const debianKeyring = vi.hoisted(() => `/tmp/rampart-debian-keyring-${process.pid}.gpg`);
vi.mock('../../../src/debian/apt-sources.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../../src/debian/apt-sources.js')>()),
  DEFAULT_KEYRING: debianKeyring,
}));

let work: string;
let repo: AptRepo;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-security-companion-'));
  repo = await createAptRepo([{ name: 'trixie', packages: [{ name: 'hello', version: '1.0-1' }] }], {
    dir: await mkdtemp(join(work, 'repo-')),
  });
  await copyFile(repo.key.keyring, debianKeyring);
});
afterAll(async () => {
  await repo?.close();
  await rm(debianKeyring, { force: true });
  await rm(work, { recursive: true, force: true });
});

async function load(extra: Partial<LoadRepositoriesOptions>) {
  const warnings: string[] = [];
  const result = await loadRepositories({
    suites: ['trixie'],
    architectures: ['amd64'],
    mirror: repo.url,
    keyring: debianKeyring,
    cacheDir: await mkdtemp(join(work, 'cache-')),
    etcApt: '/nonexistent-apt-config',
    warn: (m) => warnings.push(m),
    ...extra,
  }).then(
    (loaded) => ({ loaded, error: undefined }),
    (error: unknown) => ({ loaded: undefined, error }),
  );
  return { ...result, warnings };
}

describe('implied -security of the Debian archive', () => {
  it('refuses a 404 for it with INDEX_MISSING on a fresh cache', async () => {
    const { error } = await load({});
    expect(isRampartError(error, 'INDEX_MISSING'), String(error)).toBe(true);
    expect((error as { details: unknown }).details).toEqual({
      url: `${repo.url}/dists/trixie-security/InRelease`,
      suite: 'trixie-security',
    });
  });

  it('reads only the suite named with updates: false', async () => {
    const { loaded, error, warnings } = await load({ updates: false });
    expect(error).toBeUndefined();
    expect(loaded?.releases.map((r) => r.suite)).toEqual(['trixie']);
    expect(warnings).toEqual([]);
  });

  it("keeps the warning for an archive verified with the caller's own keyring", async () => {
    const { error, warnings } = await load({ keyring: repo.key.keyring });
    expect(error).toBeUndefined();
    expect(warnings.some((w) => w.includes('/dists/trixie-security/InRelease not found'))).toBe(true);
  });
});
