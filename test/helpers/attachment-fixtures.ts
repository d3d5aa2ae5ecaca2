import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Image } from '../../src/oci/image.js';
import { REF_NAME_ANNOTATION } from '../../src/oci/layout.js';
import { writeImage } from '../../src/oci/open.js';
import { makeTestImage } from './oci-fixtures.js';

/**
 * An OCI layout holding an image `app` with attachments, built byte by byte: a cosign-style `.sig`
 * tag, an OCI 1.1 referrer (untagged in index.json, as oras keeps it, with `subject`), a `.sig` of
 * that referrer (an attachment of an attachment) and an unrelated tagged artifact.
 */
export const sha256 = (bytes: Buffer | string) =>
  `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
export const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const SIG_TYPE = 'application/vnd.dev.cosign.artifact.sig.v1+json';
export const SBOM_TYPE = 'application/spdx+json';
const EMPTY = Buffer.from('{}');

export const sigTag = (digest: string) => `${digest.replace(':', '-')}.sig`;

export interface AttachedLayout {
  layout: string;
  target: Image;
  /** raw manifests by name: sig, referrer, referrerSig, unrelated */
  raws: Record<'sig' | 'referrer' | 'referrerSig' | 'unrelated', Buffer>;
  digestOf(name: 'sig' | 'referrer' | 'referrerSig' | 'unrelated'): string;
}

async function putBlob(dir: string, bytes: Buffer, mediaType: string) {
  await writeFile(join(dir, 'blobs', 'sha256', sha256(bytes).slice(7)), bytes);
  return { mediaType, digest: sha256(bytes), size: bytes.length };
}

/** Stores an artifact manifest, listed in index.json under `tag` or, untagged, as oras does. */
export async function putArtifact(
  dir: string,
  content: string,
  options: {
    artifactType: string;
    subject?: { mediaType: string; digest: string; size: number };
    tag?: string;
  },
): Promise<Buffer> {
  const layer = await putBlob(dir, Buffer.from(content), 'text/plain');
  const config = await putBlob(dir, EMPTY, 'application/vnd.oci.empty.v1+json');
  const raw = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      artifactType: options.artifactType,
      config,
      layers: [layer],
      ...(options.subject ? { subject: options.subject } : {}),
      annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' },
    }),
  );
  await putBlob(dir, raw, MANIFEST);
  const indexPath = join(dir, 'index.json');
  const index = JSON.parse(await readFile(indexPath, 'utf8'));
  index.manifests.push({
    mediaType: MANIFEST,
    digest: sha256(raw),
    size: raw.length,
    artifactType: options.artifactType,
    ...(options.tag ? { annotations: { [REF_NAME_ANNOTATION]: options.tag } } : {}),
  });
  await writeFile(indexPath, JSON.stringify(index));
  return raw;
}

export async function makeAttachedLayout(work: string): Promise<AttachedLayout> {
  const target = await makeTestImage(work, [{ 'etc/app': 'v1\n' }]);
  const layout = join(work, 'layout');
  await writeImage(`oci:${layout}:app`, target);
  const subject = { mediaType: target.mediaType, digest: target.digest, size: target.rawManifest.length };
  const sig = await putArtifact(layout, 'signature', { artifactType: SIG_TYPE, tag: sigTag(target.digest) });
  const referrer = await putArtifact(layout, 'sbom', { artifactType: SBOM_TYPE, subject });
  const referrerSig = await putArtifact(layout, 'signature of the sbom', {
    artifactType: SIG_TYPE,
    tag: sigTag(sha256(referrer)),
  });
  const unrelated = await putArtifact(layout, 'other', { artifactType: 'text/plain', tag: 'other' });
  const raws = { sig, referrer, referrerSig, unrelated };
  return { layout, target, raws, digestOf: (name) => sha256(raws[name]) };
}
