import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeRandomImage } from '../../helpers/random-image.js';
import { rampart } from '../../helpers/run-cli.js';

// attest and verify-attestation on the command line, in-process, on an OCI layout: exit statuses,
// typed errors for bad predicates and types, and the verified statement in the JSON report.
let work: string;
let image: string;
const saved = process.env.RAMPART_PASSWORD;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-attest-cli-'));
  await writeRandomImage(join(work, 'layout'), 'app', [300]);
  image = `oci:${join(work, 'layout')}:app`;
  process.env.RAMPART_PASSWORD = 'attest cli password';
  const generated = await rampart('key', 'generate', '--output-prefix', join(work, 'k'));
  expect(generated.code, generated.stderr).toBe(0);
  await writeFile(
    join(work, 'vex.json'),
    JSON.stringify({ '@context': 'https://openvex.dev/ns/v0.2.0', statements: [] }),
  );
  await writeFile(join(work, 'bad.json'), '{"unterminated": ');
});
afterAll(async () => {
  if (saved === undefined) delete process.env.RAMPART_PASSWORD;
  else process.env.RAMPART_PASSWORD = saved;
  await rm(work, { recursive: true, force: true });
});

const errorOf = (stderr: string) =>
  (JSON.parse(stderr) as { error: { code: string; details: Record<string, unknown> } }).error;

describe('rampart attest and verify-attestation', () => {
  it('exits 1 with nothing to verify, 0 once attested, and 1 for a type not attested', async () => {
    const pub = join(work, 'k.pub');
    const none = await rampart('verify-attestation', '-o', 'json', '--key', pub, image);
    expect(none.code).toBe(1);
    expect(JSON.parse(none.stdout)).toMatchObject({ verified: false, attestations: [] });
    const attested = await rampart(
      'attest',
      '-o',
      'json',
      '--key',
      join(work, 'k.key'),
      '--type',
      'openvex',
      '--predicate',
      join(work, 'vex.json'),
      image,
    );
    expect(attested.code, attested.stderr).toBe(0);
    expect(JSON.parse(attested.stdout)).toMatchObject({ predicateType: 'https://openvex.dev/ns' });
    const ok = await rampart('verify-attestation', '-o', 'json', '--key', pub, '--type', 'openvex', image);
    expect(ok.code, ok.stderr).toBe(0);
    const result = JSON.parse(ok.stdout);
    expect(result.attestations.map((a: { format: string }) => a.format).sort()).toEqual(['bundle', 'legacy']);
    expect(result.attestations[0].statement.predicate).toEqual({
      '@context': 'https://openvex.dev/ns/v0.2.0',
      statements: [],
    });
    const text = await rampart('verify-attestation', '--key', pub, image);
    expect(text.code).toBe(0);
    expect(text.stdout.startsWith(`Verified: ${image}`)).toBe(true);
    const other = await rampart('verify-attestation', '--key', pub, '--type', 'cyclonedx', image);
    expect(other.code).toBe(1);
  });

  it('refuses a predicate that is not JSON, and a --type that is neither a name nor a URI', async () => {
    const args = ['attest', '-o', 'json', '--key', join(work, 'k.key'), image];
    const bad = await rampart(...args, '--type', 'openvex', '--predicate', join(work, 'bad.json'));
    expect(bad.code).toBe(1);
    expect(errorOf(bad.stderr)).toMatchObject({
      code: 'PREDICATE_INVALID',
      details: { path: join(work, 'bad.json') },
    });
    const type = await rampart(...args, '--type', 'sbom', '--predicate', join(work, 'vex.json'));
    expect(type.code).toBe(2);
    expect(errorOf(type.stderr)).toMatchObject({
      code: 'USAGE',
      details: { option: '--type', value: 'sbom' },
    });
  });
});
