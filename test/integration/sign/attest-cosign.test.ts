import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VerifyAttestationResult } from '../../../src/sign/verify-attestation.js';
import type { TestRegistry } from '../../helpers/registry.js';
import { rampart } from '../../helpers/run-cli.js';
import { type CosignRegistryFixture, cosignRegistryFixture } from '../../helpers/sign-fixtures.js';

// rampart's attestations against cosign 3.1.1 (bundle referrers, through the referrers tag schema
// on docker-registry 2.8) and cosign 2.5.0 (legacy .att), both ways, offline. cosign checks the
// SLSA v1 predicate's required fields, so the provenance below is a complete one.
const PREDICATES = {
  slsaprovenance1: {
    buildDefinition: {
      buildType: 'https://example.com/rampart-test/build/v1',
      externalParameters: { spec: 'images/test.yaml' },
      internalParameters: {},
      resolvedDependencies: [{ uri: 'pkg:deb/debian/hello@2.10-3', digest: { sha256: 'ab'.repeat(32) } }],
    },
    runDetails: {
      builder: { id: 'https://example.com/rampart-test/builder/v1' },
      metadata: {
        invocationId: 'run-1',
        startedOn: '2026-12-05T00:00:00Z',
        finishedOn: '2026-12-05T00:01:00Z',
      },
    },
  },
  cyclonedx: { bomFormat: 'CycloneDX', specVersion: '1.5', version: 1, components: [] },
  spdxjson: {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: 'test',
    documentNamespace: 'https://example.com/spdx/test',
    creationInfo: { created: '2026-12-05T00:00:00Z', creators: ['Tool: rampart'] },
    packages: [],
  },
  openvex: {
    '@context': 'https://openvex.dev/ns/v0.2.0',
    '@id': 'https://example.com/vex/1',
    author: 'rampart test',
    timestamp: '2026-12-05T00:00:00Z',
    version: 1,
    statements: [],
  },
} as const;
const TYPES = Object.keys(PREDICATES) as Array<keyof typeof PREDICATES>;

let fx: CosignRegistryFixture;
let work: string;
let registry: TestRegistry;
let cosign3: string;
let cosign2: string;
let digest: string;
const ref = (repo: string) => fx.ref(repo);
const cosign = (bin: string, args: string[]) => fx.cosign(bin, args);
const tags = (repo: string) => fx.tags(repo);

async function cosignVerifyAttestation(bin: string, key: string, repo: string, type: string) {
  return cosign(bin, [
    'verify-attestation',
    '--key',
    key,
    '--insecure-ignore-tlog=true',
    '--allow-insecure-registry',
    '--type',
    type,
    ref(repo),
  ]);
}
async function rampartAttest(
  repo: string,
  type: keyof typeof PREDICATES,
  format: string,
  key = 'rampart.key',
) {
  const run = await rampart(
    'attest',
    '--key',
    join(work, key),
    '--type',
    type,
    '--predicate',
    join(work, `${type}.json`),
    '--format',
    format,
    `docker://${ref(repo)}`,
    '--insecure',
  );
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
}
async function rampartVerify(key: string, repo: string, ...extra: string[]) {
  const run = await rampart(
    'verify-attestation',
    '-o',
    'json',
    '--key',
    join(work, key),
    `docker://${ref(repo)}`,
    '--insecure',
    ...extra,
  );
  return {
    code: run.code,
    stderr: run.stderr,
    result: JSON.parse(run.stdout || '{}') as VerifyAttestationResult,
  };
}
/** The statements cosign printed (one DSSE envelope per line). */
function statements(
  stdout: string,
): Array<{ predicateType: string; subject: Array<{ digest: { sha256: string } }> }> {
  return stdout
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(Buffer.from(JSON.parse(line).payload, 'base64').toString('utf8')));
}

beforeAll(async () => {
  fx = await cosignRegistryFixture('rampart-attest-cosign-', [
    'bundle',
    'legacy',
    'by-cosign3',
    'by-cosign2',
  ]);
  ({ work, registry, cosign3, cosign2, digest } = fx);
  for (const type of TYPES) await writeFile(join(work, `${type}.json`), JSON.stringify(PREDICATES[type]));
}, 600_000);

afterAll(async () => {
  await fx?.cleanup();
});

describe('rampart attestations and cosign', () => {
  it('cosign 3 verify-attestation accepts rampart bundles of every type, and rejects another key', async () => {
    for (const type of TYPES) await rampartAttest('bundle', type, 'bundle');
    // Referrers through the tag schema only: no .att tag.
    expect(await tags('bundle')).toEqual([`sha256-${digest.slice(7)}`, 'v1']);
    for (const type of TYPES) {
      const ok = await cosignVerifyAttestation(cosign3, join(work, 'rampart.pub'), 'bundle', type);
      expect(ok.exitCode, `${type}: ${ok.stderr}`).toBe(0);
      expect(statements(ok.stdout).map((s) => s.subject[0]?.digest.sha256)).toContain(digest.slice(7));
    }
    const wrong = await cosignVerifyAttestation(
      cosign3,
      join(work, 'cosign.pub'),
      'bundle',
      'slsaprovenance1',
    );
    expect(wrong.exitCode).not.toBe(0);
    const mine = await rampartVerify('rampart.pub', 'bundle', '--type', 'slsaprovenance1');
    expect(mine.code, mine.stderr).toBe(0);
    expect(mine.result.attestations).toMatchObject([
      {
        format: 'bundle',
        valid: true,
        predicateType: 'https://slsa.dev/provenance/v1',
        subjectMatches: true,
      },
    ]);
  }, 300_000);

  it('cosign 2 verify-attestation accepts rampart .att layers of every type, and rejects another key', async () => {
    for (const type of TYPES) await rampartAttest('legacy', type, 'legacy');
    expect(await tags('legacy')).toEqual([`sha256-${digest.slice(7)}.att`, 'v1']);
    for (const type of TYPES) {
      const ok = await cosignVerifyAttestation(cosign2, join(work, 'rampart.pub'), 'legacy', type);
      expect(ok.exitCode, `${type}: ${ok.stderr}`).toBe(0);
      const found = statements(ok.stdout);
      expect(found.length, type).toBeGreaterThan(0);
    }
    const wrong = await cosignVerifyAttestation(cosign2, join(work, 'cosign.pub'), 'legacy', 'openvex');
    expect(wrong.exitCode).not.toBe(0);
    const mine = await rampartVerify('rampart.pub', 'legacy');
    expect(mine.code).toBe(0);
    expect(mine.result.attestations.map((a) => [a.format, a.valid])).toEqual(
      TYPES.map(() => ['legacy', true]),
    );
    expect((await rampartVerify('cosign.pub', 'legacy')).code).toBe(1);
  }, 300_000);

  it('rampart verifies the attestations cosign 3 (bundle) and cosign 2 (legacy) made', async () => {
    const three = await cosign(cosign3, [
      'attest',
      '--key',
      'cosign.key',
      '--use-signing-config=false',
      '--tlog-upload=false',
      '--allow-insecure-registry',
      '-y',
      '--type',
      'slsaprovenance1',
      '--predicate',
      'slsaprovenance1.json',
      ref('by-cosign3'),
    ]);
    expect(three.exitCode, three.stderr).toBe(0);
    const v3 = await rampartVerify('cosign.pub', 'by-cosign3', '--type', 'slsaprovenance1');
    expect(v3.code, JSON.stringify(v3.result)).toBe(0);
    expect(v3.result.attestations).toMatchObject([
      {
        format: 'bundle',
        valid: true,
        subjectMatches: true,
        predicateType: 'https://slsa.dev/provenance/v1',
      },
    ]);
    expect((await rampartVerify('rampart.pub', 'by-cosign3')).code).toBe(1);

    const two = await cosign(cosign2, [
      'attest',
      '--key',
      'cosign.key',
      '--tlog-upload=false',
      '--allow-insecure-registry',
      '-y',
      '--type',
      'openvex',
      '--predicate',
      'openvex.json',
      ref('by-cosign2'),
    ]);
    expect(two.exitCode, two.stderr).toBe(0);
    const v2 = await rampartVerify('cosign.pub', 'by-cosign2', '--type', 'openvex');
    expect(v2.code, JSON.stringify(v2.result)).toBe(0);
    expect(v2.result.attestations).toMatchObject([
      { format: 'legacy', valid: true, subjectMatches: true, predicateType: 'https://openvex.dev/ns' },
    ]);
    // rampart appends to cosign's .att: cosign 2 still reads both.
    await rampartAttest('by-cosign2', 'cyclonedx', 'legacy', 'cosign.key');
    const both = await cosignVerifyAttestation(cosign2, join(work, 'cosign.pub'), 'by-cosign2', 'cyclonedx');
    expect(both.exitCode, both.stderr).toBe(0);
    expect((await rampartVerify('cosign.pub', 'by-cosign2')).result.attestations.map((a) => a.valid)).toEqual(
      [true, true],
    );
    expect((await rampartVerify('cosign.pub', 'by-cosign2', '--type', 'spdxjson')).code).toBe(1);
  }, 300_000);

  it('copied with --with-attachments into an OCI layout, attestations of both formats verify there', async () => {
    const layout = join(work, 'mirror');
    for (const repo of ['bundle', 'legacy']) {
      const copied = await rampart(
        'copy',
        '-q',
        '--with-attachments',
        `docker://${ref(repo)}`,
        `oci:${layout}:${repo}`,
        '--insecure',
      );
      expect(copied.code, copied.stderr).toBe(0);
    }
    // The registry is not needed any more: the layout holds everything.
    await registry.stop();
    const run = await rampart(
      'verify-attestation',
      '-o',
      'json',
      '--key',
      join(work, 'rampart.pub'),
      '--type',
      'slsaprovenance1',
      `oci:${layout}:legacy`,
    );
    expect(run.code, run.stdout).toBe(0);
    const result = JSON.parse(run.stdout) as VerifyAttestationResult;
    expect(result.attestations.map((a) => [a.format, a.valid])).toEqual([
      ['legacy', true],
      ['bundle', true],
    ]);
  }, 300_000);
});
