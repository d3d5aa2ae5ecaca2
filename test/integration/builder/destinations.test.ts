import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage } from '../../../src/oci/open.js';
import { makeTestImage } from '../../helpers/oci-fixtures.js';
import { spawnTracked, stopAllTracked } from '../../helpers/processes.js';

/**
 * Issue 10 item 9: a read-only output reported `ENOENT … mkdir`, and `build --sbom` to a read-only
 * folder wrote the image and failed afterwards. Every destination is now checked before the work
 * starts. A real read-only tmpfs is mounted in a private mount namespace (we run as root, so file
 * modes would not stop a write); a local mirror counts the requests a build makes.
 */
const repo = join(import.meta.dirname, '../../..');
let work: string;
let source: string;
/** An image of about 4 MiB (incompressible), more than the 2 MiB disk holds. */
let big: string;
let server: Server;
let requests = 0;
let mirror: string;

function canMountPrivately(): boolean {
  return (
    spawnSync('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs -o size=16k tmpfs /mnt'], { timeout: 10_000 })
      .status === 0
  );
}
const mountable = process.platform === 'linux' && canMountPrivately();

beforeAll(async () => {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: repo, stdio: 'pipe' });
  work = mkdtempSync(join(tmpdir(), 'rampart-destinations-'));
  source = `oci:${join(work, 'source')}:t`;
  await writeImage(source, await makeTestImage(work, [{ 'etc/a': 'a\n' }]));
  big = `oci:${join(work, 'big')}:t`;
  await writeImage(
    big,
    await makeTestImage(work, [{ 'usr/share/big': randomBytes(3 * 1024 * 1024).toString('base64') }]),
  );
  writeFileSync(
    join(work, 'spec.yaml'),
    'name: x\ncontents:\n  suites: [trixie]\n  packages: [tzdata]\narchs: [amd64]\n',
  );
  writeFileSync(join(work, 'a-file'), 'not a directory\n');
  server = createServer((_req, res) => {
    requests++;
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  mirror = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/debian`;
}, 120_000);
afterAll(async () => {
  await stopAllTracked();
  await new Promise((done) => server?.close(done));
  rmSync(work, { recursive: true, force: true });
});

/** Runs the CLI in a private mount namespace where `ro` is a read-only tmpfs. */
async function inNamespace(ro: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawnTracked('unshare', [
    '-m',
    'sh',
    '-c',
    'mkdir -p "$1" && mount -t tmpfs -o ro,size=64k tmpfs "$1" && shift && exec "$@"',
    'sh',
    ro,
    process.execPath,
    join(repo, 'bin/rampart.js'),
    ...args,
  ]);
  const { code } = await child.exited;
  return { code, stderr: child.output().stderr };
}

function errorCode(stderr: string): string | undefined {
  const line = stderr.trim().split('\n');
  if (line.length !== 1) return `not one line: ${stderr}`;
  return (JSON.parse(line[0]?.replace(/^error: /, '') ?? '{}') as { error?: { code?: string } }).error?.code;
}

/**
 * Runs the CLI in a private mount namespace where `full` is a 2 MiB tmpfs; returns what is left on
 * it afterwards (listed inside: the mount is gone with the namespace).
 */
async function onSmallDisk(
  full: string,
  args: string[],
): Promise<{ code: number | null; stderr: string; left: string[] }> {
  const child = spawnTracked('unshare', [
    '-m',
    'sh',
    '-c',
    'mkdir -p "$1" && mount -t tmpfs -o size=2m tmpfs "$1" && d="$1" && shift && "$@" >/dev/null; rc=$?; ls -A "$d"; exit $rc',
    'sh',
    full,
    process.execPath,
    join(repo, 'bin/rampart.js'),
    ...args,
  ]);
  const { code } = await child.exited;
  const { stdout, stderr } = child.output();
  return { code, stderr, left: stdout.split('\n').filter(Boolean) };
}

describe.runIf(mountable)('destinations are checked before the work starts', () => {
  it('copy to a read-only file system: one line, READ_ONLY_FILESYSTEM, for every transport', async () => {
    const ro = join(work, 'ro-copy');
    for (const dest of [
      `oci:${ro}/layout:t`,
      `oci:${ro}/new/dir/layout:t`,
      `oci-archive:${ro}/image.tar`,
      `docker-archive:${ro}/new/image.tar:x:1`,
      `dir:${ro}/skopeo`,
    ]) {
      const { code, stderr } = await inNamespace(ro, ['copy', '-o', 'json', source, dest]);
      expect([dest, code, errorCode(stderr)]).toEqual([dest, 1, 'READ_ONLY_FILESYSTEM']);
    }
  }, 120_000);

  it('copy below a file: NOT_FOUND, one line', async () => {
    const { code, stderr } = await inNamespace(join(work, 'ro-unused'), [
      'copy',
      '-o',
      'json',
      source,
      `oci:${join(work, 'a-file', 'layout')}:t`,
    ]);
    expect([code, errorCode(stderr)]).toEqual([1, 'NOT_FOUND']);
  });

  it('build to a read-only output or with --sbom to a read-only folder fails before any download', async () => {
    const ro = join(work, 'ro-build');
    const spec = join(work, 'spec.yaml');
    const common = ['--mirror', mirror, '--cache', join(work, 'cache'), '-o', 'json'];
    // The control: with writable destinations the build does reach the mirror.
    requests = 0;
    const control = await inNamespace(ro, ['build', spec, `oci:${join(work, 'out-control')}:t`, ...common]);
    expect(control.code).not.toBe(0);
    expect(requests).toBeGreaterThan(0);

    requests = 0;
    const output = await inNamespace(ro, ['build', spec, `oci:${ro}/out:t`, ...common]);
    expect([output.code, errorCode(output.stderr), requests]).toEqual([1, 'READ_ONLY_FILESYSTEM', 0]);

    const writable = join(work, 'out-sbom');
    mkdirSync(writable);
    const sbom = await inNamespace(ro, [
      'build',
      spec,
      `oci:${writable}/layout:t`,
      '--sbom',
      `${ro}/sbom`,
      ...common,
    ]);
    expect([sbom.code, errorCode(sbom.stderr), requests]).toEqual([1, 'READ_ONLY_FILESYSTEM', 0]);
    expect(readdirSync(writable)).toEqual([]);
  }, 120_000);

  it('an existing layout mounted writable under a read-only parent still takes a tag (its lock goes inside)', async () => {
    const parent = join(work, 'ro-parent');
    const cli = `"${process.execPath}" "${join(repo, 'bin/rampart.js')}"`;
    const child = spawnTracked('unshare', [
      '-m',
      'sh',
      '-c',
      `set -e; mkdir -p "$1"; mount -t tmpfs tmpfs "$1"; ${cli} copy "$2" "oci:$1/layout:a" >/dev/null; mount --bind "$1/layout" "$1/layout"; mount -o remount,bind,ro "$1"; ${cli} copy "$2" "oci:$1/layout:b" >/dev/null; cat "$1/layout/index.json"; ls -A "$1" "$1/layout"`,
      'sh',
      parent,
      source,
    ]);
    const { code } = await child.exited;
    const { stdout, stderr } = child.output();
    expect([code, stderr]).toEqual([0, '']);
    const index = JSON.parse(stdout.slice(0, stdout.indexOf('\n'))) as {
      manifests: Array<{ annotations?: Record<string, string> }>;
    };
    expect(index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'])).toEqual([
      'a',
      'b',
    ]);
    expect(stdout).not.toContain('rampart-lock');
  });

  it('copy to a full disk: one line NO_SPACE and nothing half-written, for every transport', async () => {
    const full = join(work, 'full');
    for (const dest of [
      `oci:${full}/layout:t`,
      `oci-archive:${full}/image.tar`,
      `docker-archive:${full}/image.tar:x:1`,
      `dir:${full}/skopeo`,
    ]) {
      const { code, stderr, left } = await onSmallDisk(full, ['copy', '-o', 'json', big, dest]);
      expect([dest, code, errorCode(stderr), left]).toEqual([dest, 1, 'NO_SPACE', []]);
    }
  }, 120_000);
});
