import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';

/**
 * An OCI layout holding one image of random (incompressible) data: each layer a tar+gzip (level
 * 1) of one file, streamed to disk while hashed, so a 200 MB image costs no memory. For registry
 * tests and the registry benchmark; gzip layers so that no tool recompresses them on a push.
 */

const _MB = 1000 * 1000;

/** Counts and hashes what passes through. */
function digester(): Transform & { digest(): string; size(): number } {
  const hash = createHash('sha256');
  let size = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  }) as Transform & { digest(): string; size(): number };
  let hex: string | undefined;
  t.digest = () => {
    hex ??= hash.digest('hex');
    return `sha256:${hex}`;
  };
  t.size = () => size;
  return t;
}

/** One tar+gzip layer holding one file of random bytes, written into the layout's blobs. */
async function writeLayer(layout: string, index: number, bytes: number) {
  const tar = pack();
  const diff = digester();
  const blob = digester();
  const temp = join(layout, 'blobs/sha256', `.layer-${index}`);
  const done = pipeline(tar, diff, createGzip({ level: 1 }), blob, createWriteStream(temp));
  const entry = tar.entry({ name: `data/layer-${index}.bin`, size: bytes, mode: 0o644, mtime: new Date(0) });
  const chunk = 1024 * 1024;
  let written = 0;
  for (; written + chunk < bytes; written += chunk) {
    if (!entry.write(randomBytes(chunk))) await once(entry, 'drain');
  }
  entry.end(randomBytes(bytes - written));
  tar.finalize();
  await done;
  const digest = blob.digest();
  await rename(temp, join(layout, 'blobs/sha256', digest.slice(7)));
  return { digest, size: blob.size(), diffId: diff.digest() };
}

async function writeJsonBlob(layout: string, value: unknown) {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await writeFile(join(layout, 'blobs/sha256', digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

export interface RandomImage {
  /** manifest digest */
  digest: string;
  /** bytes of every blob and the manifest */
  bytes: number;
  layers: { digest: string; size: number }[];
  config: { digest: string; size: number };
}

/**
 * Writes `layout:tag` with one layer per entry of `layerBytes` (uncompressed sizes); `runConfig` is
 * the config's `config` (User, Env...), empty by default.
 */
export async function writeRandomImage(
  layout: string,
  tag: string,
  layerBytes: readonly number[],
  runConfig: Record<string, unknown> = {},
): Promise<RandomImage> {
  await mkdir(join(layout, 'blobs/sha256'), { recursive: true });
  await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const layers = [];
  for (const [i, size] of layerBytes.entries()) layers.push(await writeLayer(layout, i, size));
  const config = await writeJsonBlob(layout, {
    architecture: 'amd64',
    os: 'linux',
    config: runConfig,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  });
  const manifest = await writeJsonBlob(layout, {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: layers.map((l) => ({
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: l.digest,
      size: l.size,
    })),
  });
  await writeFile(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': tag },
        },
      ],
    }),
  );
  return {
    digest: manifest.digest,
    bytes: layers.reduce((sum, l) => sum + l.size, config.size + manifest.size),
    layers: layers.map(({ digest, size }) => ({ digest, size })),
    config,
  };
}
