import spdxCorrect from 'spdx-correct';
import spdxParse from 'spdx-expression-parse';

/** Debian short names whose SPDX meaning spdx-correct gets wrong or does not know. */
const DEBIAN_LICENSE_NAMES: Record<string, string> = {
  expat: 'MIT',
  artistic: 'Artistic-1.0-Perl',
  'artistic-1': 'Artistic-1.0',
  'artistic-2': 'Artistic-2.0',
  'public-domain': 'LicenseRef-public-domain',
  'bsd-2-clause': 'BSD-2-Clause',
  'bsd-3-clause': 'BSD-3-Clause',
  'bsd-4-clause': 'BSD-4-Clause',
  'gpl-1': 'GPL-1.0-only',
  'gpl-2': 'GPL-2.0-only',
  'gpl-3': 'GPL-3.0-only',
  'lgpl-2': 'LGPL-2.0-only',
  'lgpl-2.1': 'LGPL-2.1-only',
  'lgpl-3': 'LGPL-3.0-only',
  'agpl-3': 'AGPL-3.0-only',
  'gfdl-1.2': 'GFDL-1.2-only',
  'gfdl-1.3': 'GFDL-1.3-only',
  'mpl-1.1': 'MPL-1.1',
  'mpl-2.0': 'MPL-2.0',
  zlib: 'Zlib',
  isc: 'ISC',
  'cc0-1.0': 'CC0-1.0',
  'apache-2.0': 'Apache-2.0',
  'psf-2': 'PSF-2.0',
  python: 'Python-2.0',
};

/** Licence families where Debian's trailing `+` means SPDX `-or-later`. */
const OR_LATER_FAMILIES = /^(A?GPL|LGPL|GFDL)-/;

/**
 * Maps one licence short name (Debian, npm or PyPI spelling) to an SPDX identifier or a
 * `LicenseRef-*`. Deterministic and offline: unknown names are kept, sanitised, as a LicenseRef.
 */
export function normaliseLicenseId(name: string): string {
  let id = normalised.get(name);
  if (id === undefined) {
    id = normaliseUncached(name);
    normalised.set(name, id);
  }
  return id;
}

// The same few dozen names recur in every copyright file; parsing them each time dominated the catalog.
const normalised = new Map<string, string>();
const parsedExpressions = new Map<string, boolean>();

function normaliseUncached(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length === 0) return 'NOASSERTION';
  if (trimmed.startsWith('LicenseRef-') && isSpdxExpression(trimmed)) return trimmed;
  const orLater = trimmed.endsWith('+');
  const base = orLater ? trimmed.slice(0, -1) : trimmed;
  // spdx-correct fixes case and common misspellings; its `+` handling is wrong, hence the split above.
  let id =
    DEBIAN_LICENSE_NAMES[base.toLowerCase()] ??
    safeCorrect(base) ??
    (isSpdxExpression(base) ? base : undefined);
  if (id === undefined || !isSpdxExpression(id)) return licenseRef(trimmed);
  if (orLater) {
    if (OR_LATER_FAMILIES.test(id))
      id = id
        .replace(/-only$/, '')
        .replace(/-or-later$/, '')
        .concat('-or-later');
    else if (!id.startsWith('LicenseRef-')) id = `${id}+`;
  }
  return isSpdxExpression(id) ? id : licenseRef(trimmed);
}

/**
 * Splits a licence statement (`GPL-2+ or Artistic`, `MIT AND (BSD-3-clause OR Apache-2.0)`) into
 * its licence names and normalises each. Exceptions (`with X exception`) become one LicenseRef.
 */
export function licensesFromStatement(statement: string): string[] {
  const firstLine = (statement.split('\n')[0] ?? '').trim();
  // npm and PyPI (PEP 639) write real SPDX expressions; keep their OR/AND structure intact.
  if (/ (OR|AND|WITH) /.test(firstLine) && isSpdxExpression(firstLine)) return [firstLine];
  const names = firstLine
    .replace(/[()]/g, ' ')
    .split(/\s+(?:or|and)\s+|\s*[,|&]\s*/i)
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
  const ids: string[] = [];
  for (const name of names) {
    const withException = /^(.+?)\s+with\s+(.+?)(?:\s+exception)?$/i.exec(name);
    ids.push(withException ? licenseRef(name) : normaliseLicenseId(name));
  }
  return ids.filter((id) => id !== 'NOASSERTION');
}

function safeCorrect(name: string): string | undefined {
  if (name.trim() === '') return undefined;
  try {
    return spdxCorrect(name, { upgrade: true }) ?? undefined;
  } catch {
    return undefined;
  }
}

export function licenseRef(name: string): string {
  const sanitised = name
    .trim()
    .replace(/\+$/, '-or-later')
    .replace(/[^A-Za-z0-9.-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `LicenseRef-${sanitised || 'unknown'}`;
}

export function isSpdxExpression(text: string): boolean {
  let valid = parsedExpressions.get(text);
  if (valid === undefined) {
    try {
      spdxParse(text);
      valid = true;
    } catch {
      valid = false;
    }
    parsedExpressions.set(text, valid);
  }
  return valid;
}

/** Joins several licence ids into one SPDX expression (AND), or NOASSERTION when there are none. */
export function conjunction(ids: readonly string[]): string {
  const unique = [...new Set(ids)].sort();
  if (unique.length === 0) return 'NOASSERTION';
  return unique.map((id) => (/\s/.test(id) ? `(${id})` : id)).join(' AND ');
}

/**
 * Licence URLs that name exactly one SPDX licence, keyed without scheme, `www.`, file extension or
 * trailing slash, lower case. Maven POMs and OSGi `Bundle-License` often give only a URL, or a
 * free-text name that spdx-correct guesses wrong (it reads "Eclipse Public License - v 2.0" as
 * EPL-1.0). The GNU URLs are left out on purpose: they do not say "only" or "or later".
 */
const LICENSE_URLS: Record<string, string> = {
  'apache.org/licenses/license-2.0': 'Apache-2.0',
  'apache.org/licenses/license-1.1': 'Apache-1.1',
  'opensource.org/licenses/apache2.0': 'Apache-2.0',
  'opensource.org/licenses/mit-license': 'MIT',
  'mit-license.org': 'MIT',
  'eclipse.org/legal/epl-v10': 'EPL-1.0',
  'eclipse.org/legal/epl-2.0': 'EPL-2.0',
  'eclipse.org/legal/epl-v20': 'EPL-2.0',
  // The Eclipse Distribution License 1.0 is the 3-clause BSD licence (SPDX lists its URL there).
  'eclipse.org/org/documents/edl-v10': 'BSD-3-Clause',
  'mozilla.org/mpl/2.0': 'MPL-2.0',
  'mozilla.org/mpl/mpl-1.1': 'MPL-1.1',
  'creativecommons.org/publicdomain/zero/1.0': 'CC0-1.0',
  'creativecommons.org/publicdomain/zero/1.0/legalcode': 'CC0-1.0',
  'unlicense.org': 'Unlicense',
  'openjdk.java.net/legal/gplv2+ce': 'GPL-2.0-only WITH Classpath-exception-2.0',
  'openjdk.org/legal/gplv2+ce': 'GPL-2.0-only WITH Classpath-exception-2.0',
};

/** `spdx.org/licenses/<id>` and `opensource.org/license(s)/<id>` carry the SPDX id in the path. */
const ID_IN_URL = /^(?:spdx\.org\/licenses|opensource\.org\/licenses?)\/([A-Za-z0-9.+-]+)$/;

/**
 * Maps a well-known licence URL to its SPDX id, or undefined when the URL does not name one
 * licence unambiguously. Offline; nothing is fetched.
 */
export function licenseIdFromUrl(url: string): string | undefined {
  const key = url
    .trim()
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/^www\./i, '')
    .replace(/[?#].*$/, '')
    .replace(/\/+$/, '')
    .replace(/\.(?:txt|html?|php|md)$/i, '');
  const known = LICENSE_URLS[key.toLowerCase()];
  if (known) return known;
  const tail = ID_IN_URL.exec(key)?.[1];
  if (!tail) return undefined;
  // Only an id that is exact up to case: spdx-correct's fuzzier guesses are not evidence here.
  const id = safeCorrect(tail);
  return id !== undefined && id.toLowerCase() === tail.toLowerCase() && isSpdxExpression(id) ? id : undefined;
}
