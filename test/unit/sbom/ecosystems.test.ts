import { describe, expect, it } from 'vitest';
import { catalogFileSource } from '../../../src/sbom/catalog.js';
import { memoryFileSource } from '../../../src/sbom/source/file-source.js';

describe('npm cataloger', () => {
  it('finds nested node_modules, scoped packages and Debian /usr/share/nodejs modules', async () => {
    const source = memoryFileSource({
      '/app/node_modules/express/package.json': JSON.stringify({
        name: 'express',
        version: '4.19.2',
        license: 'MIT',
        author: 'TJ Holowaychuk <tj@vision-media.ca>',
        dependencies: { debug: '2.6.9' },
      }),
      '/app/node_modules/express/node_modules/debug/package.json':
        '{"name":"debug","version":"2.6.9","license":"MIT"}',
      '/app/node_modules/@babel/core/package.json':
        '{"name":"@babel/core","version":"7.24.0","license":"MIT"}',
      '/usr/share/nodejs/acorn/package.json': '{"name":"acorn","version":"8.11.3","license":"MIT"}',
      // Not a module manifest: a package's own test fixture two levels down.
      '/app/node_modules/express/test/fixtures/package.json': '{"name":"fixture","version":"0.0.0"}',
      '/app/node_modules/broken/package.json': '{ not json',
    });
    const { packages, warnings } = await catalogFileSource(source);
    expect(packages.map((p) => p.purl)).toEqual([
      'pkg:npm/%40babel/core@7.24.0',
      'pkg:npm/acorn@8.11.3',
      'pkg:npm/debug@2.6.9',
      'pkg:npm/express@4.19.2',
    ]);
    const express = packages.find((p) => p.name === 'express')!;
    expect(express.supplier).toBe('TJ Holowaychuk');
    expect(express.license).toEqual({ expression: 'MIT' });
    expect(express.dependsOn).toEqual(['pkg:npm/debug@2.6.9']);
    expect(express.cpes).toEqual(['cpe:2.3:a:express:express:4.19.2:*:*:*:*:*:*:*']);
    expect(warnings.map((w) => w.path)).toEqual(['/app/node_modules/broken/package.json']);
  });

  it('reads package-lock.json v3 entries and merges them with the installed copy', async () => {
    const source = memoryFileSource({
      '/srv/app/package-lock.json': JSON.stringify({
        lockfileVersion: 3,
        packages: {
          '': { name: 'app', version: '1.0.0' },
          'node_modules/ms': { version: '2.1.3', license: 'MIT' },
          'node_modules/@types/node': { version: '20.1.0', license: 'MIT' },
        },
      }),
      '/srv/app/node_modules/ms/package.json': '{"name":"ms","version":"2.1.3","license":"MIT"}',
    });
    const { packages } = await catalogFileSource(source);
    expect(packages.map((p) => [p.purl, p.locations])).toEqual([
      ['pkg:npm/%40types/node@20.1.0', ['/srv/app/package-lock.json']],
      ['pkg:npm/ms@2.1.3', ['/srv/app/node_modules/ms/package.json', '/srv/app/package-lock.json']],
    ]);
  });
});

describe('npm lock files with workspaces', () => {
  it('names workspace entries by their "name", never by a slice of their folder path', async () => {
    const source = memoryFileSource({
      '/srv/app/package-lock.json': JSON.stringify({
        lockfileVersion: 3,
        packages: {
          '': { name: 'app', version: '1.0.0' },
          'packages/frontend': { name: '@app/frontend', version: '0.2.0' },
          'packages/unnamed-tool': { version: '0.1.0' },
          'node_modules/@app/frontend': { resolved: 'packages/frontend', link: true },
        },
      }),
    });
    const { packages } = await catalogFileSource(source);
    expect(packages.map((p) => p.purl)).toEqual(['pkg:npm/%40app/frontend@0.2.0']);
  });
});

describe('python cataloger', () => {
  it('reads dist-info METADATA and RECORD, normalising the purl name', async () => {
    const site = '/usr/lib/python3/dist-packages';
    const source = memoryFileSource({
      [`${site}/Jinja2-3.1.2.dist-info/METADATA`]:
        'Metadata-Version: 2.1\nName: Jinja2\nVersion: 3.1.2\nAuthor: Armin Ronacher\nLicense: BSD-3-Clause\nRequires-Dist: MarkupSafe (>=2.0)\nRequires-Dist: Babel (>=2.7) ; extra == "i18n"\n\nlong description\nLicense: not a header\n',
      [`${site}/Jinja2-3.1.2.dist-info/RECORD`]:
        'jinja2/__init__.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,1927\njinja2/damaged.py,sha256=abcd,10\nJinja2-3.1.2.dist-info/RECORD,,\n',
      [`${site}/MarkupSafe-2.1.5.dist-info/METADATA`]:
        'Metadata-Version: 2.1\nName: MarkupSafe\nVersion: 2.1.5\nClassifier: License :: OSI Approved :: BSD License\n',
      '/usr/local/lib/python3.13/site-packages/typing_extensions-4.12.2.dist-info/METADATA':
        'Metadata-Version: 2.4\nName: typing_extensions\nVersion: 4.12.2\nLicense-Expression: PSF-2.0\n',
      [`${site}/six-1.16.0.egg-info`]: 'Metadata-Version: 1.2\nName: six\nVersion: 1.16.0\nLicense: MIT\n',
    });
    const { packages, warnings } = await catalogFileSource(source);
    expect(warnings).toEqual([]);
    expect(packages.map((p) => p.purl)).toEqual([
      'pkg:pypi/jinja2@3.1.2',
      'pkg:pypi/markupsafe@2.1.5',
      'pkg:pypi/six@1.16.0',
      'pkg:pypi/typing-extensions@4.12.2',
    ]);
    const jinja = packages.find((p) => p.name === 'Jinja2')!;
    expect(jinja.license).toEqual({ expression: 'BSD-3-Clause' });
    expect(jinja.dependsOn).toEqual(['pkg:pypi/markupsafe@2.1.5']);
    // RECORD hashes are urlsafe base64; the model keeps hex.
    expect(jinja.files?.find((f) => f.path.endsWith('__init__.py'))).toEqual({
      path: `${site}/jinja2/__init__.py`,
      digest: {
        algorithm: 'sha256',
        value: Buffer.from('47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU', 'base64url').toString('hex'),
      },
    });
    // A truncated hash is no digest at all.
    expect(jinja.files?.find((f) => f.path.endsWith('damaged.py'))).toEqual({
      path: `${site}/jinja2/damaged.py`,
    });
    expect(packages.find((p) => p.name === 'typing_extensions')!.license).toEqual({ expression: 'PSF-2.0' });
    // "BSD License" says neither 2- nor 3-clause: it stays a LicenseRef that keeps the classifier's name.
    expect(packages.find((p) => p.name === 'MarkupSafe')!.license).toEqual({
      expression: 'LicenseRef-BSD-License',
      refs: [{ id: 'LicenseRef-BSD-License', name: 'BSD License' }],
    });
  });
});
