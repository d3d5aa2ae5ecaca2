import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttachmentStore } from '../../../src/oci/attachments.js';
import { findAttachments, layoutAttachmentStore } from '../../../src/oci/attachments.js';
import type { Image } from '../../../src/oci/image.js';
import { directoryLayout, REF_NAME_ANNOTATION } from '../../../src/oci/layout.js';
import { openAttachmentStore, openImage, writeImage } from '../../../src/oci/open.js';
import type { Descriptor } from '../../../src/oci/types.js';
import type { AttachedLayout } from '../../helpers/attachment-fixtures.js';
import {
  makeAttachedLayout,
  putArtifact,
  SBOM_TYPE,
  SIG_TYPE,
  sha256,
  sigTag,
} from '../../helpers/attachment-fixtures.js';
import { makeTestImage } from '../../helpers/oci-fixtures.js';
import { rampart } from '../../helpers/run-cli.js';

let work: string;
let layout: string;
let target: Image;
let raws: AttachedLayout['raws'];
let digestOf: AttachedLayout['digestOf'];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-attachments-'));
  ({ layout, target, raws, digestOf } = await makeAttachedLayout(work));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function blobBytes(dir: string, digest: string): Promise<Buffer> {
  return readFile(join(dir, 'blobs', 'sha256', digest.slice(7)));
}

/** Every manifest and blob of each attachment is in `dir`, byte for byte as in the source layout. */
async function expectAttachmentsIn(dir: string): Promise<void> {
  for (const name of ['sig', 'referrer', 'referrerSig'] as const) {
    const raw = raws[name];
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
      '-q',
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
      '-q',
      '--with-attachments',
      `oci-archive:${archive}:app`,
      `oci:${back}:app`,
    );
    expect(fromArchive.code).toBe(0);
    await expectAttachmentsIn(back);
  });

  it('without --with-attachments only the image is copied', async () => {
    const plain = join(work, 'plain');
    expect((await rampart('copy', '-q', `oci:${layout}:app`, `oci:${plain}:app`)).code).toBe(0);
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
        '-q',
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

describe('attachments of an index and of its children', () => {
  it('copies those of every child; with --platform only those of the image taken', async () => {
    const dir = join(work, 'multi');
    const amd = await makeTestImage(work, [{ 'etc/arch': 'amd64\n' }]);
    const arm = await makeTestImage(work, [{ 'etc/arch': 'arm64\n' }], {
      os: 'linux',
      architecture: 'arm64',
    });
    await writeImage(`oci:${dir}:amd`, amd);
    await writeImage(`oci:${dir}:arm`, arm);
    const entry = (image: typeof amd) => ({
      mediaType: image.mediaType,
      digest: image.digest,
      size: image.rawManifest.length,
      platform: { os: 'linux', architecture: image.config.architecture },
    });
    const rawIndex = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [entry(amd), entry(arm)],
      }),
    );
    await writeFile(join(dir, 'blobs', 'sha256', sha256(rawIndex).slice(7)), rawIndex);
    const indexPath = join(dir, 'index.json');
    const top = JSON.parse(await readFile(indexPath, 'utf8'));
    top.manifests.push({
      mediaType: 'application/vnd.oci.image.index.v1+json',
      digest: sha256(rawIndex),
      size: rawIndex.length,
      annotations: { [REF_NAME_ANNOTATION]: 'multi' },
    });
    await writeFile(indexPath, JSON.stringify(top));
    const amdSig = await putArtifact(dir, 'amd sig', { artifactType: SIG_TYPE, tag: sigTag(amd.digest) });
    const armSbom = await putArtifact(dir, 'arm sbom', {
      artifactType: SBOM_TYPE,
      subject: { mediaType: arm.mediaType, digest: arm.digest, size: arm.rawManifest.length },
    });
    const indexSig = await putArtifact(dir, 'index sig', {
      artifactType: SIG_TYPE,
      tag: sigTag(sha256(rawIndex)),
    });

    const all = await writeImage(
      `oci:${join(work, 'multi-all')}:multi`,
      await openImage(`oci:${dir}:multi`),
      {
        attachmentsFrom: await openAttachmentStore(`oci:${dir}`),
      },
    );
    expect(all.attachments?.map((a) => a.digest).sort()).toEqual(
      [sha256(amdSig), sha256(armSbom), sha256(indexSig)].sort(),
    );
    const one = await writeImage(`oci:${join(work, 'multi-arm')}:arm`, await openImage(`oci:${dir}:multi`), {
      platform: { os: 'linux', architecture: 'arm64' },
      attachmentsFrom: await openAttachmentStore(`oci:${dir}`),
    });
    expect(one.digest).toBe(arm.digest);
    expect(one.attachments?.map((a) => [a.kind, a.digest])).toEqual([['referrer', sha256(armSbom)]]);
  });
});

describe('a store that lies about referrers', () => {
  it('a listed referrer whose subject is another manifest is refused, and nothing is written', async () => {
    const honest = layoutAttachmentStore(directoryLayout(layout));
    const unrelated = (await honest.resolveTag('other')) as Descriptor;
    const lying: AttachmentStore = {
      ...honest,
      referrers: async (digest) => [...(await honest.referrers(digest)), unrelated],
    };
    const dest = join(work, 'lied-to');
    await expect(
      writeImage(`oci:${dest}:app`, await openImage(`oci:${layout}:app`), { attachmentsFrom: lying }),
    ).rejects.toMatchObject({
      code: 'MALFORMED_MANIFEST',
      details: { digest: digestOf('unrelated'), field: 'subject' },
    });
    await expect(readFile(join(dest, 'index.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('attachments and a digest-changing rewrite', () => {
  it('a Docker-typed image into an OCI layout (rewritten, new digest) is refused with its attachments', async () => {
    const manifest = JSON.parse(target.rawManifest.toString());
    const docker = Buffer.from(
      JSON.stringify({
        ...manifest,
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        config: { ...manifest.config, mediaType: 'application/vnd.docker.container.image.v1+json' },
        layers: manifest.layers.map((l: object) => ({
          ...l,
          mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
        })),
      }),
    );
    await writeFile(join(layout, 'blobs', 'sha256', sha256(docker).slice(7)), docker);
    const indexPath = join(layout, 'index.json');
    const top = JSON.parse(await readFile(indexPath, 'utf8'));
    top.manifests.push({
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      digest: sha256(docker),
      size: docker.length,
      annotations: { [REF_NAME_ANNOTATION]: 'docker' },
    });
    await writeFile(indexPath, JSON.stringify(top));
    await putArtifact(layout, 'docker sig', { artifactType: SIG_TYPE, tag: sigTag(sha256(docker)) });
    const dest = join(work, 'docker-typed');
    const result = await rampart(
      'copy',
      '-q',
      '--with-attachments',
      '-o',
      'json',
      `oci:${layout}:docker`,
      `oci:${dest}:docker`,
    );
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    await expect(readFile(join(dest, 'index.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    // without attachments the rewrite is what it always was
    expect((await rampart('copy', '-q', `oci:${layout}:docker`, `oci:${dest}:docker`)).code).toBe(0);
  });
});
