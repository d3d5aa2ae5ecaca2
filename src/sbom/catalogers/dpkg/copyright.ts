import { licensesFromStatement, normaliseLicenseId } from '../../identity/license.js';
import { parseStanzas } from './stanzas.js';

const COMMON_LICENSE_REF = /\/usr\/share\/common-licenses\/([A-Za-z0-9][A-Za-z0-9.+_-]*[A-Za-z0-9+])/g;

/**
 * Licences declared in a Debian copyright file. DEP-5 files contribute the `License:` short
 * names of their Files paragraphs; free-form files contribute the common-licenses they cite.
 */
export function licensesFromCopyright(text: string): string[] {
  const found = new Set<string>();
  if (/^Format:\s*\S*copyright-format/im.test(text.slice(0, 2000))) {
    for (const stanza of parseStanzas(text, () => {})) {
      const license = stanza.fields.get('license');
      if (stanza.fields.has('files') && license) {
        for (const id of licensesFromStatement(license)) found.add(id);
      }
    }
  }
  if (found.size === 0) {
    for (const match of text.matchAll(COMMON_LICENSE_REF)) {
      const name = (match[1] ?? '').replace(/\.txt$/, '');
      found.add(normaliseLicenseId(name));
    }
  }
  found.delete('NOASSERTION');
  return [...found].sort();
}
