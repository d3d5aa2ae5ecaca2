/**
 * A real Go binary linked before Go 1.18 (pointer-format build info): `fzf` from Debian
 * bullseye, fetched through rampart's own repository client and .deb reader. Go is not installed
 * here, so the answer `go version -m` would give is read independently: binutils' `readelf` for
 * the build info header and `strings` for the version and module lines.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_KEYRING } from '../../../src/debian/apt-sources.js';
import { readDebData } from '../../../src/debian/deb-reader.js';
import { downloadPackages } from '../../../src/debian/download.js';
import { loadRepositories } from '../../../src/debian/repository.js';
import { generateSbom } from '../../../src/sbom/generate.js';
import type { SbomDocument } from '../../../src/sbom/model.js';

const SUITE = 'bullseye';
const BINARY = '/usr/bin/fzf';

let root: string;
let fzfVersion: string;
let doc: SbomDocument;

beforeAll(async () => {
  // The default cache dir: e2e runs share the index and the .deb.
  const { index, mirrors } = await loadRepositories({
    suites: [SUITE],
    architectures: ['amd64'],
    keyring: DEFAULT_KEYRING,
  });
  const fzf = index.candidates('fzf')[0];
  if (!fzf) throw new Error(`no fzf in ${SUITE}`);
  fzfVersion = fzf.version;
  const deb = (await downloadPackages([fzf], { mirrors })).get(fzf.sha256)!;
  root = mkdtempSync(join(tmpdir(), 'rampart-go-old-'));
  for await (const entry of readDebData(deb)) {
    if (`/${entry.header.name}` !== BINARY || !entry.content) continue;
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    writeFileSync(join(root, BINARY), entry.content);
    chmodSync(join(root, BINARY), 0o755);
  }
  doc = await generateSbom({ kind: 'directory', path: root });
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The `.go.buildinfo` bytes as readelf dumps them. */
function buildInfoHeader(path: string): Buffer {
  const dump = execFileSync('readelf', ['-x', '.go.buildinfo', path]).toString();
  const hex = [...dump.matchAll(/^\s+0x[0-9a-f]+ ((?:[0-9a-f]{2,8} ?){1,4})/gm)].map((m) =>
    m[1]!.replaceAll(' ', ''),
  );
  return Buffer.from(hex.join(''), 'hex');
}

/** Modules as `go version -m` lists them, from the modinfo lines `strings` finds (`=>` replaces the line before). */
function modulesFromStrings(text: string): string[] {
  const modules: string[] = [];
  for (const line of text.split('\n')) {
    const fields = line.replace(/^.*?(?=(?:mod|dep|=>)\t)/, '').split('\t');
    if ((fields[0] === 'mod' || fields[0] === 'dep') && fields.length >= 3)
      modules.push(`${fields[1]}@${fields[2]}`);
    else if (fields[0] === '=>' && fields.length >= 3 && modules.length > 0)
      modules[modules.length - 1] = `${fields[1]}@${fields[2]}`;
  }
  return modules.sort();
}

describe(`Go build info of fzf from Debian ${SUITE}`, () => {
  it('is the pointer format of a pre-1.18 linker (what this test is about)', () => {
    expect(fzfVersion).toMatch(/^0\.24\./);
    const header = buildInfoHeader(join(root, BINARY));
    expect(header.subarray(0, 14).toString('latin1')).toBe('\xff Go buildinf:');
    expect(header[14]).toBe(8);
    expect(header[15]! & 0x2).toBe(0);
  });

  it('reports the Go toolchain and modules that go version -m would, without warnings', () => {
    const strings = execFileSync('strings', ['-a', join(root, BINARY)], { maxBuffer: 64 << 20 }).toString();
    const fromBinary = doc.packages.filter((p) => p.locations.includes(BINARY));
    expect(doc.warnings).toEqual([]);

    const stdlib = fromBinary.filter((p) => p.name === 'stdlib');
    expect(stdlib).toHaveLength(1);
    const goVersion = stdlib[0]!.version;
    expect(goVersion).toMatch(/^go1\.(\d|1[0-7])(\.\d+)?$/);
    expect(strings).toContain(goVersion);
    expect(stdlib[0]!.purl).toBe(`pkg:golang/stdlib@${goVersion}`);

    // Debian built this fzf in GOPATH mode, so runtime.modinfo is empty and `go version -m`
    // prints the toolchain alone; the modules found must be exactly the lines in the binary.
    const modules = fromBinary.filter((p) => p.name !== 'stdlib').map((p) => `${p.name}@${p.version}`);
    expect(modules.sort()).toEqual(modulesFromStrings(strings));
    console.info(`${BINARY} (fzf ${fzfVersion}): ${goVersion}, ${modules.length} modules`);
  });
});
