import { RampartError } from '../errors.js';
import { printableText } from '../util/printable.js';

/** Human sizes for terminal output: `512 B`, `2.0 KiB`, `43.9 MiB`, `1.2 GiB` (binary units). */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** Where a report goes: `-o FORMAT[=FILE]`, as syft, grype and cosign spell it. */
export type ReportOutput<F extends string> = { format: F; path?: string };

/**
 * Parses one `-o FORMAT[=FILE]` value against the formats a command can print. Every command
 * that reports something takes it, so `-o` means the same thing everywhere.
 */
export function parseReportOutput<F extends string>(value: string, formats: readonly F[]): ReportOutput<F> {
  const eq = value.indexOf('=');
  const format = eq === -1 ? value : value.slice(0, eq);
  const path = eq === -1 ? undefined : value.slice(eq + 1);
  if (!(formats as readonly string[]).includes(format)) {
    throw new RampartError(
      'USAGE',
      `unknown output format '${format}' in '-o ${value}' (formats: ${formats.join(', ')}; write to a file with FORMAT=FILE)`,
      { details: { option: '--output', value } },
    );
  }
  if (path === '')
    throw new RampartError('USAGE', `-o ${value}: the file name after '=' is empty`, {
      details: { option: '--output', value },
    });
  return { format: format as F, ...(path !== undefined ? { path } : {}) };
}

/**
 * Prints a report to stdout, or writes it atomically to the `=FILE` of its `-o`. A `text` report
 * keeps its line feeds and tabs; any other control character in it is escaped (util/printable.ts:
 * fields that come from outside are made printable where they are formatted, this is the net).
 */
export async function writeReport(output: ReportOutput<string>, report: string): Promise<void> {
  const text = output.format === 'text' ? printableText(report) : report;
  if (output.path === undefined) {
    process.stdout.write(text);
    return;
  }
  try {
    // Loaded for `=FILE` only: the staging and locking code stays out of a report printed to stdout.
    const { writeFileAtomic } = await import('../util/atomic-file.js');
    await writeFileAtomic(output.path, text);
  } catch (error) {
    throw new RampartError('IO', `cannot write ${output.path}: ${(error as Error).message}`, {
      cause: error,
      details: { path: output.path },
    });
  }
}

/** A text table: columns padded to their widest cell, the last one left ragged. */
export function formatTable(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map((r) =>
      r
        .map((c, i) => (i < header.length - 1 ? c.padEnd(widths[i] ?? 0) : c))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}
