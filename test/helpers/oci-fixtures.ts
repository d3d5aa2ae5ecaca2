import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import type { Digest } from '../../src/oci/digest.js';
import type { Image } from '../../src/oci/image.js';
import { layerFromFile, newImage } from '../../src/oci/in-memory.js';
import type { Platform } from '../../src/oci/types.js';

/** A tar (made with tar-stream, independently of rampart's layer writer) of the given files. */
export async function makeTar(files: Record<string, string>): Promise<Buffer> {
  const tar = pack();
  for (const [name, content] of Object.entries(files)) {
    tar.entry({ name, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, content);
  }
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const digestOf = (bytes: Buffer): Digest => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** A small OCI image whose layers are gzip blobs in `dir`; `layers` lists each layer's files. */
export async function makeTestImage(
  dir: string,
  layers: Array<Record<string, string>>,
  platform: Platform = { os: 'linux', architecture: 'amd64' },
  extraConfig: Record<string, unknown> = {},
): Promise<Image> {
  const built = [];
  for (const files of layers) {
    const tar = await makeTar(files);
    const blob = gzipSync(tar);
    const digest = digestOf(blob);
    const path = join(dir, `layer-${digest.slice(7, 19)}.tar.gz`);
    await writeFile(path, blob);
    built.push(
      layerFromFile(
        path,
        { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: blob.length },
        digestOf(tar),
      ),
    );
  }
  return newImage({
    config: {
      created: '2024-01-01T00:00:00Z',
      ...platform,
      config: {
        User: '65532:65532',
        Env: ['PATH=/usr/bin:/bin'],
        Entrypoint: ['/bin/app'],
        Cmd: ['--serve'],
        WorkingDir: '/home',
        Labels: { 'org.example': 'yes' },
      },
      rootfs: { type: 'layers', diff_ids: [] },
      history: layers.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'test' })),
      ...extraConfig,
    },
    layers: built,
  });
}
