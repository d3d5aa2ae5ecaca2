import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import spdxParse from 'spdx-expression-parse';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeSbom } from '../../../src/sbom/encode/index.js';
import { generateSbom } from '../../../src/sbom/generate.js';
import { spdxExceptionFor, spdxForDebianName } from '../../../src/sbom/identity/debian-license-names.js';
import type { SbomDocument } from '../../../src/sbom/model.js';
import { cycloneDxValidator, spdxValidator } from '../../unit/sbom/schema-validators.js';
import { ensureTrixieRootWith } from './minbase-root.js';

/*
 * Acceptance for issue 16 item 1: for every deb in a minbase+python3+nodejs trixie root, rampart's
 * declared licence equals what this file derives from the copyright file on its own. The reader here
 * is deliberately different from rampart's: paragraphs by blank lines, the License line rewritten
 * into SPDX syntax token by token (a comma closes a parenthesis opened at the start, as
 * copyright-format 7.2 reads it), and the result parsed by spdx-expression-parse. Only the short-name
 * table (spdxForDebianName, spdxExceptionFor) is shared: it is data, tested on its own in
 * test/unit/sbom/license.test.ts.
 */

let root: string;
let doc: SbomDocument;

beforeAll(async () => {
  root = ensureTrixieRootWith(['python3', 'nodejs']);
  doc = await generateSbom({ kind: 'directory', path: root });
});

type Tree =
  | { license: string; plus?: boolean; exception?: string }
  | { left: Tree; conjunction: 'and' | 'or'; right: Tree };

/** `LicenseRef-` + the name with `+` as `-or-later` and anything outside [A-Za-z0-9.-] as one `-`. */
function refId(name: string): string {
  let id = name
    .trim()
    .split('+')
    .join('-or-later')
    .split(/[^A-Za-z0-9.-]+/)
    .join('-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  if (id.length > 64)
    id = `${id.slice(0, 55).replace(/-+$/, '')}-${createHash('sha256').update(name.trim()).digest('hex').slice(0, 8)}`;
  return `LicenseRef-${id || 'unknown'}`;
}

/**
 * One License first line → SPDX text, or a LicenseRef for the whole line when it is not DEP-5 syntax.
 * A comma is the weakest separator: `A, and B or C` is `(A) AND (B OR C)`, left to right.
 */
function lineToSpdx(line: string): string {
  const [first = '', ...rest] = line.split(',');
  let text = `(${segmentToSpdx(first)})`;
  for (const segment of rest) {
    const op = /^\s*(and|or)\s+(.*)$/i.exec(segment);
    if (!op) return refId(line);
    text = `(${text} ${op[1]!.toUpperCase()} (${segmentToSpdx(op[2]!)}))`;
  }
  try {
    spdxParse(text);
    return text;
  } catch {
    return refId(line);
  }
}

function segmentToSpdx(segment: string): string {
  const words = segment
    .replace(/([()])/g, ' $1 ')
    .trim()
    .split(/\s+/);
  const out: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const lower = word.toLowerCase();
    if (lower === 'or' || lower === 'and') out.push(lower.toUpperCase());
    else if (word === '(' || word === ')') out.push(word);
    else if (words[i + 1]?.toLowerCase() === 'with') {
      const end = words.findIndex((w, j) => j > i + 1 && w.toLowerCase() === 'exception');
      if (end < 0) return 'not an expression';
      const keyword = words.slice(i + 2, end).join(' ');
      const licence = spdxForDebianName(word);
      const exception = licence && !licence.includes(' ') ? spdxExceptionFor(keyword, licence) : undefined;
      out.push(
        licence && exception ? `${licence} WITH ${exception}` : refId(`${word} with ${keyword} exception`),
      );
      i = end;
    } else {
      const id = spdxForDebianName(word);
      out.push(id ? (id.includes(' ') ? `(${id})` : id) : refId(word));
    }
  }
  return out.join(' ');
}

/** The terms of a tree, AND and OR flattened and deduplicated, rendered with parentheses only around OR in AND. */
function canonical(tree: Tree): { op: 'and' | 'or' | 'leaf'; text: string; items: string[] } {
  if ('license' in tree) {
    const text = `${tree.license}${tree.plus ? '+' : ''}${tree.exception ? ` WITH ${tree.exception}` : ''}`;
    return { op: 'leaf', text, items: [text] };
  }
  const items: string[] = [];
  for (const side of [tree.left, tree.right]) {
    const c = canonical(side);
    const parts =
      c.op === tree.conjunction
        ? c.items
        : [c.op === 'or' && tree.conjunction === 'and' ? `(${c.text})` : c.text];
    for (const p of parts) if (!items.includes(p)) items.push(p);
  }
  if (items.length === 1) return canonical(spdxParse(items[0]!.replace(/^\((.*)\)$/, '$1')) as Tree);
  return { op: tree.conjunction, text: items.join(tree.conjunction === 'and' ? ' AND ' : ' OR '), items };
}

/** The expected expression from a DEP-5 file: the AND of its Files paragraphs' License lines. */
function expectedFromCopyright(text: string): string | undefined {
  const paragraphs = text.split(/\n[ \t]*\n/).map((p) => p.replace(/^\n+/, ''));
  const licenseLine = (p: string) => /^License:[ \t]*(.*)$/im.exec(p)?.[1]?.trim();
  let lines = paragraphs.filter((p) => /^Files:/im.test(p)).flatMap((p) => licenseLine(p) || []);
  if (lines.length === 0) lines = [licenseLine(paragraphs[0] ?? '')].flatMap((l) => l || []);
  if (lines.length === 0) return undefined;
  const all = lines.map((l) => `(${lineToSpdx(l.replace(/\s+/g, ' '))})`).join(' AND ');
  return canonical(spdxParse(all) as Tree).text;
}

function installedPackages(): string[] {
  const status = readFileSync(join(root, 'var/lib/dpkg/status'), 'utf8');
  return status
    .split(/\n\n+/)
    .filter((s) => /^Status: .* installed$/m.test(s))
    .map((s) => /^Package: (\S+)/m.exec(s)![1]!);
}

function copyrightOf(name: string): string | undefined {
  const path = join(root, 'usr/share/doc', name, 'copyright');
  if (!existsSync(path)) return undefined;
  const real = realpathSync(path);
  // A doc directory that is a symlink out of the root is not followed.
  return real.startsWith(`${realpathSync(root)}/`) ? readFileSync(real, 'utf8') : undefined;
}

describe('declared licences on a minbase+python3+nodejs trixie root', () => {
  it("equal, for every deb with a DEP-5 copyright file, what the file's Files paragraphs say", () => {
    const names = installedPackages();
    const debs = new Map(doc.packages.filter((p) => p.type === 'deb').map((p) => [p.name, p]));
    const mismatches: Array<{ name: string; ours: string | undefined; expected: string }> = [];
    let dep5 = 0;
    let freeForm = 0;
    for (const name of names) {
      const text = copyrightOf(name);
      const pkg = debs.get(name);
      expect(pkg, name).toBeDefined();
      if (pkg?.license) expect(() => spdxParse(pkg.license!.expression), name).not.toThrow();
      if (!text || !/^Format:\s*\S*copyright-format/im.test(text.slice(0, 2000))) {
        freeForm++;
        continue;
      }
      const expected = expectedFromCopyright(text);
      if (!expected) continue;
      dep5++;
      if (pkg?.license?.expression !== expected)
        mismatches.push({ name, ours: pkg?.license?.expression, expected });
      // Every LicenseRef in the expression is explained, by the name the file uses.
      const used = [...new Set(pkg?.license?.expression.match(/LicenseRef-[A-Za-z0-9.-]+/g) ?? [])].sort();
      expect(pkg?.license?.refs?.map((r) => r.id) ?? [], name).toEqual(used);
      for (const ref of pkg?.license?.refs ?? [])
        expect(refId(ref.name), `${name}: ${ref.name}`).toBe(ref.id);
    }
    console.log(
      `${names.length} debs: ${dep5} with DEP-5 copyright files checked, ${freeForm} free-form or none`,
    );
    expect(mismatches).toEqual([]);
    expect(dep5).toBeGreaterThan(names.length * 0.8);
  });

  it('has the issue examples exactly', () => {
    const license = (name: string) => doc.packages.find((p) => p.name === name)?.license?.expression;
    expect(license('libcap2')).toBe('(BSD-3-Clause OR GPL-2.0-only) AND (BSD-3-Clause OR GPL-2.0-or-later)');
    expect(license('libgmp10')).toContain('GPL-3.0-or-later WITH Bison-exception-2.2');
    expect(license('perl-base')).toMatch(/^\(GPL-1\.0-or-later OR Artistic-1\.0-Perl\) AND MIT AND /);
    expect(license('perl-base')).toContain('LicenseRef-BSD-4-clause-POWERDOG');
    expect(license('perl-base')).not.toContain('LicenseRef-and-Expat');
  });

  it('writes schema-valid SPDX and CycloneDX with the extracted licences and Person suppliers', () => {
    const spdx = JSON.parse(encodeSbom(doc, 'spdx-json'));
    expect(spdxValidator()(spdx)).toEqual([]);
    const bom = JSON.parse(encodeSbom(doc, 'cyclonedx-json'));
    expect(cycloneDxValidator()(bom)).toEqual([]);
    const infos = spdx.hasExtractedLicensingInfos as Array<{ licenseId: string; extractedText: string }>;
    const used = new Set<string>();
    for (const p of spdx.packages as Array<{ licenseDeclared: string }>)
      for (const id of p.licenseDeclared.match(/LicenseRef-[A-Za-z0-9.-]+/g) ?? []) used.add(id);
    expect(infos.map((i) => i.licenseId).sort()).toEqual([...used].sort());
    const suppliers = (spdx.packages as Array<{ supplier?: string }>).flatMap((p) => p.supplier ?? []);
    const people = suppliers.filter((s) => s.startsWith('Person: ')).length;
    console.log(`suppliers: ${people} Person, ${suppliers.length - people} Organization`);
    expect(suppliers).toContain('Person: Christian Kastner (ckk@debian.org)');
    expect(suppliers).toContain('Organization: GNU Libc Maintainers (debian-glibc@lists.debian.org)');
  });
});
