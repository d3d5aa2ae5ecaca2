/**
 * `rampart build --sign-keyless` (issue 13): signs the index and every platform image and attaches
 * SLSA provenance, SPDX, CycloneDX and OpenVEX keylessly (mock Fulcio and Rekor on 127.0.0.1), in
 * both formats, from a hermetic signed APT repo; verified by rampart (verify and verify-attestation
 * with the mock's trusted root, and a policy with a keyless signer). Signing options that do not
 * fit together are USAGE before anything is built.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VerifyResult } from '../../../src/sign/verify.js';
import type { VerifyAttestationResult } from '../../../src/sign/verify-attestation.js';
import { type AptRepo, createAptRepo } from '../../helpers/apt-repo.js';
import { rampart } from '../../helpers/run-cli.js';
import { mockIdentityToken, type SigstoreMock, startSigstoreMock } from '../../helpers/sigstore-mock.js';

const IDENTITY = 'https://example.org/rampart/ci/build.yml@refs/heads/main';
const ISSUER = 'https://token.example.org';
const BUILDER = 'https://ci.example.com/builders/rampart-keyless';
const TYPES = ['slsaprovenance1', 'spdxjson', 'cyclonedx', 'openvex'] as const;

let work: string;
let repo: AptRepo;
let mock: SigstoreMock;
let spec: string;
let layout: string;
let built: {
  digest: string;
  platforms: Array<{ architecture: string; digest: string }>;
  signed: {
    signatures: Array<{ format: string }>;
    attestations: Array<{
      architecture?: string;
      predicateType: string;
      digests: string[];
    }>;
  };
};
const keyless = () => [
  '--trusted-root',
  join(work, 'root.json'),
  '--certificate-identity',
  IDENTITY,
  '--certificate-oidc-issuer',
  ISSUER,
];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-build-keyless-'));
  mock = await startSigstoreMock();
  await writeFile(join(work, 'root.json'), mock.trustedRoot());
  await writeFile(join(work, 'token.jwt'), mockIdentityToken({ sub: IDENTITY, iss: ISSUER }));
  repo = await createAptRepo([
    {
      name: 'testing',
      architectures: ['amd64', 'arm64'],
      packages: [
        {
          name: 'base-files',
          version: '13.8',
          architecture: 'all',
          files: { 'usr/lib/os-release': 'NAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="13"\n' },
        },
        { name: 'tool', version: '2.0', architecture: 'amd64', files: { 'usr/bin/tool': 'amd64\n' } },
        { name: 'tool', version: '2.0', architecture: 'arm64', files: { 'usr/bin/tool': 'arm64\n' } },
      ],
    },
  ]);
  spec = join(work, 'app.yaml');
  await writeFile(
    spec,
    [
      'name: app',
      'contents:',
      '  suites: [testing]',
      `  mirror: ${repo.url}`,
      `  keyring: ${repo.key.keyring}`,
      '  packages: [base-files, tool]',
      'archs: [amd64, arm64]',
      '',
    ].join('\n'),
  );
  layout = join(work, 'layout');
  const build = await rampart(
    'build',
    '-o',
    'json',
    '-q',
    spec,
    `oci:${layout}:1`,
    '--cache',
    join(work, 'cache'),
    '--sign-keyless',
    '--identity-token-file',
    join(work, 'token.jwt'),
    '--fulcio-url',
    mock.url,
    '--rekor-url',
    mock.url,
    '--builder-id',
    BUILDER,
  );
  expect(build.code, build.stderr).toBe(0);
  built = JSON.parse(build.stdout);
}, 600_000);

afterAll(async () => {
  await mock?.close();
  await repo?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('build --sign-keyless', () => {
  it('signs the index and each platform image in both formats, certified once', async () => {
    expect(built.platforms.map((p) => p.architecture)).toEqual(['amd64', 'arm64']);
    expect(mock.requests.filter((path) => path === '/api/v2/signingCert')).toHaveLength(1);
    for (const digest of [built.digest, ...built.platforms.map((p) => p.digest)]) {
      const run = await rampart('verify', ...keyless(), '-o', 'json', `oci:${layout}@${digest}`);
      expect(run.code, run.stderr).toBe(0);
      const result: VerifyResult = JSON.parse(run.stdout);
      expect(result.signatures.map((s) => [s.format, s.valid]).sort()).toEqual([
        ['bundle', true],
        ['legacy', true],
      ]);
      expect(result.signatures[0]?.certificate).toEqual({
        identity: IDENTITY,
        issuer: ISSUER,
        key: expect.any(String),
      });
    }
    // Another identity verifies nothing.
    const other = await rampart(
      'verify',
      '--trusted-root',
      join(work, 'root.json'),
      '--certificate-identity',
      'https://example.org/someone-else',
      '--certificate-oidc-issuer',
      ISSUER,
      `oci:${layout}:1`,
    );
    expect(other.code).toBe(1);
  });

  it('attaches provenance, SBOMs and OpenVEX to each platform, both formats, verified keylessly', async () => {
    const attested = built.signed.attestations;
    expect(attested).toHaveLength(2 * TYPES.length + 1);
    // Each in both formats: a .att layer and a bundle referrer.
    expect(attested.every((a) => a.digests.length === 2)).toBe(true);
    for (const { digest } of built.platforms) {
      for (const type of TYPES) {
        const run = await rampart(
          'verify-attestation',
          ...keyless(),
          '--type',
          type,
          '-o',
          'json',
          `oci:${layout}@${digest}`,
        );
        expect(run.code, `${type}: ${run.stderr}`).toBe(0);
        const result: VerifyAttestationResult = JSON.parse(run.stdout);
        expect(result.attestations.map((a) => [a.format, a.valid]).sort(), type).toEqual([
          ['bundle', true],
          ['legacy', true],
        ]);
      }
    }
  });

  it('a policy with the keyless signer, every predicate type and the builder id passes', async () => {
    const policy = join(work, 'policy.yaml');
    await writeFile(
      policy,
      `version: 1
signers:
  - keyless:
      trusted-root: root.json
      identities:
        - {issuer: ${ISSUER}, subject: ${IDENTITY}}
predicate-types: [${TYPES.join(', ')}]
provenance:
  builder-id: ${BUILDER}
`,
    );
    const run = await rampart('verify', '--policy', policy, '-o', 'json', `oci:${layout}:1`);
    expect(run.code, run.stdout).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result.subjects).toHaveLength(2);
    expect(result.rules.every((r: { passed: boolean }) => r.passed)).toBe(true);
  });

  it('signing options that do not fit are USAGE, before anything is built', async () => {
    const dest = `oci:${join(work, 'never')}:1`;
    const usage = async (...args: string[]) => {
      const run = await rampart('build', '-o', 'json', '-q', spec, dest, ...args);
      expect(run.code, args.join(' ')).toBe(2);
      return run.stderr;
    };
    await usage('--sign-keyless', '--sign-key', join(work, 'none.key'));
    await usage('--fulcio-url', mock.url);
    await usage('--identity-token-file', join(work, 'token.jwt'));
    await usage('--sign-keyless', '--allow-insecure-key', '--identity-token-file', join(work, 'token.jwt'));
    // A token that is not a JWT: refused before Fulcio is asked or anything built.
    await writeFile(join(work, 'bad.jwt'), 'not-a-token');
    const before = mock.requests.length;
    await usage('--sign-keyless', '--identity-token-file', join(work, 'bad.jwt'), '--fulcio-url', mock.url);
    expect(mock.requests.length).toBe(before);
  });
});
