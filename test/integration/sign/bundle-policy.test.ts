import type { KeyObject } from 'node:crypto';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRampartError } from '../../../src/errors.js';
import { attestImage } from '../../../src/sign/attest.js';
import { generateKeyPair, parsePublicKey } from '../../../src/sign/keys.js';
import type { PolicyResult } from '../../../src/sign/policy.js';
import { evaluatePolicy, loadPolicy } from '../../../src/sign/policy.js';
import { signImage } from '../../../src/sign/sign.js';
import type { VerifyResult } from '../../../src/sign/verify.js';
import { writeRandomImage } from '../../helpers/random-image.js';
import { rampart } from '../../helpers/run-cli.js';
import {
  blobPath,
  type LayoutSignFixture,
  layoutSignFixture,
  putBlob,
  REF_NAME,
  readJson,
} from '../../helpers/sign-fixtures.js';

// Sigstore bundle files (sign/attest --bundle, verify --bundle; @sigstore/verify as the reference
// verifier, offline) and verification policies (verify --policy): every rule passing and failing.
const BUILDER = 'https://example.org/rampart-test/builder/v1';
const SPEC_HEX = 'ab'.repeat(32);
const STARTED = '2026-12-01T00:00:00Z';
const provenance = (builder = BUILDER, specHex = SPEC_HEX) => ({
  buildDefinition: {
    buildType: 'https://example.org/rampart-test/build/v1',
    externalParameters: {
      spec: { path: 'images/app.yaml', name: 'app', sha256: specHex, content: 'name: app\n' },
      variant: 'default',
      archs: ['amd64'],
    },
    internalParameters: {},
    resolvedDependencies: [],
  },
  runDetails: {
    builder: { id: builder },
    metadata: { invocationId: 'run-1', startedOn: STARTED, finishedOn: '2026-12-01T00:02:00Z' },
  },
});
const VEX = {
  '@context': 'https://openvex.dev/ns/v0.2.0',
  '@id': 'https://example.org/vex/1',
  author: 'rampart test',
  timestamp: '2026-01-01T00:00:00Z',
  version: 1,
  statements: [],
};
const NOW = () => new Date('2026-12-06T00:00:00Z');

let fx: LayoutSignFixture;
let work: string;
let pubFile: string;
let otherPubFile: string;
let keyFile: string;
const savedPassword = process.env.RAMPART_PASSWORD;

beforeAll(async () => {
  fx = await layoutSignFixture('rampart-bundle-policy-');
  work = fx.work;
  pubFile = join(work, 'signer.pub');
  otherPubFile = join(work, 'other.pub');
  await writeFile(pubFile, pemOf(fx.pub));
  await writeFile(otherPubFile, pemOf(fx.otherPub));
  // A key file for the CLI (the fixture's signer lives in memory).
  const pair = await generateKeyPair('cli pw', { scryptCost: 32768 });
  keyFile = join(work, 'cli.key');
  await writeFile(keyFile, pair.privateKey);
  await writeFile(join(work, 'cli.pub'), pair.publicKey);
  process.env.RAMPART_PASSWORD = 'cli pw';
}, 60_000);

afterAll(async () => {
  if (savedPassword === undefined) delete process.env.RAMPART_PASSWORD;
  else process.env.RAMPART_PASSWORD = savedPassword;
  await fx?.cleanup();
});

function pemOf(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

/** @sigstore/verify's check of a key-based bundle, offline (machine-notes recipe); throws when it refuses. */
function sigstoreVerify(bundleJson: unknown, pem: string): void {
  const bundle = bundleFromJSON(bundleJson);
  const key = parsePublicKey(pem);
  const hint = createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('base64');
  const root = TrustedRoot.fromJSON({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  });
  const trust = toTrustMaterial(root, (h) => {
    if (h !== hint) throw new Error(`unknown key hint ${h}`);
    return { publicKey: key, validFor: () => true };
  });
  new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(
    toSignedEntity(bundle),
  );
}

async function verifyBundleCli(pub: string, bundle: string, ref: string, ...extra: string[]) {
  const run = await rampart('verify', '-o', 'json', '--key', pub, '--bundle', bundle, ref, ...extra);
  return { code: run.code, stderr: run.stderr, result: JSON.parse(run.stdout || '{}') as VerifyResult };
}

describe('sigstore bundle files', () => {
  it('sign --bundle writes a v0.3 key bundle that @sigstore/verify and rampart verify --bundle accept', async () => {
    const { ref, digest, layout } = await fx.freshLayout('sign-bundle');
    const file = join(work, 'sign.sigstore.json');
    const signed = await rampart('sign', '--key', keyFile, '--bundle', file, '--format', 'legacy', ref);
    expect(signed.stderr).toBe('');
    expect(signed.code).toBe(0);
    const json = JSON.parse(await readFile(file, 'utf8'));
    expect(json.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(Object.keys(json.verificationMaterial)).toEqual(['publicKey']);
    expect(json.verificationMaterial.tlogEntries ?? []).toEqual([]);
    expect(json.dsseEnvelope.payloadType).toBe('application/vnd.in-toto+json');
    const statement = JSON.parse(Buffer.from(json.dsseEnvelope.payload, 'base64').toString('utf8'));
    expect(statement.subject[0].digest.sha256).toBe(digest.slice(7));
    expect(statement.subject[0].name).toBe(`oci:${layout}`);

    const cliPem = await readFile(join(work, 'cli.pub'), 'utf8');
    sigstoreVerify(json, cliPem);
    expect(() => sigstoreVerify(json, pemOf(fx.pub))).toThrow();

    const ok = await verifyBundleCli(join(work, 'cli.pub'), file, ref);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.result.signatures).toMatchObject([
      { format: 'bundle', valid: true, file, predicateType: 'https://sigstore.dev/cosign/sign/v1' },
    ]);
    const identity = await verifyBundleCli(join(work, 'cli.pub'), file, ref, '--identity', 'elsewhere');
    expect(identity.code).toBe(1);
    expect(identity.result.signatures[0]?.failed).toBe('identity');
    const wrong = await verifyBundleCli(pubFile, file, ref);
    expect(wrong.code).toBe(1);
    expect(wrong.result.signatures[0]).toMatchObject({ valid: false, failed: 'signature' });
    // The same bundle is no signature of another image.
    const other = await fx.freshLayout('sign-bundle-other');
    const elsewhere = await verifyBundleCli(join(work, 'cli.pub'), file, other.ref);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.result.signatures[0]?.failed).toBe('digest');
  });

  it('attest --bundle writes a bundle @sigstore/verify accepts; any changed byte of it is refused', async () => {
    const { ref, digest } = await fx.freshLayout('attest-bundle');
    const file = join(work, 'prov.sigstore.json');
    const result = await attestImage(ref, fx.signer, 'slsaprovenance1', provenance(), {
      formats: [],
      bundleFile: file,
    });
    expect(result).toMatchObject({ digest, attestations: [], bundleFile: file });
    const bytes = await readFile(file);
    const json = JSON.parse(bytes.toString('utf8'));
    sigstoreVerify(json, pemOf(fx.pub));
    const statement = JSON.parse(Buffer.from(json.dsseEnvelope.payload, 'base64').toString('utf8'));
    expect(statement.predicateType).toBe('https://slsa.dev/provenance/v1');
    const ok = await verifyBundleCli(pubFile, file, ref);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.result.signatures[0]?.predicateType).toBe('https://slsa.dev/provenance/v1');

    // The envelope's signature and payload, one bit each: both verifiers refuse.
    for (const part of ['sig', 'payload'] as const) {
      const changed = structuredClone(json);
      const target = part === 'sig' ? changed.dsseEnvelope.signatures[0] : changed.dsseEnvelope;
      const raw = Buffer.from(target[part], 'base64');
      raw[raw.length >> 1] = (raw[raw.length >> 1] as number) ^ 0x01;
      target[part] = raw.toString('base64');
      const path = join(work, `changed-${part}.json`);
      await writeFile(path, JSON.stringify(changed));
      expect(() => sigstoreVerify(changed, pemOf(fx.pub))).toThrow();
      const refused = await verifyBundleCli(pubFile, path, ref);
      expect(refused.code).toBe(1);
      expect(refused.result.signatures[0]?.failed).toBe('signature');
    }
    // Not a bundle at all: a failed report naming the payload, not a crash.
    const junk = join(work, 'junk.json');
    await writeFile(junk, '{"mediaType":"something else"}');
    const refused = await verifyBundleCli(pubFile, junk, ref);
    expect(refused.code).toBe(1);
    expect(refused.result.signatures[0]?.failed).toBe('payload');
  });

  it('a bundle file that is not a regular file, and a dir: image, are refused before reading', async () => {
    const { ref } = await fx.freshLayout('bundle-dir');
    const run = await rampart('verify', '-o', 'json', '--key', pubFile, '--bundle', work, ref);
    expect(run.code).toBe(2);
    // A dir: is refused before it is read (it would be packed whole), with a bundle or a policy.
    const file = join(work, 'dir-bundle.sigstore.json');
    await writeFile(file, '{}');
    await writeFile(join(work, 'dir-policy.yaml'), 'version: 1\nsigners:\n  - key: signer.pub\n');
    for (const args of [
      ['--key', pubFile, '--bundle', file],
      ['--policy', join(work, 'dir-policy.yaml')],
    ]) {
      const refused = await rampart('verify', '-o', 'json', ...args, `dir:${work}`);
      expect(refused.code).toBe(2);
      expect(JSON.parse(refused.stderr.replace(/^error: /, '')).error.code).toBe('UNSUPPORTED_TRANSPORT');
    }
  });
});

/** An OCI index of `manifests` stored in the layout; its descriptor. */
async function putIndexBlob(layout: string, manifests: unknown[]) {
  const mediaType = 'application/vnd.oci.image.index.v1+json';
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests }));
  return { mediaType, digest: await putBlob(layout, bytes), size: bytes.length };
}

async function policyFile(name: string, text: string): Promise<string> {
  const path = join(work, name);
  await writeFile(path, text);
  return path;
}

async function policyInvalid(text: string): Promise<string | undefined> {
  try {
    await loadPolicy(await policyFile('bad.yaml', text));
  } catch (error) {
    if (isRampartError(error, 'POLICY_INVALID')) return error.details.field ?? '';
    throw error;
  }
  return undefined;
}

describe('verification policies', () => {
  it('a malformed policy is POLICY_INVALID naming the field', async () => {
    const base = 'version: 1\nsigners:\n  - key: signer.pub\n';
    expect(await policyInvalid(`${base}max-age: 30 days\n`)).toBe('max-age');
    expect(await policyInvalid(`${base}non-root: yes please\n`)).toBe('non-root');
    expect(await policyInvalid(`${base}provenance:\n  builder: x\n`)).toBe('provenance.builder');
    expect(await policyInvalid(`${base}provenance:\n  spec-digest: sha256:AB\n`)).toBe(
      'provenance.spec-digest',
    );
    expect(await policyInvalid(`${base}predicate-types: [not a uri]\n`)).toBe('predicate-types.0');
    expect(await policyInvalid('version: 1\nsigners: []\n')).toBe('signers');
    expect(await policyInvalid('version: 2\nsigners:\n  - key: signer.pub\n')).toBe('version');
    expect(await policyInvalid('version: 1\nsigners:\n  - key: missing.pub\n')).toBe('signers.0.key');
    expect(await policyInvalid('version: 1\nsigners:\n  - public-key: not a pem\n')).toBe(
      'signers.0.public-key',
    );
    expect(await policyInvalid('version: 1\nsigners:\n  - key: signer.pub\n  - key: signer.pub\n')).toBe(
      'signers.1.key',
    );
    // An alias bomb is refused, not expanded.
    expect(await policyInvalid(`${base}x: &a [1]\ny: *a\n`)).toBe('');
    expect(await policyInvalid('version: 1\nsigners: [\n')).toBe('');
    const cli = await rampart('verify', '--policy', join(work, 'bad.yaml'), `oci:${work}/nothing:app`);
    expect(cli.code).toBe(2);
  });

  it('every rule passes on a signed, attested, non-root image, and the CLI prints each', async () => {
    const { ref } = await fx.freshLayout('policy-pass', { User: '65532:65532' });
    await signImage(ref, fx.signer);
    await attestImage(ref, fx.signer, 'slsaprovenance1', provenance());
    await attestImage(ref, fx.signer, 'openvex', VEX, { formats: ['legacy'] });
    const path = await policyFile(
      'pass.yaml',
      `version: 1
signers:
  - name: release
    key: signer.pub
predicate-types: [slsaprovenance1, openvex]
provenance:
  builder-id: ${BUILDER}
  spec-digest: sha256:${SPEC_HEX}
max-age: 36500d
non-root: true
`,
    );
    const result = await evaluatePolicy(ref, await loadPolicy(path), { now: NOW });
    expect(result.rules.map((r) => [r.rule, r.passed])).toEqual([
      ['signer', true],
      ['predicate-type', true],
      ['predicate-type', true],
      ['provenance.builder-id', true],
      ['provenance.spec-digest', true],
      ['max-age', true],
      ['non-root', true],
    ]);
    expect(result.passed).toBe(true);
    const cli = await rampart('verify', '--policy', path, ref);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(cli.stdout.split('\n').filter((l) => l.startsWith('  pass '))).toHaveLength(7);
  });

  it('every rule fails with its reason, all evaluated, and the CLI exits 1', async () => {
    const { ref, digest } = await fx.freshLayout('policy-fail', { User: 'root' });
    await signImage(ref, fx.signer);
    await attestImage(
      ref,
      fx.signer,
      'slsaprovenance1',
      provenance('https://example.org/other-builder', 'cd'.repeat(32)),
    );
    const path = await policyFile(
      'fail.yaml',
      `version: 1
signers:
  - key: signer.pub
  - name: second
    key: other.pub
predicate-types: [slsaprovenance1, cyclonedx]
provenance:
  builder-id: ${BUILDER}
  spec-digest: sha256:${SPEC_HEX}
max-age: 2d
non-root: true
`,
    );
    const result: PolicyResult = await evaluatePolicy(ref, await loadPolicy(path), { now: NOW });
    expect(result.passed).toBe(false);
    const byRule = result.rules.map((r) => [r.rule, r.requirement, r.passed]);
    expect(byRule).toEqual([
      ['signer', 'signer.pub', true],
      ['signer', 'second', false],
      ['predicate-type', 'https://slsa.dev/provenance/v1', true],
      ['predicate-type', 'https://cyclonedx.org/bom', false],
      ['provenance.builder-id', BUILDER, false],
      ['provenance.spec-digest', `sha256:${SPEC_HEX}`, false],
      ['max-age', '2d', false],
      ['non-root', 'a non-root user', false],
    ]);
    expect(result.rules[1]?.reason).toContain(digest);
    expect(result.rules[4]?.reason).toContain('https://example.org/other-builder');
    expect(result.rules[6]?.reason).toContain(STARTED);
    expect(result.rules[7]?.reason).toContain('root');

    const cli = await rampart('verify', '-o', 'json', '--policy', path, ref);
    expect(cli.code).toBe(1);
    const json = JSON.parse(cli.stdout) as PolicyResult;
    expect(json.rules.filter((r) => !r.passed).length).toBeGreaterThanOrEqual(6);
  });

  it('provenance by a key the policy does not name counts for nothing; no User is root', async () => {
    const { ref } = await fx.freshLayout('policy-unsigned');
    const stranger = await generateKeyPair('x', { scryptCost: 32768 });
    const { decryptPrivateKey, keySigner } = await import('../../../src/sign/keys.js');
    const strangerSigner = keySigner(await decryptPrivateKey(stranger.privateKey, 'x'));
    await signImage(ref, fx.signer, { formats: ['bundle'] });
    await attestImage(ref, strangerSigner, 'slsaprovenance1', provenance());
    const path = await policyFile(
      'unsigned.yaml',
      `version: 1\nsigners:\n  - key: signer.pub\nprovenance:\n  builder-id: ${BUILDER}\nnon-root: true\n`,
    );
    const result = await evaluatePolicy(ref, await loadPolicy(path), { now: NOW });
    expect(result.rules.map((r) => [r.rule, r.passed])).toEqual([
      ['signer', true],
      ['provenance.builder-id', false],
      ['non-root', false],
    ]);
    expect(result.rules[1]?.reason).toContain('no SLSA v1 provenance by a required signer');
  });
  it('on an index: signers on the index, attestations and non-root on each platform image', async () => {
    const layout = join(work, 'policy-index');
    const a = await writeRandomImage(layout, 'a', [500], { User: '65532' });
    const b = await writeRandomImage(layout, 'b', [600], { User: '0:0' });
    const entry = async (digest: string, architecture: string) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest,
      size: (await readFile(blobPath(layout, digest))).length,
      platform: { os: 'linux', architecture },
    });
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [await entry(a.digest, 'amd64'), await entry(b.digest, 'arm64')],
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
          // The platform images tagged too, so the test can attest one of them on its own.
          { ...(await entry(a.digest, 'amd64')), annotations: { [REF_NAME]: 'a' } },
        ],
      }),
    );
    const ref = `oci:${layout}:multi`;
    await signImage(ref, fx.signer, { formats: ['bundle'] });
    // Provenance on the amd64 image only.
    await attestImage(`oci:${layout}:a`, fx.signer, 'slsaprovenance1', provenance(), {
      formats: ['bundle'],
    });
    const path = await policyFile(
      'index.yaml',
      `version: 1\nsigners:\n  - key: signer.pub\nprovenance:\n  builder-id: ${BUILDER}\nnon-root: true\n`,
    );
    const first = await evaluatePolicy(ref, await loadPolicy(path), { now: NOW });
    expect(first.digest).toBe(indexDigest);
    expect(first.subjects).toEqual([a.digest, b.digest]);
    expect(first.rules.map((r) => [r.rule, r.passed])).toEqual([
      ['signer', true],
      ['provenance.builder-id', false],
      ['non-root', false],
    ]);
    expect(first.rules[1]?.reason).toContain(b.digest);
    expect(first.rules[1]?.reason).not.toContain(a.digest);
    expect(first.rules[2]?.reason).toContain(`${b.digest} runs as 0:0`);
    // Provenance on the index counts for every platform.
    await attestImage(ref, fx.signer, 'slsaprovenance1', provenance(), { formats: ['legacy'] });
    const second = await evaluatePolicy(ref, await loadPolicy(path), { now: NOW });
    expect(second.rules.map((r) => [r.rule, r.passed])).toEqual([
      ['signer', true],
      ['provenance.builder-id', true],
      ['non-root', false],
    ]);
  });

  it('an index the policy cannot see through fails its image rules: empty, nested too deep, too wide', async () => {
    const layout = join(work, 'policy-unseen');
    const image = await writeRandomImage(layout, 'img', [300], { User: '65532' });
    const root = await writeRandomImage(layout, 'root', [310], { User: 'root' });
    const entryOf = async (digest: string, architecture = 'amd64') => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest,
      size: (await readFile(blobPath(layout, digest))).length,
      platform: { os: 'linux', architecture },
    });
    const putIndex = (manifests: unknown[]) => putIndexBlob(layout, manifests);
    const deep = await putIndex([await putIndex([await putIndex([await entryOf(image.digest)])])]);
    const empty = await putIndex([]);
    // MAX_POLICY_SUBJECTS non-root entries, then one image that runs as root.
    const { MAX_POLICY_SUBJECTS } = await import('../../../src/sign/policy.js');
    const arm = await entryOf(image.digest, 'arm64');
    const wide = await putIndex([
      ...Array.from({ length: MAX_POLICY_SUBJECTS }, () => arm),
      await entryOf(root.digest),
    ]);
    const tagged = (name: string, descriptor: object) => ({
      ...descriptor,
      annotations: { [REF_NAME]: name },
    });
    await writeFile(
      join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [tagged('deep', deep), tagged('empty', empty), tagged('wide', wide)],
      }),
    );
    const path = await policyFile(
      'unseen.yaml',
      'version: 1\nsigners:\n  - key: signer.pub\nnon-root: true\n',
    );
    for (const [tag, reason] of [
      ['deep', 'nested more than two levels deep'],
      ['empty', 'lists no image'],
      ['wide', `more than ${MAX_POLICY_SUBJECTS} index entries`],
    ] as const) {
      const ref = `oci:${layout}:${tag}`;
      await signImage(ref, fx.signer, { formats: ['bundle'] });
      const result = await evaluatePolicy(ref, await loadPolicy(path), { now: NOW });
      expect(
        result.rules.map((r) => [r.rule, r.passed]),
        tag,
      ).toEqual([
        ['signer', true],
        ['non-root', false],
      ]);
      expect(result.rules[1]?.reason, tag).toContain(reason);
      expect(result.passed, tag).toBe(false);
    }
  });

  it('an index child that is no image rampart reads fails its image rules, unless it is an attestation manifest', async () => {
    const layout = join(work, 'policy-not-image');
    const image = await writeRandomImage(layout, 'img', [300], { User: '65532' });
    const other = await writeRandomImage(layout, 'other', [310], { User: 'root' });
    // A root image whose layer type rampart does not read (a runtime might run it).
    const foreign = await readJson(layout, other.digest);
    foreign.layers = foreign.layers.map((l: { mediaType: string }) => ({
      ...l,
      mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar',
    }));
    const foreignRaw = Buffer.from(JSON.stringify(foreign));
    const entryOf = (digest: string, size: number, os: string, architecture: string) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest,
      size,
      platform: { os, architecture },
    });
    const imageEntry = entryOf(
      image.digest,
      (await readFile(blobPath(layout, image.digest))).length,
      'linux',
      'amd64',
    );
    const foreignEntry = entryOf(await putBlob(layout, foreignRaw), foreignRaw.length, 'linux', 'arm64');
    const attestationEntry = { ...foreignEntry, platform: { os: 'unknown', architecture: 'unknown' } };
    // The annotation alone, on a platform a runtime selects, is no attestation manifest.
    const annotatedEntry = {
      ...foreignEntry,
      annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
    };
    // An OCI 1.1 artifact (empty config, an artifactType): nothing a runtime runs.
    const artifactRaw = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.example.wasm',
        config: {
          mediaType: 'application/vnd.oci.empty.v1+json',
          digest: await putBlob(layout, Buffer.from('{}')),
          size: 2,
        },
        layers: foreign.layers,
      }),
    );
    const artifactEntry = entryOf(await putBlob(layout, artifactRaw), artifactRaw.length, 'linux', 'amd64');
    const indexOf = (manifests: unknown[]) => putIndexBlob(layout, manifests);
    const tagged = async (name: string, manifests: unknown[]) => ({
      ...(await indexOf(manifests)),
      annotations: { [REF_NAME]: name },
    });
    await writeFile(
      join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          await tagged('foreign', [imageEntry, foreignEntry]),
          await tagged('buildx', [imageEntry, attestationEntry]),
          await tagged('annotated', [imageEntry, annotatedEntry]),
          await tagged('artifact', [imageEntry, artifactEntry]),
        ],
      }),
    );
    const path = await policyFile(
      'not-image.yaml',
      'version: 1\nsigners:\n  - key: signer.pub\nnon-root: true\n',
    );
    for (const [tag, passed] of [
      ['foreign', false],
      ['buildx', true],
      ['annotated', false],
      ['artifact', true],
    ] as const) {
      const ref = `oci:${layout}:${tag}`;
      await signImage(ref, fx.signer, { formats: ['bundle'] });
      const result = await evaluatePolicy(ref, await loadPolicy(path), { now: NOW });
      expect(result.rules[1], tag).toMatchObject({ rule: 'non-root', passed });
      if (!passed) expect(result.rules[1]?.reason).toContain('not images rampart reads');
    }
  });

  it('max-age takes an RFC 3339 startedOn only, and none from the future', async () => {
    const path = await policyFile('age.yaml', 'version: 1\nsigners:\n  - key: signer.pub\nmax-age: 1h\n');
    const cases = [
      ['2999-01-01T00:00:00Z', 'in the future'],
      ['3000', 'not an RFC 3339 time'],
      ['2026-12-05T23:30:00', 'not an RFC 3339 time'],
      ['2026-02-30T00:00:00Z', 'not an RFC 3339 time'],
    ] as const;
    // The max-age rule on a fresh image whose signed provenance started at `started`.
    const ageRule = async (started: string) => {
      const { ref } = await fx.freshLayout(`policy-age-${started.replace(/[^0-9a-z]/gi, '')}`);
      await signImage(ref, fx.signer, { formats: ['bundle'] });
      const predicate = provenance();
      predicate.runDetails.metadata.startedOn = started;
      await attestImage(ref, fx.signer, 'slsaprovenance1', predicate, { formats: ['bundle'] });
      return (await evaluatePolicy(ref, await loadPolicy(path), { now: NOW })).rules[1];
    };
    for (const [started, reason] of cases) {
      const rule = await ageRule(started);
      expect(rule, started).toMatchObject({ rule: 'max-age', passed: false });
      expect(rule?.reason, started).toContain(reason);
    }
    // Within the clock skew allowed, and in the past within the age: passes.
    for (const started of [
      '2026-12-06T00:04:00Z',
      '2026-12-05T23:30:00+00:00',
      '2026-12-06T01:00:00+01:00',
    ]) {
      expect(await ageRule(started), started).toMatchObject({ rule: 'max-age', passed: true });
    }
  });
});

describe('isRootUser', () => {
  it('reads a numeric user as runc and containerd do (an optional sign)', async () => {
    const { isRootUser } = await import('../../../src/sign/policy.js');
    for (const user of ['', 'root', '0', '000', '+0', '-0', '+0:0', ' 0 ', '0:1000', 'root:x'])
      expect(isRootUser(user), JSON.stringify(user)).toBe(true);
    for (const user of ['65532', '65532:65532', '+1', 'nonroot', '10', 'rootless', '0x0'])
      expect(isRootUser(user), JSON.stringify(user)).toBe(false);
  });
});
