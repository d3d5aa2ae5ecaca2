import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AptRepo,
  createAptRepo,
  createGpgKey,
  disposeGpgKey,
  type GpgKey,
} from '../../helpers/apt-repo.js';

const execFileAsync = promisify(execFile);
const MAIN = resolve('src/cli/main.ts');
let repo: AptRepo;
let work: string;
let stranger: GpgKey;

/** Runs the real CLI entry point in a child process (through tsx, no build needed). */
async function rampart(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = `import(${JSON.stringify(MAIN)}).then(async (m) => { process.exitCode = await m.main(process.argv); })`;
  try {
    const { stdout, stderr } = await execFileAsync(
      'node',
      ['--import', 'tsx', '-e', script, 'rampart', ...args],
      {
        env: { ...process.env, XDG_CACHE_HOME: join(work, 'xdg') },
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-apt-cli-'));
  repo = await createAptRepo([
    {
      name: 'trixie',
      packages: [
        { name: 'app', version: '1.0-1', depends: 'libapp1 (>= 1.0)', source: 'app-src (1.0-1)' },
        { name: 'libapp1', version: '1.1-2', depends: 'app-common' },
        { name: 'app-common', version: '1.0-1', architecture: 'all' },
      ],
    },
  ]);
  stranger = await createGpgKey(work, 'Stranger <s@example.invalid>');
});
afterAll(async () => {
  await repo?.close();
  if (stranger) disposeGpgKey(stranger);
  await rm(work, { recursive: true, force: true });
});

// The local archive has no trixie-updates/-security: read only the suite named.
const repoArgs = () => [
  '--mirror',
  repo.url,
  '--keyring',
  repo.key.keyring,
  '--arch',
  'amd64',
  '--no-updates',
];

describe('rampart apt', () => {
  it('resolve -o json prints the lock, using the XDG cache by default', async () => {
    const { code, stdout } = await rampart('apt', 'resolve', ...repoArgs(), '-o', 'json', 'app');
    expect(code).toBe(0);
    const lock = JSON.parse(stdout) as { packages: Array<Record<string, unknown>> };
    expect(lock.packages.map((p) => p.name)).toEqual(['app', 'app-common', 'libapp1']);
    const app = lock.packages[0]!;
    expect(Object.keys(app)).toEqual([
      'name',
      'version',
      'architecture',
      'source',
      'sourceVersion',
      'suite',
      'filename',
      'size',
      'sha256',
    ]);
    expect(app).toMatchObject({
      version: '1.0-1',
      source: 'app-src',
      sourceVersion: '1.0-1',
      suite: 'trixie',
    });
    const deb = await readFile(repo.path(app.filename as string));
    expect(app.sha256).toBe(createHash('sha256').update(deb).digest('hex'));
    expect(app.size).toBe(deb.length);
    expect(await readdir(join(work, 'xdg', 'rampart'))).toContain('blobs');
  });

  it('resolve prints a table by default', async () => {
    const { code, stdout } = await rampart('apt', 'resolve', ...repoArgs(), 'app');
    expect(code).toBe(0);
    expect(
      stdout
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/)),
    ).toEqual([
      ['PACKAGE', 'VERSION', 'ARCH', 'SUITE'],
      ['app', '1.0-1', 'amd64', 'trixie'],
      ['app-common', '1.0-1', 'all', 'trixie'],
      ['libapp1', '1.1-2', 'amd64', 'trixie'],
    ]);
  });

  it('why prints the chain', async () => {
    const { code, stdout } = await rampart('apt', 'why', ...repoArgs(), 'app-common', '--for', 'app');
    expect(code).toBe(0);
    expect(stdout.trim()).toBe('app -> libapp1 -> app-common');
  });

  it('why explains what to check when the package is not in the closure', async () => {
    const { code, stderr } = await rampart('apt', 'why', ...repoArgs(), 'app', '--for', 'libapp1');
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /^error: app is not in the closure of libapp1; check the name, or add --with-recommends/,
    );
  });

  it('download writes verified .debs into --dir', async () => {
    const dir = join(work, 'debs');
    const { code, stderr } = await rampart('apt', 'download', ...repoArgs(), '--dir', dir, '-j', '2', 'app');
    expect(code).toBe(0);
    expect(stderr).toMatch(/fetched app 1\.0-1 amd64/);
    expect((await readdir(dir)).sort()).toEqual([
      'app-common_1.0-1_all.deb',
      'app_1.0-1_amd64.deb',
      'libapp1_1.1-2_amd64.deb',
    ]);
    // -q: the same work with nothing on stderr.
    const quiet = await rampart('apt', 'download', ...repoArgs(), '--dir', join(work, 'quiet'), '-q', 'app');
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    expect((await readdir(join(work, 'quiet'))).length).toBe(3);
  });

  it('fails with one error line and exit 1 on an untrusted archive', async () => {
    const { code, stderr, stdout } = await rampart(
      'apt',
      'resolve',
      '--mirror',
      repo.url,
      '--keyring',
      stranger.keyring,
      '--cache',
      join(work, 'c2'),
      'app',
    );
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^error: .*InRelease is signed by unknown key/);
  });

  it('reads each suite with its -updates and -security unless --no-updates', async () => {
    const updated = await createAptRepo(
      [
        { name: 'trixie', packages: [{ name: 'libz', version: '1.0-1' }] },
        { name: 'trixie-updates', packages: [{ name: 'libz', version: '1.0-1+deb13u1' }] },
        { name: 'trixie-security', packages: [{ name: 'libz', version: '1.0-1+deb13u2' }] },
      ],
      { dir: await mkdtemp(join(work, 'updated-')) },
    );
    try {
      const args = ['--mirror', updated.url, '--security-mirror', updated.url];
      const all = [...args, '--keyring', updated.key.keyring, '--arch', 'amd64', '--cache', join(work, 'c3')];
      const byDefault = await rampart('apt', 'resolve', ...all, 'libz');
      expect(byDefault.code).toBe(0);
      // The table's first line is its header.
      const rowOf = (stdout: string) => stdout.trim().split('\n').slice(1).join('\n').split(/\s+/);
      expect(rowOf(byDefault.stdout)).toEqual(['libz', '1.0-1+deb13u2', 'amd64', 'trixie-security']);
      const only = await rampart('apt', 'resolve', ...all, '--no-updates', 'libz');
      expect(only.code).toBe(0);
      expect(rowOf(only.stdout)).toEqual(['libz', '1.0-1', 'amd64', 'trixie']);
    } finally {
      await updated.close();
    }
  });

  it('warns, and goes on, when the archive has no -updates or -security companion', async () => {
    const { code, stdout, stderr } = await rampart(
      'apt',
      'resolve',
      '--mirror',
      repo.url,
      '--security-mirror',
      repo.url,
      '--keyring',
      repo.key.keyring,
      '--cache',
      join(work, 'c4'),
      'app',
    );
    expect(code).toBe(0);
    expect(stdout).toMatch(/^app\s+1\.0-1/m);
    const warnings = stderr.trim().split('\n');
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('/dists/trixie-updates/InRelease not found');
    expect(warnings[1]).toContain('/dists/trixie-security/InRelease not found');
  });

  it('exits 2 on a usage error', async () => {
    const { code } = await rampart('apt', 'resolve', '-o', 'yaml', 'app');
    expect(code).toBe(2);
  });
});
