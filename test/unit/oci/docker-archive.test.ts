import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Image } from '../../../src/oci/image.js';
import { openImage } from '../../../src/oci/open.js';
import { checkImageConformance } from '../../helpers/conformance.js';
import { makeTar } from '../../helpers/oci-fixtures.js';

let work: string;
const sha256 = (bytes: Buffer | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-docker-archive-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('legacy docker save archives', () => {
  it('reads <id>/layer.tar paths, gzip layers and layer symlinks', async () => {
    const tar1 = await makeTar({ 'etc/one': '1\n' });
    const tar2 = await makeTar({ 'etc/two': '2\n' });
    const root = join(work, 'legacy');
    await mkdir(join(root, 'l1'), { recursive: true });
    await mkdir(join(root, 'l2'));
    await mkdir(join(root, 'l3'));
    await writeFile(join(root, 'l1', 'layer.tar'), gzipSync(tar1));
    await writeFile(join(root, 'l2', 'layer.tar'), tar2);
    await symlink('../l2/layer.tar', join(root, 'l3', 'layer.tar'));
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: [sha256(tar1), sha256(tar2)] },
    });
    const configName = `${sha256(config).slice(7)}.json`;
    await writeFile(join(root, configName), config);
    await writeFile(
      join(root, 'manifest.json'),
      JSON.stringify([
        { Config: configName, RepoTags: ['legacy:1'], Layers: ['l1/layer.tar', 'l3/layer.tar'] },
      ]),
    );
    await writeFile(join(root, 'repositories'), JSON.stringify({ legacy: { '1': 'l3' } }));
    const archive = join(work, 'legacy.tar');
    execFileSync('tar', ['-cf', archive, '-C', root, '.']);

    const image = (await openImage(`docker-archive:${archive}:legacy:1`)) as Image;
    expect(image.manifest.config.digest).toBe(sha256(config));
    expect(image.layers.map((l) => l.descriptor.digest)).toEqual([sha256(gzipSync(tar1)), sha256(tar2)]);
    await checkImageConformance(image);
  });

  it('follows a layer symlink to a name starting with two dots, refuses one leaving the archive', async () => {
    const layer = await makeTar({ 'etc/x': 'x\n' });
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [sha256(layer)] },
    });
    const archiveWith = async (name: string, linkTarget: string): Promise<string> => {
      const tar = pack();
      tar.entry({ name: 'manifest.json' }, JSON.stringify([{ Config: 'c.json', Layers: ['l/layer.tar'] }]));
      tar.entry({ name: 'c.json' }, config);
      tar.entry({ name: '..data/layer.tar' }, layer);
      tar.entry({ name: 'l/layer.tar', type: 'symlink', linkname: linkTarget });
      tar.finalize();
      const chunks: Buffer[] = [];
      for await (const chunk of tar) chunks.push(chunk as Buffer);
      const file = join(work, name);
      await writeFile(file, Buffer.concat(chunks));
      return file;
    };
    const good = (await openImage(
      `docker-archive:${await archiveWith('dots.tar', '../..data/layer.tar')}`,
    )) as Image;
    await checkImageConformance(good);
    await expect(
      openImage(`docker-archive:${await archiveWith('out.tar', '../../..data/layer.tar')}`),
    ).rejects.toMatchObject({ code: 'UNSAFE_LINK' });
  });

  it('refuses entries that escape the archive', async () => {
    const tar = pack();
    tar.entry({ name: 'manifest.json' }, '[]');
    tar.entry({ name: '../evil' }, 'x');
    tar.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of tar) chunks.push(chunk as Buffer);
    const archive = join(work, 'evil.tar');
    await writeFile(archive, Buffer.concat(chunks));
    await expect(openImage(`docker-archive:${archive}`)).rejects.toMatchObject({ code: 'PATH_TRAVERSAL' });
  });
});
