import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSbom } from '../../../src/sbom/encode/index.js';
import { generateSbom } from '../../../src/sbom/generate.js';
import type { SbomDocument } from '../../../src/sbom/model.js';
import {
  runDebsbom,
  validateCycloneDxStrict,
  validateSpdxWithPyspdxtools,
} from '../../helpers/peer-tools.js';
import { cycloneDxValidator, spdxValidator } from '../../unit/sbom/schema-validators.js';
import { ensureTrixieRoot } from './minbase-root.js';

// Issue 16 acceptance for items 2 and 3 on a real trixie root: minbase (which has sqv, a Rust
// binary with Static-Built-Using) plus ripgrep and fd-find (Built-Using and X-Cargo-Built-Using).

/**
 * Licence ids that rampart writes and pyspdxtools 0.8.5 (sid) rejects because its own copy of the
 * SPDX licence list predates them: Artistic-dist was added to the SPDX licence list in 3.25.
 */
const IDS_MISSING_FROM_PYSPDXTOOLS = ['Artistic-dist'];

let root: string;
let work: string;
let doc: SbomDocument;
let debsbomSpdx: {
  packages: Array<{
    SPDXID: string;
    name: string;
    versionInfo?: string;
    externalRefs?: Array<Record<string, string>>;
  }>;
  relationships: Array<Record<string, string>>;
};

beforeAll(async () => {
  root = ensureTrixieRoot('trixie-built-using', ['ripgrep', 'fd-find']);
  work = mkdtempSync(join(tmpdir(), 'rampart-built-using-'));
  doc = await generateSbom({ kind: 'directory', path: root }, { fileDigests: true });
  debsbomSpdx = JSON.parse((await runDebsbom(root)).spdx);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Status fields read here with a plain reader, independently of rampart's stanza parser. */
function statusField(pkg: string, field: string): string[] {
  const stanza = readFileSync(join(root, 'var/lib/dpkg/status'), 'utf8')
    .split('\n\n')
    .find((s) => s.startsWith(`Package: ${pkg}\n`));
  const line = stanza?.split('\n').find((l) => l.startsWith(`${field}: `));
  return line
    ? line
        .slice(field.length + 2)
        .split(', ')
        .map((e) => e.replace(/ \(= /, '@').replace(/\)$/, ''))
    : [];
}

function ours(name: string, fields: readonly string[]): string[] {
  const pkg = doc.packages.find((p) => p.name === name && p.architecture !== 'source')!;
  const byId = new Map(doc.packages.map((p) => [p.id, p]));
  return (pkg.builtUsing ?? [])
    .filter((b) => fields.includes(b.field))
    .map((b) => `${byId.get(b.id)!.name}@${byId.get(b.id)!.version}`)
    .sort();
}

/** debsbom marks these edges GENERATED_FROM with comment `built-using` or `static-built-using`. */
function debsbomBuiltUsing(comment: string): Map<string, string[]> {
  const byId = new Map(debsbomSpdx.packages.map((p) => [p.SPDXID, p]));
  const out = new Map<string, string[]>();
  for (const r of debsbomSpdx.relationships) {
    if (r.relationshipType !== 'GENERATED_FROM' || r.comment !== comment) continue;
    const from = byId.get(r.spdxElementId!)!;
    const to = byId.get(r.relatedSpdxElement!)!;
    out.set(from.name, [...(out.get(from.name) ?? []), `${to.name}@${to.versionInfo}`].sort());
  }
  return out;
}

describe('Built-Using sources on a trixie root with ripgrep, fd-find and sqv', () => {
  it('lists each Built-Using, Static-Built-Using and X-Cargo-Built-Using source with an edge', () => {
    for (const [pkg, field] of [
      ['ripgrep', 'Built-Using'],
      ['ripgrep', 'X-Cargo-Built-Using'],
      ['fd-find', 'Built-Using'],
      ['fd-find', 'X-Cargo-Built-Using'],
      ['sqv', 'Static-Built-Using'],
    ] as const) {
      const expected = statusField(pkg, field).sort();
      expect(expected.length, `${pkg} ${field}`).toBeGreaterThan(0);
      expect(ours(pkg, [field]), `${pkg} ${field}`).toEqual(expected);
    }
    const rustc = doc.packages.find((p) => p.name === 'rustc' && p.architecture === 'source')!;
    expect(rustc.purl).toMatch(/^pkg:deb\/debian\/rustc@1\.85\.0%2Bdfsg3-1\?arch=source&distro=debian-13$/);
  });

  it('matches what debsbom lists for every binary (debsbom does not read X-Cargo-Built-Using)', () => {
    for (const [comment, field] of [
      ['built-using', 'Built-Using'],
      ['static-built-using', 'Static-Built-Using'],
    ] as const) {
      const theirs = debsbomBuiltUsing(comment);
      expect(theirs.size, comment).toBeGreaterThan(0);
      const mine = new Map<string, string[]>();
      for (const p of doc.packages) {
        const list = p.architecture === 'source' ? [] : ours(p.name, [field]);
        if (list.length > 0) mine.set(p.name, list);
      }
      expect(Object.fromEntries(mine), field).toEqual(Object.fromEntries(theirs));
    }
    expect(debsbomBuiltUsing('static-built-using').get('sqv')?.length).toBeGreaterThan(10);
    // More than debsbom where only X-Cargo-Built-Using names the crates.
    expect(ours('fd-find', ['X-Cargo-Built-Using']).length).toBeGreaterThan(
      debsbomBuiltUsing('built-using').get('fd-find')!.length,
    );
  });

  it('writes SPDX and CycloneDX, with and without --files, that the schemas and independent validators accept', async () => {
    for (const files of [false, true]) {
      const spdxText = encodeSbom(doc, 'spdx-json', { files });
      const cdxText = encodeSbom(doc, 'cyclonedx-json', { files });
      const spdx = JSON.parse(spdxText);
      expect(spdxValidator()(spdx)).toEqual([]);
      expect(cycloneDxValidator()(JSON.parse(cdxText))).toEqual([]);
      if (files) {
        expect(spdx.files.length).toBeGreaterThan(1000);
        for (const f of spdx.files) {
          expect(f.fileName).toMatch(/^\.\//);
          expect(f.checksums.some((c: { algorithm: string }) => c.algorithm === 'SHA1')).toBe(true);
        }
        const withFiles = new Set(
          spdx.relationships
            .filter((r: Record<string, string>) => r.relatedSpdxElement!.startsWith('SPDXRef-File-'))
            .map((r: Record<string, string>) => r.spdxElementId),
        );
        for (const p of spdx.packages) expect(p.filesAnalyzed, p.name).toBe(withFiles.has(p.SPDXID));
      }
      const spdxFile = join(work, `doc-${files}.spdx.json`);
      const cdxFile = join(work, `doc-${files}.cdx.json`);
      writeFileSync(spdxFile, spdxText);
      writeFileSync(cdxFile, cdxText);
      const pyspdx = await validateSpdxWithPyspdxtools(spdxFile);
      const problems = `${pyspdx.stdout}\n${pyspdx.stderr}`
        .split('\n')
        .filter((l) => l.trim() !== '' && !l.startsWith('ERROR:root:The document is invalid'))
        .filter(
          (l) =>
            !IDS_MISSING_FROM_PYSPDXTOOLS.some((id) =>
              l.startsWith(`Unrecognized license reference: ${id}.`),
            ),
        );
      expect(problems, `pyspdxtools, files=${files}`).toEqual([]);
      const strict = await validateCycloneDxStrict(cdxFile);
      expect(strict.stdout.trim(), `cyclonedx-python-lib, files=${files}`).toBe('valid');
      expect(strict.exitCode).toBe(0);
    }
  });
});
