import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogFileSource } from '../../../src/sbom/catalog.js';
import { encodeSbom } from '../../../src/sbom/encode/index.js';
import { generateSbom } from '../../../src/sbom/generate.js';
import type { SbomDocument } from '../../../src/sbom/model.js';
import { directoryFileSource } from '../../../src/sbom/source/dir-source.js';
import { memoryFileSource } from '../../../src/sbom/source/file-source.js';
import { cycloneDxValidator, spdxValidator } from './schema-validators.js';

// Issue 16 items 2, 3 and 5: Built-Using sources, valid SPDX with files, the application component,
// descriptions and homepages, jars nested in a fat jar.

const OS_RELEASE = 'ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n';

const STATUS = `Package: ripgrep
Status: install ok installed
Architecture: amd64
Version: 14.1.1-1+b4
Maintainer: Debian Rust Maintainers <pkg-rust-maintainers@alioth-lists.debian.net>
Homepage: https://github.com/BurntSushi/ripgrep
Description: Recursively searches directories for a regex pattern
 ripgrep is a line oriented search tool.
Built-Using: rustc (= 1.85.0+dfsg3-1)
X-Cargo-Built-Using: rust-aho-corasick (= 1.1.3-1), rust-memchr (= 2.7.4-1)

Package: sqv
Status: install ok installed
Architecture: amd64
Version: 1.3.0-3+b2
Built-Using: rustc (= 1.85.0+dfsg3-1), bogus entry
Static-Built-Using: rust-memchr (= 2.7.4-1), rust-sequoia-openpgp (= 2.0.0-2+deb13u1)
Description: OpenPGP signature verification program

Package: rust-memchr-user
Status: install ok installed
Architecture: amd64
Source: rust-memchr (2.7.4-1)
Version: 2.7.4-1
Description: a binary built from rust-memchr itself
`;

function doc(result: Awaited<ReturnType<typeof catalogFileSource>>): SbomDocument {
  return {
    source: { kind: 'directory', ref: 'dir:/root', created: '2026-01-01T00:00:00Z' },
    ...(result.distro ? { distro: result.distro } : {}),
    packages: result.packages,
    warnings: result.warnings,
  };
}

describe('Built-Using, Static-Built-Using and X-Cargo-Built-Using', () => {
  let sbom: SbomDocument;
  beforeAll(async () => {
    sbom = doc(
      await catalogFileSource(
        memoryFileSource({ '/usr/lib/os-release': OS_RELEASE, '/var/lib/dpkg/status': STATUS }),
      ),
    );
  });

  it('become Debian source packages with purls, and edges from the binaries that embed them', () => {
    const sources = sbom.packages.filter((p) => p.architecture === 'source');
    expect(sources.map((p) => p.purl)).toEqual([
      'pkg:deb/debian/rust-aho-corasick@1.1.3-1?arch=source&distro=debian-13',
      'pkg:deb/debian/rust-memchr@2.7.4-1?arch=source&distro=debian-13',
      'pkg:deb/debian/rust-sequoia-openpgp@2.0.0-2%2Bdeb13u1?arch=source&distro=debian-13',
      'pkg:deb/debian/rustc@1.85.0%2Bdfsg3-1?arch=source&distro=debian-13',
    ]);
    const id = (name: string) =>
      sbom.packages.find((p) => p.name === name && p.architecture === 'source')!.id;
    const rg = sbom.packages.find((p) => p.name === 'ripgrep')!;
    expect(rg.builtUsing).toEqual(
      [
        { id: id('rust-aho-corasick'), field: 'X-Cargo-Built-Using' },
        { id: id('rust-memchr'), field: 'X-Cargo-Built-Using' },
        { id: id('rustc'), field: 'Built-Using' },
      ].sort((a, b) => (a.id < b.id ? -1 : 1)),
    );
    const sqv = sbom.packages.find((p) => p.name === 'sqv')!;
    expect(sqv.builtUsing?.map((b) => `${b.field} ${b.id}`).sort()).toEqual(
      [
        `Built-Using ${id('rustc')}`,
        `Static-Built-Using ${id('rust-memchr')}`,
        `Static-Built-Using ${id('rust-sequoia-openpgp')}`,
      ].sort(),
    );
    // The malformed entry is left out with a warning naming it; the rest of the field is kept.
    expect(sbom.warnings.map((w) => w.message).filter((m) => m.includes('bogus entry'))).toHaveLength(1);
  });

  it('SPDX: GENERATED_FROM from the binary to each source (the dpkg field in the comment), one element per source', () => {
    const spdx = JSON.parse(encodeSbom(sbom, 'spdx-json'));
    expect(spdxValidator()(spdx)).toEqual([]);
    const byName = (name: string, purpose?: string) =>
      spdx.packages.filter(
        (p: Record<string, string>) =>
          p.name === name && (purpose === undefined || p.primaryPackagePurpose === purpose),
      );
    // rust-memchr is a Built-Using source AND the source of a binary here: one element, not two.
    expect(byName('rust-memchr', 'SOURCE')).toHaveLength(1);
    const memchr = byName('rust-memchr', 'SOURCE')[0].SPDXID;
    const rg = byName('ripgrep')[0].SPDXID;
    const user = byName('rust-memchr-user')[0].SPDXID;
    const edges = (from: string) =>
      spdx.relationships.filter((r: Record<string, string>) => r.spdxElementId === from);
    expect(edges(rg)).toContainEqual({
      spdxElementId: rg,
      relationshipType: 'GENERATED_FROM',
      relatedSpdxElement: memchr,
      comment: 'dpkg X-Cargo-Built-Using',
    });
    expect(edges(user)).toContainEqual({
      spdxElementId: user,
      relationshipType: 'GENERATED_FROM',
      relatedSpdxElement: memchr,
    });
    expect(byName('ripgrep')[0]).toMatchObject({
      summary: 'Recursively searches directories for a regex pattern',
      homepage: 'https://github.com/BurntSushi/ripgrep',
    });
  });

  it('SPDX and CycloneDX agree: the image holds the installed packages, a source is reached from its binaries only', () => {
    const installed = sbom.packages
      .filter((p) => p.architecture !== 'source')
      .map((p) => p.purl)
      .sort();
    const spdx = JSON.parse(encodeSbom(sbom, 'spdx-json'));
    const imageId = spdx.relationships.find(
      (r: Record<string, string>) =>
        r.spdxElementId === 'SPDXRef-DOCUMENT' && r.relationshipType === 'DESCRIBES',
    ).relatedSpdxElement;
    const purlOfSpdx = new Map<string, string>(
      spdx.packages.map((p: { SPDXID: string; externalRefs?: Array<Record<string, string>> }) => [
        p.SPDXID,
        p.externalRefs?.find((r) => r.referenceType === 'purl')?.referenceLocator,
      ]),
    );
    const spdxHeld = spdx.relationships
      .filter((r: Record<string, string>) => r.spdxElementId === imageId && r.relationshipType === 'CONTAINS')
      .map((r: Record<string, string>) => purlOfSpdx.get(r.relatedSpdxElement ?? ''))
      .filter((purl: string | undefined) => purl !== undefined)
      .sort();
    expect(spdxHeld).toEqual(installed);
    const cdx = JSON.parse(encodeSbom(sbom, 'cyclonedx-json'));
    const purlOfRef = new Map<string, string>(
      cdx.components.map((c: Record<string, string>) => [c['bom-ref'], c.purl]),
    );
    const cdxHeld = cdx.dependencies
      .find((d: { ref: string }) => d.ref === cdx.metadata.component['bom-ref'])
      .dependsOn.map((ref: string) => purlOfRef.get(ref))
      .filter((purl: string | undefined) => purl !== undefined)
      .sort();
    expect(cdxHeld).toEqual(installed);
    // Every source is still a component, reached from a binary.
    const sourceRefs = sbom.packages.filter((p) => p.architecture === 'source').map((p) => p.id);
    const reached = new Set(
      cdx.dependencies
        .filter((d: { ref: string }) => d.ref !== cdx.metadata.component['bom-ref'])
        .flatMap((d: { dependsOn?: string[] }) => d.dependsOn ?? []),
    );
    for (const ref of sourceRefs) expect(reached.has(ref), ref).toBe(true);
  });

  it('CycloneDX: the sources are components, each a dependsOn target of the binary', () => {
    const cdx = JSON.parse(encodeSbom(sbom, 'cyclonedx-json'));
    expect(cycloneDxValidator()(cdx)).toEqual([]);
    const rg = sbom.packages.find((p) => p.name === 'ripgrep')!;
    const deps = cdx.dependencies.find((d: { ref: string }) => d.ref === rg.id).dependsOn;
    for (const ref of rg.builtUsing!) expect(deps).toContain(ref.id);
    const rustc = cdx.components.find((c: { name: string }) => c.name === 'rustc');
    expect(rustc.purl).toBe('pkg:deb/debian/rustc@1.85.0%2Bdfsg3-1?arch=source&distro=debian-13');
    expect(rustc.properties).toContainEqual({
      name: 'rampart:package:built-using-field',
      value: 'Built-Using',
    });
    const rgComponent = cdx.components.find((c: { name: string }) => c.name === 'ripgrep');
    expect(rgComponent.description).toBe('Recursively searches directories for a regex pattern');
    expect(rgComponent.externalReferences).toEqual([
      { url: 'https://github.com/BurntSushi/ripgrep', type: 'website' },
    ]);
  });
});

describe('SPDX with --files', () => {
  let work: string;
  let root: string;
  // biome-ignore lint/suspicious/noExplicitAny: a parsed JSON document, navigated by the assertions
  let spdx: Record<string, any>;
  const libBytes = 'the library\n';
  const docBytes = 'copyright text\n';

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'rampart-fidelity-'));
    root = join(work, 'root');
    const write = (path: string, text: string) => {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), text);
    };
    write('usr/lib/os-release', OS_RELEASE);
    write(
      'var/lib/dpkg/status',
      'Package: libfoo1\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\n\nPackage: nofiles\nStatus: install ok installed\nArchitecture: all\nVersion: 2\n',
    );
    // dpkg lists three files; one was removed after install (as a hardened image does with docs).
    write(
      'var/lib/dpkg/info/libfoo1.md5sums',
      `${createHash('md5').update(libBytes).digest('hex')}  usr/lib/libfoo.so.1\n${createHash('md5').update(docBytes).digest('hex')}  usr/share/doc/libfoo1/copyright\n0123456789abcdef0123456789abcdef  usr/share/man/man1/foo.1.gz\n`,
    );
    write('usr/lib/libfoo.so.1', libBytes);
    write('usr/share/doc/libfoo1/copyright', docBytes);
    const sbom = await generateSbom({ kind: 'directory', path: root }, { fileDigests: true });
    spdx = JSON.parse(encodeSbom(sbom, 'spdx-json', { files: true }));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('is schema-valid, with a SHA-1 computed from the bytes on every file and relative file names', () => {
    expect(spdxValidator()(spdx)).toEqual([]);
    const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');
    expect(
      spdx.files
        .map((f: Record<string, unknown>) => [f.fileName, f.checksums])
        .sort((a: string[], b: string[]) => (a[0]! < b[0]! ? -1 : 1)),
    ).toEqual([
      [
        './usr/lib/libfoo.so.1',
        [
          { algorithm: 'MD5', checksumValue: createHash('md5').update(libBytes).digest('hex') },
          { algorithm: 'SHA1', checksumValue: sha1(libBytes) },
        ],
      ],
      [
        './usr/share/doc/libfoo1/copyright',
        [
          { algorithm: 'MD5', checksumValue: createHash('md5').update(docBytes).digest('hex') },
          { algorithm: 'SHA1', checksumValue: sha1(docBytes) },
        ],
      ],
    ]);
  });

  it('marks packages that contain files as analysed, with the SPDX 2.3 verification code; others not', () => {
    const foo = spdx.packages.find((p: { name: string }) => p.name === 'libfoo1');
    // §7.9: SHA-1 over the sorted, concatenated file SHA-1s.
    const sha1s = [libBytes, docBytes].map((t) => createHash('sha1').update(t).digest('hex')).sort();
    expect(foo.filesAnalyzed).toBe(true);
    expect(foo.packageVerificationCode).toEqual({
      packageVerificationCodeValue: createHash('sha1').update(sha1s.join('')).digest('hex'),
    });
    expect(foo.comment).toContain('1 of 3 listed files are not in the root');
    const nofiles = spdx.packages.find((p: { name: string }) => p.name === 'nofiles');
    expect(nofiles.filesAnalyzed).toBe(false);
    expect(nofiles.packageVerificationCode).toBeUndefined();
    const contains = spdx.relationships.filter(
      (r: Record<string, string>) => r.spdxElementId === foo.SPDXID && r.relationshipType === 'CONTAINS',
    );
    expect(contains).toHaveLength(2);
  });

  it('hashes through a FileSource without its own sha1 (an image) the same way', async () => {
    const source = await directoryFileSource(root, () => undefined);
    const { sha1: _streamed, ...readOnly } = source;
    const viaRead = await catalogFileSource(readOnly, undefined, undefined, { fileDigests: true });
    const viaStream = await catalogFileSource(source, undefined, undefined, { fileDigests: true });
    expect(viaRead.packages).toEqual(viaStream.packages);
    expect(viaStream.packages.find((p) => p.name === 'libfoo1')!.files!.filter((f) => f.sha1)).toHaveLength(
      2,
    );
  });
});

describe('the application, descriptions and nested jars', () => {
  let work: string;
  let root: string;
  let sbom: SbomDocument;

  function jar(name: string, files: Record<string, string | Buffer>, into: string) {
    const dir = join(work, `jar-${name}`);
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    mkdirSync(into, { recursive: true });
    // Archives are built with Info-ZIP's `zip`, not by our own code.
    execFileSync('zip', ['-q', '-r', join(into, name), '.'], { cwd: dir });
  }
  const props = (artifact: string, version: string) => ({
    [`META-INF/maven/org.example/${artifact}/pom.properties`]: `groupId=org.example\nartifactId=${artifact}\nversion=${version}\n`,
  });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'rampart-fidelity-app-'));
    root = join(work, 'root');
    const write = (path: string, text: string) => {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), text);
    };
    write(
      'app/package.json',
      JSON.stringify({
        name: 'orders-web',
        version: '2.0.0',
        description: 'Orders web front end',
        homepage: 'https://orders.example.org/',
        dependencies: { express: '^4' },
        devDependencies: { vitest: '^3' },
      }),
    );
    write(
      'app/node_modules/express/package.json',
      JSON.stringify({
        name: 'express',
        version: '4.21.2',
        description: 'Fast web framework',
        license: 'MIT',
      }),
    );
    // A package.json with nothing installed beside it is not an application.
    write('opt/tool/package.json', JSON.stringify({ name: 'stray', version: '1.0.0' }));
    write(
      'usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA',
      'Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\nSummary: Python 2 and 3 compatibility utilities\nProject-URL: Homepage, https://github.com/benjaminp/six\n',
    );
    // A fat jar holding lib-a 1.0; the same lib-a 1.0 also lies loose elsewhere.
    jar('lib-a-1.0.jar', props('lib-a', '1.0'), join(work, 'nested/BOOT-INF/lib'));
    jar(
      'fat.jar',
      {
        ...props('fat', '3.0'),
        'BOOT-INF/lib/lib-a-1.0.jar': readFileSync(join(work, 'nested/BOOT-INF/lib/lib-a-1.0.jar')),
      },
      join(root, 'opt/app'),
    );
    mkdirSync(join(root, 'opt/other'), { recursive: true });
    execFileSync('cp', [join(work, 'nested/BOOT-INF/lib/lib-a-1.0.jar'), join(root, 'opt/other/')]);
    sbom = await generateSbom({ kind: 'directory', path: root });
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('makes /app/package.json the application, with its production dependencies as edges', () => {
    const app = sbom.packages.find((p) => p.name === 'orders-web')!;
    const express = sbom.packages.find((p) => p.name === 'express')!;
    expect(app).toMatchObject({
      version: '2.0.0',
      application: true,
      purl: 'pkg:npm/orders-web@2.0.0',
      description: 'Orders web front end',
      homepage: 'https://orders.example.org/',
      dependsOn: [express.id],
    });
    expect(express.description).toBe('Fast web framework');
    expect(sbom.packages.some((p) => p.name === 'stray')).toBe(false);
    const cdx = JSON.parse(encodeSbom(sbom, 'cyclonedx-json'));
    expect(cycloneDxValidator()(cdx)).toEqual([]);
    expect(cdx.components.find((c: { name: string }) => c.name === 'orders-web').type).toBe('application');
    const spdx = JSON.parse(encodeSbom(sbom, 'spdx-json'));
    expect(spdxValidator()(spdx)).toEqual([]);
    expect(spdx.packages.find((p: { name: string }) => p.name === 'orders-web').primaryPackagePurpose).toBe(
      'APPLICATION',
    );
  });

  it('takes PyPI Summary and Project-URL Homepage', () => {
    expect(sbom.packages.find((p) => p.name === 'six')).toMatchObject({
      description: 'Python 2 and 3 compatibility utilities',
      homepage: 'https://github.com/benjaminp/six',
    });
  });

  it('keeps a jar nested in a fat jar as its own component, with an edge from the fat jar', () => {
    const copies = sbom.packages.filter((p) => p.name === 'lib-a');
    expect(copies.map((p) => p.locations)).toEqual(
      expect.arrayContaining([
        ['/opt/app/fat.jar!/BOOT-INF/lib/lib-a-1.0.jar'],
        ['/opt/other/lib-a-1.0.jar'],
      ]),
    );
    expect(copies).toHaveLength(2);
    const nested = copies.find((p) => p.locations[0]!.includes('!/'))!;
    const fat = sbom.packages.find((p) => p.name === 'fat')!;
    expect(fat.contains).toEqual([nested.id]);
    const spdx = JSON.parse(encodeSbom(sbom, 'spdx-json'));
    const spdxId = (name: string, location: string) =>
      spdx.packages.find(
        (p: Record<string, string>) => p.name === name && p.comment?.includes(`found at: ${location}`),
      ).SPDXID;
    expect(spdx.relationships).toContainEqual({
      spdxElementId: spdxId('fat', '/opt/app/fat.jar'),
      relationshipType: 'CONTAINS',
      relatedSpdxElement: spdxId('lib-a', '/opt/app/fat.jar!/'),
    });
    const cdx = JSON.parse(encodeSbom(sbom, 'cyclonedx-json'));
    expect(cdx.dependencies.find((d: { ref: string }) => d.ref === fat.id).dependsOn).toEqual([nested.id]);
  });
});
