import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { purlFor, renderPurl } from '../../../src/sbom/identity/purl.js';

/** The types rampart writes purls for; the suites are copies from purl-spec (see the fixtures' README). */
const TYPES = ['deb', 'npm', 'pypi', 'golang', 'maven', 'cargo'] as const;

interface Parts {
  type: string;
  namespace: string | null;
  name: string;
  version: string | null;
  qualifiers: Record<string, string> | null;
  subpath: string | null;
}

const load = (file: string) =>
  JSON.parse(readFileSync(new URL(`../../fixtures/purl-spec/${file}`, import.meta.url), 'utf8'));

const buildCases: Array<[string, Parts, string]> = TYPES.flatMap((type) =>
  (
    load(`${type}-test.json`).tests as Array<{
      description: string;
      test_type: string;
      input: Parts;
      expected_output: string;
      expected_failure: boolean;
    }>
  )
    .filter((t) => t.test_type === 'build' && !t.expected_failure)
    .map((t): [string, Parts, string] => [`${type}: ${t.description}`, t.input, t.expected_output]),
);

/**
 * The old suite wrote a `/` inside a qualifier value literally; the current suite (maven-test.json:
 * `repository_url=https:%2F%2Fmaven.google.com`) encodes it, and rampart follows the current one.
 */
const SUPERSEDED = new Set(['maven often uses qualifiers', 'maven pom reference']);

const legacyCases: Array<[string, Parts, string]> = (
  load('test-suite-data.json') as Array<
    Parts & { description: string; canonical_purl: string; is_invalid: boolean }
  >
)
  .filter(
    (t) => !t.is_invalid && (TYPES as readonly string[]).includes(t.type) && !SUPERSEDED.has(t.description),
  )
  .map((t) => [t.description, t, t.canonical_purl]);

const render = (p: Parts) =>
  renderPurl(
    p.type,
    p.namespace ?? undefined,
    p.name,
    p.version ?? '',
    p.qualifiers ?? undefined,
    p.subpath ?? undefined,
  );

describe('purls against the purl-spec test suite', () => {
  it.each(buildCases)('%s', (_description, parts, expected) => {
    expect(render(parts)).toBe(expected);
  });

  it.each(legacyCases)('test-suite-data.json: %s', (_description, parts, expected) => {
    expect(render(parts)).toBe(expected);
  });

  it('covers an epoch and a + in a Debian version', () => {
    expect(buildCases.map(([, , expected]) => expected)).toContain(
      'pkg:deb/debian/attr@1:2.4.47-2%2Bb1?arch=amd64',
    );
  });
});

describe('Debian purls as other tools write them', () => {
  const distro = { id: 'debian', versionId: '13' };
  it.each([
    // the example: the epoch as the purl spec writes it, not %3A
    [
      { name: 'diffutils', version: '1:3.10-4', architecture: 'amd64' },
      'pkg:deb/debian/diffutils@1:3.10-4?arch=amd64&distro=debian-13',
    ],
    // libcap2 in trixie: epoch, + as %2B, and the source version as upstream
    [
      {
        name: 'libcap2',
        version: '1:2.75-10+deb13u1+b3',
        architecture: 'amd64',
        source: { name: 'libcap2', version: '1:2.75-10+deb13u1' },
      },
      'pkg:deb/debian/libcap2@1:2.75-10%2Bdeb13u1%2Bb3?arch=amd64&distro=debian-13&upstream=libcap2%401:2.75-10%2Bdeb13u1',
    ],
  ])('%j → %s', (pkg, expected) => {
    expect(purlFor({ type: 'deb', locations: [], ...pkg }, distro)).toBe(expected);
  });
});
