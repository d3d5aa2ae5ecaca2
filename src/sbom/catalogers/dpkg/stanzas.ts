/**
 * A lenient deb822 reader for dpkg databases: a damaged paragraph is reported and skipped so
 * the packages around it still make it into the SBOM (dpkg itself would refuse the whole file).
 */
export interface Stanza {
  fields: Map<string, string>;
  line: number;
}

export function parseStanzas(text: string, onBadLine: (line: number, reason: string) => void): Stanza[] {
  const stanzas: Stanza[] = [];
  let fields = new Map<string, string>();
  let start = 1;
  let last: string | undefined;
  let broken = false;
  const flush = () => {
    if (fields.size > 0 && !broken) stanzas.push({ fields, line: start });
    fields = new Map();
    last = undefined;
    broken = false;
  };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').replace(/\r$/, '');
    if (line.trim() === '') {
      flush();
      start = i + 2;
      continue;
    }
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (last === undefined) {
        broken = true;
        onBadLine(i + 1, 'continuation line without a field');
        continue;
      }
      fields.set(last, `${fields.get(last) ?? ''}\n${line.slice(1)}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0 || /\s/.test(line.slice(0, colon))) {
      broken = true;
      onBadLine(i + 1, `not a "Field: value" line: ${JSON.stringify(line.slice(0, 60))}`);
      continue;
    }
    last = line.slice(0, colon).toLowerCase();
    fields.set(last, line.slice(colon + 1).trim());
  }
  flush();
  return stanzas;
}

/** Splits a dpkg relationship field into alternatives of bare package names. */
export function relationNames(field: string | undefined): string[][] {
  if (!field) return [];
  return field
    .split(',')
    .map((group) =>
      group
        .split('|')
        .map((alt) => alt.trim().split(/[\s(:[]/)[0] ?? '')
        .filter((name) => name.length > 0),
    )
    .filter((group) => group.length > 0);
}
