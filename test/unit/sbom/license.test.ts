import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { licensesFromCopyright } from '../../../src/sbom/catalogers/dpkg/copyright.js';
import {
  conjunction,
  isSpdxExpression,
  licensesFromStatement,
  normaliseLicenseId,
} from '../../../src/sbom/identity/license.js';

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/sbom/${name}`, import.meta.url), 'utf8');

describe('normaliseLicenseId', () => {
  it.each([
    ['GPL-2+', 'GPL-2.0-or-later'],
    ['GPL-2', 'GPL-2.0-only'],
    ['GPL-3+', 'GPL-3.0-or-later'],
    ['LGPL-2.1+', 'LGPL-2.1-or-later'],
    ['LGPL-2.1', 'LGPL-2.1-only'],
    ['Expat', 'MIT'],
    ['BSD-3-clause', 'BSD-3-Clause'],
    ['BSD-2-clause', 'BSD-2-Clause'],
    ['Apache-2.0', 'Apache-2.0'],
    ['zlib', 'Zlib'],
    ['Artistic', 'Artistic-1.0-Perl'],
    ['public-domain', 'LicenseRef-public-domain'],
    ['permissive', 'LicenseRef-permissive'],
    ['MIT', 'MIT'],
  ])('%s → %s', (debian, spdx) => {
    expect(normaliseLicenseId(debian)).toBe(spdx);
  });

  it('keeps every result a valid SPDX expression, including odd names', () => {
    for (const name of [
      'GPL-2+ with OpenSSL exception',
      'Some weird/licence (v2)',
      'X11 & friends',
      '+',
      'MPL-1.1+',
    ]) {
      for (const id of licensesFromStatement(name)) expect(isSpdxExpression(id), id).toBe(true);
    }
  });
});

describe('licensesFromStatement', () => {
  it('splits Debian "or"/"and" statements into normalised ids', () => {
    expect(licensesFromStatement('GPL-1+ or Artistic')).toEqual(['GPL-1.0-or-later', 'Artistic-1.0-Perl']);
    expect(licensesFromStatement('GPL-2+ and BSD-3-clause')).toEqual(['GPL-2.0-or-later', 'BSD-3-Clause']);
  });

  it('keeps a real SPDX expression (npm style) whole', () => {
    expect(licensesFromStatement('(MIT OR Apache-2.0)')).toEqual(['(MIT OR Apache-2.0)']);
  });

  it('turns an exception clause into one LicenseRef', () => {
    expect(licensesFromStatement('GPL-2+ with OpenSSL exception')).toEqual([
      'LicenseRef-GPL-2-with-OpenSSL-exception',
    ]);
  });
});

describe('licensesFromCopyright', () => {
  it('collects the License short names of the Files paragraphs of a DEP-5 file (dash)', () => {
    // dash's Files paragraphs declare BSD-3-Clause, public-domain, GPL-2+ and BSD-3-clause.
    expect(licensesFromCopyright(fixture('dash.copyright'))).toEqual([
      'BSD-3-Clause',
      'GPL-2.0-or-later',
      'LicenseRef-public-domain',
    ]);
  });

  it('falls back to the common-licenses a free-form file cites (gcc-14-base)', () => {
    const ids = licensesFromCopyright(fixture('gcc-14-base.copyright'));
    expect(ids).toEqual(expect.arrayContaining(['GPL-3.0-only', 'GFDL-1.2-only', 'Artistic-1.0-Perl']));
    for (const id of ids) expect(isSpdxExpression(id), id).toBe(true);
  });

  it('returns nothing for a file that names no licence', () => {
    expect(licensesFromCopyright('Copyright 2020 Somebody\nAll rights reserved.\n')).toEqual([]);
  });
});

describe('conjunction', () => {
  it('ANDs sorted unique ids and parenthesises compound ones', () => {
    expect(conjunction(['MIT', 'GPL-2.0-only', 'MIT'])).toBe('GPL-2.0-only AND MIT');
    expect(conjunction(['(MIT OR Apache-2.0)', 'ISC'])).toBe('((MIT OR Apache-2.0)) AND ISC');
    expect(conjunction([])).toBe('NOASSERTION');
  });
});
