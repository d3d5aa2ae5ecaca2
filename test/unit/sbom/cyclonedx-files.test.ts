import { describe, expect, it } from 'vitest';
import { encodeSbom } from '../../../src/sbom/encode/index.js';
import type { SbomDocument, SbomFile, SbomPackage } from '../../../src/sbom/model.js';
import { compareText } from '../../../src/sbom/order.js';
import { readSbom } from '../../../src/sbom/read/read-sbom.js';
import { cycloneDxValidator } from './schema-validators.js';

interface CdxComponent {
  type: string;
  name: string;
  purl?: string;
  'bom-ref'?: string;
  hashes?: Array<{ alg: string; content: string }>;
  components?: CdxComponent[];
}

const hex = (seed: string, length: number) => seed.repeat(length).slice(0, length);

function pkg(fields: Partial<SbomPackage> & Pick<SbomPackage, 'name' | 'version' | 'type' | 'purl'>) {
  return { id: fields.purl, cpes: [], locations: [], dependsOn: [], ...fields };
}

/**
 * Packages with md5 (dpkg), sha256 (RECORD), sha1 and digest-less files, one without files at all,
 * one with an empty list; paths whose code-unit order differs from a locale's (upper case, `-`, `_`).
 */
function modelWithFiles(): SbomDocument {
  const libc = 'pkg:deb/debian/libc6@2.41-12?arch=amd64&distro=debian-13&upstream=glibc';
  return {
    source: { kind: 'image', ref: 'oci:out/files:v1', digest: `sha256:${'ab'.repeat(32)}` },
    distro: { id: 'debian', versionId: '13' },
    packages: [
      pkg({
        name: 'libc6',
        version: '2.41-12',
        type: 'deb',
        purl: libc,
        source: { name: 'glibc', version: '2.41-12' },
        architecture: 'amd64',
        files: [
          { path: '/usr/lib/x86_64-linux-gnu/libc.so.6', digest: { algorithm: 'md5', value: hex('a1', 32) } },
          { path: '/usr/lib/x86_64-linux-gnu/Scrt1.o', digest: { algorithm: 'md5', value: hex('b2', 32) } },
          {
            path: '/usr/lib/x86_64-linux-gnu/ld-linux.so',
            digest: { algorithm: 'md5', value: hex('c3', 32) },
          },
          {
            path: '/usr/lib/x86_64-linux-gnu/ldlinux.so',
            digest: { algorithm: 'md5', value: hex('d4', 32) },
          },
          { path: '/usr/lib/x86_64-linux-gnu/_private', digest: { algorithm: 'md5', value: hex('e5', 32) } },
          {
            path: '/etc/ld.so.conf.d/x86_64-linux-gnu.conf',
            digest: { algorithm: 'md5', value: hex('f6', 32) },
          },
        ],
      }),
      pkg({
        name: 'bash',
        version: '5.2.37-2+b10',
        type: 'deb',
        purl: 'pkg:deb/debian/bash@5.2.37-2%2Bb10?arch=amd64&distro=debian-13',
        source: { name: 'bash', version: '5.2.37-2' },
        architecture: 'amd64',
        dependsOn: [libc],
      }),
      pkg({
        name: 'six',
        version: '1.16.0',
        type: 'pypi',
        purl: 'pkg:pypi/six@1.16.0',
        files: [
          {
            path: '/usr/lib/python3/dist-packages/six.py',
            digest: { algorithm: 'sha256', value: hex('0f', 64) },
          },
          { path: '/usr/lib/python3/dist-packages/six-1.16.0.dist-info/RECORD' },
          {
            path: '/usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA',
            digest: { algorithm: 'sha256', value: hex('9e', 64) },
          },
        ],
      }),
      pkg({
        name: 'left-pad',
        version: '1.3.0',
        type: 'npm',
        purl: 'pkg:npm/left-pad@1.3.0',
        files: [
          {
            path: '/usr/lib/node_modules/left-pad/index.js',
            digest: { algorithm: 'sha1', value: hex('7c', 40) },
          },
          { path: '/usr/lib/node_modules/left-pad/package.json' },
        ],
      }),
      pkg({
        name: 'zlib',
        version: '1.3.1',
        type: 'golang',
        purl: 'pkg:golang/example.org/zlib@1.3.1',
        files: [],
      }),
    ],
    warnings: [],
  };
}

const CDX_ALG = { md5: 'MD5', sha1: 'SHA-1', sha256: 'SHA-256' } as const;

/** What each package's file components should be, derived from the model: sorted by code unit. */
function expectedFileComponents(p: SbomPackage) {
  return [...(p.files ?? [])]
    .sort((a, b) => compareText(a.path, b.path))
    .map((f) => ({
      type: 'file',
      name: f.path,
      ...(f.digest ? { hashes: [{ alg: CDX_ALG[f.digest.algorithm], content: f.digest.value }] } : {}),
    }));
}

function allComponents(list: CdxComponent[] = []): CdxComponent[] {
  return list.flatMap((c) => [c, ...allComponents(c.components)]);
}

const sortedFiles = (files: SbomFile[] = []) => [...files].sort((a, b) => compareText(a.path, b.path));

describe('CycloneDX encoder with files', () => {
  const validate = cycloneDxValidator();

  it('nests each package file as a file component with its hashes, valid against CycloneDX 1.6', () => {
    const doc = modelWithFiles();
    const text = encodeSbom(doc, 'cyclonedx-json', { files: true });
    const bom = JSON.parse(text) as { components: CdxComponent[] };
    expect(validate(bom)).toEqual([]);
    for (const p of doc.packages) {
      const component = bom.components.find((c) => c.purl === p.purl);
      expect(component, p.purl).toBeDefined();
      const nested = (component?.components ?? []).map(({ 'bom-ref': _ref, ...rest }) => rest);
      expect(nested, p.purl).toEqual(expectedFileComponents(p));
      const refs = (component?.components ?? []).map((c) => c['bom-ref']);
      for (const ref of refs) expect(ref?.startsWith(`${p.id}#file:`), ref).toBe(true);
      expect(new Set(refs).size).toBe(refs.length);
    }
    const total = doc.packages.reduce((n, p) => n + (p.files?.length ?? 0), 0);
    expect(allComponents(bom.components).filter((c) => c.type === 'file')).toHaveLength(total);
  });

  it('gives the same bytes on every encoding', () => {
    const a = encodeSbom(modelWithFiles(), 'cyclonedx-json', { files: true });
    const b = encodeSbom(modelWithFiles(), 'cyclonedx-json', { files: true });
    expect(a).toBe(b);
  });

  it('joins a path listed twice into one component carrying each digest', () => {
    const doc = modelWithFiles();
    const six = doc.packages.find((p) => p.name === 'six')!;
    six.files = [
      {
        path: '/usr/lib/python3/dist-packages/six.py',
        digest: { algorithm: 'sha256', value: hex('0f', 64) },
      },
      { path: '/usr/lib/python3/dist-packages/six.py', digest: { algorithm: 'md5', value: hex('5a', 32) } },
    ];
    const bom = JSON.parse(encodeSbom(doc, 'cyclonedx-json', { files: true }));
    expect(validate(bom)).toEqual([]);
    const component = bom.components.find((c: CdxComponent) => c.purl === six.purl);
    expect(component.components).toHaveLength(1);
    expect(component.components[0].hashes).toEqual([
      { alg: 'MD5', content: hex('5a', 32) },
      { alg: 'SHA-256', content: hex('0f', 64) },
    ]);
    // Back in the model a file keeps one digest: the strongest.
    expect(readSbom(JSON.stringify(bom)).packages.find((p) => p.name === 'six')?.files).toEqual([
      six.files[0],
    ]);
  });

  it('without the option lists no files, exactly as for a model that has none', () => {
    const doc = modelWithFiles();
    const text = encodeSbom(doc, 'cyclonedx-json');
    const bom = JSON.parse(text) as { components: CdxComponent[] };
    expect(validate(bom)).toEqual([]);
    expect(allComponents(bom.components).some((c) => c.type === 'file')).toBe(false);
    expect(bom.components.some((c) => c.components !== undefined)).toBe(false);
    const stripped = { ...doc, packages: doc.packages.map(({ files: _files, ...rest }) => rest) };
    expect(text).toBe(encodeSbom(stripped, 'cyclonedx-json'));
    expect(encodeSbom(doc, 'cyclonedx-json', { files: false })).toBe(text);
  });
});

describe('readSbom of CycloneDX with file components', () => {
  it('puts the files back on their package and makes no packages of them', () => {
    const doc = modelWithFiles();
    const back = readSbom(encodeSbom(doc, 'cyclonedx-json', { files: true }));
    expect(back.packages.map((p) => p.purl).sort()).toEqual(doc.packages.map((p) => p.purl).sort());
    for (const p of doc.packages) {
      const read = back.packages.find((b) => b.purl === p.purl);
      expect(read?.files ?? [], p.purl).toEqual(sortedFiles(p.files));
    }
    expect(back.packages.find((p) => p.name === 'bash')?.dependsOn).toEqual(
      doc.packages.find((p) => p.name === 'bash')?.dependsOn,
    );
  });

  it('still reads nested non-file components as packages, with their own files', () => {
    const bom = {
      bomFormat: 'CycloneDX',
      specVersion: '1.6',
      components: [
        { type: 'file', name: '/opt/loose.txt' },
        {
          type: 'library',
          name: 'app',
          version: '1.0.0',
          purl: 'pkg:npm/app@1.0.0',
          components: [
            { type: 'file', name: '/app/index.js', hashes: [{ alg: 'SHA-1', content: hex('AB', 40) }] },
            {
              type: 'library',
              name: 'dep',
              version: '2.0.0',
              purl: 'pkg:npm/dep@2.0.0',
              // A damaged hash (too short for SHA-256) is dropped, not kept as a wrong digest.
              components: [
                {
                  type: 'file',
                  name: '/app/node_modules/dep/index.js',
                  hashes: [{ alg: 'SHA-256', content: 'abc' }],
                },
              ],
            },
          ],
        },
      ],
    };
    const back = readSbom(JSON.stringify(bom));
    expect(back.packages.map((p) => [p.purl, p.files])).toEqual([
      ['pkg:npm/app@1.0.0', [{ path: '/app/index.js', digest: { algorithm: 'sha1', value: hex('ab', 40) } }]],
      ['pkg:npm/dep@2.0.0', [{ path: '/app/node_modules/dep/index.js' }]],
    ]);
  });
});
