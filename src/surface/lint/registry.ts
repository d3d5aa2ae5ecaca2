import { ATTACHMENT_CHECKS } from './attachments.js';
import { FILESYSTEM_CHECKS } from './filesystem.js';
import { METADATA_CHECKS } from './metadata.js';
import { PACKAGE_CHECKS } from './packages.js';
import { SECRET_CHECKS } from './secrets.js';
import type { LintCheck, LintCheckInfo } from './types.js';
import { USER_CHECKS } from './user.js';

/** Every lint check, in report order. Ids are stable: add new ones, never rename. */
export const LINT_CHECKS: readonly LintCheck[] = [
  ...USER_CHECKS,
  ...FILESYSTEM_CHECKS,
  ...SECRET_CHECKS,
  ...ATTACHMENT_CHECKS,
  ...PACKAGE_CHECKS,
  ...METADATA_CHECKS,
];

/** The checks as plain data (for `rampart lint --list-checks` and the service). */
export function listLintChecks(): LintCheckInfo[] {
  return LINT_CHECKS.map(({ id, group, severity, title, fix, requires }) => ({
    id,
    group,
    severity,
    title,
    fix,
    requires,
  }));
}
