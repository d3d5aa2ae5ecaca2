import type { SbomDocument } from '../model.js';

/** A human-readable listing, like `syft -o table`: NAME VERSION TYPE, sorted. */
export function encodeTable(doc: SbomDocument): string {
  const rows = doc.packages.map((p) => [p.name, p.version, p.type]);
  const header = ['NAME', 'VERSION', 'TYPE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [line(header), ...rows.map(line)];
  if (doc.warnings.length > 0) out.push('', `${doc.warnings.length} warning(s); see -o json for details`);
  return `${out.join('\n')}\n`;
}
