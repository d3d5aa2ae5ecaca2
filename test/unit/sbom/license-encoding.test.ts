import { describe, expect, it } from 'vitest';
import { encodeSbom } from '../../../src/sbom/encode/index.js';
import type { SbomDocument, SbomPackage } from '../../../src/sbom/model.js';
import { readSbom } from '../../../src/sbom/read/read-sbom.js';
import { cycloneDxValidator, spdxValidator } from './schema-validators.js';

const deb = (name: string, license: SbomPackage['license'], supplier?: string): SbomPackage => ({
  id: `pkg:deb/debian/${name}@1.0-1?arch=amd64`,
  name,
  version: '1.0-1',
  type: 'deb',
  purl: `pkg:deb/debian/${name}@1.0-1?arch=amd64`,
  cpes: [],
  ...(license ? { license } : {}),
  ...(supplier ? { supplier } : {}),
  architecture: 'amd64',
  locations: ['/var/lib/dpkg/status'],
  dependsOn: [],
});

// Two packages call different texts "permissive"; a third uses the same name and text as the first.
const doc: SbomDocument = {
  source: { kind: 'directory', ref: '/root', created: '2026-01-01T00:00:00Z' },
  packages: [
    deb('alpha', {
      expression: '(GPL-2.0-or-later OR LicenseRef-permissive) AND MIT',
      refs: [{ id: 'LicenseRef-permissive', name: 'permissive', text: 'Do what you like.' }],
    }),
    deb('beta', {
      expression: 'LicenseRef-permissive',
      refs: [{ id: 'LicenseRef-permissive', name: 'permissive', text: 'Anything but sue us.' }],
    }),
    deb('gamma', {
      expression: 'LicenseRef-permissive AND LicenseRef-BSD-4-clause-POWERDOG',
      refs: [
        { id: 'LicenseRef-BSD-4-clause-POWERDOG', name: 'BSD-4-clause-POWERDOG' },
        { id: 'LicenseRef-permissive', name: 'permissive', text: 'Do what you like.' },
      ],
    }),
    deb('delta', { expression: 'GPL-3.0-or-later WITH Bison-exception-2.2' }),
    deb('epsilon', { expression: 'MIT' }),
    deb('zeta', undefined),
  ],
  warnings: [],
};

describe('licences in SPDX', () => {
  const spdx = JSON.parse(encodeSbom(doc, 'spdx-json'));
  const declared = (name: string) =>
    spdx.packages.find((p: { name: string }) => p.name === name).licenseDeclared as string;

  it('writes each declared expression and one extracted licence per distinct name and text', () => {
    expect(spdxValidator()(spdx)).toEqual([]);
    expect(declared('delta')).toBe('GPL-3.0-or-later WITH Bison-exception-2.2');
    expect(declared('epsilon')).toBe('MIT');
    expect(declared('zeta')).toBe('NOASSERTION');
    // alpha and gamma share a meaning for LicenseRef-permissive, beta has another: both get a hashed id.
    const alphaRef = /LicenseRef-permissive-[0-9a-f]{8}/.exec(declared('alpha'))![0];
    const betaRef = declared('beta');
    expect(betaRef).toMatch(/^LicenseRef-permissive-[0-9a-f]{8}$/);
    expect(alphaRef).not.toBe(betaRef);
    expect(declared('gamma')).toBe(`${alphaRef} AND LicenseRef-BSD-4-clause-POWERDOG`);
    const infos = spdx.hasExtractedLicensingInfos as Array<Record<string, string>>;
    expect(infos.map((i) => i.licenseId)).toEqual(
      ['LicenseRef-BSD-4-clause-POWERDOG', alphaRef, betaRef].sort((a, b) => (a < b ? -1 : 1)),
    );
    expect(infos.find((i) => i.licenseId === alphaRef)).toMatchObject({
      name: 'permissive',
      extractedText: 'Do what you like.',
    });
    expect(infos.find((i) => i.licenseId === betaRef)?.extractedText).toBe('Anything but sue us.');
    // A name without a text: the name is the text the package gave.
    expect(infos.find((i) => i.licenseId === 'LicenseRef-BSD-4-clause-POWERDOG')?.extractedText).toBe(
      'BSD-4-clause-POWERDOG',
    );
  });

  it('reads the expressions and what their LicenseRefs stand for back', () => {
    const back = readSbom(JSON.stringify(spdx));
    const beta = back.packages.find((p) => p.name === 'beta')!;
    expect(beta.license?.refs).toEqual([
      { id: beta.license!.expression, name: 'permissive', text: 'Anything but sue us.' },
    ]);
    expect(back.packages.find((p) => p.name === 'delta')!.license).toEqual({
      expression: 'GPL-3.0-or-later WITH Bison-exception-2.2',
    });
  });
});

describe('licences in CycloneDX', () => {
  const bom = JSON.parse(encodeSbom(doc, 'cyclonedx-json'));
  const component = (name: string) => bom.components.find((c: { name: string }) => c.name === name);

  it('an SPDX id is license.id, one LicenseRef a named licence with its text, the rest an expression', () => {
    expect(cycloneDxValidator()(bom)).toEqual([]);
    expect(component('epsilon').licenses).toEqual([{ license: { id: 'MIT' } }]);
    expect(component('beta').licenses).toEqual([
      {
        license: {
          name: 'permissive',
          text: { content: 'Anything but sue us.', contentType: 'text/plain' },
          properties: [{ name: 'rampart:license:ref', value: 'LicenseRef-permissive' }],
        },
      },
    ]);
    expect(component('delta').licenses).toEqual([
      { expression: 'GPL-3.0-or-later WITH Bison-exception-2.2' },
    ]);
    expect(component('alpha').licenses).toEqual([
      { expression: '(GPL-2.0-or-later OR LicenseRef-permissive) AND MIT' },
    ]);
    // The names and texts behind an expression's LicenseRefs are the component's licence evidence.
    expect(component('alpha').evidence.licenses).toEqual([
      {
        license: {
          name: 'permissive',
          text: { content: 'Do what you like.', contentType: 'text/plain' },
          properties: [{ name: 'rampart:license:ref', value: 'LicenseRef-permissive' }],
        },
      },
    ]);
    expect(component('zeta').licenses).toBeUndefined();
  });

  it('reads the expressions and the names and texts behind their LicenseRefs back', () => {
    const back = readSbom(JSON.stringify(bom));
    const license = (name: string) => back.packages.find((p) => p.name === name)!.license;
    expect(license('alpha')).toEqual(doc.packages[0]!.license);
    expect(license('beta')).toEqual(doc.packages[1]!.license);
    expect(license('epsilon')).toEqual({ expression: 'MIT' });
  });
});
