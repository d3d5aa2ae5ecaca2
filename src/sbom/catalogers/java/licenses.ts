import {
  declaredLicense,
  isSpdxExpression,
  LicenseRefs,
  licenseFromName,
  licenseIdFromUrl,
} from '../../identity/license.js';
import type { DeclaredLicense } from '../../model.js';
import type { PomLicense } from './pom-xml.js';

/**
 * One licence given as a name, a URL or both (a POM `<license>`, a `Bundle-License` clause) → SPDX.
 * Order: a name that already is SPDX, then a well-known URL, then the name through the shared
 * normaliser. The URL goes before the fuzzy name match because Java licence names are prose
 * ("Eclipse Public License - v 2.0") that spdx-correct can read as the wrong version.
 */
export function licenseIdsFromNameAndUrl({ name, url }: PomLicense, refs: LicenseRefs): string[] {
  const text = name?.trim() ?? '';
  if (text !== '' && isSpdxExpression(text)) return [text];
  const fromUrl = url ? licenseIdFromUrl(url) : undefined;
  if (fromUrl) return [fromUrl];
  if (/^https?:\/\//i.test(text)) return [licenseIdFromUrl(text) ?? refs.idFor(text)];
  // spdx-correct turns "GPL2 w/ CPE" into GPL-3.0-or-later; an exception clause stays a LicenseRef.
  if (text !== '')
    return [/\s(?:with|w\/)\s|exception/i.test(text) ? refs.idFor(text) : licenseFromName(text, refs)];
  return url?.trim() ? [refs.idFor(url.trim())] : [];
}

/** A POM's `<licenses>`, all of which are taken to apply (AND). */
export function licenseFromPom(licenses: readonly PomLicense[]): DeclaredLicense | undefined {
  const refs = new LicenseRefs();
  return declaredLicense(
    licenses.flatMap((l) => licenseIdsFromNameAndUrl(l, refs)),
    refs,
  );
}

/**
 * OSGi `Bundle-License`: `<<EXTERNAL>>`, an SPDX expression, or a comma-separated list of
 * `name;link="url";description="…"` where the name is an SPDX id, a URL or (in practice) prose.
 */
export function licenseFromBundleLicense(value: string): DeclaredLicense | undefined {
  const text = value.trim();
  const refs = new LicenseRefs();
  if (text === '' || text === '<<EXTERNAL>>') return undefined;
  if (isSpdxExpression(text)) return declaredLicense([text], refs);
  const ids = bundleLicenseClauses(text).flatMap((clause) => {
    const [first = '', ...attributes] = splitOutsideQuotes(clause, ';');
    const link = attributes.map((a) => /^\s*link\s*:?=\s*(.*)$/i.exec(a)?.[1]).find((v) => v !== undefined);
    return licenseIdsFromNameAndUrl({ name: unquote(first), ...(link ? { url: unquote(link) } : {}) }, refs);
  });
  return declaredLicense(ids, refs);
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
