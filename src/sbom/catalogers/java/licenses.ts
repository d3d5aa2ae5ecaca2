import {
  isSpdxExpression,
  licenseIdFromUrl,
  licenseRef,
  licensesFromStatement,
  normaliseLicenseId,
} from '../../identity/license.js';
import type { PomLicense } from './pom-xml.js';

/**
 * One licence given as a name, a URL or both (a POM `<license>`, a `Bundle-License` clause) → SPDX.
 * Order: a name that already is SPDX, then a well-known URL, then the name through the shared
 * normaliser. The URL goes before the fuzzy name match because Java licence names are prose
 * ("Eclipse Public License - v 2.0") that spdx-correct can read as the wrong version.
 */
export function licenseIdsFromNameAndUrl({ name, url }: PomLicense): string[] {
  const text = name?.trim() ?? '';
  if (text !== '' && isSpdxExpression(text)) return licensesFromStatement(text);
  const fromUrl = url ? licenseIdFromUrl(url) : undefined;
  if (fromUrl) return [fromUrl];
  if (/^https?:\/\//i.test(text)) return [licenseIdFromUrl(text) ?? licenseRef(text)];
  // spdx-correct turns "GPL2 w/ CPE" into GPL-3.0-or-later; an exception clause stays a LicenseRef.
  if (text !== '')
    return [/\s(?:with|w\/)\s|exception/i.test(text) ? licenseRef(text) : normaliseLicenseId(text)];
  return url?.trim() ? [licenseRef(url)] : [];
}

export function licensesFromPom(licenses: readonly PomLicense[]): string[] {
  return licenses.flatMap(licenseIdsFromNameAndUrl).filter((id) => id !== 'NOASSERTION');
}

/**
 * OSGi `Bundle-License`: `<<EXTERNAL>>`, an SPDX expression, or a comma-separated list of
 * `name;link="url";description="…"` where the name is an SPDX id, a URL or (in practice) prose.
 */
export function licensesFromBundleLicense(value: string): string[] {
  const text = value.trim();
  if (text === '' || text === '<<EXTERNAL>>') return [];
  if (isSpdxExpression(text)) return licensesFromStatement(text);
  const ids = bundleLicenseClauses(text).flatMap((clause) => {
    const [first = '', ...attributes] = splitOutsideQuotes(clause, ';');
    const link = attributes.map((a) => /^\s*link\s*:?=\s*(.*)$/i.exec(a)?.[1]).find((v) => v !== undefined);
    return licenseIdsFromNameAndUrl({ name: unquote(first), ...(link ? { url: unquote(link) } : {}) });
  });
  return ids.filter((id) => id !== 'NOASSERTION');
}

/**
 * Splits the list on commas, but keeps "Apache License, Version 2.0" whole: manifests written by
 * hand put a licence's prose name there, and a clause that starts with a version is its tail.
 */
function bundleLicenseClauses(text: string): string[] {
  const clauses: string[] = [];
  for (const part of splitOutsideQuotes(text, ',')) {
    if (clauses.length > 0 && /^\s*(?:version|v)\s*\.?\s*\d/i.test(part))
      clauses.push(`${clauses.pop()},${part}`);
    else clauses.push(part);
  }
  return clauses.filter((c) => c.trim() !== '');
}

function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (const c of text) {
    if (c === '"') quoted = !quoted;
    if (c === separator && !quoted) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  return parts;
}

function unquote(text: string): string {
  const trimmed = text.trim();
  return trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')
    ? trimmed.slice(1, -1)
    : trimmed;
}
