import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openAttachmentStore, openImage, writeImage } from '../../../src/oci/open.js';
import { makeAttachedLayout, putArtifact, SBOM_TYPE, sha256 } from '../../helpers/attachment-fixtures.js';

// A referrer that is an index of per-platform artifacts: its platforms are not the image's.
let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-attachment-platforms-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

it('copy --with-attachments reports the platforms of the image, not those of an attached index', async () => {
  const { layout, target } = await makeAttachedLayout(work);
  const child = await putArtifact(layout, 's390x sbom', { artifactType: SBOM_TYPE });
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      artifactType: SBOM_TYPE,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: sha256(child),
          size: child.length,
          platform: { os: 'linux', architecture: 's390x' },
        },
      ],
      subject: { mediaType: target.mediaType, digest: target.digest, size: target.rawManifest.length },
    }),
  );
  await writeFile(join(layout, 'blobs', 'sha256', sha256(index).slice(7)), index);
  const indexPath = join(layout, 'index.json');
  const top = JSON.parse(await readFile(indexPath, 'utf8'));
  top.manifests.push({
    mediaType: 'application/vnd.oci.image.index.v1+json',
    digest: sha256(index),
    size: index.length,
    artifactType: SBOM_TYPE,
  });
  await writeFile(indexPath, JSON.stringify(top));

  const source = await openImage(`oci:${layout}:app`);
  const plain = await writeImage(`oci:${join(work, 'plain')}:app`, source);
  const withAttachments = await writeImage(`oci:${join(work, 'attached')}:app`, source, {
    attachmentsFrom: await openAttachmentStore(`oci:${layout}:app`),
  });
  expect(withAttachments.attachments?.map((a) => a.digest)).toContain(sha256(index));
  expect(withAttachments.platforms).toEqual(plain.platforms);
});
