/**
 * Against the real Debian archive (the host's apt configuration): a suite is read with its
 * -updates and -security suites by default, so packages fixed there (krb5, libzstd) resolve to
 * their `+deb13uN` version, as on a Debian host; `--no-updates` reads the suite alone.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LoadedRepositories } from '../../../src/debian/repository.js';
import { loadRepositories } from '../../../src/debian/repository.js';
import { resolvePackageClosure } from '../../../src/debian/resolver.js';
import { compareVersions } from '../../../src/debian/version.js';

const execFileAsync = promisify(execFile);
const MAIN = resolve('src/cli/main.ts');
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
const FIXED = ['libkrb5-3', 'libgssapi-krb5-2', 'libzstd1'];

async function rampart(...args: string[]): Promise<string> {
  const script = `import(${JSON.stringify(MAIN)}).then(async (m) => { process.exitCode = await m.main(process.argv); })`;
  const { stdout } = await execFileAsync('node', ['--import', 'tsx', '-e', script, 'rampart', ...args], {
    maxBuffer: 16 << 20,
  });
  return stdout;
}

let loaded: LoadedRepositories;
beforeAll(async () => {
  // The default cache: e2e runs share downloads.
  loaded = await loadRepositories({ suites: ['trixie'], architectures: ['amd64'], keyring: KEYRING });
});

describe('trixie with its -updates and -security by default', () => {
  it('reads trixie, trixie-updates and trixie-security', () => {
    expect(loaded.releases.map((r) => r.suite)).toEqual(['trixie', 'trixie-updates', 'trixie-security']);
  });

  it('resolves krb5 and libzstd to their +deb13uN update, the newest of the three suites', () => {
    const resolution = resolvePackageClosure(loaded.index, { packages: ['curl'], architecture: 'amd64' });
    for (const name of FIXED) {
      const picked = resolution.packages.find((p) => p.name === name);
      expect(picked, name).toBeDefined();
      expect(picked?.version, name).toMatch(/\+deb13u\d+$/);
      expect(['trixie-security', 'trixie-updates'], name).toContain(picked?.suite);
      const newest = loaded.index
        .candidates(name)
        .filter((p) => p.architecture === 'amd64')
        .map((p) => p.version)
        .sort(compareVersions)
        .at(-1);
      expect(picked?.version, name).toBe(newest);
    }
  });

  it('rampart apt resolve curl picks the update; --no-updates the trixie release', async () => {
    const lock = (text: string) =>
      new Map(
        (
          JSON.parse(text) as { packages: Array<{ name: string; version: string; suite: string }> }
        ).packages.map((p) => [p.name, p]),
      );
    const updated = lock(await rampart('apt', 'resolve', '--arch', 'amd64', '-o', 'json', 'curl'));
    const plain = lock(
      await rampart('apt', 'resolve', '--arch', 'amd64', '--no-updates', '-o', 'json', 'curl'),
    );
    for (const name of FIXED) {
      expect(updated.get(name)?.version, name).toMatch(/\+deb13u\d+$/);
      expect(plain.get(name)?.suite, name).toBe('trixie');
      expect(compareVersions(updated.get(name)!.version, plain.get(name)!.version), name).toBeGreaterThan(0);
    }
  });
});
