// The CLI's byte formatter is a pure function; one rule for sizes everywhere.
import { formatBytes as humanBytes } from '../cli/format.js';
import { displayPath as shown } from '../errors.js';
import { printable } from '../util/printable.js';
import type { DiffConfigChange, DiffFile, ImageDiff } from './diff.js';

/**
 * Human renderings of an `ImageDiff`: plain text for the terminal and Markdown that reads as
 * release notes (the maintenance service publishes it with every rebuild). Library functions, so
 * the service renders exactly what the CLI prints.
 */

const MAX_LISTED_FILES = 200;

function signedBytes(delta: number): string {
  const sign = delta > 0 ? '+' : delta < 0 ? '-' : '±';
  return `${sign}${humanBytes(Math.abs(delta))}`;
}

function describeConfig(change: DiffConfigChange): string {
  // Image contents are hostile input: control characters (an escape sequence, a newline) are quoted.
  const name = change.key ? `${change.field} ${shown(change.key)}` : change.field;
  if (change.old === undefined) return `${name}: set to ${shown(change.new ?? '')}`;
  if (change.new === undefined) return `${name}: removed (was ${shown(change.old)})`;
  return `${name}: ${shown(change.old)} → ${shown(change.new)}`;
}

function fileLine(file: DiffFile): string {
  return file.kind === 'symlink'
    ? `${shown(file.path)} -> ${shown(file.linkTarget ?? '')}`
    : `${shown(file.path)} (${humanBytes(file.size)})`;
}

function isEmpty(diff: ImageDiff): boolean {
  const { packages, files, config, findings } = diff;
  return (
    packages.added.length + packages.removed.length + packages.changed.length === 0 &&
    files.added.length + files.removed.length + files.changed.length === 0 &&
    config.length === 0 &&
    (findings ? findings.fixed.length + findings.introduced.length === 0 : true)
  );
}

export function renderDiffText(diff: ImageDiff): string {
  const out: string[] = [
    `Old: ${diff.old.reference} (${diff.old.digest})`,
    `New: ${diff.new.reference} (${diff.new.digest})`,
  ];
  if (isEmpty(diff)) return `${out.join('\n')}\nNo differences.\n`;
  const { packages, files } = diff;
  out.push(
    '',
    `Packages: ${packages.changed.length} changed, ${packages.added.length} added, ${packages.removed.length} removed`,
  );
  for (const c of packages.changed)
    out.push(
      `  ~ ${shown(c.name)} ${shown(c.from)} -> ${shown(c.to)}${c.direction === 'downgrade' ? ' (downgrade)' : ''}`,
    );
  for (const p of packages.added) out.push(`  + ${shown(p.name)} ${shown(p.version)}`);
  for (const p of packages.removed) out.push(`  - ${shown(p.name)} ${shown(p.version)}`);
  out.push(
    '',
    `Files: ${files.changed.length} changed, ${files.added.length} added, ${files.removed.length} removed (${signedBytes(files.bytesDelta)})`,
  );
  const listed = (items: string[]) => {
    out.push(...items.slice(0, MAX_LISTED_FILES));
    if (items.length > MAX_LISTED_FILES)
      out.push(`  ... and ${items.length - MAX_LISTED_FILES} more (-o json lists all)`);
  };
  listed(
    files.changed.map(
      (c) =>
        `  ~ ${shown(c.path)} (${c.reasons.join(', ')}${c.reasons.includes('size') ? `: ${humanBytes(c.old.size)} -> ${humanBytes(c.new.size)}` : ''})`,
    ),
  );
  listed(files.added.map((f) => `  + ${fileLine(f)}`));
  listed(files.removed.map((f) => `  - ${fileLine(f)}`));
  if (diff.config.length > 0) {
    out.push('', `Config: ${diff.config.length} changed`);
    for (const c of diff.config) out.push(`  ${describeConfig(c)}`);
  }
  if (diff.findings) {
    out.push(
      '',
      `Vulnerabilities: ${diff.findings.fixed.length} fixed, ${diff.findings.introduced.length} introduced`,
    );
    for (const f of diff.findings.fixed)
      out.push(`  fixed      ${shown(f.id)} (${f.severity}) in ${shown(f.package)} ${shown(f.version)}`);
    for (const f of diff.findings.introduced)
      out.push(`  introduced ${shown(f.id)} (${f.severity}) in ${shown(f.package)} ${shown(f.version)}`);
  }
  return `${out.join('\n')}\n`;
}

/** Markdown-safe inline code (a backtick in a file name must not end the span). */
function code(text: string): string {
  const ticks = text.includes('`') ? '``' : '`';
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${ticks}${pad}${printable(text)}${pad}${ticks}`;
}

/** A table cell: pipes escaped, HTML and control characters neutralised. */
function cell(text: string): string {
  return printable(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|');
}

export function renderDiffMarkdown(diff: ImageDiff): string {
  const out: string[] = [
    `## Changes in ${code(diff.new.reference)}`,
    '',
    `From ${code(diff.old.digest)} to ${code(diff.new.digest)} (${diff.new.platform}).`,
    '',
  ];
  if (isEmpty(diff)) return `${out.join('\n')}No differences.\n`;
  const { packages, files, findings } = diff;
  const summary: string[] = [];
  const count = packages.changed.length + packages.added.length + packages.removed.length;
  summary.push(`${count} package${count === 1 ? '' : 's'} changed`);
  if (findings)
    summary.push(`${findings.fixed.length} vulnerabilities fixed, ${findings.introduced.length} introduced`);
  summary.push(`size ${signedBytes(files.bytesDelta)}`);
  out.push(`**Summary:** ${summary.join(' · ')}`, '');
  if (findings && findings.fixed.length + findings.introduced.length > 0) {
    out.push(
      '### Security',
      '',
      '| Vulnerability | Severity | Package | Status |',
      '| --- | --- | --- | --- |',
    );
    for (const f of findings.fixed)
      out.push(`| ${cell(f.id)} | ${f.severity} | ${cell(f.package)} ${cell(f.version)} | fixed |`);
    for (const f of findings.introduced)
      out.push(`| ${cell(f.id)} | ${f.severity} | ${cell(f.package)} ${cell(f.version)} | introduced |`);
    out.push('');
  }
  if (count > 0) {
    out.push('### Packages', '', '| Package | Old | New |', '| --- | --- | --- |');
    for (const c of packages.changed)
      out.push(
        `| ${cell(c.name)} | ${cell(c.from)} | ${cell(c.to)}${c.direction === 'downgrade' ? ' (downgrade)' : ''} |`,
      );
    for (const p of packages.added) out.push(`| ${cell(p.name)} | — | ${cell(p.version)} |`);
    for (const p of packages.removed) out.push(`| ${cell(p.name)} | ${cell(p.version)} | — |`);
    out.push('');
  }
  if (diff.config.length > 0) {
    out.push('### Configuration', '');
    for (const c of diff.config) out.push(`- ${code(describeConfig(c))}`);
    out.push('');
  }
  const fileCount = files.changed.length + files.added.length + files.removed.length;
  if (fileCount > 0) {
    out.push(
      '<details>',
      `<summary>Files: ${files.changed.length} changed, ${files.added.length} added, ${files.removed.length} removed</summary>`,
      '',
    );
    const rows = [
      ...files.changed.map((c) => `- changed ${code(c.path)} (${c.reasons.join(', ')})`),
      ...files.added.map((f) => `- added ${code(f.path)} (${humanBytes(f.size)})`),
      ...files.removed.map((f) => `- removed ${code(f.path)} (${humanBytes(f.size)})`),
    ];
    out.push(...rows.slice(0, MAX_LISTED_FILES));
    if (rows.length > MAX_LISTED_FILES) out.push(`- … and ${rows.length - MAX_LISTED_FILES} more`);
    out.push('', '</details>', '');
  }
  return `${out.join('\n')}`;
}
