import pc from 'picocolors';
import { printable } from '../../util/printable.js';
import type { ScanMatch, ScanResult, Severity } from '../types.js';

const SEVERITY_COLOUR: Record<Severity, (s: string) => string> = {
  critical: (s) => pc.bold(pc.red(s)),
  high: pc.red,
  medium: pc.yellow,
  low: pc.cyan,
  negligible: pc.dim,
  unknown: pc.dim,
};

/**
 * The human report: findings grouped by package (binary name and version, with the source
 * package when it differs), each row ID, SEVERITY, STATUS, FIXED IN, ALIASES; suppressed findings
 * counted at the end. `colour` only on a TTY (the caller decides).
 */
export function encodeScanTable(result: ScanResult, options: { colour?: boolean } = {}): string {
  const colour = options.colour === true;
  const paint = (f: (s: string) => string, s: string) => (colour ? f(s) : s);
  const out: string[] = [];
  const groups = new Map<string, ScanMatch[]>();
  for (const m of result.matches) {
    const key = `${m.package.type}\0${m.package.name}\0${m.package.version}\0${m.package.purl}`;
    groups.set(key, [...(groups.get(key) ?? []), m]);
  }
  // Feeds and images are not trusted to hold printable text (util/printable.ts).
  const cellsOf = (m: ScanMatch) =>
    [
      m.vulnerability.id,
      m.vulnerability.severity,
      m.vulnerability.status,
      m.vulnerability.fixedVersion ?? '',
      m.vulnerability.aliases.join(' '),
    ].map(printable);
  const rows = (ms: ScanMatch[]) => ms.map(cellsOf);
  const all = rows(result.matches);
  const header = ['ID', 'SEVERITY', 'STATUS', 'FIXED IN', 'ALIASES'];
  const widths = header.map((h, i) => Math.max(h.length, ...all.map((r) => r[i]!.length)));
  const line = (cells: string[], severity?: Severity) =>
    `  ${cells
      .map((c, i) => {
        const padded = i === cells.length - 1 ? c : c.padEnd(widths[i]!);
        return i === 1 && severity ? paint(SEVERITY_COLOUR[severity], padded) : padded;
      })
      .join('  ')}`.trimEnd();
  for (const ms of groups.values()) {
    const p = ms[0]!.package;
    const source = p.source ? printable(` (source ${p.source.name} ${p.source.version})`) : '';
    out.push(`${paint(pc.bold, printable(`${p.name} ${p.version}`))} [${printable(p.type)}]${source}`);
    out.push(paint(pc.dim, line(header)));
    for (const m of ms) out.push(line(cellsOf(m), m.vulnerability.severity));
    out.push('');
  }
  const counts = new Map<string, number>();
  for (const m of result.matches)
    counts.set(m.vulnerability.severity, (counts.get(m.vulnerability.severity) ?? 0) + 1);
  const summary = ['critical', 'high', 'medium', 'low', 'negligible', 'unknown']
    .filter((s) => counts.has(s))
    .map((s) => `${counts.get(s)} ${s}`)
    .join(', ');
  out.push(
    result.matches.length === 0
      ? 'No vulnerabilities found.'
      : `${result.matches.length} finding(s) in ${groups.size} package(s): ${summary}`,
  );
  if (result.suppressed.length > 0) out.push(`${result.suppressed.length} suppressed by VEX (see -o json)`);
  return `${out.join('\n')}\n`;
}
