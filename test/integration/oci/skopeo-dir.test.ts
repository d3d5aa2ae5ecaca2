import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Image, Index } from '../../../src/oci/image.js';
import { newIndex } from '../../../src/oci/in-memory.js';
import { openImage, writeImage } from '../../../src/oci/open.js';
import { checkImageConformance } from '../../helpers/conformance.js';
import { makeTestImage } from '../../helpers/oci-fixtures.js';
import { rampart } from '../../helpers/run-cli.js';

// Issue 11 item 1: skopeo's dir: format is an image (read and written), a plain directory a rootfs.
let work: string;
let layout: string;
let image: Image;
let index: Index;

const skopeo = (...args: string[]) => execFileSync('skopeo', args, { encoding: 'utf8' });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-skopeo-dir-'));
  image = await makeTestImage(work, [{ 'etc/a': 'amd\n' }]);
  const arm = await makeTestImage(work, [{ 'etc/a': 'arm\n' }], {
    os: 'linux',
    architecture: 'arm64',
    variant: 'v8',
  });
  index = newIndex([
    { image, platform: { os: 'linux', architecture: 'amd64' } },
    { image: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
  ]);
  layout = join(work, 'layout');
  await writeImage(`oci:${layout}:multi`, index);
  await writeImage(`oci:${layout}:v1`, image);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('skopeo dir: is read as the image it holds', () => {
  it('an index copied with skopeo copy --all', async () => {
    const dir = join(work, 'skopeo-all');
    skopeo('copy', '--all', `oci:${layout}:multi`, `dir:${dir}`);
    const read = await openImage(`dir:${dir}`);
    expect(read.kind).toBe('index');
    expect(read.digest).toBe(index.digest);
    await checkImageConformance(read);
  });

  it('a single image, with its packages visible to the SBOM through its layers', async () => {
    const dir = join(work, 'skopeo-one');
    skopeo('copy', `oci:${layout}:v1`, `dir:${dir}`);
    const read = (await openImage(`dir:${dir}`)) as Image;
    expect(read.kind).toBe('image');
    expect(read.digest).toBe(image.digest);
    expect(read.config.rootfs.diff_ids).toEqual(image.config.rootfs.diff_ids);
    await checkImageConformance(read);
    const inspected = await rampart('inspect', `dir:${dir}`);
    expect(inspected.stdout).toContain(`Digest:      ${image.digest}`);
    expect(inspected.stdout).toContain('skopeo dir: directory');
  });
});

describe('rampart sbom of a skopeo dir: reads the image, not the directory as a rootfs', () => {
  it('finds the package in the image layer', async () => {
    const withDpkg = await makeTestImage(work, [
      {
        'var/lib/dpkg/status':
          'Package: hello\nStatus: install ok installed\nVersion: 2.10-3\nArchitecture: amd64\nMaintainer: x <x@example.test>\nDescription: hi\n\n',
      },
    ]);
    const src = join(work, 'dpkg-layout');
    await writeImage(`oci:${src}:v1`, withDpkg);
    const dir = join(work, 'skopeo-dpkg');
    skopeo('copy', `oci:${src}:v1`, `dir:${dir}`);
    const sbom = await rampart('sbom', `dir:${dir}`, '-o', 'json');
    expect(sbom.code).toBe(0);
    const names = (JSON.parse(sbom.stdout) as { packages: Array<{ name: string }> }).packages.map(
      (p) => p.name,
    );
    expect(names).toContain('hello');
  });
});

describe('rampart writes skopeo dir:', () => {
  it('an index, which skopeo inspects and copies on byte for byte', async () => {
    const dir = join(work, 'ours-all');
    const copied = await rampart('copy', `oci:${layout}:multi`, `dir:${dir}`);
    expect(copied.code).toBe(0);
    expect(skopeo('inspect', '--raw', `dir:${dir}`)).toBe(index.rawManifest.toString('utf8'));
    expect((await readFile(join(dir, 'version'), 'utf8')).trim()).toBe('Directory Transport Version: 1.1');
    const back = join(work, 'back');
    skopeo('copy', '--all', `dir:${dir}`, `oci:${back}:m`);
    const read = await openImage(`oci:${back}:m`);
    expect(read.digest).toBe(index.digest);
    await checkImageConformance(read);
  });

  it('a single image, which skopeo inspects; writing again replaces it and leaves no staging', async () => {
    const dir = join(work, 'ours-one');
    await writeImage(`dir:${dir}`, image);
    await writeImage(`dir:${dir}`, image);
    const inspected = JSON.parse(skopeo('inspect', `dir:${dir}`)) as { Digest: string; Layers: string[] };
    expect(inspected.Digest).toBe(image.digest);
    expect((await readdir(work)).filter((name) => name.startsWith('.'))).toEqual([]);
  });

  it('refuses to replace a directory that is not a skopeo dir', async () => {
    await expect(writeImage(`dir:${layout}`, image)).rejects.toMatchObject({
      code: 'USAGE',
      details: { value: layout },
    });
    expect((await readdir(layout)).sort()).toEqual(['blobs', 'index.json', 'oci-layout']);
  });
});
