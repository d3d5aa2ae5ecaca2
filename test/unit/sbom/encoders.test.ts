import { describe, expect, it } from 'vitest';
import { isRampartError } from '../../../src/errors.js';
import { catalogFileSource } from '../../../src/sbom/catalog.js';
import { encodeSbom, parseOutputSpec } from '../../../src/sbom/encode/index.js';
import type { SbomDocument } from '../../../src/sbom/model.js';
import { readSbom } from '../../../src/sbom/read/read-sbom.js';
import { debianRoot } from './sample-roots.js';
import { cycloneDxValidator, spdxValidator } from './schema-validators.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

async function sampleDocument(digest = DIGEST, fileDigests = false): Promise<SbomDocument> {
  const result = await catalogFileSource(
    debianRoot({
      '/usr/lib/x86_64-linux-gnu/libfoo.so.1': 'libfoo bytes',
      '/usr/share/doc/mta/copyright':
        'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: public-domain\n',
      '/app/node_modules/@scope/pkg/package.json':
        '{"name":"@scope/pkg","version":"1.0.0","license":"(MIT OR Apache-2.0)"}',
      '/usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA':
        'Name: six\nVersion: 1.16.0\nLicense: MIT\n',
    }),
    undefined,
    undefined,
    { fileDigests },
  );
  return {
    source: {
      kind: 'image',
      ref: 'oci:out/sample:latest',
      digest,
      platform: 'linux/amd64',
      created: '2025-05-01T12:34:56.789Z',
    },
    ...(result.distro ? { distro: result.distro } : {}),
    packages: result.packages,
    warnings: result.warnings,
  };
}

describe('SPDX 2.3 encoder', () => {
  const validate = spdxValidator();

  it('produces a schema-valid document, with and without files', async () => {
    const doc = await sampleDocument();
    expect(validate(JSON.parse(encodeSbom(doc, 'spdx-json')))).toEqual([]);
    const withFiles = JSON.parse(
      encodeSbom(await sampleDocument(DIGEST, true), 'spdx-json', { files: true }),
    );
    expect(validate(withFiles)).toEqual([]);
    expect(withFiles.files.map((f: { fileName: string }) => f.fileName)).toContain(
      './usr/lib/x86_64-linux-gnu/libfoo.so.1',
    );
  });

  it('is deterministic and takes its namespace and time from the image, not the clock', async () => {
    const a = encodeSbom(await sampleDocument(), 'spdx-json');
    const b = encodeSbom(await sampleDocument(), 'spdx-json');
    expect(a).toBe(b);
    const other = JSON.parse(encodeSbom(await sampleDocument(`sha256:${'cd'.repeat(32)}`), 'spdx-json'));
    const spdx = JSON.parse(a);
    expect(spdx.documentNamespace).not.toBe(other.documentNamespace);
    expect(spdx.documentNamespace).toMatch(
      /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(spdx.creationInfo.created).toBe('2025-05-01T12:34:56Z');
  });

  it('describes the image, contains the packages, links dependencies and source packages', async () => {
    const doc = await sampleDocument();
    const spdx = JSON.parse(encodeSbom(doc, 'spdx-json'));
    const byName = (name: string) => spdx.packages.find((p: { name: string }) => p.name === name);
    const rel = (from: string, type: string, to: string) =>
      spdx.relationships.some(
        (r: Record<string, string>) =>
          r.spdxElementId === from && r.relationshipType === type && r.relatedSpdxElement === to,
      );
    expect(rel('SPDXRef-DOCUMENT', 'DESCRIBES', 'SPDXRef-image')).toBe(true);
    for (const pkg of doc.packages) {
      const element = spdx.packages.find((p: { externalRefs?: Array<{ referenceLocator: string }> }) =>
        p.externalRefs?.some((r) => r.referenceLocator === pkg.purl),
      );
      expect(element, pkg.purl).toBeDefined();
      expect(rel('SPDXRef-image', 'CONTAINS', element.SPDXID)).toBe(true);
    }
    const libfoo = byName('libfoo1');
    expect(rel(libfoo.SPDXID, 'DEPENDS_ON', byName('libc6').SPDXID)).toBe(true);
    const fooSource = spdx.packages.find(
      (p: { name: string; primaryPackagePurpose: string }) =>
        p.name === 'foo' && p.primaryPackagePurpose === 'SOURCE',
    );
    expect(fooSource.versionInfo).toBe('1.2-1');
    expect(rel(libfoo.SPDXID, 'GENERATED_FROM', fooSource.SPDXID)).toBe(true);
    expect(libfoo.licenseDeclared).toBe('GPL-2.0-or-later AND MIT');
    expect(byName('mta').licenseDeclared).toBe('LicenseRef-public-domain');
    expect(spdx.hasExtractedLicensingInfos.map((l: { licenseId: string }) => l.licenseId)).toEqual([
      'LicenseRef-public-domain',
    ]);
  });
});

describe('CycloneDX 1.6 encoder', () => {
  const validate = cycloneDxValidator();

  it('produces a schema-valid, deterministic BOM', async () => {
    const text = encodeSbom(await sampleDocument(), 'cyclonedx-json');
    const bom = JSON.parse(text);
    expect(validate(bom)).toEqual([]);
    expect(encodeSbom(await sampleDocument(), 'cyclonedx-json')).toBe(text);
    expect(bom.specVersion).toBe('1.6');
    expect(bom.serialNumber).toMatch(/^urn:uuid:[0-9a-f-]{36}$/);
    expect(bom.metadata.timestamp).toBe('2025-05-01T12:34:56.000Z');
    expect(bom.metadata.component.version).toBe(DIGEST);
  });

  it('carries purls, licences, the OS and the dependency graph', async () => {
    const doc = await sampleDocument();
    const bom = JSON.parse(encodeSbom(doc, 'cyclonedx-json'));
    const purls = bom.components
      .filter((c: { purl?: string }) => c.purl)
      .map((c: { purl: string }) => c.purl);
    expect(purls.sort()).toEqual(doc.packages.map((p) => p.purl).sort());
    expect(bom.components.find((c: { type: string }) => c.type === 'operating-system')).toMatchObject({
      name: 'debian',
      version: '13',
    });
    const scoped = bom.components.find((c: { name: string }) => c.name === '@scope/pkg');
    expect(scoped.licenses).toEqual([{ expression: 'MIT OR Apache-2.0' }]);
    const libfoo = doc.packages.find((p) => p.name === 'libfoo1')!;
    const edges = bom.dependencies.find((d: { ref: string }) => d.ref === libfoo.id);
    expect(edges.dependsOn).toEqual(libfoo.dependsOn);
  });
});

describe('readSbom', () => {
  it.each(['spdx-json', 'cyclonedx-json', 'json'] as const)('round-trips our %s output', async (format) => {
    const doc = await sampleDocument();
    const back = readSbom(encodeSbom(doc, format));
    const summary = (d: SbomDocument) =>
      d.packages.map((p) => ({
        type: p.type,
        name: p.name,
        version: p.version,
        purl: p.purl,
        arch: p.architecture,
        dependsOn: p.dependsOn,
      }));
    expect(summary(back)).toEqual(summary(doc));
    const libfoo = back.packages.find((p) => p.name === 'libfoo1')!;
    expect(libfoo.source).toEqual({ name: 'foo', version: '1.2-1' });
  });

  it('treats an SPDX supplier of NOASSERTION as no supplier', () => {
    const spdx = {
      spdxVersion: 'SPDX-2.3',
      name: 'other-tool',
      packages: [
        {
          SPDXID: 'SPDXRef-a',
          name: 'zlib1g',
          versionInfo: '1:1.3.dfsg-3',
          supplier: 'NOASSERTION',
          externalRefs: [{ referenceType: 'purl', referenceLocator: 'pkg:deb/debian/zlib1g@1%3A1.3.dfsg-3' }],
        },
        {
          SPDXID: 'SPDXRef-b',
          name: 'libc6',
          versionInfo: '2.41-12',
          supplier: 'Organization: GNU Libc Maintainers',
          externalRefs: [{ referenceType: 'purl', referenceLocator: 'pkg:deb/debian/libc6@2.41-12' }],
        },
      ],
    };
    const back = readSbom(JSON.stringify(spdx));
    expect(back.packages.map((p) => [p.name, p.supplier])).toEqual([
      ['libc6', 'GNU Libc Maintainers'],
      ['zlib1g', undefined],
    ]);
  });

  it('rejects what is not an SBOM with a clear error', () => {
    for (const input of ['not json', '{"hello":1}', '[]']) {
      let caught: unknown;
      try {
        readSbom(input);
      } catch (error) {
        caught = error;
      }
      expect(isRampartError(caught, 'SBOM_INVALID')).toBe(true);
    }
  });
});

describe('parseOutputSpec', () => {
  it('parses syft-style FORMAT[=FILE] and refuses unknown formats', () => {
    expect(parseOutputSpec('table')).toEqual({ format: 'table' });
    expect(parseOutputSpec('spdx-json=out/a=b.json')).toEqual({ format: 'spdx-json', path: 'out/a=b.json' });
    expect(() => parseOutputSpec('xml')).toThrow(/unknown SBOM format/);
  });
});
