import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSbom } from '../../../src/sbom/encode/index.js';
import { generateSbom } from '../../../src/sbom/generate.js';

// Real ELF files: /bin/true with sections added by binutils' objcopy, and Debian's Go-built umoci.
let root: string;

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** A Go ≥ 1.18 `.go.buildinfo` section: magic, ptr size, flags (inline strings), two varint strings. */
function goBuildInfoSection(goVersion: string, modinfo: string, flags = 0x2): Buffer {
  const header = Buffer.alloc(32);
  Buffer.from('\xff Go buildinf:', 'latin1').copy(header);
  header[14] = 8;
  header[15] = flags;
  const sentinel = Buffer.alloc(16, 0xaa);
  const mod = Buffer.concat([sentinel, Buffer.from(modinfo), sentinel]);
  return Buffer.concat([header, varint(goVersion.length), Buffer.from(goVersion), varint(mod.length), mod]);
}

function binaryWithSection(path: string, section: string, data: Buffer) {
  const dataFile = `${path}.section`;
  writeFileSync(dataFile, data);
  execFileSync('objcopy', ['--add-section', `${section}=${dataFile}`, '/bin/true', path]);
  rmSync(dataFile);
  chmodSync(path, 0o755);
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'rampart-sbom-bin-'));
  mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  binaryWithSection(
    join(root, 'usr/local/bin/hello'),
    '.go.buildinfo',
    goBuildInfoSection(
      'go1.22.5',
      [
        'path\texample.com/hello',
        'mod\texample.com/hello\tv1.2.3\th1:abc=',
        'dep\tgolang.org/x/text\tv0.14.0\th1:def=',
        'dep\tgithub.com/old/mod\tv1.0.0\th1:ghi=',
        '=>\tgithub.com/new/mod\tv1.1.0\th1:jkl=',
        'build\t-compiler=gc',
        '',
      ].join('\n'),
    ),
  );
  // Another Go program with other versions of the toolchain and of a shared module.
  binaryWithSection(
    join(root, 'usr/local/bin/hello2'),
    '.go.buildinfo',
    goBuildInfoSection(
      'go1.23.1',
      ['mod\texample.com/hello2\tv0.1.0\th1:mno=', 'dep\tgolang.org/x/text\tv0.20.0\th1:pqr=', ''].join('\n'),
    ),
  );
  binaryWithSection(join(root, 'usr/local/bin/legacy'), '.go.buildinfo', goBuildInfoSection('go1.16', '', 0));
  // `go build` in a working tree records the main module as `(devel)`.
  binaryWithSection(
    join(root, 'usr/local/bin/devtool'),
    '.go.buildinfo',
    goBuildInfoSection(
      'go1.23.1',
      ['mod\texample.com/devtool\t(devel)\t', 'dep\tgolang.org/x/text\tv0.20.0\th1:pqr=', ''].join('\n'),
    ),
  );
  const crates = {
    packages: [
      { name: 'ripgrep', version: '14.1.0', source: 'local', kind: 'runtime', dependencies: [1], root: true },
      { name: 'regex', version: '1.10.4', source: 'crates.io', kind: 'runtime', dependencies: [] },
      // A second version of the same crate in one binary: edges must follow the index, not the name.
      { name: 'globset', version: '0.4.14', source: 'crates.io', kind: 'runtime', dependencies: [3] },
      { name: 'regex', version: '0.2.11', source: 'crates.io', kind: 'runtime', dependencies: [] },
    ],
  };
  binaryWithSection(join(root, 'usr/local/bin/rg'), '.dep-v0', deflateSync(JSON.stringify(crates)));
  binaryWithSection(join(root, 'usr/local/bin/bad-rust'), '.dep-v0', Buffer.from('not zlib at all'));
  copyFileSync('/usr/bin/umoci', join(root, 'usr/bin/umoci'));
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('binary cataloger on real ELF files', () => {
  it('reads inline Go build info, applying replace directives', async () => {
    const doc = await generateSbom({ kind: 'directory', path: root });
    const fromHello = doc.packages
      .filter((p) => p.locations.includes('/usr/local/bin/hello'))
      .map((p) => p.purl);
    expect(fromHello).toEqual(
      expect.arrayContaining([
        'pkg:golang/example.com/hello@v1.2.3',
        'pkg:golang/golang.org/x/text@v0.14.0',
        'pkg:golang/github.com/new/mod@v1.1.0',
        'pkg:golang/stdlib@go1.22.5',
      ]),
    );
    const main = doc.packages.find((p) => p.name === 'example.com/hello')!;
    const sha = execFileSync('sha256sum', [join(root, 'usr/local/bin/hello')])
      .toString()
      .split(' ')[0];
    expect(main.sha256).toBe(sha);
    expect(main.dependsOn).toContain('pkg:golang/golang.org/x/text@v0.14.0');
  });

  it('gives a (devel) main module no version, in the model, the purl and both encodings', async () => {
    const doc = await generateSbom({ kind: 'directory', path: root });
    const dev = doc.packages.find((p) => p.name === 'example.com/devtool')!;
    expect(dev.version).toBe('');
    expect(dev.purl).toBe('pkg:golang/example.com/devtool');
    expect(dev.dependsOn).toContain('pkg:golang/golang.org/x/text@v0.20.0');
    const spdx = JSON.parse(encodeSbom(doc, 'spdx-json'));
    const element = spdx.packages.find((p: { name: string }) => p.name === 'example.com/devtool');
    expect(element).toBeDefined();
    expect(element.versionInfo).toBeUndefined();
    const bom = JSON.parse(encodeSbom(doc, 'cyclonedx-json'));
    const component = bom.components.find((c: { name: string }) => c.name === 'example.com/devtool');
    expect(component.version).toBeUndefined();
    expect(JSON.stringify([spdx, bom])).not.toContain('(devel)');
  });

  it("reports the Go version of Debian's umoci as readelf shows it", async () => {
    const doc = await generateSbom({ kind: 'directory', path: root });
    const dump = execFileSync('readelf', ['-p', '.go.buildinfo', '/usr/bin/umoci']).toString();
    const goVersion = /go1\.\d+(?:\.\d+)?/.exec(dump)![0];
    const stdlib = doc.packages.find((p) => p.name === 'stdlib' && p.locations.includes('/usr/bin/umoci'));
    expect(stdlib?.version).toBe(goVersion);
  });

  it('reads cargo-auditable data and links the crates', async () => {
    const doc = await generateSbom({ kind: 'directory', path: root });
    const rg = doc.packages.find((p) => p.purl === 'pkg:cargo/ripgrep@14.1.0')!;
    expect(rg.dependsOn).toEqual(['pkg:cargo/regex@1.10.4']);
    const globset = doc.packages.find((p) => p.purl === 'pkg:cargo/globset@0.4.14')!;
    expect(globset.dependsOn).toEqual(['pkg:cargo/regex@0.2.11']);
  });

  it("links each Go program to its own stdlib and module versions, not another binary's", async () => {
    const doc = await generateSbom({ kind: 'directory', path: root });
    const dependsOf = (name: string) => doc.packages.find((p) => p.name === name)!.dependsOn;
    expect(dependsOf('example.com/hello')).toEqual(
      expect.arrayContaining(['pkg:golang/golang.org/x/text@v0.14.0', 'pkg:golang/stdlib@go1.22.5']),
    );
    expect(dependsOf('example.com/hello2')).toEqual([
      'pkg:golang/golang.org/x/text@v0.20.0',
      'pkg:golang/stdlib@go1.23.1',
    ]);
  });

  it('turns old-format Go info with null pointers and corrupt Rust data into warnings', async () => {
    const doc = await generateSbom({ kind: 'directory', path: root });
    const warned = doc.warnings.map((w) => w.path);
    expect(warned).toEqual(expect.arrayContaining(['/usr/local/bin/legacy', '/usr/local/bin/bad-rust']));
    expect(doc.warnings.find((w) => w.path === '/usr/local/bin/legacy')!.message).toMatch(/pointer-format/);
  });
});

describe('directory source', () => {
  it('never follows a symlink out of the root', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-sbom-link-'));
    try {
      const outside = mkdtempSync(join(tmpdir(), 'rampart-sbom-outside-'));
      writeFileSync(join(outside, 'status'), 'Package: outside\nVersion: 1\nArchitecture: all\n');
      mkdirSync(join(dir, 'var/lib/dpkg'), { recursive: true });
      execFileSync('ln', ['-s', join(outside, 'status'), join(dir, 'var/lib/dpkg/status')]);
      const doc = await generateSbom({ kind: 'directory', path: dir });
      expect(doc.packages).toEqual([]);
      rmSync(outside, { recursive: true, force: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a file that disappears between listing and reading, and keeps the rest', async () => {
    const { directoryFileSource } = await import('../../../src/sbom/source/dir-source.js');
    const { catalogFileSource } = await import('../../../src/sbom/catalog.js');
    const dir = mkdtempSync(join(tmpdir(), 'rampart-sbom-gone-'));
    try {
      mkdirSync(join(dir, 'var/lib/dpkg/info'), { recursive: true });
      writeFileSync(join(dir, 'var/lib/dpkg/status'), 'Package: keep\nVersion: 1\nArchitecture: all\n');
      writeFileSync(join(dir, 'var/lib/dpkg/info/keep.md5sums'), '');
      const source = await directoryFileSource(dir, () => {});
      rmSync(join(dir, 'var/lib/dpkg/info/keep.md5sums'));
      const result = await catalogFileSource(source);
      expect(result.packages.map((p) => p.name)).toEqual(['keep']);
      expect(result.warnings).toEqual([
        expect.objectContaining({ cataloger: 'source', path: '/var/lib/dpkg/info/keep.md5sums' }),
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
