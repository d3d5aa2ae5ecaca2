/**
 * `rampart build` from the command line as the catalog README shows it (issue 11 items 2, 5, 8):
 * a multi-arch spec into docker-archive builds the host's architecture and says so, the archive
 * names the image, DEST is positional, -o json=FILE writes the report.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostPlatform, platformToDebianArch } from '../../../src/oci/platform.js';
import { type AptRepo, createAptRepo } from '../../helpers/apt-repo.js';
import { rampart } from '../../helpers/run-cli.js';

let repo: AptRepo;
let dir: string;
let spec: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-build-cli-'));
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
      'variants:',
      '  dev: {run-as: root}',
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  await repo?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('rampart build, as the catalog README shows it', () => {
  it("builds a multi-arch spec into docker-archive for the host's architecture, named after the image", async () => {
    const archive = join(dir, 'base-dev.tar');
    const report = join(dir, 'report.json');
    const { code, stdout, stderr } = await rampart(
      'build',
      spec,
      `docker-archive:${archive}`,
      '--variant',
      'dev',
      '--cache',
      join(dir, 'cache'),
      '-o',
      `json=${report}`,
    );
    expect(code, stderr).toBe(0);
    expect(stdout).toBe('');
    const host = platformToDebianArch(hostPlatform());
    expect(stderr).toContain(
      `rampart build: docker-archive holds one image: building ${host}, the host's architecture`,
    );
    const json = JSON.parse(await readFile(report, 'utf8'));
    expect(json.platforms.map((p: { architecture: string }) => p.architecture)).toEqual([host]);
    const manifest = JSON.parse(
      execFileSync('tar', ['-xOf', archive, 'manifest.json'], { encoding: 'utf8' }),
    );
    expect(manifest[0].RepoTags).toEqual(['base:latest-dev']);
  });

  it('still takes --output oci:… as the destination, with a deprecation warning', async () => {
    const layout = join(dir, 'out', 'base');
    const { code, stderr } = await rampart(
      'build',
      spec,
      '--output',
      `oci:${layout}:latest`,
      '--arch',
      'amd64',
      '--cache',
      join(dir, 'cache'),
      '-q',
    );
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/^warning: --output oci:.* is deprecated/m);
    expect(JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')).manifests).toHaveLength(1);
  });
});
