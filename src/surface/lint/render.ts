import { displayPath as shown } from '../../errors.js';
import type { LintLocation, LintResult } from './types.js';

function where(location: LintLocation): string {
  switch (location.kind) {
    case 'file':
      return shown(location.path);
    case 'env':
      return `env ${shown(location.name)}`;
    case 'label':
      return `label ${shown(location.name)}`;
    case 'config':
      return `config ${location.field}`;
    case 'package':
      return `package ${shown(location.name)} ${shown(location.version)}`;
    case 'tag':
      return `tag ${shown(location.name)}`;
    case 'image':
      return 'image';
  }
}

/** The terminal report: findings by severity (errors first), then what was skipped or disabled. */
export function renderLintText(result: LintResult): string {
  const out = [`${result.subject.reference} (${result.subject.digest}, ${result.subject.platform})`];
  const order = { error: 0, warning: 1, info: 2 } as const;
  const findings = [...result.findings].sort((a, b) => order[a.severity] - order[b.severity]);
  if (findings.length === 0) out.push('No findings.');
  for (const finding of findings) {
    out.push(`${finding.severity.toUpperCase().padEnd(7)} ${finding.check}  ${where(finding.location)}`);
    // Messages name paths and keys from the image: control characters are quoted, not printed.
    out.push(`        ${shown(finding.message)}`);
    out.push(`        fix: ${finding.fix}`);
  }
  const { summary } = result;
  out.push('', `${summary.error} errors, ${summary.warning} warnings, ${summary.info} notes`);
  for (const skip of result.skipped) out.push(`skipped ${skip.check}: ${skip.reason}`);
  for (const off of result.disabled) out.push(`disabled ${off.check}: ${off.reason}`);
  if (result.secretsScan.budgetExhausted)
    out.push(`secrets scan stopped at its byte budget after ${result.secretsScan.filesScanned} files`);
  return `${out.join('\n')}\n`;
}
