import type { KeyObject } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRampartError } from '../../../src/errors.js';
import type { Digest } from '../../../src/oci/digest.js';
import { openAttachmentStore, openImage } from '../../../src/oci/open.js';
import type { Signer } from '../../../src/sign/keys.js';
import { signImage } from '../../../src/sign/sign.js';
import { verifyDigest, verifyImage } from '../../../src/sign/verify.js';
import { writeRandomImage } from '../../helpers/random-image.js';
import {
  blobPath,
  type LayoutSignFixture,
  layoutSignFixture,
  putBlob,
  REF_NAME,
  readJson,
  sha256,
} from '../../helpers/sign-fixtures.js';

// Signatures in OCI layouts, and every way a stored byte can be changed: each must be rejected
// with the check that failed.

let fx: LayoutSignFixture;
let work: string;
let signer: Signer;
let pub: KeyObject;
let otherPub: KeyObject;

beforeAll(async () => {
  fx = await layoutSignFixture('rampart-sign-layout-');
  ({ work, signer, pub, otherPub } = fx);
}, 60_000);

afterAll(async () => {
  await fx?.cleanup();
});

const freshLayout = (name: string) => fx.freshLayout(name);
/** Points index.json's entry `digest` at a new manifest (keeping its ref.name). */
async function replaceEntry(layout: string, digest: string, manifest: Buffer): Promise<string> {
  const next = await putBlob(layout, manifest);
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
  for (const entry of index.manifests) {
    if (entry.digest === digest) Object.assign(entry, { digest: next, size: manifest.length });
  }
  await writeFile(join(layout, 'index.json'), JSON.stringify(index));
  return next;
}
async function entryByTag(layout: string, tag: string) {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
  return index.manifests.find(
    (entry: { annotations?: Record<string, string> }) => entry.annotations?.[REF_NAME] === tag,
  );
}

describe('sign and verify in an OCI layout', () => {
  it('writes both formats beside the image, appends legacy signatures, and verifies them', async () => {
    const { layout, ref, digest } = await freshLayout('both');
    const first = await signImage(ref, signer, { annotations: { build: '42' } });
    expect(first.digest).toBe(digest);
    expect(first.signatures.map((s) => s.format).sort()).toEqual(['bundle', 'legacy']);
    await signImage(ref, signer, { formats: ['legacy'] });
    const sig = await entryByTag(layout, `sha256-${digest.slice(7)}.sig`);
    expect((await readJson(layout, sig.digest)).layers).toHaveLength(2);
    const result = await verifyImage(ref, pub);
    expect(result.verified).toBe(true);
    expect(result.digest).toBe(digest);
    expect(result.signatures.map((s) => [s.format, s.valid])).toEqual([
      ['legacy', true],
      ['legacy', true],
      ['bundle', true],
    ]);
    expect(result.signatures[0]?.annotations).toEqual({ build: '42' });
    expect(result.signatures[0]?.identity).toBe(`oci:${layout}`);
    expect(result.signatures[2]?.annotations).toEqual({ build: '42' });
    // The image is still what its tag names: signatures are beside it.
    const app = await entryByTag(layout, 'app');
    expect(app.digest).toBe(digest);

    const wrongKey = await verifyImage(ref, otherPub);
    expect(wrongKey.verified).toBe(false);
    expect(wrongKey.signatures.map((s) => s.failed)).toEqual(['signature', 'signature', 'signature']);
    const wrongIdentity = await verifyImage(ref, pub, { identity: 'docker.io/other/repo' });
    expect(wrongIdentity.verified).toBe(false);
    expect(new Set(wrongIdentity.signatures.map((s) => s.failed))).toEqual(new Set(['identity']));
    expect((await verifyImage(ref, pub, { identity: `oci:${layout}` })).verified).toBe(true);
  });

  it('concurrent signers of one image all keep their legacy signature', async () => {
    const { layout, ref, digest } = await freshLayout('concurrent');
    await Promise.all(Array.from({ length: 4 }, () => signImage(ref, signer, { formats: ['legacy'] })));
    const sig = await entryByTag(layout, `sha256-${digest.slice(7)}.sig`);
    expect((await readJson(layout, sig.digest)).layers).toHaveLength(4);
    const result = await verifyImage(ref, pub);
    expect(result.signatures.map((s) => s.valid)).toEqual([true, true, true, true]);
  });

  it("verifies by the manifest's digest without reading the image's config (as cosign)", async () => {
    const { layout, ref, digest } = await freshLayout('no-config');
    await signImage(ref, signer);
    const manifest = await readJson(layout, digest);
    await rm(blobPath(layout, manifest.config.digest));
    // The config is gone: the image no longer opens whole, but what is signed (the manifest) is there.
    await expect(openImage(ref)).rejects.toMatchObject({ code: 'BLOB_NOT_FOUND' });
    const result = await verifyImage(ref, pub);
    expect(result).toMatchObject({ verified: true, digest });
    expect(result.signatures.map((s) => [s.format, s.valid])).toEqual([
      ['legacy', true],
      ['bundle', true],
    ]);
  });

  it('an unsigned image does not verify', async () => {
    const { ref } = await freshLayout('unsigned');
    expect(await verifyImage(ref, pub)).toMatchObject({ verified: false, signatures: [] });
  });

  it('rejects the legacy payload with any single byte flipped, at every position', async () => {
    const { layout, ref, digest } = await freshLayout('legacy-loop');
    await signImage(ref, signer, { formats: ['legacy'] });
    const tag = `sha256-${digest.slice(7)}.sig`;
    let current = (await entryByTag(layout, tag)).digest as string;
    const manifest = await readJson(layout, current);
    const payload = await readFile(blobPath(layout, manifest.layers[0].digest));
    expect(payload.length).toBeGreaterThan(100);
    for (let i = 0; i < payload.length; i++) {
      const flipped = Buffer.from(payload);
      flipped[i] = (flipped[i] ?? 0) ^ 0x01;
      const layer = { ...manifest.layers[0], digest: await putBlob(layout, flipped), size: flipped.length };
      current = await replaceEntry(
        layout,
        current,
        Buffer.from(JSON.stringify({ ...manifest, layers: [layer] })),
      );
      const result = await verifyImage(ref, pub);
      expect(result.verified, `byte ${i}`).toBe(false);
      expect(
        result.signatures.map((s) => s.failed),
        `byte ${i}`,
      ).toEqual(['signature']);
    }
  }, 120_000);

  it('rejects the bundle statement with any single byte flipped, at every position', async () => {
    const { layout, ref } = await freshLayout('bundle-loop');
    const signed = await signImage(ref, signer, { formats: ['bundle'] });
    let current = signed.signatures[0]?.digest as string;
    const manifest = await readJson(layout, current);
    const bundle = await readJson(layout, manifest.layers[0].digest);
    const statement = Buffer.from(bundle.dsseEnvelope.payload, 'base64');
    for (let i = 0; i < statement.length; i++) {
      const flipped = Buffer.from(statement);
      flipped[i] = (flipped[i] ?? 0) ^ 0x01;
      const edited = Buffer.from(
        JSON.stringify({
          ...bundle,
          dsseEnvelope: { ...bundle.dsseEnvelope, payload: flipped.toString('base64') },
        }),
      );
      const layer = { ...manifest.layers[0], digest: await putBlob(layout, edited), size: edited.length };
      current = await replaceEntry(
        layout,
        current,
        Buffer.from(JSON.stringify({ ...manifest, layers: [layer] })),
      );
      const result = await verifyImage(ref, pub);
      expect(result.verified, `byte ${i}`).toBe(false);
      expect(
        result.signatures.map((s) => s.failed),
        `byte ${i}`,
      ).toEqual(['signature']);
    }
  }, 120_000);

  it('names what failed: a payload, signature, signature manifest or image manifest changed', async () => {
    const { layout, ref, digest } = await freshLayout('tamper');
    await signImage(ref, signer, { formats: ['legacy'] });
    const tag = `sha256-${digest.slice(7)}.sig`;
    const sigDigest = (await entryByTag(layout, tag)).digest as string;
    const sigRaw = await readFile(blobPath(layout, sigDigest));
    const manifest = JSON.parse(sigRaw.toString());
    const payloadPath = blobPath(layout, manifest.layers[0].digest);
    const payload = await readFile(payloadPath);

    // The payload blob changed in place: its digest no longer matches the layer's.
    const inPlace = Buffer.from(payload);
    inPlace[10] = (inPlace[10] ?? 0) ^ 0x01;
    await writeFile(payloadPath, inPlace);
    expect((await verifyImage(ref, pub)).signatures.map((s) => s.failed)).toEqual(['blob']);
    await writeFile(payloadPath, payload);

    // The signature annotation: one bit of the DER signature.
    const sig = Buffer.from(manifest.layers[0].annotations['dev.cosignproject.cosign/signature'], 'base64');
    sig[sig.length - 1] = (sig[sig.length - 1] ?? 0) ^ 0x01;
    const edited = structuredClone(manifest);
    edited.layers[0].annotations['dev.cosignproject.cosign/signature'] = sig.toString('base64');
    const editedDigest = await replaceEntry(layout, sigDigest, Buffer.from(JSON.stringify(edited)));
    expect((await verifyImage(ref, pub)).signatures.map((s) => s.failed)).toEqual(['signature']);
    await replaceEntry(layout, editedDigest, sigRaw);
    expect((await verifyImage(ref, pub)).verified).toBe(true);

    // The signature manifest's bytes changed in place: not its digest any more.
    const flippedManifest = Buffer.from(sigRaw);
    flippedManifest[5] = (flippedManifest[5] ?? 0) ^ 0x01;
    await writeFile(blobPath(layout, sigDigest), flippedManifest);
    const broken = await verifyImage(ref, pub);
    expect(broken.verified).toBe(false);
    expect(broken.signatures.map((s) => [s.format, s.failed])).toEqual([
      ['legacy', 'manifest'],
      ['bundle', 'manifest'],
    ]);
    await writeFile(blobPath(layout, sigDigest), sigRaw);

    // The image manifest changed and re-tagged: a new digest, which nothing signed.
    const image = await readFile(blobPath(layout, digest));
    const changed = Buffer.from(image.toString().replace('"schemaVersion":2', '"schemaVersion":2 '));
    await replaceEntry(layout, digest, changed);
    expect(await verifyImage(ref, pub)).toMatchObject({
      verified: false,
      digest: sha256(changed),
      signatures: [],
    });
    // The image manifest changed in place: reading it fails on its digest.
    await replaceEntry(layout, sha256(changed), image);
    const flippedImage = Buffer.from(image);
    flippedImage[3] = (flippedImage[3] ?? 0) ^ 0x01;
    await writeFile(blobPath(layout, digest), flippedImage);
    const error = await verifyImage(ref, pub).catch((e: unknown) => e);
    expect(isRampartError(error, 'DIGEST_MISMATCH')).toBe(true);
  });

  it("another image's valid signatures, moved beside this one, do not verify it", async () => {
    const layout = join(work, 'replay');
    const a = await writeRandomImage(layout, 'a', [400]);
    const aIndex = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
    const b = await writeRandomImage(layout, 'b', [401]);
    const bIndex = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
    await writeFile(
      join(layout, 'index.json'),
      JSON.stringify({ schemaVersion: 2, manifests: [...aIndex.manifests, ...bIndex.manifests] }),
    );
    const signed = await signImage(`oci:${layout}:a`, signer);
    const sigA = await entryByTag(layout, `sha256-${a.digest.slice(7)}.sig`);
    const bundleA = signed.signatures.find((s) => s.format === 'bundle')?.digest as string;
    const bundleManifest = await readJson(layout, bundleA);
    // A's .sig manifest under B's tag; A's bundle as a referrer of B (its subject rewritten).
    const bSize = (await readFile(blobPath(layout, b.digest))).length;
    const moved = Buffer.from(
      JSON.stringify({
        ...bundleManifest,
        subject: { mediaType: bundleManifest.subject.mediaType, digest: b.digest, size: bSize },
      }),
    );
    const movedDigest = await putBlob(layout, moved);
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
    index.manifests.push(
      { ...sigA, annotations: { [REF_NAME]: `sha256-${b.digest.slice(7)}.sig` } },
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: movedDigest, size: moved.length },
    );
    await writeFile(join(layout, 'index.json'), JSON.stringify(index));
    const result = await verifyImage(`oci:${layout}:b`, pub);
    expect(result.verified).toBe(false);
    expect(result.signatures.map((s) => [s.format, s.failed])).toEqual([
      ['legacy', 'digest'],
      ['bundle', 'digest'],
    ]);
    expect((await verifyImage(`oci:${layout}:a`, pub)).verified).toBe(true);
  });

  it('--recursive signs an index and every manifest it lists', async () => {
    const layout = join(work, 'index');
    const a = await writeRandomImage(layout, 'a', [500]);
    const aManifest = await readFile(blobPath(layout, a.digest));
    const b = await writeRandomImage(layout, 'b', [600]);
    const bManifest = await readFile(blobPath(layout, b.digest));
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: a.digest,
            size: aManifest.length,
            platform: { os: 'linux', architecture: 'amd64' },
          },
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: b.digest,
            size: bManifest.length,
            platform: { os: 'linux', architecture: 'arm64' },
          },
        ],
      }),
    );
    const indexDigest = await putBlob(layout, index);
    await writeFile(
      join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.index.v1+json',
            digest: indexDigest,
            size: index.length,
            annotations: { [REF_NAME]: 'multi' },
          },
        ],
      }),
    );
    const signed = await signImage(`oci:${layout}:multi`, signer, { recursive: true });
    expect(new Set(signed.signatures.map((s) => s.subject))).toEqual(
      new Set([indexDigest, a.digest, b.digest]),
    );
    expect((await verifyImage(`oci:${layout}:multi`, pub)).verified).toBe(true);
    // Children are not index.json entries of the layout: their signatures are read by digest.
    const store = await openAttachmentStore(`oci:${layout}`);
    for (const child of [a.digest, b.digest] as Digest[]) {
      const reports = await verifyDigest(store, child, pub);
      expect(reports.map((s) => [s.format, s.valid]).sort(), child).toEqual([
        ['bundle', true],
        ['legacy', true],
      ]);
    }
  });
});
