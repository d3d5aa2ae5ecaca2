import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRampartError } from '../../../src/errors.js';
import { attestImage } from '../../../src/sign/attest.js';
import { keylessMaterial } from '../../../src/sign/keyless.js';
import { evaluatePolicy, loadPolicy, type PolicyResult } from '../../../src/sign/policy.js';
import { signImage } from '../../../src/sign/sign.js';
import { rampart } from '../../helpers/run-cli.js';
import { type LayoutSignFixture, layoutSignFixture } from '../../helpers/sign-fixtures.js';
import { mockIdentityToken, type SigstoreMock, startSigstoreMock } from '../../helpers/sigstore-mock.js';

// Keyless signers in a verification policy (`signers[].keyless`: a trusted root file and the
// accepted certificate identities), against sigstore-js's mock Fulcio and Rekor on 127.0.0.1:
// a keyless signature and attestation by an accepted identity pass every rule; another subject,
// another issuer, another CA's root, or only a key's signature fail, each with its reason; and
// only what an accepted identity attested is believed by the attestation rules.
const IDENTITY = 'https://example.org/rampart/ci/release.yml@refs/heads/main';
const ISSUER = 'https://token.example.org';
const BUILDER = 'https://example.org/rampart-test/builder/v1';
const provenance = (builder = BUILDER) => ({
  buildDefinition: {
    buildType: 'https://example.org/rampart-test/build/v1',
    externalParameters: { spec: { sha256: 'ab'.repeat(32) } },
    internalParameters: {},
    resolvedDependencies: [],
  },
  runDetails: {
    builder: { id: builder },
    metadata: { invocationId: 'run-1', startedOn: '2026-12-01T00:00:00Z' },
  },
});
const NOW = () => new Date('2026-12-06T00:00:00Z');

let fx: LayoutSignFixture;
let mock: SigstoreMock;
let otherMock: SigstoreMock;
let signed: { ref: string; digest: string };

beforeAll(async () => {
  fx = await layoutSignFixture('rampart-keyless-policy-');
  [mock, otherMock] = await Promise.all([startSigstoreMock(), startSigstoreMock()]);
  await writeFile(join(fx.work, 'root.json'), mock.trustedRoot());
  await writeFile(join(fx.work, 'other-root.json'), otherMock.trustedRoot());
  await writeFile(join(fx.work, 'signer.pub'), await fx.signer.publicKey());
  const identityToken = mockIdentityToken({ sub: IDENTITY, iss: ISSUER });
  const material = await keylessMaterial({ identityToken, fulcioURL: mock.url, rekorURL: mock.url });
  signed = await fx.freshLayout('signed', { User: '65532:65532' });
  await signImage(signed.ref, material);
  await attestImage(signed.ref, material, 'slsaprovenance1', provenance(), { formats: ['bundle'] });
  // cosign 2's keyless .att only: the openvex rule passes through it.
  await attestImage(signed.ref, material, 'openvex', { statements: [] }, { formats: ['legacy'] });
  // A key's provenance naming another builder: believed only when the key is a signer.
  await attestImage(signed.ref, fx.signer, 'slsaprovenance1', provenance('https://example.org/other'));
}, 120_000);

afterAll(async () => {
  await Promise.all([mock?.close(), otherMock?.close()]);
  await fx?.cleanup();
});

async function policyFile(name: string, text: string): Promise<string> {
  const path = join(fx.work, name);
  await writeFile(path, text);
  return path;
}

/** A policy with one keyless signer (`identities` as YAML lines) and a provenance builder rule. */
const keylessPolicy = (identities: string, root = 'root.json') => `version: 1
signers:
  - name: ci
    keyless:
      trusted-root: ${root}
      identities:
${identities}
predicate-types: [slsaprovenance1, openvex]
provenance:
  builder-id: ${BUILDER}
non-root: true
`;
const evaluate = async (name: string, text: string): Promise<PolicyResult> =>
  evaluatePolicy(signed.ref, await loadPolicy(await policyFile(name, text)), { now: NOW });
const verdicts = (result: PolicyResult) => result.rules.map((r) => [r.rule, r.passed]);

describe('verify --policy with keyless signers', () => {
  it('a keyless signature and provenance by the accepted identity pass every rule (library and CLI)', async () => {
    const text = keylessPolicy(`        - issuer: ${ISSUER}\n          subject: ${IDENTITY}`);
    const result = await evaluate('pass.yaml', text);
    expect(verdicts(result)).toEqual([
      ['signer', true],
      ['predicate-type', true],
      ['predicate-type', true],
      ['provenance.builder-id', true],
      ['non-root', true],
    ]);
    expect(result.rules[0]?.requirement).toBe('ci');
    expect(result.rules[0]?.reason).toContain('2 valid signature(s)');
    // The key's provenance names another builder, but the key is no signer: not looked at.
    expect(result.passed).toBe(true);

    const cli = await rampart('verify', '--policy', join(fx.work, 'pass.yaml'), '-o', 'json', signed.ref);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout).passed).toBe(true);
  });

  it('a subject regexp, or any one of several identities, is accepted', async () => {
    const regexp = await evaluate(
      'regexp.yaml',
      keylessPolicy(
        `        - issuer: ${ISSUER}\n          subject-regexp: '^https://example\\.org/rampart/'`,
      ),
    );
    expect(regexp.passed).toBe(true);
    const several = await evaluate(
      'several.yaml',
      keylessPolicy(
        `        - issuer: ${ISSUER}\n          subject: https://example.org/someone-else\n` +
          `        - issuer: ${ISSUER}\n          subject: ${IDENTITY}`,
      ),
    );
    expect(several.passed).toBe(true);
  });

  it('another subject or another issuer fails the signer and every attestation rule', async () => {
    for (const [name, identity] of [
      ['subject.yaml', `        - issuer: ${ISSUER}\n          subject: https://example.org/someone-else`],
      ['issuer.yaml', `        - issuer: https://other-issuer.example.org\n          subject: ${IDENTITY}`],
    ] as const) {
      const result = await evaluate(name, keylessPolicy(identity));
      expect(verdicts(result), name).toEqual([
        ['signer', false],
        ['predicate-type', false],
        ['predicate-type', false],
        ['provenance.builder-id', false],
        ['non-root', true],
      ]);
      expect(result.rules[0]?.reason, name).toContain(
        name === 'subject.yaml' ? 'https://example.org/someone-else' : 'https://other-issuer.example.org',
      );
    }
  });

  it("another CA's trusted root fails the signer", async () => {
    const result = await evaluate(
      'other-root.yaml',
      keylessPolicy(`        - issuer: ${ISSUER}\n          subject: ${IDENTITY}`, 'other-root.json'),
    );
    expect(result.passed).toBe(false);
    expect(result.rules[0]).toMatchObject({ rule: 'signer', passed: false });
  });

  it('a key signer and a keyless signer are each required; an image signed by the key only fails the keyless one', async () => {
    const keyOnly = await fx.freshLayout('key-only');
    await signImage(keyOnly.ref, fx.signer);
    const path = await policyFile(
      'both.yaml',
      `version: 1\nsigners:\n  - key: signer.pub\n  - keyless:\n      trusted-root: root.json\n      identities:\n        - {issuer: ${ISSUER}, subject: ${IDENTITY}}\n`,
    );
    const policy = await loadPolicy(path);
    const onSigned = await evaluatePolicy(signed.ref, policy, { now: NOW });
    expect(verdicts(onSigned)).toEqual([
      ['signer', false], // the signed image carries a key's attestation, not a key's signature
      ['signer', true],
    ]);
    const onKeyOnly = await evaluatePolicy(keyOnly.ref, policy, { now: NOW });
    expect(verdicts(onKeyOnly)).toEqual([
      ['signer', true],
      ['signer', false],
    ]);
    expect(onKeyOnly.rules[1]?.requirement).toBe(IDENTITY);
    const cli = await rampart('verify', '--policy', path, keyOnly.ref);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain(`FAIL signer ${IDENTITY}`);
  });

  it('a malformed keyless signer is POLICY_INVALID naming the field', async () => {
    const invalid = async (text: string) => {
      try {
        await loadPolicy(await policyFile('bad.yaml', text));
      } catch (error) {
        if (isRampartError(error, 'POLICY_INVALID')) return error.details.field ?? '';
        throw error;
      }
      return undefined;
    };
    const signer = (body: string) => `version: 1\nsigners:\n  - ${body}\n`;
    const id = `identities: [{issuer: ${ISSUER}, subject: ${IDENTITY}}]`;
    expect(await invalid(signer(`keyless: {trusted-root: missing.json, ${id}}`))).toBe(
      'signers.0.keyless.trusted-root',
    );
    expect(await invalid(signer(`keyless: {trusted-root: signer.pub, ${id}}`))).toBe(
      'signers.0.keyless.trusted-root',
    );
    expect(
      await invalid(
        signer(
          `keyless:\n      trusted-root: root.json\n      identities:\n        - issuer: ${ISSUER}\n          subject-regexp: '('`,
        ),
      ),
    ).toBe('signers.0.keyless.identities.0.subject-regexp');
    expect(
      await invalid(
        signer(
          `keyless: {trusted-root: root.json, identities: [{issuer: ${ISSUER}, subject: a, subject-regexp: b}]}`,
        ),
      ),
    ).toBe('signers.0.keyless.identities.0');
    expect(await invalid(signer('keyless: {trusted-root: root.json, identities: []}'))).toBe(
      'signers.0.keyless.identities',
    );
    expect(
      await invalid(signer(`keyless: {trusted-root: root.json, ${id}, url: https://fulcio.example.org}`)),
    ).toBe('signers.0.keyless.url');
    expect(await invalid(signer(`key: signer.pub\n    keyless: {trusted-root: root.json, ${id}}`))).toBe(
      'signers.0',
    );
    // A blank regexp would match every subject; a blank subject or issuer names no one.
    for (const [identity, part] of [
      [`{issuer: ${ISSUER}, subject-regexp: ' '}`, 'subject-regexp'],
      [`{issuer: ${ISSUER}, subject: ' '}`, 'subject'],
      [`{issuer: ' ', subject: ${IDENTITY}}`, 'issuer'],
    ] as const) {
      expect(
        await invalid(signer(`keyless: {trusted-root: root.json, identities: [${identity}]}`)),
        identity,
      ).toBe(`signers.0.keyless.identities.0.${part}`);
    }
    // Two keyless signers with the same identities (any order): one certificate would meet both.
    const other = `{issuer: ${ISSUER}, subject: https://example.org/other}`;
    const mine = `{issuer: ${ISSUER}, subject: ${IDENTITY}}`;
    expect(
      await invalid(
        `version: 1\nsigners:\n  - keyless: {trusted-root: root.json, identities: [${mine}, ${other}]}\n` +
          `  - keyless: {trusted-root: other-root.json, identities: [${other}, ${mine}]}\n`,
      ),
    ).toBe('signers.1.keyless.identities');
  });

  it('one signature counts for one signer: two overlapping keyless signers need two signatures, one by each', async () => {
    const path = await policyFile(
      'two-person.yaml',
      `version: 1\nsigners:\n` +
        `  - name: anyone-in-rampart\n    keyless:\n      trusted-root: root.json\n      identities:\n` +
        `        - {issuer: ${ISSUER}, subject-regexp: '^https://example\\.org/rampart/'}\n` +
        `  - name: release\n    keyless:\n      trusted-root: root.json\n      identities:\n` +
        `        - {issuer: ${ISSUER}, subject: ${IDENTITY}}\n`,
    );
    const policy = await loadPolicy(path);
    // `signed` carries one signing by IDENTITY (in both formats): it meets one signer, not both.
    const once = await evaluatePolicy(signed.ref, policy, { now: NOW });
    expect(once.passed).toBe(false);
    expect(verdicts(once).filter(([, passed]) => passed)).toHaveLength(1);

    // Signed by IDENTITY and by another identity only the regexp accepts: each signer has its own.
    const SECOND = 'https://example.org/rampart/ci/second.yml@refs/heads/main';
    const twice = await fx.freshLayout('two-person');
    for (const sub of [IDENTITY, SECOND]) {
      const identityToken = mockIdentityToken({ sub, iss: ISSUER });
      await signImage(
        twice.ref,
        await keylessMaterial({ identityToken, fulcioURL: mock.url, rekorURL: mock.url }),
      );
    }
    const both = await evaluatePolicy(twice.ref, policy, { now: NOW });
    expect(verdicts(both)).toEqual([
      ['signer', true],
      ['signer', true],
    ]);
    const cli = await rampart('verify', '--policy', path, '-o', 'json', signed.ref);
    expect(cli.code).toBe(1);
  });
});
