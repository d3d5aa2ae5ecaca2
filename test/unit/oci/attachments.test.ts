import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findAttachments, layoutAttachmentStore } from '../../../src/oci/attachments.js';
import type { Image } from '../../../src/oci/image.js';
import { directoryLayout, REF_NAME_ANNOTATION } from '../../../src/oci/layout.js';
import { openAttachmentStore, openImage, writeImage } from '../../../src/oci/open.js';
import { makeTestImage } from '../../helpers/oci-fixtures.js';
import { rampart } from '../../helpers/run-cli.js';

// A cosign-style `.sig` tag and an OCI 1.1 referrer (untagged, with `subject`), built byte by byte,
// plus a signature of the referrer (an attachment of an attachment) and an unrelated artifact.
const sha256 = (bytes: Buffer | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const EMPTY = Buffer.from('{}');
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let work: string;
let layout: string;
let target: Image;
const raws: Record<string, Buffer> = {};

async function putBlob(dir: string, bytes: Buffer, mediaType: string) {
  await writeFile(join(dir, 'blobs', 'sha256', sha256(bytes).slice(7)), bytes);
  return { mediaType, digest: sha256(bytes), size: bytes.length };
}

/** Stores an artifact manifest, listed in index.json under `tag` or, untagged, as oras does. */
async function putArtifact(
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

const sigTag = (digest: string) => `${digest.replace(':', '-')}.sig`;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-attachments-'));
  target = await makeTestImage(work, [{ 'etc/app': 'v1\n' }]);
  layout = join(work, 'layout');
  await writeImage(`oci:${layout}:app`, target);
  const subject = { mediaType: target.mediaType, digest: target.digest, size: target.rawManifest.length };
  raws.sig = await putArtifact(layout, 'signature', {
    artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
    tag: sigTag(target.digest),
  });
  raws.referrer = await putArtifact(layout, 'sbom', { artifactType: 'application/spdx+json', subject });
  const referrerSubject = { mediaType: MANIFEST, digest: sha256(raws.referrer), size: raws.referrer.length };
  raws.referrerSig = await putArtifact(layout, 'signature of the sbom', {
    artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
    tag: sigTag(referrerSubject.digest),
  });
  raws.unrelated = await putArtifact(layout, 'other', { artifactType: 'text/plain', tag: 'other' });
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const digestOf = (name: string) => sha256(raws[name] as Buffer);

async function blobBytes(dir: string, digest: string): Promise<Buffer> {
  return readFile(join(dir, 'blobs', 'sha256', digest.slice(7)));
}

/** Every manifest and blob of each attachment is in `dir`, byte for byte as in the source layout. */
async function expectAttachmentsIn(dir: string): Promise<void> {
  for (const name of ['sig', 'referrer', 'referrerSig']) {
    const raw = raws[name] as Buffer;
    expect((await blobBytes(dir, sha256(raw))).equals(raw)).toBe(true);
    const manifest = JSON.parse(raw.toString());
    for (const blob of [manifest.config, ...manifest.layers]) {
      expect((await blobBytes(dir, blob.digest)).equals(await blobBytes(layout, blob.digest))).toBe(true);
    }
  }
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
  const entries = index.manifests.map((m: { digest: string; annotations?: Record<string, string> }) => [
    m.digest,
    m.annotations?.[REF_NAME_ANNOTATION] ?? null,
  ]);
  expect(entries).toEqual(
    expect.arrayContaining([
      [target.digest, 'app'],
      [digestOf('sig'), sigTag(target.digest)],
      [digestOf('referrer'), null],
      [digestOf('referrerSig'), sigTag(digestOf('referrer'))],
    ]),
  );
  // the unrelated artifact does not travel
  expect(entries.map((entry: string[]) => entry[0])).not.toContain(digestOf('unrelated'));
}

describe('attachments of a layout', () => {
  it('finds the .sig tag, the referrer, and the signature of the referrer (recursively)', async () => {
    const store = layoutAttachmentStore(directoryLayout(layout));
    const found = await findAttachments(store, [target.digest]);
    expect(
      found.map(({ kind, digest, tag, artifactType, subject }) => ({
        kind,
        digest,
        tag,
        artifactType,
        subject,
      })),
    ).toEqual([
      {
        kind: 'signature',
        digest: digestOf('sig'),
        tag: sigTag(target.digest),
        artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
        subject: target.digest,
      },
      {
        kind: 'referrer',
        digest: digestOf('referrer'),
        tag: undefined,
        artifactType: 'application/spdx+json',
        subject: target.digest,
      },
      {
        kind: 'signature',
        digest: digestOf('referrerSig'),
        tag: sigTag(digestOf('referrer')),
        artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
        subject: digestOf('referrer'),
      },
    ]);
  });

  it('filters referrers by artifactType', async () => {
    const store = layoutAttachmentStore(directoryLayout(layout));
    expect((await store.referrers(target.digest, 'application/spdx+json')).map((d) => d.digest)).toEqual([
      digestOf('referrer'),
    ]);
    expect(await store.referrers(target.digest, 'application/vnd.in-toto+json')).toEqual([]);
  });

  it('oci: -> oci: copies both attachments byte for byte, legacy tags by name, referrers untagged', async () => {
    const dest = join(work, 'copied');
    const written = await writeImage(`oci:${dest}:app`, await openImage(`oci:${layout}:app`), {
      attachmentsFrom: await openAttachmentStore(`oci:${layout}:app`),
    });
    expect(written.digest).toBe(target.digest);
    expect(written.attachments?.map((a) => a.digest)).toEqual([
      digestOf('sig'),
      digestOf('referrer'),
      digestOf('referrerSig'),
    ]);
    await expectAttachmentsIn(dest);
  });

  it('rampart copy --with-attachments oci: -> oci-archive: -> oci: keeps them, and reports them in JSON', async () => {
    const archive = join(work, 'with-attachments.tar');
    const toArchive = await rampart(
      'copy',
      '--with-attachments',
      '-o',
      'json',
      `oci:${layout}:app`,
      `oci-archive:${archive}:app`,
    );
    expect(toArchive.stderr).toBe('');
    expect(toArchive.code).toBe(0);
    const report = JSON.parse(toArchive.stdout);
    expect(report.attachments).toEqual([
      {
        kind: 'signature',
        digest: digestOf('sig'),
        tag: sigTag(target.digest),
        artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
      },
      { kind: 'referrer', digest: digestOf('referrer'), artifactType: 'application/spdx+json' },
      {
        kind: 'signature',
        digest: digestOf('referrerSig'),
        tag: sigTag(digestOf('referrer')),
        artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
      },
    ]);
    const back = join(work, 'back');
    const fromArchive = await rampart(
      'copy',
      '--with-attachments',
      `oci-archive:${archive}:app`,
      `oci:${back}:app`,
    );
    expect(fromArchive.code).toBe(0);
    await expectAttachmentsIn(back);
  });

  it('without --with-attachments only the image is copied', async () => {
    const plain = join(work, 'plain');
    expect((await rampart('copy', `oci:${layout}:app`, `oci:${plain}:app`)).code).toBe(0);
    const index = JSON.parse(await readFile(join(plain, 'index.json'), 'utf8'));
    expect(index.manifests.map((m: { digest: string }) => m.digest)).toEqual([target.digest]);
  });

  it('refuses --with-attachments for docker-archive: and dir: destinations, writing nothing', async () => {
    for (const destination of [
      `docker-archive:${join(work, 'x.tar')}:app:v1`,
      `dir:${join(work, 'x-dir')}`,
    ]) {
      const result = await rampart(
        'copy',
        '--with-attachments',
        '-o',
        'json',
        `oci:${layout}:app`,
        destination,
      );
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      await expect(readFile(join(work, 'x.tar'))).rejects.toMatchObject({ code: 'ENOENT' });
    }
  });
});
