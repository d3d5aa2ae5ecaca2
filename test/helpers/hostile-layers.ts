import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import tarStream from 'tar-stream';
import type { Digest } from '../../src/oci/digest.js';
import { layerFromFile, newImage } from '../../src/oci/in-memory.js';
import { writeImage } from '../../src/oci/open.js';

/** One raw tar entry, written with tar-stream exactly as given (no normalisation, no checks). */
export interface RawEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  linkname?: string;
  content?: string | Buffer;
  /** extra PAX records (a `path` record overrides `name`, and may hold anything, a NUL included) */
  pax?: Record<string, string>;
}

/** A tar made by tar-stream from raw entries: hostile names go through unchanged. */
export async function rawTar(entries: readonly RawEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    pack.entry(
      {
        name: entry.name,
        type,
        mode: type === 'directory' ? 0o755 : 0o644,
        mtime: new Date(0),
        uid: 0,
        gid: 0,
        ...(entry.linkname !== undefined ? { linkname: entry.linkname } : {}),
        ...(entry.pax ? { pax: entry.pax } : {}),
      },
      type === 'file' ? Buffer.from(entry.content ?? '') : Buffer.alloc(0),
    );
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export type LayerBlob = { tar: Buffer; compression?: 'gzip' | 'zstd' | 'none'; blob?: Buffer };

const digestOf = (bytes: Buffer): Digest => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const MEDIA = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  none: 'application/vnd.oci.image.layer.v1.tar',
} as const;

/**
 * Writes an `oci:` layout of one image whose layers are the given tars. `blob` replaces the
 * compressed bytes (a truncated or corrupted blob), with the digest and size made to match it, as
 * an attacker who controls the image would; the diff_id is the honest tar's.
 */
export async function writeLayeredLayout(dir: string, layers: readonly LayerBlob[]): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const built = layers.map((layer, i) => {
    const compression = layer.compression ?? 'gzip';
    const blob =
      layer.blob ??
      (compression === 'gzip'
        ? gzipSync(layer.tar)
        : compression === 'zstd'
          ? zstdCompressSync(layer.tar)
          : layer.tar);
    const path = join(dir, `layer-${i}.blob`);
    writeFileSync(path, blob);
    const digest = digestOf(blob);
    return layerFromFile(
      path,
      { mediaType: MEDIA[compression], digest, size: blob.length },
      digestOf(layer.tar),
    );
  });
  const image = newImage({
    config: {
      created: '2024-01-01T00:00:00Z',
      os: 'linux',
      architecture: 'amd64',
      config: {},
      rootfs: { type: 'layers', diff_ids: [] },
    },
    layers: built,
  });
  const ref = `oci:${join(dir, 'layout')}:t`;
  await writeImage(ref, image);
  return ref;
}

/** A dpkg status file listing `names` (version 1.0, amd64). */
export function dpkgStatus(names: readonly string[]): string {
  return names
    .map(
      (name) =>
        `Package: ${name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\nMaintainer: t <t@example.org>\n`,
    )
    .join('\n');
}
