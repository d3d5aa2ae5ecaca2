import type { KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRampartError } from '../../../src/errors.js';
import { attestImage, readPredicateFile } from '../../../src/sign/attest.js';
import { PREDICATE_TYPES } from '../../../src/sign/formats.js';
import type { Signer } from '../../../src/sign/keys.js';
import { signImage, signStatementDsse } from '../../../src/sign/sign.js';
import { verifyImage } from '../../../src/sign/verify.js';
import { verifyAttestations } from '../../../src/sign/verify-attestation.js';
import { runCommand } from '../../helpers/processes.js';
import {
  type LayoutSignFixture,
  layoutSignFixture,
  putBlob,
  REF_NAME,
  readJson,
} from '../../helpers/sign-fixtures.js';

// Attestations in OCI layouts: both formats written and verified, --type, and every stored part
// changed (envelope payload, signature, the statement's subject) rejected naming the failed check.
const VEX = {
  '@context': 'https://openvex.dev/ns/v0.2.0',
  '@id': 'https://example.org/vex/1',
  author: 'rampart test',
  timestamp: '2026-01-01T00:00:00Z',
  version: 1,
  statements: [],
};

let fx: LayoutSignFixture;
let work: string;
let signer: Signer;
let pub: KeyObject;
let otherPub: KeyObject;

beforeAll(async () => {
  fx = await layoutSignFixture('rampart-attest-layout-');
  ({ work, signer, pub, otherPub } = fx);
}, 60_000);

afterAll(async () => {
  await fx?.cleanup();
});

const freshLayout = (name: string) => fx.freshLayout(name);
async function index(layout: string) {
  return JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
    manifests: Array<{ digest: string; size: number; annotations?: Record<string, string> }>;
  };
}
/** Replaces the `.att` manifest's only layer with `envelope` (a new blob; manifest and index.json rewritten). */
async function replaceAttLayer(layout: string, digest: string, envelope: Buffer) {
  const idx = await index(layout);
  const entry = idx.manifests.find((e) => e.annotations?.[REF_NAME] === `sha256-${digest.slice(7)}.att`);
  if (!entry) throw new Error('no .att entry');
  const manifest = await readJson(layout, entry.digest);
  manifest.layers[0] = {
    ...manifest.layers[0],
    digest: await putBlob(layout, envelope),
    size: envelope.length,
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  Object.assign(entry, { digest: await putBlob(layout, bytes), size: bytes.length });
  await writeFile(join(layout, 'index.json'), JSON.stringify(idx));
}
async function attEnvelope(layout: string, digest: string) {
  const entry = (await index(layout)).manifests.find(
    (e) => e.annotations?.[REF_NAME] === `sha256-${digest.slice(7)}.att`,
  );
  const manifest = await readJson(layout, entry?.digest as string);
  return { manifest, envelope: await readJson(layout, manifest.layers[0].digest) };
}
function flip(base64: string, at: number): string {
  const bytes = Buffer.from(base64, 'base64');
  bytes[at] = (bytes[at] as number) ^ 0x01;
  return bytes.toString('base64');
}

describe('attest and verify-attestation in an OCI layout', () => {
  it('writes both formats, appends .att layers, verifies, filters by --type, and refuses another key', async () => {
    const { layout, ref, digest } = await freshLayout('both');
    const first = await attestImage(ref, signer, 'openvex', VEX);
    expect(first).toMatchObject({ digest, predicateType: 'https://openvex.dev/ns' });
    expect(first.attestations.map((a) => a.format).sort()).toEqual(['bundle', 'legacy']);
    await attestImage(
      ref,
      signer,
      'cyclonedx',
      { bomFormat: 'CycloneDX', specVersion: '1.5' },
      {
        formats: ['legacy'],
      },
    );
    const { manifest, envelope } = await attEnvelope(layout, digest);
    expect(manifest.layers.map((l: { annotations: Record<string, string> }) => l.annotations)).toEqual([
      { 'dev.cosignproject.cosign/signature': '', predicateType: 'https://openvex.dev/ns' },
      { 'dev.cosignproject.cosign/signature': '', predicateType: 'https://cyclonedx.org/bom' },
    ]);
    expect(manifest.layers[0].mediaType).toBe('application/vnd.dsse.envelope.v1+json');
    expect(envelope.signatures).toHaveLength(1);
    expect(envelope.signatures[0].keyid).toBe('');

    const all = await verifyAttestations(ref, pub);
    expect(all.verified).toBe(true);
    expect(all.attestations.map((a) => [a.format, a.predicateType, a.valid, a.subjectMatches])).toEqual([
      ['legacy', 'https://openvex.dev/ns', true, true],
      ['legacy', 'https://cyclonedx.org/bom', true, true],
      ['bundle', 'https://openvex.dev/ns', true, true],
    ]);
    expect(all.attestations[0]?.statement).toEqual({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: `oci:${layout}`, digest: { sha256: digest.slice(7) } }],
      predicateType: 'https://openvex.dev/ns',
      predicate: VEX,
    });
    const cdx = await verifyAttestations(ref, pub, { type: 'cyclonedx' });
    expect(cdx.attestations.map((a) => a.predicateType)).toEqual(['https://cyclonedx.org/bom']);
    expect(cdx.predicateType).toBe(PREDICATE_TYPES.cyclonedx);
    const none = await verifyAttestations(ref, pub, { type: 'slsaprovenance1' });
    expect(none).toMatchObject({ verified: false, attestations: [] });

    const wrong = await verifyAttestations(ref, otherPub);
    expect(wrong.verified).toBe(false);
    expect(wrong.attestations.map((a) => a.failed)).toEqual(['signature', 'signature', 'signature']);
  });

  it('concurrent attesters of one image all keep their .att layer', async () => {
    const { layout, ref, digest } = await freshLayout('concurrent');
    await Promise.all(
      Array.from({ length: 4 }, () => attestImage(ref, signer, 'openvex', VEX, { formats: ['legacy'] })),
    );
    expect((await attEnvelope(layout, digest)).manifest.layers).toHaveLength(4);
    const result = await verifyAttestations(ref, pub, { type: 'openvex' });
    expect(result.attestations.map((a) => a.valid)).toEqual([true, true, true, true]);
  });

  it('attestations are not signatures, and signatures are not attestations', async () => {
    const { ref } = await freshLayout('apart');
    await signImage(ref, signer);
    expect((await verifyAttestations(ref, pub)).attestations).toEqual([]);
    await attestImage(ref, signer, 'openvex', VEX);
    expect((await verifyImage(ref, pub)).signatures.map((s) => s.format).sort()).toEqual([
      'bundle',
      'legacy',
    ]);
    expect((await verifyAttestations(ref, pub)).attestations).toHaveLength(2);
    // With another key: the failures listed are the signatures', not the attestations'.
    expect((await verifyImage(ref, otherPub)).signatures).toHaveLength(2);
    expect((await verifyAttestations(ref, otherPub)).attestations).toHaveLength(2);
  });

  it('rejects a flipped byte in the envelope payload, in the signature, and a statement about another digest', async () => {
    const { layout, ref, digest } = await freshLayout('tamper');
    await attestImage(ref, signer, 'openvex', VEX, { formats: ['legacy'] });
    const { envelope } = await attEnvelope(layout, digest);
    const payloadLength = Buffer.from(envelope.payload, 'base64').length;
    // Every byte position of the payload.
    for (let at = 0; at < payloadLength; at++) {
      await replaceAttLayer(
        layout,
        digest,
        Buffer.from(JSON.stringify({ ...envelope, payload: flip(envelope.payload, at) })),
      );
      const result = await verifyAttestations(ref, pub);
      expect(result.verified, `payload byte ${at}`).toBe(false);
      expect(result.attestations[0]?.failed, `payload byte ${at}`).toBe('signature');
    }
    const sig = envelope.signatures[0].sig as string;
    for (let at = 0; at < Buffer.from(sig, 'base64').length; at++) {
      const signatures = [{ keyid: '', sig: flip(sig, at) }];
      await replaceAttLayer(layout, digest, Buffer.from(JSON.stringify({ ...envelope, signatures })));
      const result = await verifyAttestations(ref, pub);
      expect(result.verified, `signature byte ${at}`).toBe(false);
      expect(['signature', 'payload'], `signature byte ${at}`).toContain(result.attestations[0]?.failed);
    }
    // A valid signature by the key over a statement whose subject is another digest.
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));
    const hex = statement.subject[0].digest.sha256 as string;
    statement.subject[0].digest.sha256 = `${hex[0] === '0' ? '1' : '0'}${hex.slice(1)}`;
    const other = await signStatementDsse(signer, Buffer.from(JSON.stringify(statement)), '');
    await replaceAttLayer(layout, digest, Buffer.from(JSON.stringify(other)));
    const moved = await verifyAttestations(ref, pub);
    expect(moved.verified).toBe(false);
    expect(moved.attestations[0]).toMatchObject({ valid: false, failed: 'digest', subjectMatches: false });
    // The untouched envelope still verifies: the failures above were the changes.
    await replaceAttLayer(layout, digest, Buffer.from(JSON.stringify(envelope)));
    expect((await verifyAttestations(ref, pub)).verified).toBe(true);
  }, 120_000);

  it('rejects a bundle whose statement was altered or names another digest', async () => {
    const { layout, ref, digest } = await freshLayout('tamper-bundle');
    const written = await attestImage(ref, signer, 'openvex', VEX, { formats: ['bundle'] });
    const referrer = await readJson(layout, written.attestations[0]?.digest as string);
    expect(referrer.annotations['dev.sigstore.bundle.predicateType']).toBe('https://openvex.dev/ns');
    expect(referrer.subject.digest).toBe(digest);
    const bundle = await readJson(layout, referrer.layers[0].digest);
    let current = written.attestations[0]?.digest as string;
    // A new bundle blob, a new referrer manifest, and index.json pointing at it (as a writer would).
    const rewrite = async (dsseEnvelope: unknown) => {
      const bytes = Buffer.from(JSON.stringify({ ...bundle, dsseEnvelope }));
      const layers = [{ ...referrer.layers[0], digest: await putBlob(layout, bytes), size: bytes.length }];
      const manifest = Buffer.from(JSON.stringify({ ...referrer, layers }));
      const next = await putBlob(layout, manifest);
      const idx = await index(layout);
      for (const entry of idx.manifests)
        if (entry.digest === current) Object.assign(entry, { digest: next, size: manifest.length });
      await writeFile(join(layout, 'index.json'), JSON.stringify(idx));
      current = next;
    };
    await rewrite({ ...bundle.dsseEnvelope, payload: flip(bundle.dsseEnvelope.payload, 10) });
    const payload = await verifyAttestations(ref, pub);
    expect(payload.verified).toBe(false);
    expect(payload.attestations[0]).toMatchObject({ format: 'bundle', failed: 'signature' });
    const sig = bundle.dsseEnvelope.signatures[0].sig as string;
    await rewrite({ ...bundle.dsseEnvelope, signatures: [{ sig: flip(sig, 12) }] });
    expect((await verifyAttestations(ref, pub)).attestations[0]?.failed).toBe('signature');
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8'));
    const hex = statement.subject[0].digest.sha256 as string;
    statement.subject[0].digest.sha256 = `${hex[0] === '0' ? '1' : '0'}${hex.slice(1)}`;
    await rewrite(await signStatementDsse(signer, Buffer.from(JSON.stringify(statement))));
    const moved = await verifyAttestations(ref, pub);
    expect(moved.attestations[0]).toMatchObject({ valid: false, failed: 'digest', subjectMatches: false });
    await rewrite(bundle.dsseEnvelope);
    expect((await verifyAttestations(ref, pub)).verified).toBe(true);
  });
});

describe('predicate files', () => {
  it('reads a JSON object; refuses over the bound, non-JSON, non-objects and FIFOs with typed errors', async () => {
    const file = join(work, 'p.json');
    await writeFile(file, JSON.stringify(VEX));
    expect(await readPredicateFile(file)).toEqual(VEX);
    const codeOf = async (promise: Promise<unknown>) => {
      try {
        await promise;
      } catch (error) {
        return isRampartError(error) ? { code: error.code, details: error.details } : error;
      }
      return undefined;
    };
    expect(await codeOf(readPredicateFile(file, 10))).toEqual({
      code: 'TOO_LARGE',
      details: { limit: 10, path: file },
    });
    await writeFile(file, '{"a":');
    expect(await codeOf(readPredicateFile(file))).toEqual({
      code: 'PREDICATE_INVALID',
      details: { path: file },
    });
    await writeFile(file, '[1,2]');
    expect(await codeOf(readPredicateFile(file))).toEqual({
      code: 'PREDICATE_INVALID',
      details: { path: file },
    });
    await writeFile(file, Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]));
    expect(await codeOf(readPredicateFile(file))).toEqual({
      code: 'PREDICATE_INVALID',
      details: { path: file },
    });
    const deep = 200_000;
    await writeFile(file, `{"a":${'['.repeat(deep)}${']'.repeat(deep)}}`);
    expect(await codeOf(readPredicateFile(file))).toEqual({
      code: 'PREDICATE_INVALID',
      details: { path: file },
    });
    const fifo = join(work, 'fifo');
    expect((await runCommand('mkfifo', [fifo])).exitCode).toBe(0);
    expect(await codeOf(readPredicateFile(fifo))).toEqual({
      code: 'PREDICATE_INVALID',
      details: { path: fifo },
    });
    expect(((await codeOf(readPredicateFile(join(work, 'absent.json')))) as { code: string }).code).toBe(
      'NOT_FOUND',
    );
  });

  it('rejects a statement signed by the key that nests too deep to print', async () => {
    const { layout, ref, digest } = await freshLayout('deep');
    await attestImage(ref, signer, 'openvex', VEX, { formats: ['legacy'] });
    const depth = 100_000;
    const statement = `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"${digest.slice(7)}"}}],"predicateType":"https://openvex.dev/ns","predicate":{"a":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
    const envelope = await signStatementDsse(signer, Buffer.from(statement), '');
    await replaceAttLayer(layout, digest, Buffer.from(JSON.stringify(envelope)));
    const result = await verifyAttestations(ref, pub);
    expect(result.attestations[0]).toMatchObject({ valid: false, failed: 'payload' });
    expect(() => JSON.stringify(result)).not.toThrow();
  });

  it('refuses an unknown --type that is not a URI', async () => {
    const { ref } = await freshLayout('type');
    await expect(attestImage(ref, signer, 'not a type', VEX)).rejects.toMatchObject({ code: 'USAGE' });
    await expect(verifyAttestations(ref, pub, { type: 'slsa' })).rejects.toMatchObject({ code: 'USAGE' });
  });
});
