/**
 * A multi-arch build into an OCI layout tags the index (`latest`) and each platform image
 * (`latest-amd64`, `latest-arm64`). umoci 0.4 cannot choose a platform out of an index under one
 * tag — it refuses skopeo's own `copy --all` layouts with "tag is ambiguous" too — so the platform
 * tags are what it unpacks; skopeo reads the index tag as before (issue 11 item 3).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../../src/builder/pipeline.js';
import { type AptRepo, createAptRepo } from '../../helpers/apt-repo.js';
import { runCommand } from '../../helpers/processes.js';

let repo: AptRepo;
let dir: string;
let layout: string;
let digest: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-platform-tags-'));
  repo = await createAptRepo(
    [
      {
        name: 'testing',
        architectures: ['amd64', 'arm64'],
        packages: [
          { name: 'data', version: '1', architecture: 'all', files: { 'usr/share/data/hello': 'hi\n' } },
        ],
      },
    ],
    { dir },
  );
  const specDir = await mkdtemp(join(dir, 'spec-'));
  const specPath = join(specDir, 'multi.yaml');
  await writeFile(
    specPath,
    [
      'name: multi',
      'contents:',
      '  suites: [testing]',
      `  mirror: ${repo.url}`,
      `  keyring: ${repo.key.keyring}`,
      '  packages: [data]',
      'archs: [amd64, arm64]',
      '',
    ].join('\n'),
  );
  layout = join(dir, 'out');
  const result = await buildImage({
    specPath,
    output: `oci:${layout}:latest`,
    cacheDir: join(dir, 'cache'),
    etcApt: '/nonexistent-apt-config',
  });
  digest = result.digest;
});

afterAll(async () => {
  await repo?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('platform tags of a multi-arch layout', () => {
  it('index.json lists the index under latest and each platform image under latest-<arch>', async () => {
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
      manifests: Array<{
        digest: string;
        platform?: { architecture: string };
        annotations?: Record<string, string>;
      }>;
    };
    const byTag = Object.fromEntries(
      index.manifests.map((m) => [m.annotations?.['org.opencontainers.image.ref.name'], m]),
    );
    expect(Object.keys(byTag).sort()).toEqual(['latest', 'latest-amd64', 'latest-arm64']);
    expect(byTag.latest?.digest).toBe(digest);
    expect(byTag['latest-arm64']?.platform?.architecture).toBe('arm64');
  });

  it('umoci unpacks each platform tag, and skopeo reads the index tag', async () => {
    for (const arch of ['amd64', 'arm64']) {
      const bundle = join(dir, `bundle-${arch}`);
      const unpack = await runCommand('umoci', ['unpack', '--image', `${layout}:latest-${arch}`, bundle]);
      expect(unpack.exitCode, unpack.stderr).toBe(0);
      expect(await readFile(join(bundle, 'rootfs/usr/share/data/hello'), 'utf8')).toBe('hi\n');
    }
    const raw = await runCommand('skopeo', ['inspect', '--raw', `oci:${layout}:latest`]);
    expect(raw.exitCode, raw.stderr).toBe(0);
    expect(JSON.parse(raw.stdout).manifests).toHaveLength(2);
    const arm = await runCommand('skopeo', ['inspect', `oci:${layout}:latest-arm64`]);
    expect(arm.exitCode, arm.stderr).toBe(0);
    expect(JSON.parse(arm.stdout).Architecture).toBe('arm64');
  });
});
