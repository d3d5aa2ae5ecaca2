/**
 * inspect and copy as a new user meets them (issue 11 items 5 and 8): aligned platform columns,
 * dir: summarised without packing the tree, the platform copy took from an index, -o json.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newIndex } from '../../../src/oci/in-memory.js';
import { openImage, writeImage } from '../../../src/oci/open.js';
import { hostPlatform } from '../../../src/oci/platform.js';
import { makeTestImage } from '../../helpers/oci-fixtures.js';
import { rampart } from '../../helpers/run-cli.js';

let work: string;
let layout: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-cli-usability-'));
  const amd = await makeTestImage(work, [{ 'etc/hello': 'amd\n' }]);
  const arm = await makeTestImage(work, [{ 'etc/hello': 'arm\n' }], {
    os: 'linux',
    architecture: 'arm64',
    variant: 'v8',
  });
  layout = join(work, 'layout');
  await writeImage(
    `oci:${layout}:multi`,
    newIndex([
      { image: amd, platform: { os: 'linux', architecture: 'amd64' } },
      { image: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ]),
  );
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('inspect', () => {
  it('aligns the digest column whatever the platform names (linux/arm64/v8)', async () => {
    const { code, stdout } = await rampart('inspect', `oci:${layout}:multi`);
    expect(code).toBe(0);
    const rows = stdout.split('\n').filter((line) => /^ {2}linux\//.test(line));
    expect(rows).toHaveLength(2);
    const columns = rows.map((row) => row.indexOf('sha256:'));
    expect(new Set(columns).size).toBe(1);
  });

  it('writes -o json=FILE', async () => {
    const file = join(work, 'inspect.json');
    const { code, stdout } = await rampart('inspect', '-o', `json=${file}`, `oci:${layout}:multi`);
    expect(code).toBe(0);
    expect(stdout).toBe('');
    expect(JSON.parse(await readFile(file, 'utf8')).manifests).toHaveLength(2);
  });

  it('summarises a dir: root from one walk, packing nothing', async () => {
    const root = join(work, 'rootfs');
    await mkdir(join(root, 'etc'), { recursive: true });
    await writeFile(join(root, 'etc', 'a'), 'x'.repeat(3000));
    await writeFile(join(root, 'etc', 'b'), 'y');
    const scratch = join(work, 'tmp');
    await mkdir(scratch);
    const previous = process.env.TMPDIR;
    process.env.TMPDIR = scratch;
    try {
      const { code, stdout } = await rampart('inspect', '-o', 'json', `dir:${root}`);
      expect(code).toBe(0);
      expect(JSON.parse(stdout)).toEqual({
        reference: `dir:${root}`,
        kind: 'rootfs',
        platform: [hostPlatform().os, hostPlatform().architecture, hostPlatform().variant]
          .filter(Boolean)
          .join('/'),
        entries: { files: 2, directories: 1, symlinks: 0, hardlinks: 0 },
        size: 3001,
      });
      // No layer was staged: building one would have gone through a temp dir.
      expect(await readdir(scratch)).toEqual([]);
      const text = await rampart('inspect', `dir:${root}`);
      expect(text.stdout).toMatch(/^Kind: +root filesystem directory/m);
      // --raw asks for the manifest, so it is computed.
      const raw = await rampart('inspect', '--raw', `dir:${root}`);
      expect(JSON.parse(raw.stdout).layers).toHaveLength(1);
    } finally {
      if (previous === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = previous;
    }
  });
});

describe('copy', () => {
  it('says which platform of an index it put into a docker-archive', async () => {
    const archive = join(work, 'one.tar');
    const { code, stdout } = await rampart('copy', `oci:${layout}:multi`, `docker-archive:${archive}`);
    expect(code).toBe(0);
    const host = hostPlatform().architecture === 'arm64' ? 'linux/arm64/v8' : 'linux/amd64';
    expect(stdout).toMatch(new RegExp(`^Platform: ${host} of index sha256:`, 'm'));
    const loaded = JSON.parse(
      execFileSync('tar', ['-xOf', archive, 'manifest.json'], { encoding: 'utf8' }),
    ) as Array<{ Config: string }>;
    expect(loaded).toHaveLength(1);
  });

  it('prints -o json with the platform taken', async () => {
    const archive = join(work, 'arm.tar');
    const { code, stdout } = await rampart(
      'copy',
      '-o',
      'json',
      '--platform',
      'linux/arm64',
      `oci:${layout}:multi`,
      `docker-archive:${archive}`,
    );
    expect(code).toBe(0);
    const json = JSON.parse(stdout);
    // The shape, plus sourceDigest: the index the platform was taken from.
    expect(Object.keys(json)).toEqual([
      'source',
      'destination',
      'digest',
      'platforms',
      'attachments',
      'bytes',
      'sourceDigest',
    ]);
    expect(json).toMatchObject({
      source: `oci:${layout}:multi`,
      destination: `docker-archive:${archive}`,
      platforms: ['linux/arm64/v8'],
      attachments: [],
      sourceDigest: (await openImage(`oci:${layout}:multi`)).digest,
    });
    expect(json.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(json.digest).not.toBe(json.sourceDigest);
    expect(Object.keys(json.bytes)).toEqual(['pushed', 'skipped', 'mounted']);
  });

  it('copies an index whole to oci: with no platform line', async () => {
    const { code, stdout } = await rampart('copy', `oci:${layout}:multi`, `oci:${join(work, 'copy')}:m`);
    expect(code).toBe(0);
    expect(stdout).not.toMatch(/^Platform:/m);
  });
});
