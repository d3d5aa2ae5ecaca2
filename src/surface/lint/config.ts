import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type * as z from 'zod/mini';
import { fromSystemError, isSystemError, RampartError } from '../../errors.js';
import { _default, array, minLength, refine, strictObject, string, trim } from '../../util/zod.js';
import { LINT_CHECKS } from './registry.js';

/**
 * `.rampart-lint.yaml` (README "rampart lint"): checks turned off, each with a reason that the
 * report carries, so a suppressed risk stays visible to whoever reads the report.
 *
 *   disable:
 *     - check: shell-present
 *       reason: the debug variant is meant to have a shell
 */
export interface LintConfig {
  disable: Array<{ check: string; reason: string }>;
}

export const LINT_CONFIG_FILE = '.rampart-lint.yaml';
const MAX_CONFIG_BYTES = 1024 * 1024;

const LintConfigSchema = strictObject({
  disable: _default(
    array(
      strictObject({
        check: string().check(
          refine((id) => LINT_CHECKS.some((check) => check.id === id), {
            message: `unknown check id (known: ${LINT_CHECKS.map((check) => check.id).join(', ')})`,
          }),
        ),
        reason: string().check(trim(), minLength(1, 'a reason is required')),
      }),
    ),
    [],
  ),
});

function fieldOf(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>(
    (text, part) =>
      typeof part === 'number' ? `${text}[${part}]` : text ? `${text}.${String(part)}` : String(part),
    '',
  );
}

/** Parses the text of a lint configuration; `path` names it in errors (POLICY_INVALID, details.field). */
export function parseLintConfig(text: string, path: string): LintConfig {
  const document = parseDocument(text, { uniqueKeys: true });
  if (document.errors.length > 0) {
    const first = document.errors[0] as Error;
    throw new RampartError('POLICY_INVALID', `${path} is not valid YAML: ${first.message.split('\n')[0]}`, {
      details: { path },
    });
  }
  const raw = document.toJS() ?? {};
  const parsed = LintConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0] as z.core.$ZodIssue;
    const field =
      issue.code === 'unrecognized_keys'
        ? fieldOf([...issue.path, issue.keys[0] ?? ''])
        : fieldOf(issue.path);
    throw new RampartError('POLICY_INVALID', `${path}: ${field || '(top level)'}: ${issue.message}`, {
      details: { path, ...(field ? { field } : {}) },
    });
  }
  const seen = new Set<string>();
  for (const [i, entry] of parsed.data.disable.entries()) {
    if (seen.has(entry.check))
      throw new RampartError(
        'POLICY_INVALID',
        `${path}: disable[${i}].check: ${entry.check} is disabled twice`,
        {
          details: { path, field: `disable[${i}].check` },
        },
      );
    seen.add(entry.check);
  }
  return parsed.data;
}

/** Reads a lint configuration; with `optional`, a missing file is no configuration. */
export async function readLintConfig(path: string, optional = false): Promise<LintConfig | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    if (optional && isSystemError(error) && error.code === 'ENOENT') return undefined;
    throw isSystemError(error)
      ? fromSystemError(error, { path, operation: 'read the lint configuration' })
      : error;
  }
  if (bytes.length > MAX_CONFIG_BYTES)
    throw new RampartError(
      'POLICY_INVALID',
      `${path} is larger than ${MAX_CONFIG_BYTES} bytes; a lint configuration is small`,
      {
        details: { path },
      },
    );
  return parseLintConfig(bytes.toString('utf8'), path);
}
