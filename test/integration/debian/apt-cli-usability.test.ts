/**
 * The apt commands as a new user meets them (issue 11 items 2, 5 and 8): a header on the resolve
 * table, -o json on why and download, MiB, and an --exclude error that names only the options the
 * apt commands have.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AptRepo, createAptRepo } from '../../helpers/apt-repo.js';

const execFileAsync = promisify(execFile);
const MAIN = resolve('src/cli/main.ts');
let repo: AptRepo;
let work: string;

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
  work = await mkdtemp(join(tmpdir(), 'rampart-apt-usability-'));
  repo = await createAptRepo([
    {
      name: 'trixie',
      packages: [
        {
          name: 'app',
          version: '1.0-1',
          depends: 'libapp1 (>= 1.0)',
          files: { 'usr/bin/app': 'x'.repeat(4096) },
        },
        { name: 'libapp1', version: '1.1-2', depends: 'app-common' },
        { name: 'app-common', version: '1.0-1', architecture: 'all' },
      ],
    },
  ]);
});
afterAll(async () => {
  await repo?.close();
  await rm(work, { recursive: true, force: true });
});

const repoArgs = () => ['--mirror', repo.url, '--keyring', repo.key.keyring, '--arch', 'amd64'];

describe('rampart apt, as documented', () => {
  it('resolve prints a table with a header', async () => {
    const { code, stdout } = await rampart('apt', 'resolve', ...repoArgs(), 'app');
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^PACKAGE +VERSION +ARCH +SUITE$/);
    expect(lines).toHaveLength(4);
    // Every row starts its VERSION column where the header does.
    const column = lines[0]!.indexOf('VERSION');
    for (const line of lines.slice(1)) expect(line[column - 1]).toBe(' ');
  });

  it('why -o json gives the chain', async () => {
    const { code, stdout } = await rampart(
      'apt',
      'why',
      ...repoArgs(),
      '-o',
      'json',
      'app-common',
      '--for',
      'app',
    );
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      package: 'app-common',
      for: ['app'],
      chain: ['app', 'libapp1', 'app-common'],
    });
  });

  it('download -o json lists the verified files; the text summary is in MiB', async () => {
    const dir = join(work, 'debs');
    const json = await rampart('apt', 'download', ...repoArgs(), '--dir', dir, '-q', '-o', 'json', 'app');
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as {
      dir: string;
      size: number;
      files: Array<{ package: string; path: string; sha256: string; size: number }>;
    };
    expect(report.files.map((f) => f.package).sort()).toEqual(['app', 'app-common', 'libapp1']);
    for (const file of report.files) expect((await readFile(file.path)).length).toBe(file.size);
    expect(report.size).toBe(report.files.reduce((n, f) => n + f.size, 0));
    const text = await rampart('apt', 'download', ...repoArgs(), '--dir', dir, 'app');
    expect(text.code).toBe(0);
    expect(text.stderr).toMatch(/^3 packages \([\d.]+ (B|KiB|MiB)\) verified in /m);
    expect(text.stderr).not.toMatch(/\bMB\b/);
  });

  it('--exclude of a needed package points at --exclude, not at a skip option apt does not have', async () => {
    const { code, stderr } = await rampart('apt', 'resolve', ...repoArgs(), '--exclude', 'libapp1', 'app');
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error: excluded package libapp1 is required/m);
    expect(stderr).not.toMatch(/skip/);
  });
});
