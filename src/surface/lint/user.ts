import type { LintCheck } from './types.js';
import { findingOf } from './types.js';

/** A user given as a name, uid or uid:gid; root when empty, `root` or uid 0 (without /etc/passwd). */
export function isRootUserSpec(user: string | undefined): boolean {
  const name = (user ?? '').split(':')[0] ?? '';
  return name === '' || name === 'root' || /^0+$/.test(name);
}

const rootUser: LintCheck = {
  id: 'root-user',
  group: 'user',
  severity: 'warning',
  title: 'The image runs as root',
  fix: 'Run as an unprivileged user: set `accounts.run-as: nonroot` in the rampart spec (or USER 65532 in the config).',
  // Uses the metrics (the user resolved through /etc/passwd) when present, else the config alone.
  requires: [],
  run(context) {
    const user = context.image.config.config?.User ?? '';
    const root = context.metrics ? context.metrics.user.root : isRootUserSpec(user);
    if (!root) return [];
    const shown = user === '' ? 'no user set (root)' : `user ${JSON.stringify(user)} is root`;
    return [findingOf(this, `the image runs as root: ${shown}`, { kind: 'config', field: 'User' })];
  },
};

export const USER_CHECKS: readonly LintCheck[] = [rootUser];
