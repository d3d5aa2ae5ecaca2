/**
 * Issue 13 item 4: `rampart build --sign-key` signs the index and every platform image and attaches
 * SLSA provenance v1, SPDX, CycloneDX and OpenVEX attestations — checked with rampart, cosign 3.1.1
 * (bundles) and cosign 2.5.0 (legacy), offline, against a hermetic signed APT repo and a local
 * registry. The image digests equal those of an unsigned build of the same lock.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREDICATE_TYPES } from '../../../src/sign/formats.js';
import type { AttachmentTree } from '../../../src/sign/tree.js';
import type { VerifyResult } from '../../../src/sign/verify.js';
import type { VerifyAttestationResult } from '../../../src/sign/verify-attestation.js';
import type { AptRepo } from '../../helpers/apt-repo.js';
import { peerTool, peerToolEnv } from '../../helpers/peer-tools.js';
import { runCommand } from '../../helpers/processes.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { rampart } from '../../helpers/run-cli.js';
import {
  SIGN_TEST_PASSWORD,
  type SignedBuildFixture,
  signedBuildFixture,
} from '../../helpers/sign-fixtures.js';

const TYPES = ['slsaprovenance1', 'spdxjson', 'cyclonedx', 'openvex'] as const;

let fx: SignedBuildFixture;
let work: string;
let repo: AptRepo;
let registry: TestRegistry;
let cosign3: string;
let cosign2: string;
let spec: string;
let built: {
  digest: string;
  platforms: Array<{ architecture: string; digest: string }>;
  signed: { attestations: Array<{ subject: string; architecture?: string; predicateType: string }> };
};

async function cosign(bin: string, args: string[]) {
  return runCommand(bin, args, {
    env: peerToolEnv({ COSIGN_PASSWORD: SIGN_TEST_PASSWORD }),
    cwd: work,
    timeoutMs: 120_000,
  });
}
const at = (digest: string) => `${registry.host}/app@${digest}`;

beforeAll(async () => {
  [registry, cosign3, cosign2] = await Promise.all([
    startRegistry(),
    peerTool('cosign'),
    peerTool('cosign2'),
  ]);
  fx = await signedBuildFixture('rampart-build-provenance-', {
    archs: ['amd64', 'arm64'],
    packages: [
      {
        name: 'base-files',
        version: '13.8',
        architecture: 'all',
        files: {
          'usr/lib/os-release': 'NAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="13"\n',
          'usr/share/doc/base-files/copyright': 'licence\n',
        },
      },
      { name: 'tool', version: '2.0', architecture: 'amd64', files: { 'usr/bin/tool': 'amd64\n' } },
      { name: 'tool', version: '2.0', architecture: 'arm64', files: { 'usr/bin/tool': 'arm64\n' } },
    ],
    dest: () => `docker://${registry.host}/app:1`,
    buildArgs: ['-q', '--insecure', '--builder-id', 'https://ci.example.com/builders/rampart-test'],
    env: { SOURCE_DATE_EPOCH: '1700000000' },
  });
  ({ work, repo, spec } = fx);
  built = JSON.parse(fx.build.stdout);
}, 600_000);

afterAll(async () => {
  await registry?.stop();
  await fx?.cleanup();
});

describe('build --sign-key', () => {
  it('attaches provenance, SBOMs and OpenVEX to each platform, provenance to the index', () => {
    expect(built.platforms.map((p) => p.architecture)).toEqual(['amd64', 'arm64']);
    const attested = built.signed.attestations.map((a) => `${a.architecture ?? 'index'} ${a.predicateType}`);
    const perPlatform = [
      PREDICATE_TYPES.slsaprovenance1,
      PREDICATE_TYPES.spdxjson,
      PREDICATE_TYPES.cyclonedx,
      PREDICATE_TYPES.openvex,
    ];
    expect(attested.sort()).toEqual(
      [
        ...perPlatform.map((t) => `amd64 ${t}`),
        ...perPlatform.map((t) => `arm64 ${t}`),
        `index ${PREDICATE_TYPES.slsaprovenance1}`,
      ].sort(),
    );
  });

  it('rampart and cosign 3 and 2 verify the index and each platform manifest', async () => {
    for (const digest of [built.digest, ...built.platforms.map((p) => p.digest)]) {
      const mine = await rampart(
        'verify',
        '-o',
        'json',
        '--key',
        join(work, 'rampart.pub'),
        `docker://${at(digest)}`,
        '--insecure',
      );
      expect(mine.code, mine.stdout).toBe(0);
      const result = JSON.parse(mine.stdout) as VerifyResult;
      expect(
        result.signatures
          .filter((s) => s.valid)
          .map((s) => s.format)
          .sort(),
      ).toEqual(['bundle', 'legacy']);
      for (const bin of [cosign3, cosign2]) {
        const theirs = await cosign(bin, [
          'verify',
          '--key',
          join(work, 'rampart.pub'),
          '--insecure-ignore-tlog=true',
          '--allow-insecure-registry',
          at(digest),
        ]);
        expect(theirs.exitCode, `${bin} ${digest}: ${theirs.stderr}`).toBe(0);
      }
    }
  }, 300_000);

  it('cosign 3 and 2 verify-attestation accept every type on each platform image', async () => {
    for (const { digest } of built.platforms) {
      for (const type of TYPES) {
        for (const bin of [cosign3, cosign2]) {
          const ok = await cosign(bin, [
            'verify-attestation',
            '--key',
            join(work, 'rampart.pub'),
            '--insecure-ignore-tlog=true',
            '--allow-insecure-registry',
            '--type',
            type,
            at(digest),
          ]);
          expect(ok.exitCode, `${bin} ${type} ${digest}: ${ok.stderr}`).toBe(0);
        }
      }
    }
    // The index (what the tag names) carries the whole build's provenance.
    for (const bin of [cosign3, cosign2]) {
      const index = await cosign(bin, [
        'verify-attestation',
        '--key',
        join(work, 'rampart.pub'),
        '--insecure-ignore-tlog=true',
        '--allow-insecure-registry',
        '--type',
        'slsaprovenance1',
        `${registry.host}/app:1`,
      ]);
      expect(index.exitCode, `${bin} index: ${index.stderr}`).toBe(0);
    }
  }, 600_000);

  it('the provenance names the spec, every .deb and InRelease, the builder and the clock', async () => {
    const amd64 = built.platforms.find((p) => p.architecture === 'amd64')!;
    const run = await rampart(
      'verify-attestation',
      '-o',
      'json',
      '--key',
      join(work, 'rampart.pub'),
      '--type',
      'slsaprovenance1',
      `docker://${at(amd64.digest)}`,
      '--insecure',
    );
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as VerifyAttestationResult;
    const statement = result.attestations.find((a) => a.valid)?.statement as {
      predicate: {
        buildDefinition: {
          buildType: string;
          externalParameters: { spec: { sha256: string; content: string }; archs: string[] };
          resolvedDependencies: Array<{ uri?: string; name?: string; digest: { sha256: string } }>;
        };
        runDetails: { builder: { id: string }; metadata: { startedOn: string; invocationId: string } };
      };
    };
    const { buildDefinition, runDetails } = statement.predicate;
    expect(buildDefinition.buildType).toMatch(/^urn:rampart:build:image:v1\?version=/);
    expect(buildDefinition.externalParameters.spec.content).toBe(await readFile(spec, 'utf8'));
    expect(buildDefinition.externalParameters.archs).toEqual(['amd64']);
    const names = buildDefinition.resolvedDependencies.map((d) => d.name).sort();
    expect(names).toEqual(['base-files_13.8_all.deb', 'testing/InRelease', 'tool_2.0_amd64.deb']);
    const deb = buildDefinition.resolvedDependencies.find((d) => d.name === 'tool_2.0_amd64.deb')!;
    const bytes = await readFile(repo.path(new URL(deb.uri!).pathname.slice(1)));
    const { createHash } = await import('node:crypto');
    expect(deb.digest.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(runDetails.builder.id).toBe('https://ci.example.com/builders/rampart-test');
    expect(runDetails.metadata.invocationId).toMatch(/^urn:uuid:/);
  }, 120_000);

  it('cosign tree lists what the build attached', async () => {
    const amd64 = built.platforms.find((p) => p.architecture === 'amd64')!;
    const tree = await cosign(cosign3, ['tree', '--allow-insecure-registry', at(amd64.digest)]);
    expect(tree.exitCode, tree.stderr).toBe(0);
    // Legacy tags: the signature and the attestations.
    expect(tree.stdout).toContain(`sha256-${amd64.digest.slice(7)}.sig`);
    expect(tree.stdout).toContain(`sha256-${amd64.digest.slice(7)}.att`);
  }, 120_000);

  it('rampart tree lists the signatures and the attestations with their predicate types', async () => {
    const run = await rampart('tree', '-o', 'json', `docker://${registry.host}/app:1`, '--insecure');
    expect(run.code, run.stderr).toBe(0);
    const tree = JSON.parse(run.stdout) as AttachmentTree;
    expect(tree.digest).toBe(built.digest);
    const summary = (attachments: AttachmentTree['attachments']) =>
      attachments.map((a) => `${a.kind} ${a.format} ${(a.predicateTypes ?? []).join(',')}`).sort();
    const perPlatform = [
      PREDICATE_TYPES.slsaprovenance1,
      PREDICATE_TYPES.spdxjson,
      PREDICATE_TYPES.cyclonedx,
      PREDICATE_TYPES.openvex,
    ];
    expect(summary(tree.attachments)).toEqual(
      [
        `attestation bundle ${PREDICATE_TYPES.slsaprovenance1}`,
        `attestation legacy ${PREDICATE_TYPES.slsaprovenance1}`,
        'signature bundle ',
        'signature legacy ',
      ].sort(),
    );
    expect(tree.manifests.map((m) => m.platform)).toEqual(['linux/amd64', 'linux/arm64/v8']);
    for (const manifest of tree.manifests) {
      expect(summary(manifest.attachments)).toEqual(
        [
          ...perPlatform.map(
            (t) =>
              `${t === PREDICATE_TYPES.spdxjson || t === PREDICATE_TYPES.cyclonedx ? 'sbom' : 'attestation'} bundle ${t}`,
          ),
          `attestation legacy ${[...perPlatform].join(',')}`,
          'signature bundle ',
          'signature legacy ',
        ].sort(),
      );
    }
    const text = await rampart('tree', `docker://${registry.host}/app:1`, '--insecure');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`sha256-${built.platforms[0]!.digest.slice(7)}.att`);
    expect(text.stdout).toContain('linux/arm64');
  }, 120_000);

  it('signing does not change the image: an unsigned build of the lock has the same digests', async () => {
    const run = await rampart(
      'build',
      '-q',
      '-o',
      'json',
      '--locked',
      spec,
      `oci:${join(work, 'unsigned')}:1`,
      '--cache',
      join(work, 'cache'),
    );
    expect(run.code, run.stderr).toBe(0);
    const unsigned = JSON.parse(run.stdout) as typeof built;
    expect(unsigned.digest).toBe(built.digest);
    // And the registry's tag still names that index after everything was attached.
    const head = await fetch(`${registry.url}/v2/app/manifests/1`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.oci.image.index.v1+json' },
    });
    expect(head.headers.get('docker-content-digest')).toBe(built.digest);
    expect(unsigned.platforms.map((p) => p.digest)).toEqual(built.platforms.map((p) => p.digest));
  }, 300_000);

  it('into an oci-archive: signatures and attestations travel inside the archive', async () => {
    const archive = join(work, 'app.tar');
    const run = await rampart(
      'build',
      '-q',
      '-o',
      'json',
      '--locked',
      spec,
      `oci-archive:${archive}:1`,
      '--cache',
      join(work, 'cache'),
      '--sign-key',
      join(work, 'rampart.key'),
    );
    expect(run.code, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as typeof built).digest).toBe(built.digest);
    const verified = await rampart('verify', '--key', join(work, 'rampart.pub'), `oci-archive:${archive}:1`);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    const attested = await rampart(
      'verify-attestation',
      '--key',
      join(work, 'rampart.pub'),
      '--type',
      'openvex',
      `oci-archive:${archive}:1-arm64`,
    );
    expect(attested.code, attested.stdout + attested.stderr).toBe(0);
  }, 300_000);

  it('refuses docker-archive before building anything', async () => {
    const run = await rampart(
      'build',
      '-q',
      '-o',
      'json',
      spec,
      `docker-archive:${join(work, 'x.tar')}`,
      '--arch',
      'amd64',
      '--sign-key',
      join(work, 'rampart.key'),
    );
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stderr.replace(/^error: /, '')).error.code).toBe('USAGE');
    const alone = await rampart('build', '-q', '-o', 'json', spec, '--builder-id', 'https://ci/b');
    expect(alone.code).toBe(2);
    expect(JSON.parse(alone.stderr.replace(/^error: /, '')).error.details.option).toBe('--builder-id');
  });
});
