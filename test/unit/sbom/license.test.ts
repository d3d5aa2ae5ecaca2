import { readFileSync } from 'node:fs';
import spdxParse from 'spdx-expression-parse';
import { describe, expect, it } from 'vitest';
import { dep5License, licenseFromCopyright } from '../../../src/sbom/catalogers/dpkg/copyright.js';
import { spdxForDebianName } from '../../../src/sbom/identity/debian-license-names.js';
import {
  declaredLicense,
  LicenseRefs,
  licenseFromName,
  licenseFromStatement,
  licenseRefId,
  renderLicense,
} from '../../../src/sbom/identity/license.js';

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/sbom/${name}`, import.meta.url), 'utf8');

/** One DEP-5 License field as rampart reads it, with no stand-alone License paragraphs around it. */
const field = (text: string) => renderLicense(dep5License(text, new Map(), new LicenseRefs()));

describe('DEP-5 License fields keep their structure', () => {
  it.each([
    // `or`, `and`, and their precedence (and binds tighter, as in SPDX)
    ['GPL-1+ or Artistic', 'GPL-1.0-or-later OR Artistic-1.0-Perl'],
    ['GPL-2+ and BSD-3-clause', 'GPL-2.0-or-later AND BSD-3-Clause'],
    ['BSD-3-clause or GPL-2', 'BSD-3-Clause OR GPL-2.0-only'],
    ['MIT or GPL-2 and BSD-3-clause', 'MIT OR GPL-2.0-only AND BSD-3-Clause'],
    ['Expat OR GPL-1+ Or Artistic', 'MIT OR GPL-1.0-or-later OR Artistic-1.0-Perl'],
    // `, and` / `, or`: the comma makes what precedes it one operand (copyright-format 7.2)
    ['GPL-2+ or Artistic-2.0, and BSD-3-clause', '(GPL-2.0-or-later OR Artistic-2.0) AND BSD-3-Clause'],
    ['GPL-1+ or Artistic, and Expat', '(GPL-1.0-or-later OR Artistic-1.0-Perl) AND MIT'],
    ['REGCOMP, and GPL-1+ or Artistic', 'LicenseRef-REGCOMP AND (GPL-1.0-or-later OR Artistic-1.0-Perl)'],
    ['MIT and ISC, or GPL-2', 'MIT AND ISC OR GPL-2.0-only'],
    // parentheses, which DEP-5 does not define but files use, group
    ['(GPL-2+ or MIT) and ISC', '(GPL-2.0-or-later OR MIT) AND ISC'],
    // `with … exception` → WITH where SPDX has exactly that exception
    ['GPL-3+ with Bison exception', 'GPL-3.0-or-later WITH Bison-exception-2.2'],
    ['GPL-2 with Linux-syscall-note exception', 'GPL-2.0-only WITH Linux-syscall-note'],
    ['GPL-2+ with Libtool exception', 'GPL-2.0-or-later WITH Libtool-exception'],
    ['GPL-2+ with Font exception or MIT', 'GPL-2.0-or-later WITH Font-exception-2.0 OR MIT'],
    // … and a LicenseRef for the whole clause where it has none, or the version is not certain
    ['GPL-2+ with OpenSSL exception', 'LicenseRef-GPL-2-or-later-with-OpenSSL-exception'],
    ['GPL-2+ with Bison exception', 'LicenseRef-GPL-2-or-later-with-Bison-exception'],
    ['GPL-3+ with Autoconf exception', 'LicenseRef-GPL-3-or-later-with-Autoconf-exception'],
    // `+`
    ['GPL-3+', 'GPL-3.0-or-later'],
    ['LGPL-2.1+', 'LGPL-2.1-or-later'],
    ['GFDL-NIV-1.3+', 'GFDL-1.3-no-invariants-or-later'],
    ['Apache-2.0+', 'Apache-2.0+'],
    // the short-name table: unversioned = lowest version, dot-zeroes, case
    ['GPL', 'GPL-1.0-only'],
    ['LGPL', 'LGPL-2.0-only'],
    ['GPL-2.0', 'GPL-2.0-only'],
    ['Apache-2', 'Apache-2.0'],
    ['Expat', 'MIT'],
    ['Perl', 'GPL-1.0-or-later OR Artistic-1.0-Perl'],
    ['CC0', 'CC0-1.0'],
    ['MPL', 'MPL-1.1'],
    ['zlib', 'Zlib'],
    ['unicode-dfs-2016', 'Unicode-DFS-2016'],
    ['BSD-4-clause', 'BSD-4-Clause'],
    // unknown names stay as written: no fuzzy matching that changes meaning
    ['BSD-4-clause-POWERDOG', 'LicenseRef-BSD-4-clause-POWERDOG'],
    ['DONT-CHANGE-THE-GPL', 'LicenseRef-DONT-CHANGE-THE-GPL'],
    ['GPL-3+-WITH-BISON-EXCEPTION', 'LicenseRef-GPL-3-or-later-WITH-BISON-EXCEPTION'],
    ['public-domain', 'LicenseRef-public-domain'],
    ['GFDL', 'LicenseRef-GFDL'],
    ['GPL3+', 'LicenseRef-GPL3-or-later'],
    ['MIT/X11', 'LicenseRef-MIT-X11'],
    // outside the grammar: one LicenseRef for the whole line
    ['GPL-2+, LGPL-2.1+', 'LicenseRef-GPL-2-or-later-LGPL-2.1-or-later'],
    ['or MIT', 'LicenseRef-or-MIT'],
    ['GPL-2 with', 'LicenseRef-GPL-2-with'],
    ['(MIT or ISC', 'LicenseRef-MIT-or-ISC'],
  ])('%s → %s', (text, expression) => {
    const rendered = field(text);
    expect(rendered).toBe(expression);
    expect(() => spdxParse(rendered)).not.toThrow();
  });

  it('reads the precedence as SPDX does: A or B and C is A or (B and C)', () => {
    expect(spdxParse(field('MIT or GPL-2 and BSD-3-clause'))).toEqual({
      left: { license: 'MIT' },
      conjunction: 'or',
      right: { left: { license: 'GPL-2.0-only' }, conjunction: 'and', right: { license: 'BSD-3-Clause' } },
    });
  });
});

describe('licenseFromCopyright (real trixie files)', () => {
  it('libcap2: ORs stay ORs', () => {
    expect(licenseFromCopyright(fixture('libcap2.copyright'))).toEqual({
      expression: '(BSD-3-Clause OR GPL-2.0-only) AND (BSD-3-Clause OR GPL-2.0-or-later)',
    });
  });

  it('gmp: with Bison exception is WITH Bison-exception-2.2', () => {
    expect(licenseFromCopyright(fixture('libgmp10.copyright'))).toEqual({
      expression:
        '(GPL-2.0-or-later OR LGPL-3.0-or-later) AND GPL-3.0-or-later AND GPL-3.0-or-later WITH Bison-exception-2.2',
    });
  });

  it('perl-base: ", and" separates; unknown names keep their stand-alone paragraph text', () => {
    const license = licenseFromCopyright(fixture('perl-base.copyright'))!;
    expect(license.expression.startsWith('(GPL-1.0-or-later OR Artistic-1.0-Perl) AND MIT AND ')).toBe(true);
    expect(license.expression).not.toContain('and-Expat');
    expect(license.expression).toContain('LicenseRef-BSD-4-clause-POWERDOG');
    expect(license.expression).toContain('LicenseRef-DONT-CHANGE-THE-GPL');
    expect(license.expression).not.toMatch(/BSD-2-Clause|GPL-3\.0-or-later(?! WITH)/);
    expect(() => spdxParse(license.expression)).not.toThrow();
    const powerdog = license.refs?.find((r) => r.id === 'LicenseRef-BSD-4-clause-POWERDOG');
    expect(powerdog?.name).toBe('BSD-4-clause-POWERDOG');
    expect(powerdog?.text).toContain('POWERDOG');
    // Every LicenseRef in the expression has its entry, and only those.
    const used = [...new Set(license.expression.match(/LicenseRef-[A-Za-z0-9.-]+/g))].sort();
    expect(license.refs?.map((r) => r.id)).toEqual(used);
  });

  it('dash: the Files paragraphs in file order, the text of public-domain from the paragraph', () => {
    const license = licenseFromCopyright(fixture('dash.copyright'))!;
    expect(license.expression).toBe('BSD-3-Clause AND LicenseRef-public-domain AND GPL-2.0-or-later');
    expect(license.refs).toEqual([
      {
        id: 'LicenseRef-public-domain',
        name: 'public-domain',
        text: 'This program is in the Public Domain.',
      },
    ]);
  });

  it('a free-form file gives the common-licenses it cites (gcc-14-base)', () => {
    expect(licenseFromCopyright(fixture('gcc-14-base.copyright'))?.expression).toBe(
      'GPL-3.0-only AND GFDL-1.2-only AND Artistic-1.0-Perl AND LGPL-3.0-only',
    );
  });

  it('the header License applies when no Files paragraph has one; nothing when no licence is named', () => {
    const header =
      'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nLicense: ISC\n';
    expect(licenseFromCopyright(header)).toEqual({ expression: 'ISC' });
    expect(licenseFromCopyright('Copyright 2020 Somebody\nAll rights reserved.\n')).toBeUndefined();
  });
});

describe('licence names from package metadata (npm, PyPI, Maven)', () => {
  it.each([
    ['MIT', 'MIT'],
    ['mit', 'MIT'],
    ['Apache License, Version 2.0', 'Apache-2.0'],
    ['Apache 2', 'Apache-2.0'],
    ['MIT License', 'MIT'],
    ['BSD 3-Clause License', 'BSD-3-Clause'],
    ['Apache Software License 2.0', 'Apache-2.0'],
    // spdx-correct's guesses that add a version, a clause count or "or later" are refused
    ['Apache', 'LicenseRef-Apache'],
    ['BSD', 'LicenseRef-BSD'],
    ['GPLv3', 'LicenseRef-GPLv3'],
    ['GNU General Public License v3', 'LicenseRef-GNU-General-Public-License-v3'],
    ['BSD-4-clause-POWERDOG', 'LicenseRef-BSD-4-clause-POWERDOG'],
    ['DONT-CHANGE-THE-GPL', 'LicenseRef-DONT-CHANGE-THE-GPL'],
    ['Eclipse Public License - v 2.0', 'LicenseRef-Eclipse-Public-License-v-2.0'],
  ])('%s → %s', (name, id) => {
    expect(licenseFromName(name, new LicenseRefs())).toBe(id);
  });

  it('keeps an SPDX expression whole and makes anything else one name', () => {
    const refs = new LicenseRefs();
    expect(licenseFromStatement('(MIT OR Apache-2.0)', refs)).toBe('(MIT OR Apache-2.0)');
    expect(licenseFromStatement('GPL-2+ or Artistic', refs)).toBe('LicenseRef-GPL-2-or-later-or-Artistic');
    expect(declaredLicense([licenseFromStatement('SEE LICENSE IN LICENSE.md', refs)], refs)).toEqual({
      expression: 'LicenseRef-SEE-LICENSE-IN-LICENSE.md',
      refs: [{ id: 'LicenseRef-SEE-LICENSE-IN-LICENSE.md', name: 'SEE LICENSE IN LICENSE.md' }],
    });
  });
});

describe('declaredLicense and LicenseRefs', () => {
  it('ANDs statements, flattening and dropping repeats, parenthesising ORs', () => {
    const refs = new LicenseRefs();
    expect(declaredLicense(['MIT', 'ISC AND MIT', '(MIT OR Apache-2.0)', undefined], refs)).toEqual({
      expression: 'MIT AND ISC AND (MIT OR Apache-2.0)',
    });
    expect(declaredLicense(['MIT', 'Apache-2.0'], refs, 'or')).toEqual({ expression: 'MIT OR Apache-2.0' });
    expect(declaredLicense([], refs)).toBeUndefined();
  });

  it('gives two names that sanitise alike two ids, and long names a bounded id', () => {
    const refs = new LicenseRefs();
    expect(refs.idFor('MIT/X11')).toBe('LicenseRef-MIT-X11');
    expect(refs.idFor('MIT X11')).toBe('LicenseRef-MIT-X11-2');
    expect(refs.idFor('MIT/X11')).toBe('LicenseRef-MIT-X11');
    const long = licenseRefId('Permission is hereby granted, free of charge, to any person obtaining a copy');
    expect(long.length).toBeLessThanOrEqual('LicenseRef-'.length + 64);
    expect(() => spdxParse(long)).not.toThrow();
  });
});

describe('spdxForDebianName', () => {
  it('refuses names that are not short names', () => {
    for (const name of ['', '+', 'GPL-2++', 'GPL 2', 'GPL-2.0-or-later+', 'Perl+'])
      expect(spdxForDebianName(name), name).toBeUndefined();
  });
});

describe('hostile copyright files', () => {
  // A quadratic or recursive reader overflows the stack or runs past the test timeout here.
  it('stay linear and valid: deep nesting, a huge License line, thousands of names that sanitise alike', () => {
    const header = 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n';
    const deep = `Files: a\nCopyright: x\nLicense: ${'('.repeat(50_000)}MIT${')'.repeat(50_000)}\n\n`;
    const long = `Files: b\nCopyright: x\nLicense: ${'MIT or '.repeat(100_000)}ISC\n\n`;
    const alike = Array.from(
      { length: 5_000 },
      (_, i) => `Files: c${i}\nCopyright: x\nLicense: a${'!'.repeat(i + 1)}\n`,
    ).join('\n');
    const license = licenseFromCopyright(header + deep + long + alike)!;
    expect(isValid(license.expression)).toBe(true);
    expect(license.refs).toHaveLength(5_002);
    expect(license.refs?.at(-1)?.id).toMatch(/^LicenseRef-a-\d+$/);
  });
});

function isValid(expression: string): boolean {
  return expression.split(' AND ').every((term) => {
    try {
      spdxParse(term.replace(/^\((.*)\)$/, '$1'));
      return true;
    } catch {
      return false;
    }
  });
}
