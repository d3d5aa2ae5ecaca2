import { licenceNameKey, spdxExceptionIdFor, spdxLicenseIdFor } from './spdx-ids.js';

/**
 * Debian's licence short names → SPDX, by exact table only.
 *
 * Source: "Machine-readable debian/copyright file, Version 1.0", section 7.1 "Short name" and 7.2
 * "Syntax" (https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/#license-specification;
 * checked against `copyright-format-1.0.txt` in the `debian-policy` 4.6.2.0 package). The rules
 * taken from it:
 * - a versioned name is `<family>-<version>`; an omitted version means the lowest version the table
 *   lists for the family ("GPL refers to the GPL version 1");
 * - versions with trailing dot-zeroes equal those without ("2.0.0" = "2.0" = "2");
 * - a trailing `+` means "or any later version": SPDX's `-or-later` for the GNU licences (SPDX
 *   deprecates their `+` form), SPDX's `+` operator for the rest;
 * - names are case-insensitive.
 * A name outside the table is an exact SPDX licence id (case-insensitive, dot-zeroes as above) or
 * nothing: the caller keeps it as a `LicenseRef-`. No fuzzy matching: `BSD-4-clause-POWERDOG` is
 * not BSD-4-Clause, `DONT-CHANGE-THE-GPL` is not a GPL.
 */

interface Family {
  /** SPDX id (or id stem, for GNU families) per normalised version; '' is the unversioned name. */
  versions: Record<string, string>;
  /** The version an unversioned name means (DEP-5: the lowest one listed). */
  unversioned?: string;
  /** GNU licences take `-only` / `-or-later`; the others take SPDX's `+`. */
  gnu?: boolean;
}

const FAMILIES: Record<string, Family> = {
  // DEP-5 section 7.1, in its order.
  apache: { versions: { '1': 'Apache-1.0', '1.1': 'Apache-1.1', '2': 'Apache-2.0' }, unversioned: '1' },
  // Debian's Artistic licence (/usr/share/common-licenses/Artistic, "GPL-1+ or Artistic" for Perl) is
  // the original Perl Artistic License, which SPDX calls Artistic-1.0-Perl (Artistic-1.0 is the
  // OSI-revised text). Fedora's conversion of "GPL+ or Artistic" makes the same choice.
  artistic: { versions: { '1': 'Artistic-1.0-Perl', '2': 'Artistic-2.0' }, unversioned: '1' },
  'bsd-2-clause': { versions: { '': 'BSD-2-Clause' } },
  'bsd-3-clause': { versions: { '': 'BSD-3-Clause' } },
  'bsd-4-clause': { versions: { '': 'BSD-4-Clause' } },
  isc: { versions: { '': 'ISC' } },
  'cc-by': ccFamily('CC-BY'),
  'cc-by-sa': ccFamily('CC-BY-SA'),
  'cc-by-nd': ccFamily('CC-BY-ND'),
  'cc-by-nc': ccFamily('CC-BY-NC'),
  'cc-by-nc-sa': ccFamily('CC-BY-NC-SA'),
  'cc-by-nc-nd': ccFamily('CC-BY-NC-ND'),
  cc0: { versions: { '1': 'CC0-1.0' }, unversioned: '1' },
  cddl: { versions: { '1': 'CDDL-1.0', '1.1': 'CDDL-1.1' }, unversioned: '1' },
  cpl: { versions: { '1': 'CPL-1.0' }, unversioned: '1' },
  efl: { versions: { '1': 'EFL-1.0', '2': 'EFL-2.0' }, unversioned: '1' },
  expat: { versions: { '': 'MIT' } },
  gpl: { versions: { '1': 'GPL-1.0', '2': 'GPL-2.0', '3': 'GPL-3.0' }, unversioned: '1', gnu: true },
  // "GNU Lesser General Public License 2.1, 3.0, or GNU Library General Public License 2.0".
  lgpl: { versions: { '2': 'LGPL-2.0', '2.1': 'LGPL-2.1', '3': 'LGPL-3.0' }, unversioned: '2', gnu: true },
  // GFDL 1.0 has no SPDX id, so the unversioned GFDL (version 1.0) stays a LicenseRef.
  gfdl: {
    versions: { '1.1': 'GFDL-1.1', '1.2': 'GFDL-1.2', '1.3': 'GFDL-1.3' },
    unversioned: '1',
    gnu: true,
  },
  // "with no Front-Cover or Back-Cover Texts or Invariant Sections" = SPDX's -no-invariants variants.
  'gfdl-niv': {
    versions: {
      '1.1': 'GFDL-1.1-no-invariants',
      '1.2': 'GFDL-1.2-no-invariants',
      '1.3': 'GFDL-1.3-no-invariants',
    },
    unversioned: '1',
    gnu: true,
  },
  lppl: {
    versions: {
      '1': 'LPPL-1.0',
      '1.1': 'LPPL-1.1',
      '1.2': 'LPPL-1.2',
      '1.3a': 'LPPL-1.3a',
      '1.3c': 'LPPL-1.3c',
    },
    unversioned: '1',
  },
  // DEP-5 lists only 1.1 for MPL, so that is what the bare name means.
  mpl: { versions: { '1': 'MPL-1.0', '1.1': 'MPL-1.1', '2': 'MPL-2.0' }, unversioned: '1.1' },
  // "Perl license (use 'GPL-1+ or Artistic-1' instead)".
  perl: { versions: { '': 'GPL-1.0-or-later OR Artistic-1.0-Perl' } },
  python: { versions: { '2': 'Python-2.0' }, unversioned: '2' },
  qpl: { versions: { '1': 'QPL-1.0' }, unversioned: '1' },
  w3c: { versions: { '': 'W3C' } },
  zlib: { versions: { '': 'Zlib' } },
  // Zope 1.0 has no SPDX id either.
  zope: { versions: { '1.1': 'ZPL-1.1', '2': 'ZPL-2.0', '2.1': 'ZPL-2.1' }, unversioned: '1' },
  // Not in the DEP-5 list but formed by its rules, and common in Debian: the Affero GPL.
  agpl: { versions: { '1': 'AGPL-1.0', '3': 'AGPL-3.0' }, unversioned: '1', gnu: true },
};

function ccFamily(stem: string): Family {
  // DEP-5 lists 1.0, 2.0, 2.5 and 3.0; 4.0 follows the same rule and SPDX has it.
  const versions: Record<string, string> = {};
  for (const v of ['1', '2', '2.5', '3', '4']) versions[v] = `${stem}-${v.includes('.') ? v : `${v}.0`}`;
  return { versions, unversioned: '1' };
}

/**
 * `with <keyword> exception` → SPDX exception id, where the keyword names exactly one SPDX exception
 * text. A keyword that is itself an SPDX exception id (`Linux-syscall-note`) maps to it too. Left
 * out on purpose: OpenSSL (no generic SPDX exception), Autoconf and Autoconf-data (Debian uses them
 * for several different texts: Autoconf-exception-2.0, -3.0, -generic, -macro).
 */
const EXCEPTIONS: Record<string, { id: string; licence?: RegExp }> = {
  // The DEP-5 spec quotes the GPL font exception's text, which is SPDX's Font-exception-2.0.
  font: { id: 'Font-exception-2.0', licence: /^GPL-/ },
  // Bison's 2.2 exception came with GPL-3 Bison; with GPL-2 the keyword could also mean the 1.24 text.
  bison: { id: 'Bison-exception-2.2', licence: /^GPL-3\.0-/ },
  'bison-2.2': { id: 'Bison-exception-2.2', licence: /^GPL-/ },
  'bison-1.24': { id: 'Bison-exception-1.24', licence: /^GPL-/ },
  classpath: { id: 'Classpath-exception-2.0', licence: /^GPL-2\.0-/ },
  libtool: { id: 'Libtool-exception', licence: /^GPL-/ },
  texinfo: { id: 'Texinfo-exception', licence: /^GPL-/ },
  llvm: { id: 'LLVM-exception', licence: /^Apache-2\.0$/ },
};

const GNU_SUFFIX = /-(?:only|or-later)$/;

/**
 * The SPDX expression for one Debian licence short name (`GPL-2+`, `Expat`, `LGPL-2.1`,
 * `Unicode-DFS-2016`), or undefined when neither the DEP-5 table nor the SPDX list names it exactly.
 * The result is a single id except for `Perl`, which DEP-5 defines as `GPL-1+ or Artistic-1`.
 */
export function spdxForDebianName(name: string): string | undefined {
  if (!/^[A-Za-z0-9][A-Za-z0-9.+_-]*$/.test(name)) return undefined;
  const orLater = name.endsWith('+');
  const key = licenceNameKey(orLater ? name.slice(0, -1) : name);
  if (key.endsWith('+')) return undefined;
  const base = fromFamilies(key) ?? fromSpdxList(key);
  if (!base) return undefined;
  if (base.gnu) return `${base.id}-${orLater ? 'or-later' : 'only'}`;
  if (!orLater) return base.id;
  // `+` on an id that already says -only/-or-later, or on Perl's expression, has no SPDX meaning.
  if (/\s/.test(base.id) || GNU_SUFFIX.test(base.id)) return undefined;
  return `${base.id}+`;
}

function fromFamilies(key: string): { id: string; gnu: boolean } | undefined {
  const direct = FAMILIES[key];
  if (direct) {
    const version = direct.versions[''] !== undefined ? '' : direct.unversioned;
    const id = version === undefined ? undefined : direct.versions[version];
    return id ? { id, gnu: direct.gnu === true } : undefined;
  }
  const match = /^(.+?)-(\d[\d.]*[a-z]?)$/.exec(key);
  if (!match) return undefined;
  const family = FAMILIES[match[1]!];
  const id = family?.versions[match[2]!];
  return id ? { id, gnu: family.gnu === true } : undefined;
}

function fromSpdxList(key: string): { id: string; gnu: boolean } | undefined {
  const id = spdxLicenseIdFor(key);
  // The SPDX GNU ids carry their own -only/-or-later; a `+` on them is refused by the caller.
  return id ? { id, gnu: false } : undefined;
}

/**
 * The SPDX exception id for a DEP-5 `with <keyword> exception` applied to `licence` (an SPDX id),
 * or undefined when the keyword does not name one SPDX exception for that licence.
 */
export function spdxExceptionFor(keyword: string, licence: string): string | undefined {
  const known = EXCEPTIONS[keyword.toLowerCase()];
  if (known) return !known.licence || known.licence.test(licence) ? known.id : undefined;
  return spdxExceptionIdFor(keyword);
}
