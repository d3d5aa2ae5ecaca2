/**
 * `rampart build SPEC docker://REG/REPO:TAG` pushes the whole index to a real docker-registry
 * (anonymous, plain HTTP on 127.0.0.1); a build into an OCI layout from the same lock gives the
 * same digests, and skopeo reads what was pushed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImage } from '../../../src/oci/open.js';
import { type AptRepo, createAptRepo } from '../../helpers/apt-repo.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { rampart } from '../../helpers/run-cli.js';

let repo: AptRepo;
let registry: TestRegistry;
let dir: string;
let spec: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-build-push-'));
  registry = await startRegistry();
  repo = await createAptRepo(
    [
      {
        name: 'testing',
        architectures: ['amd64', 'arm64'],
        packages: [
          {
            name: 'base-files',
            version: '13.8',
            architecture: 'all',
            files: { 'usr/lib/os-release': 'ID=debian\n', 'usr/share/doc/base-files/copyright': 'x\n' },
          },
        ],
      },
    ],
    { dir },
  );
  spec = join(dir, 'base.yaml');
  await writeFile(
    spec,
    [
      'name: base',
      'contents:',
      '  suites: [testing]',
      `  mirror: ${repo.url}`,
      `  keyring: ${repo.key.keyring}`,
      '  packages: [base-files]',
      'archs: [amd64, arm64]',
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  await repo?.close();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('rampart build to docker://', () => {
  it('pushes the whole index; the same lock into oci: gives the same digest', async () => {
    const target = `docker://${registry.host}/built/base:1`;
    const env = { SOURCE_DATE_EPOCH: '1700000000' };
    const previous = process.env.SOURCE_DATE_EPOCH;
    process.env.SOURCE_DATE_EPOCH = env.SOURCE_DATE_EPOCH;
    try {
      const pushed = await rampart(
        'build',
        spec,
        target,
        '--cache',
        join(dir, 'cache'),
        '-q',
        '-o',
        'json',
        '--insecure',
      );
      expect(pushed.code, pushed.stderr).toBe(0);
      const report = JSON.parse(pushed.stdout) as { digest: string; platforms: Array<{ digest: string }> };
      expect(report.platforms).toHaveLength(2);
      const local = await rampart(
        'build',
        spec,
        `oci:${join(dir, 'layout')}:1`,
        '--locked',
        '--cache',
        join(dir, 'cache'),
        '-q',
        '-o',
        'json',
      );
      expect(local.code, local.stderr).toBe(0);
      expect(JSON.parse(local.stdout).digest).toBe(report.digest);
      // What the registry serves under the tag is the index, byte for byte as the layout holds it.
      const raw = execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', target], {
        maxBuffer: 1 << 24,
      });
      expect(raw).toEqual((await openImage(`oci:${join(dir, 'layout')}:1`)).rawManifest);
      const remote = await openImage(target, { registry: { insecure: true } });
      expect(remote.kind).toBe('index');
      expect(remote.digest).toBe(report.digest);
      // The build record went beside the spec (a registry holds none).
      const record = JSON.parse(await readFile(join(dir, 'base.build.json'), 'utf8'));
      expect(JSON.stringify(record)).toContain(report.digest);
    } finally {
      if (previous === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = previous;
    }
  });

  it('shows the push as copy does: the plan and a line per blob (a bar on a terminal); a local build shows none', async () => {
    const progressOf = (stderr: string) =>
      stderr.split('\n').filter((line) => /^rampart build: (copying \d+ blobs|\[\d+\/\d+\] )/.test(line));
    const first = await rampart(
      'build',
      spec,
      `docker://${registry.host}/built/progress:1`,
      '--cache',
      join(dir, 'cache'),
      '--insecure',
    );
    expect(first.code, first.stderr).toBe(0);
    const lines = progressOf(first.stderr);
    const blobs = Number(/copying (\d+) blobs/.exec(lines[0] ?? '')?.[1]);
    // Two platforms: two configs and their layers.
    expect(blobs).toBeGreaterThanOrEqual(3);
    expect(lines).toHaveLength(blobs + 1);
    expect(lines.slice(1).every((line) => / copied sha256:[0-9a-f]{12}/.test(line))).toBe(true);
    // The same build again: every blob is already there.
    const again = await rampart(
      'build',
      spec,
      `docker://${registry.host}/built/progress:2`,
      '--cache',
      join(dir, 'cache'),
      '--insecure',
    );
    expect(again.code, again.stderr).toBe(0);
    expect(
      progressOf(again.stderr)
        .slice(1)
        .every((line) => / already there sha256:/.test(line)),
    ).toBe(true);
    const quiet = await rampart(
      'build',
      spec,
      `docker://${registry.host}/built/progress:3`,
      '--cache',
      join(dir, 'cache'),
      '--insecure',
      '-q',
    );
    expect([quiet.code, quiet.stderr]).toEqual([0, '']);
    const local = await rampart(
      'build',
      spec,
      `oci:${join(dir, 'progress-layout')}:1`,
      '--cache',
      join(dir, 'cache'),
    );
    expect(local.code, local.stderr).toBe(0);
    expect(progressOf(local.stderr)).toEqual([]);
  });
});
