import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attestImage } from '../../../src/sign/attest.js';
import { keylessMaterial } from '../../../src/sign/keyless.js';
import { signImage } from '../../../src/sign/sign.js';
import type { VerifyResult } from '../../../src/sign/verify.js';
import { peerToolEnv } from '../../helpers/peer-tools.js';
import { runCommand } from '../../helpers/processes.js';
import { rampart } from '../../helpers/run-cli.js';
import { type CosignRegistryFixture, cosignRegistryFixture } from '../../helpers/sign-fixtures.js';
import {
  mockIdentityToken,
  mockSignedIdentityToken,
  type SigstoreMock,
  startSigstoreMock,
} from '../../helpers/sigstore-mock.js';

// cosign verifies rampart's keyless signatures offline: cosign 3.1.1 both formats (the bundle
// referrer, and the legacy .sig layer with --new-bundle-format=false) against the mock's trusted
// root alone (no SCT or tlog flag needed); cosign 2.5.0 the legacy format with the same CA, log and
// CT log keys given as SIGSTORE_ROOT_FILE / SIGSTORE_REKOR_PUBLIC_KEY / SIGSTORE_CT_LOG_PUBLIC_KEY_FILE
// (it reads no trusted root for legacy signatures). A wrong identity is refused by both.
const IDENTITY = 'https://example.org/rampart/ci/release.yml@refs/heads/main';
const ISSUER = 'https://token.example.org';

const PROVENANCE = {
  buildDefinition: {
    buildType: 'https://example.org/rampart-test/build/v1',
    externalParameters: { spec: { sha256: 'ab'.repeat(32) } },
    internalParameters: {},
    resolvedDependencies: [],
  },
  runDetails: {
    builder: { id: 'https://example.org/rampart-test/builder/v1' },
    metadata: { invocationId: 'run-1', startedOn: '2026-12-01T00:00:00Z' },
  },
};

let fx: CosignRegistryFixture;
let mock: SigstoreMock;
let cosign2Env: NodeJS.ProcessEnv;

beforeAll(async () => {
  fx = await cosignRegistryFixture('rampart-keyless-cosign-', [
    'keyless',
    'by-cosign2',
    'by-cosign2-no-tlog',
  ]);
  mock = await startSigstoreMock();
  await writeFile(join(fx.work, 'root.json'), mock.trustedRoot());
  const root = JSON.parse(mock.trustedRoot());
  const pem = (label: string, base64: string) =>
    `-----BEGIN ${label}-----\n${base64}\n-----END ${label}-----\n`;
  const files = {
    SIGSTORE_ROOT_FILE: [
      'fulcio.pem',
      pem('CERTIFICATE', root.certificateAuthorities[0].certChain.certificates[0].rawBytes),
    ],
    SIGSTORE_REKOR_PUBLIC_KEY: ['rekor.pub', pem('PUBLIC KEY', root.tlogs[0].publicKey.rawBytes)],
    SIGSTORE_CT_LOG_PUBLIC_KEY_FILE: ['ctlog.pub', pem('PUBLIC KEY', root.ctlogs[0].publicKey.rawBytes)],
  };
  cosign2Env = {};
  for (const [variable, [name, text]] of Object.entries(files)) {
    await writeFile(join(fx.work, name as string), text as string);
    cosign2Env[variable] = join(fx.work, name as string);
  }
  const token = mockIdentityToken({ sub: IDENTITY, iss: ISSUER });
  const material = await keylessMaterial({ identityToken: token, fulcioURL: mock.url, rekorURL: mock.url });
  await signImage(`docker://${fx.ref('keyless')}`, material, { registry: { insecure: true } });
  // Both formats: cosign 2's .att (intoto log entry) and cosign 3's bundle (dsse log entry).
  await attestImage(`docker://${fx.ref('keyless')}`, material, 'slsaprovenance1', PROVENANCE, {
    registry: { insecure: true },
  });
}, 300_000);

afterAll(async () => {
  await mock?.close();
  await fx?.cleanup();
});

const verifyArgs = (identity: string) => [
  'verify',
  '--certificate-identity',
  identity,
  '--certificate-oidc-issuer',
  ISSUER,
  '--allow-insecure-registry',
];

describe('cosign verifies rampart keyless signatures offline', () => {
  it('cosign 3.1.1: the bundle and the legacy .sig, with --trusted-root only', async () => {
    for (const extra of [[], ['--new-bundle-format=false']]) {
      const run = await fx.cosign(fx.cosign3, [
        ...verifyArgs(IDENTITY),
        '--trusted-root',
        'root.json',
        ...extra,
        fx.ref('keyless'),
      ]);
      expect(run.exitCode, `${extra.join(' ')}: ${run.stderr}`).toBe(0);
      expect(JSON.parse(run.stdout)[0].critical.image['docker-manifest-digest']).toBe(fx.digest);
    }
    const wrong = await fx.cosign(fx.cosign3, [
      ...verifyArgs('https://example.org/someone-else'),
      '--trusted-root',
      'root.json',
      fx.ref('keyless'),
    ]);
    expect(wrong.exitCode).not.toBe(0);
  });

  it('cosign 2.5.0: the legacy .sig, with the CA, log and CT log keys from the environment', async () => {
    const run = (identity: string) =>
      runCommand(fx.cosign2, [...verifyArgs(identity), fx.ref('keyless')], {
        cwd: fx.work,
        env: peerToolEnv(cosign2Env),
        timeoutMs: 120_000,
      });
    const ok = await run(IDENTITY);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)[0].optional.Issuer).toBe(ISSUER);
    expect((await run('https://example.org/someone-else')).exitCode).not.toBe(0);
  });

  // cosign 2 matches an `intoto` entry's content.hash to the sha256 of the stored envelope: true of
  // the v0.0.1 entries cosign 2 itself uploads, not of the v0.0.2 ones sigstore-js makes (their hash
  // covers the canonicalized envelope with the certificate in it), which it answers with "matching
  // bundle to payload". So cosign 2 is run with --insecure-ignore-tlog: the certificate chain (at
  // the current time), the SCT, the identity and the envelope signature are still checked.
  it('cosign 2.5.0 verify-attestation --insecure-ignore-tlog: the keyless legacy .att (certificate annotations)', async () => {
    const run = (identity: string) =>
      runCommand(
        fx.cosign2,
        [
          'verify-attestation',
          '--type',
          'slsaprovenance1',
          '--certificate-identity',
          identity,
          '--certificate-oidc-issuer',
          ISSUER,
          '--allow-insecure-registry',
          '--insecure-ignore-tlog=true',
          fx.ref('keyless'),
        ],
        { cwd: fx.work, env: peerToolEnv(cosign2Env), timeoutMs: 120_000 },
      );
    const ok = await run(IDENTITY);
    expect(ok.exitCode, ok.stderr).toBe(0);
    const envelope = JSON.parse(ok.stdout.trim().split('\n')[0] as string);
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));
    expect(statement.subject[0].digest.sha256).toBe(fx.digest.slice('sha256:'.length));
    expect((await run('https://example.org/someone-else')).exitCode).not.toBe(0);
  });

  it('cosign 3.1.1 verify-attestation: the keyless bundle, with --trusted-root only', async () => {
    const run = await fx.cosign(fx.cosign3, [
      'verify-attestation',
      '--type',
      'slsaprovenance1',
      '--certificate-identity',
      IDENTITY,
      '--certificate-oidc-issuer',
      ISSUER,
      '--allow-insecure-registry',
      '--trusted-root',
      'root.json',
      fx.ref('keyless'),
    ]);
    expect(run.exitCode, run.stderr).toBe(0);
  });
});

// The other direction: cosign 2.5.0 signs keylessly against the mock (its Fulcio v1 API answered by
// the mock's v2 handler in test/helpers/sigstore-mock.ts, an ES256 token since cosign refuses
// `alg: none`), and rampart verifies the .sig it wrote with the mock's trusted root. cosign 3.1.1
// cannot sign against the mock: after the mock Rekor's 201 answer it panics turning it into the
// bundle's log entry (nil dereference in rekor/pkg/tle/tle.go:34, exit 2); see the README.
describe('rampart verifies keyless signatures cosign 2.5.0 made', () => {
  const sign = (repo: string, ...extra: string[]) =>
    runCommand(
      fx.cosign2,
      [
        'sign',
        '--yes',
        '--allow-insecure-registry',
        `--identity-token=${mockSignedIdentityToken({ sub: IDENTITY, iss: ISSUER })}`,
        `--fulcio-url=${mock.url}`,
        `--rekor-url=${mock.url}`,
        ...extra,
        fx.ref(repo),
      ],
      { cwd: fx.work, env: peerToolEnv(cosign2Env), timeoutMs: 120_000 },
    );
  const verify = (repo: string, identity = IDENTITY) =>
    rampart(
      'verify',
      '--trusted-root',
      join(fx.work, 'root.json'),
      '--certificate-identity',
      identity,
      '--certificate-oidc-issuer',
      ISSUER,
      '-o',
      'json',
      `docker://${fx.ref(repo)}`,
      '--insecure',
    );

  it('a keyless .sig logged in the mock Rekor verifies (right identity only)', async () => {
    const signed = await sign('by-cosign2');
    expect(signed.exitCode, signed.stderr).toBe(0);
    const ok = await verify('by-cosign2');
    expect(ok.code, ok.stderr).toBe(0);
    const result: VerifyResult = JSON.parse(ok.stdout);
    expect(result.signatures.map((s) => [s.format, s.valid])).toEqual([['legacy', true]]);
    expect(result.signatures[0]?.certificate).toEqual({
      identity: IDENTITY,
      issuer: ISSUER,
      key: expect.any(String),
    });
    const other = await verify('by-cosign2', 'https://example.org/someone-else');
    expect(other.code).toBe(1);
    expect(JSON.parse(other.stdout).signatures[0].failed).toBe('certificate-identity');
  });

  it('without a log entry (--tlog-upload=false) there is no verified signing time: refused', async () => {
    const signed = await sign('by-cosign2-no-tlog', '--tlog-upload=false');
    expect(signed.exitCode, signed.stderr).toBe(0);
    const refused = await verify('by-cosign2-no-tlog');
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout).signatures[0].failed).toBe('timestamp');
  });
});
