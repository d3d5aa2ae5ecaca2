import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { Digest } from '../../../src/oci/digest.js';
import { openAttachmentStore } from '../../../src/oci/open.js';
import { attestImage } from '../../../src/sign/attest.js';
import { verifyAttestationsOfDigest } from '../../../src/sign/verify-attestation.js';
import {
  type LayoutSignFixture,
  layoutSignFixture,
  putBlob,
  REF_NAME,
  readJson,
} from '../../helpers/sign-fixtures.js';

// A store that lists one large envelope many times (as `.att` layers, each with other annotations)
// costs one signature check of it; an envelope with more signatures than are checked is refused
// before any. Each check hashes the whole PAE (up to 16 MiB): without these bounds, a hostile
// `.att` of 1000 layers x 1000 signatures kept verify-attestation busy for hours.
const checks = vi.hoisted(() => ({ count: 0 }));
vi.mock('../../../src/sign/keys.js', async (original) => {
  const real = await original<typeof import('../../../src/sign/keys.js')>();
  return {
    ...real,
    verifySignature: (...args: Parameters<typeof real.verifySignature>) => {
      checks.count++;
      return real.verifySignature(...args);
    },
  };
});

let fx: LayoutSignFixture;
beforeAll(async () => {
  fx = await layoutSignFixture('rampart-envelope-work-');
});
afterAll(async () => fx?.cleanup());

it('one envelope listed 40 times is checked once; 17 signatures are refused unchecked', async () => {
  const { layout, ref, digest } = await fx.freshLayout('att');
  const statement = { buildDefinition: { buildType: 'x' }, runDetails: { builder: { id: 'y' } } };
  await attestImage(ref, fx.signer, 'slsaprovenance1', statement, { formats: ['legacy'] });
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
  const tag = `sha256-${digest.slice(7)}.att`;
  const entry = index.manifests.find(
    (m: { annotations?: Record<string, string> }) => m.annotations?.[REF_NAME] === tag,
  );
  const att = await readJson(layout, entry.digest);
  const [layer] = att.layers;
  const envelope = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', layer.digest.slice(7)), 'utf8'));
  // The same signatures again and again: 17 of them, one more than an envelope may hold.
  const crowded = Buffer.from(
    JSON.stringify({ ...envelope, signatures: Array.from({ length: 17 }, () => envelope.signatures[0]) }),
  );
  const crowdedLayer = { ...layer, digest: await putBlob(layout, crowded), size: crowded.length };
  att.layers = [
    ...Array.from({ length: 40 }, (_, i) => ({
      ...layer,
      annotations: { ...layer.annotations, n: String(i) },
    })),
    crowdedLayer,
  ];
  const rewritten = Buffer.from(JSON.stringify(att));
  entry.digest = await putBlob(layout, rewritten);
  entry.size = rewritten.length;
  await writeFile(join(layout, 'index.json'), JSON.stringify(index));

  checks.count = 0;
  const store = await openAttachmentStore(ref);
  const reports = await verifyAttestationsOfDigest(store, digest as Digest, fx.pub);
  expect(reports).toHaveLength(41);
  expect(reports.slice(0, 40).every((r) => r.valid)).toBe(true);
  expect(reports[40]).toMatchObject({ valid: false, failed: 'payload' });
  expect(reports[40]?.reason).toContain('17 signatures, more than the 16 checked');
  expect(checks.count).toBe(1);

  // Another key: still one check for the 40 listings, and each is reported as not signed by it.
  checks.count = 0;
  const other = await verifyAttestationsOfDigest(store, digest as Digest, fx.otherPub);
  expect(other.slice(0, 40).every((r) => !r.valid && r.failed === 'signature')).toBe(true);
  expect(checks.count).toBe(1);
});

it('one blob read as a legacy envelope and as a bundle is checked as each: a signed one does not vouch for a forged one', async () => {
  const { layout, ref, digest } = await fx.freshLayout('dual');
  const statement = { buildDefinition: { buildType: 'x' }, runDetails: { builder: { id: 'GOOD' } } };
  await attestImage(ref, fx.signer, 'slsaprovenance1', statement, { formats: ['legacy', 'bundle'] });
  // A genuinely signed envelope about another image (anyone can copy a public attestation)...
  const other = await fx.freshLayout('dual-other');
  await attestImage(other.ref, fx.signer, 'slsaprovenance1', statement, { formats: ['legacy'] });
  const otherIndex = JSON.parse(await readFile(join(other.layout, 'index.json'), 'utf8'));
  const otherAtt = await readJson(
    other.layout,
    otherIndex.manifests.find(
      (m: { annotations?: Record<string, string> }) =>
        m.annotations?.[REF_NAME] === `sha256-${other.digest.slice(7)}.att`,
    ).digest,
  );
  const signed = JSON.parse(
    await readFile(join(other.layout, 'blobs', 'sha256', otherAtt.layers[0].digest.slice(7)), 'utf8'),
  );
  // ...and, in the same blob, a bundle's envelope with a forged statement about this image.
  const forged = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'x', digest: { sha256: digest.slice(7) } }],
    predicateType: 'https://slsa.dev/provenance/v1',
    predicate: { buildDefinition: { buildType: 'x' }, runDetails: { builder: { id: 'EVIL' } } },
  };
  const dual = Buffer.from(
    JSON.stringify({
      ...signed,
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      dsseEnvelope: {
        payloadType: 'application/vnd.in-toto+json',
        payload: Buffer.from(JSON.stringify(forged)).toString('base64'),
        signatures: [{ sig: 'AAAA' }],
      },
    }),
  );
  const dualDigest = await putBlob(layout, dual);
  // The blob replaces the `.att` layer and the bundle referrer's layer alike.
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
  let replaced = 0;
  for (const entry of index.manifests) {
    if (entry.mediaType !== 'application/vnd.oci.image.manifest.v1+json' || entry.digest === digest) continue;
    const manifest = await readJson(layout, entry.digest);
    manifest.layers[0] = { ...manifest.layers[0], digest: dualDigest, size: dual.length };
    const raw = Buffer.from(JSON.stringify(manifest));
    entry.digest = await putBlob(layout, raw);
    entry.size = raw.length;
    replaced++;
  }
  expect(replaced).toBe(2);
  await writeFile(join(layout, 'index.json'), JSON.stringify(index));
  const reports = await verifyAttestationsOfDigest(await openAttachmentStore(ref), digest as Digest, fx.pub);
  expect(reports.map((r) => [r.format, r.valid, r.failed])).toEqual([
    ['legacy', false, 'digest'],
    ['bundle', false, 'signature'],
  ]);
});
