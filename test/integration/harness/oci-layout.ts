import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { buildLayer } from '../../../src/oci/layer-writer.js';

/**
 * Just enough of an OCI image layout writer for harness tests (single-platform image, one tag),
 * written by hand so the tests do not depend on the image writer under development. Build the
 * layers with `buildLayer(entries, { dir: layoutBlobDir(layout) })` first.
 */

type BuiltLayer = Awaited<ReturnType<typeof buildLayer>>;

export function layoutBlobDir(layoutDir: string): string {
  return join(layoutDir, 'blobs', 'sha256');
}

export async function writeOciLayout(
  layoutDir: string,
  tag: string,
  layers: readonly BuiltLayer[],
  config: { Entrypoint?: string[]; Cmd?: string[]; Env?: string[]; User?: string } = {},
): Promise<{ manifestDigest: string }> {
  await mkdir(layoutBlobDir(layoutDir), { recursive: true });
  const configBlob = await writeBlob(layoutDir, {
    architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
    os: 'linux',
    created: '1970-01-01T00:00:00Z',
    config,
    rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffID) },
    history: layers.map(() => ({ created: '1970-01-01T00:00:00Z', created_by: 'rampart test harness' })),
  });
  const manifest = await writeBlob(layoutDir, {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...configBlob },
    layers: layers.map((layer) => layer.descriptor),
  });
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        ...manifest,
        annotations: { 'org.opencontainers.image.ref.name': tag },
      },
    ],
  };
  await writeFile(join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(layoutDir, 'index.json'), JSON.stringify(index));
  return { manifestDigest: manifest.digest };
}

async function writeBlob(layoutDir: string, value: unknown): Promise<{ digest: string; size: number }> {
  const bytes = Buffer.from(JSON.stringify(value));
  const hex = createHash('sha256').update(bytes).digest('hex');
  await writeFile(join(layoutBlobDir(layoutDir), hex), bytes);
  return { digest: `sha256:${hex}`, size: bytes.length };
}
