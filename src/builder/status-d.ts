import { scanDeb822 } from '../debian/deb822.js';
import { canonicalPath } from './tree.js';

/** dpkg's own field order for status entries (lib/dpkg/parse.c fieldinfos); other fields follow in control order. */
const DPKG_FIELD_ORDER = [
  'Package',
  'Essential',
  'Protected',
  'Status',
  'Priority',
  'Section',
  'Installed-Size',
  'Origin',
  'Maintainer',
  'Bugs',
  'Architecture',
  'Multi-Arch',
  'Source',
  'Version',
  'Config-Version',
  'Replaces',
  'Provides',
  'Depends',
  'Pre-Depends',
  'Recommends',
  'Suggests',
  'Breaks',
  'Conflicts',
  'Enhances',
  'Conffiles',
  'Description',
  'Triggers-Pending',
  'Triggers-Awaited',
];
const RANK = new Map(DPKG_FIELD_ORDER.map((f, i) => [f.toLowerCase(), i]));

/**
 * The /var/lib/dpkg/status.d/<pkg> stanza: the .deb's control paragraph with
 * `Status: install ok installed`, fields in dpkg's order, ending in a newline.
 */
export function statusStanza(controlText: string): string {
  const fields = controlFields(controlText).filter(([name]) => name.toLowerCase() !== 'status');
  fields.push(['Status', 'install ok installed']);
  const ordered = fields
    .map((field, index) => ({
      field,
      index,
      rank: RANK.get(field[0].toLowerCase()) ?? DPKG_FIELD_ORDER.length,
    }))
    .sort((a, b) => a.rank - b.rank || a.index - b.index)
    .map(({ field: [name, value] }) => `${name}: ${value}`.replace(/: \n/, ':\n'));
  return `${ordered.join('\n')}\n`;
}

/** The first paragraph's fields, spelled and ordered as written, continuation lines re-indented. */
function controlFields(text: string): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  let paragraphs = 0;
  scanDeb822(text, {
    field(name, value) {
      if (paragraphs === 0) fields.push([name, value.replaceAll('\n', '\n ')]);
    },
    endParagraph() {
      paragraphs++;
    },
  });
  return fields;
}

/**
 * The .deb's md5sums rewritten for the image: paths moved into /usr as the tree moved them,
 * and only files that are actually present (pruned docs are not claimed).
 */
export function imageMd5sums(md5sums: Map<string, string>, present: (path: string) => boolean): string {
  const lines: string[] = [];
  for (const [path, md5] of md5sums) {
    const canonical = canonicalPath(path);
    if (present(canonical)) lines.push(`${md5}  ${canonical}`);
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}
