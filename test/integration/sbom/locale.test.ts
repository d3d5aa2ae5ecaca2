import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// Each encoding runs in its own process: the locale (which localeCompare and Intl follow) is
// fixed when Node starts. In Danish collation "aa" sorts after "z", in C before it.
const SCRIPT = `
const { encodeCycloneDxJson } = await import('./src/sbom/encode/cyclonedx.ts');
const { encodeSpdxJson } = await import('./src/sbom/encode/spdx.ts');
const pkg = (name, deps = []) => ({
  id: 'deb:' + name, name, version: '1.0', type: 'deb', purl: 'pkg:deb/debian/' + name + '@1.0?arch=amd64',
  cpes: [], license: { expression: 'MIT AND Apache-2.0' }, architecture: 'amd64', locations: ['/var/lib/dpkg/status'],
  files: [{ path: '/usr/lib/aa.so' }, { path: '/usr/lib/z.so' }, { path: '/usr/lib/Ab.so' }],
  dependsOn: deps,
});
const doc = {
  source: { kind: 'image', ref: 'oci:x', digest: 'sha256:' + '0'.repeat(64) },
  packages: [pkg('zlib1g'), pkg('aalib1', ['deb:zlib1g', 'deb:aa-dep']), pkg('aa-dep'), pkg('ab')],
  warnings: [],
};
process.stdout.write(encodeCycloneDxJson(doc, { files: true }) + encodeSpdxJson(doc, { files: true }));
`;

function encodeIn(locale: string): string {
  return execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], {
    cwd: process.cwd(),
    env: { ...process.env, LC_ALL: locale, LANG: locale },
    encoding: 'utf8',
  });
}

describe('SBOM encoders do not depend on the process locale', () => {
  it('gives the same bytes under C, en_US and da_DK', () => {
    const c = encodeIn('C');
    expect(c).toContain('"name": "aalib1"');
    expect(encodeIn('da_DK.UTF-8')).toBe(c);
    expect(encodeIn('en_US.UTF-8')).toBe(c);
    // Code-unit order: aa-dep, aalib1, ab, zlib1g.
    const names = [...c.matchAll(/"purl": "pkg:deb\/debian\/([^@]+)@/g)].map((m) => m[1]);
    expect(names.slice(0, 4)).toEqual(['aa-dep', 'aalib1', 'ab', 'zlib1g']);
  }, 60_000);
});
