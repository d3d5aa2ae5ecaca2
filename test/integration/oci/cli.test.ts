import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Image } from '../../../src/oci/image.js';
import { newIndex } from '../../../src/oci/in-memory.js';
import { writeImage } from '../../../src/oci/open.js';
import { makeTestImage } from '../../helpers/oci-fixtures.js';
import { rampart } from '../../helpers/run-cli.js';

let work: string;
let image: Image;
let arm: Image;
let layout: string;

const skopeoDigest = (ref: string) =>
  execFileSync('skopeo', ['inspect', '--format', '{{.Digest}}', ref], { encoding: 'utf8' }).trim();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-oci-cli-'));
  image = await makeTestImage(work, [{ 'etc/hello': 'hello\n' }]);
  arm = await makeTestImage(work, [{ 'etc/hello': 'arm\n' }], {
    os: 'linux',
    architecture: 'arm64',
    variant: 'v8',
  });
  layout = join(work, 'layout');
  await writeImage(`oci:${layout}:v1`, image);
  await writeImage(
    `oci:${layout}:multi`,
    newIndex([
      { image, platform: { os: 'linux', architecture: 'amd64' } },
      { image: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ]),
  );
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('rampart inspect', () => {
  it('prints the exact JSON shape', async () => {
    const { code, stdout } = await rampart('inspect', '-o', 'json', `oci:${layout}:v1`);
    expect(code).toBe(0);
    const json = JSON.parse(stdout);
    expect(Object.keys(json)).toEqual(['reference', 'digest', 'mediaType', 'config', 'layers']);
    expect(json.digest).toBe(skopeoDigest(`oci:${layout}:v1`));
    expect(json.config).toMatchObject({
      user: '65532:65532',
      entrypoint: ['/bin/app'],
      cmd: ['--serve'],
      env: ['PATH=/usr/bin:/bin'],
      workdir: '/home',
      labels: { 'org.example': 'yes' },
      created: '2024-01-01T00:00:00Z',
    });
    expect(json.layers).toEqual([
      {
        digest: image.layers[0]?.descriptor.digest,
        size: image.layers[0]?.descriptor.size,
        diffID: image.config.rootfs.diff_ids[0],
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      },
    ]);
  });

  it('lists an index and shows the --platform image', async () => {
    const { stdout } = await rampart(
      'inspect',
      '-o',
      'json',
      '--platform',
      'linux/arm64',
      `oci:${layout}:multi`,
    );
    const json = JSON.parse(stdout);
    expect(json.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(json.manifests).toEqual([
      { digest: image.digest, platform: 'linux/amd64' },
      { digest: arm.digest, platform: 'linux/arm64/v8' },
    ]);
    expect(json.layers[0].diffID).toBe(arm.config.rootfs.diff_ids[0]);
  });

  it('text output, --raw and --config', async () => {
    const text = await rampart('inspect', `oci:${layout}:v1`);
    expect(text.stdout).toContain(`Digest:      ${image.digest}`);
    expect(text.stdout).toMatch(/Layers \(1, .* total\)/);
    const raw = await rampart('inspect', '--raw', `oci:${layout}:v1`);
    expect(raw.stdout).toBe(
      execFileSync('skopeo', ['inspect', '--raw', `oci:${layout}:v1`], { encoding: 'utf8' }),
    );
    const config = await rampart('inspect', '--config', `oci:${layout}:v1`);
    expect(config.stdout).toBe(image.rawConfig.toString('utf8'));
  });

  it('errors are one line, exit 1; usage errors exit 2', async () => {
    const missing = await rampart('inspect', `oci:${layout}:nope`);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: .*no tag 'nope'.*\n$/);
    const bad = await rampart('inspect', '-o', 'yaml', `oci:${layout}:v1`);
    expect(bad.code).toBe(2);
    const platform = await rampart('inspect', '--platform', 'linux', `oci:${layout}:v1`);
    expect(platform.code).toBe(2);
    const reference = await rampart('inspect', 'Not/A:Reference:');
    expect(reference.code).toBe(2);
    expect(reference.stderr).toMatch(/^error: invalid image reference 'Not\/A:Reference:'.*\n$/);
  });

  it('help shows an example', async () => {
    const { stdout } = await rampart('inspect', '--help');
    expect(stdout).toContain('$ rampart inspect oci:');
  });
});

describe('rampart copy', () => {
  it('oci -> oci-archive -> docker-archive -> oci', async () => {
    const archive = join(work, 'copy.oci.tar');
    const first = await rampart('copy', `oci:${layout}:multi`, `oci-archive:${archive}:multi`);
    expect(first.code).toBe(0);
    expect(skopeoDigest(`oci-archive:${archive}:multi`)).toBe(skopeoDigest(`oci:${layout}:multi`));
    const docker = join(work, 'copy.docker.tar');
    const second = await rampart(
      'copy',
      '--platform',
      'linux/arm64',
      `oci-archive:${archive}:multi`,
      `docker-archive:${docker}:app:1`,
    );
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('manifest digest differs');
    const back = join(work, 'back');
    expect((await rampart('copy', `docker-archive:${docker}`, `oci:${back}:arm`)).code).toBe(0);
    const json = JSON.parse((await rampart('inspect', '-o', 'json', `oci:${back}:arm`)).stdout);
    expect(json.config.platform).toBe('linux/arm64/v8');
    expect(json.layers[0].digest).toBe(arm.config.rootfs.diff_ids[0]);
    expect(json.digest).toBe(skopeoDigest(`oci:${back}:arm`));
  });

  it('refuses a dir: destination that is not a skopeo dir; an unreachable registry writes nothing', async () => {
    const before = await readdir(work);
    const dir = await rampart('copy', `oci:${layout}:v1`, `dir:${layout}`);
    expect(dir.code).toBe(2);
    // A registry destination that does not answer fails, and nothing is written locally.
    const registry = await rampart('copy', `oci:${layout}:v1`, 'docker://127.0.0.1:9/x:1', '--insecure');
    expect(registry.code).not.toBe(0);
    expect(await readdir(work)).toEqual(before);
  });

  it('help explains digests and docker-archive platform choice', async () => {
    const { stdout } = await rampart('copy', '--help');
    expect(stdout).toContain('diff_ids are preserved');
    expect(stdout).toContain('--platform');
    expect(stdout).toContain('$ rampart copy oci:');
  });
});
