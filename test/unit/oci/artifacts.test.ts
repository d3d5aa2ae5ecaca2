import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Image, Manifest } from '../../../src/oci/image.js';
import { selectImage } from '../../../src/oci/image.js';
import { openImage, writeImage } from '../../../src/oci/open.js';
import { validate } from '../../../src/oci/validate.js';
import { checkImageConformance } from '../../helpers/conformance.js';
import { makeTestImage } from '../../helpers/oci-fixtures.js';
import { rampart } from '../../helpers/run-cli.js';

// OCI artifacts as cosign and the OCI 1.1 referrers API store them, built here byte by byte.
const sha256 = (bytes: Buffer | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const EMPTY_CONFIG = Buffer.from('{}');

let work: string;
let layout: string;
let target: Image;

interface Blob {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

async function putBlob(dir: string, bytes: Buffer, mediaType: string, annotations?: Record<string, string>) {
  await writeFile(join(dir, 'blobs', 'sha256', sha256(bytes).slice(7)), bytes);
  const blob: Blob = { mediaType, digest: sha256(bytes), size: bytes.length };
  if (annotations) blob.annotations = annotations;
  return blob;
}

/** Stores a manifest in the layout and tags it in index.json. */
async function putManifest(dir: string, manifest: Record<string, unknown>, tag: string): Promise<Buffer> {
  const raw = Buffer.from(JSON.stringify(manifest));
  await putBlob(dir, raw, manifest.mediaType as string);
  const indexPath = join(dir, 'index.json');
  const index = JSON.parse(await readFile(indexPath, 'utf8'));
  index.manifests.push({
    mediaType: manifest.mediaType,
    digest: sha256(raw),
    size: raw.length,
    ...(manifest.artifactType ? { artifactType: manifest.artifactType } : {}),
    annotations: { 'org.opencontainers.image.ref.name': tag },
  });
  await writeFile(indexPath, JSON.stringify(index));
  return raw;
}

const subjectOf = (image: Image) => ({
  mediaType: image.mediaType,
  digest: image.digest,
  size: image.rawManifest.length,
});

/** cosign's simple-signing signature manifest (`cosign sign` with an OCI layout). */
async function cosignSignature(dir: string): Promise<Buffer> {
  const payload = Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': 'example.test/app' },
        image: { 'docker-manifest-digest': target.digest },
        type: 'cosign container image signature',
      },
      optional: null,
    }),
  );
  const layer = await putBlob(dir, payload, 'application/vnd.dev.cosign.simplesigning.v1+json', {
    'dev.cosignproject.cosign/signature': Buffer.from('not-a-real-signature').toString('base64'),
  });
  const config = Buffer.from(
    JSON.stringify({
      architecture: '',
      created: '0001-01-01T00:00:00Z',
      history: [{ created: '0001-01-01T00:00:00Z' }],
      os: '',
      rootfs: { type: 'layers', diff_ids: [sha256(payload)] },
      config: {},
    }),
  );
  const configBlob = await putBlob(dir, config, 'application/vnd.oci.image.config.v1+json');
  return putManifest(
    dir,
    {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: configBlob,
      layers: [layer],
    },
    `${target.digest.replace(':', '-')}.sig`,
  );
}

/** An in-toto attestation in a DSSE envelope, as an OCI 1.1 referrer with an empty config. */
async function intotoAttestation(dir: string): Promise<Buffer> {
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'example.test/app', digest: { sha256: target.digest.slice(7) } }],
    predicateType: 'https://slsa.dev/provenance/v1',
    predicate: { buildDefinition: { buildType: 'https://example.test/rampart' } },
  };
  const envelope = Buffer.from(
    JSON.stringify({
      payloadType: 'application/vnd.in-toto+json',
      payload: Buffer.from(JSON.stringify(statement)).toString('base64'),
      signatures: [{ keyid: '', sig: Buffer.from('sig').toString('base64') }],
    }),
  );
  const layer = await putBlob(dir, envelope, 'application/vnd.dsse.envelope.v1+json', {
    'dev.sigstore.cosign/predicateType': 'https://slsa.dev/provenance/v1',
  });
  const config = await putBlob(dir, EMPTY_CONFIG, 'application/vnd.oci.empty.v1+json');
  return putManifest(
    dir,
    {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.in-toto+json',
      config: { ...config, data: EMPTY_CONFIG.toString('base64') },
      layers: [layer],
      subject: subjectOf(target),
      annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' },
    },
    'attestation',
  );
}

/** An SBOM artifact: artifactType, subject, and the document as its one blob. */
async function sbomArtifact(dir: string): Promise<Buffer> {
  const sbom = Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'app', packages: [] }));
  const layer = await putBlob(dir, sbom, 'application/spdx+json');
  const config = await putBlob(dir, EMPTY_CONFIG, 'application/vnd.oci.empty.v1+json');
  return putManifest(
    dir,
    {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/spdx+json',
      config,
      layers: [layer],
      subject: subjectOf(target),
    },
    'sbom',
  );
}

let raws: Record<string, Buffer>;
const tags = () => ({
  sig: `${target.digest.replace(':', '-')}.sig`,
  attestation: 'attestation',
  sbom: 'sbom',
});

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-artifacts-'));
  target = await makeTestImage(work, [{ 'etc/app': 'v1\n' }]);
  layout = join(work, 'layout');
  await writeImage(`oci:${layout}:app`, target);
  raws = {
    sig: await cosignSignature(layout),
    attestation: await intotoAttestation(layout),
    sbom: await sbomArtifact(layout),
  };
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('OCI artifacts are read as manifests, not refused as broken images', () => {
  it('a cosign signature: simple-signing layer with its signature annotation, image-typed config', async () => {
    const sig = (await openImage(`oci:${layout}:${tags().sig}`)) as Manifest;
    expect(sig.kind).toBe('manifest');
    expect(sig.isImage).toBe(false);
    expect(sig.rawManifest.equals(raws.sig as Buffer)).toBe(true);
    expect(sig.descriptor.annotations?.['org.opencontainers.image.ref.name']).toBe(tags().sig);
    const [layer] = sig.layerDescriptors;
    expect(layer?.mediaType).toBe('application/vnd.dev.cosign.simplesigning.v1+json');
    expect(layer?.annotations?.['dev.cosignproject.cosign/signature']).toBeTruthy();
    const payload = JSON.parse(await streamText(await sig.blob(layer!.digest)));
    expect(payload.critical.image['docker-manifest-digest']).toBe(target.digest);
    await checkImageConformance(sig);
    // not runnable: using it as an image says so, with the digest
    await expect(selectImage(sig)).rejects.toMatchObject({
      code: 'UNKNOWN_MEDIA_TYPE',
      details: { digest: sig.digest },
    });
  });

  it('an in-toto attestation: DSSE layer, empty config (embedded data), subject and artifactType', async () => {
    const att = (await openImage(`oci:${layout}:attestation`)) as Manifest;
    expect(att.kind).toBe('manifest');
    expect(att.artifactType).toBe('application/vnd.in-toto+json');
    expect(att.subject?.digest).toBe(target.digest);
    expect(att.annotations['org.opencontainers.image.created']).toBe('2026-01-01T00:00:00Z');
    expect(att.configDescriptor.mediaType).toBe('application/vnd.oci.empty.v1+json');
    expect((await att.readConfig()).toString()).toBe('{}');
    const envelope = JSON.parse(await streamText(await att.blob(att.layerDescriptors[0]!.digest)));
    expect(envelope.payloadType).toBe('application/vnd.in-toto+json');
    await validate(att);
  });

  it('an SBOM artifact with subject and artifactType', async () => {
    const sbom = (await openImage(`oci:${layout}:sbom`)) as Manifest;
    expect(sbom.artifactType).toBe('application/spdx+json');
    expect(sbom.subject).toEqual(subjectOf(target));
    expect(JSON.parse(await streamText(await sbom.blob(sbom.layerDescriptors[0]!.digest))).spdxVersion).toBe(
      'SPDX-2.3',
    );
    await validate(sbom);
    // blob() serves only what the manifest names
    await expect(sbom.blob(target.digest)).rejects.toMatchObject({ code: 'BLOB_NOT_FOUND' });
  });

  it('a tampered artifact blob fails validation with DIGEST_MISMATCH naming it', async () => {
    const copyDir = join(work, 'tampered');
    await writeImage(`oci:${copyDir}:sbom`, await openImage(`oci:${layout}:sbom`));
    const sbom = (await openImage(`oci:${copyDir}:sbom`)) as Manifest;
    const layer = sbom.layerDescriptors[0]!;
    const path = join(copyDir, 'blobs', 'sha256', layer.digest.slice(7));
    const bytes = await readFile(path);
    bytes[0] = bytes[0]! ^ 1;
    await writeFile(path, bytes);
    await expect(validate(sbom)).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
      details: { expected: layer.digest },
    });
  });

  it('oci: -> oci-archive: -> oci: keeps every manifest and blob byte for byte', async () => {
    const archive = join(work, 'artifacts.tar');
    const back = join(work, 'back');
    for (const [name, tag] of Object.entries(tags())) {
      const source = await openImage(`oci:${layout}:${tag}`);
      const toArchive = await writeImage(`oci-archive:${archive}:${tag}`, source);
      expect(toArchive.digest).toBe(source.digest);
      const fromArchive = await openImage(`oci-archive:${archive}:${tag}`);
      await validate(fromArchive);
      const written = await writeImage(`oci:${back}:${tag}`, fromArchive);
      expect(written.digest).toBe(source.digest);
      const read = await openImage(`oci:${back}:${tag}`);
      expect(read.rawManifest.equals(raws[name] as Buffer)).toBe(true);
      await checkImageConformance(read);
      if (read.kind === 'index') throw new Error('expected a manifest');
      for (const blob of [read.manifest.config, ...read.manifest.layers]) {
        const hex = blob.digest.slice(7);
        const original = await readFile(join(layout, 'blobs', 'sha256', hex));
        expect((await readFile(join(back, 'blobs', 'sha256', hex))).equals(original)).toBe(true);
      }
    }
    // every tag is listed, each once
    const index = JSON.parse(await readFile(join(back, 'index.json'), 'utf8'));
    expect(
      index.manifests.map(
        (m: { annotations: Record<string, string> }) => m.annotations['org.opencontainers.image.ref.name'],
      ),
    ).toEqual(Object.values(tags()));
    expect((await readdir(work)).filter((name) => name.startsWith('.'))).toEqual([]);
  });
});

describe('rampart copy and inspect take artifacts', () => {
  it('copies an SBOM artifact to oci-archive: and inspects it', async () => {
    const archive = join(work, 'cli-sbom.tar');
    const copied = await rampart('copy', `oci:${layout}:sbom`, `oci-archive:${archive}:sbom`);
    expect(copied.code).toBe(0);
    const inspected = await rampart('inspect', '-o', 'json', `oci-archive:${archive}:sbom`);
    expect(inspected.code).toBe(0);
    const summary = JSON.parse(inspected.stdout);
    expect(summary).toMatchObject({
      digest: sha256(raws.sbom as Buffer),
      artifactType: 'application/spdx+json',
      subject: { digest: target.digest },
      blobs: [{ mediaType: 'application/spdx+json' }],
    });
    const text = await rampart('inspect', `oci:${layout}:${tags().sig}`);
    expect(text.stdout).toContain('dev.cosignproject.cosign/signature=');
  });
});

async function streamText(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
