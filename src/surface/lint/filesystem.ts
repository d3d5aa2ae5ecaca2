import type { PathList } from '../types.js';
import type { LintCheck, LintCheckInfo, LintContext, LintFinding } from './types.js';
import { findingOf } from './types.js';

/**
 * File facts come from the surface metrics (`measureSurface`, src/surface/metrics.ts): one walk of
 * the image, one rule for what a shell or a package manager is (src/surface/classify.ts).
 */
function fromPathList(
  check: LintCheckInfo,
  list: (context: LintContext) => PathList | undefined,
  describe: (path: string) => string,
) {
  return (context: LintContext): LintFinding[] => {
    const paths = list(context);
    if (!paths) return [];
    const findings = paths.paths.map((path) => findingOf(check, describe(path), { kind: 'file', path }));
    if (paths.total > paths.paths.length)
      findings.push(
        findingOf(
          check,
          `${paths.total - paths.paths.length} more paths (the metrics list the first ${paths.paths.length})`,
          {
            kind: 'image',
          },
        ),
      );
    return findings;
  };
}

function metricsCheck(
  info: Omit<LintCheckInfo, 'requires' | 'group'>,
  list: (context: LintContext) => PathList | undefined,
  describe: (path: string) => string,
): LintCheck {
  const check: LintCheckInfo = { ...info, group: 'filesystem', requires: ['metrics'] };
  return { ...check, run: fromPathList(check, list, describe) };
}

export const FILESYSTEM_CHECKS: readonly LintCheck[] = [
  metricsCheck(
    {
      id: 'shell-present',
      severity: 'warning',
      title: 'A shell is on the PATH',
      fix: 'Leave shells out of runtime images (`contents.exclude: [bash, dash]`); keep them to a `dev` variant.',
    },
    (c) => c.metrics?.shells,
    (path) => `shell ${path} is on the default PATH`,
  ),
  metricsCheck(
    {
      id: 'package-manager-present',
      severity: 'warning',
      title: 'A package manager is on the PATH',
      fix: 'Install packages at build time only; leave apt, dpkg, pip, npm and the like out of the runtime image.',
    },
    (c) => c.metrics?.packageManagers,
    (path) => `package manager ${path} is on the default PATH`,
  ),
  metricsCheck(
    {
      id: 'setuid-file',
      severity: 'error',
      title: 'A file is setuid',
      fix: 'Remove the setuid bit (rampart builds drop it; `chmod u-s` in other builds) or the file.',
    },
    (c) => c.metrics?.setuid,
    (path) => `${path} is setuid`,
  ),
  metricsCheck(
    {
      id: 'setgid-file',
      severity: 'warning',
      title: 'A file is setgid',
      fix: 'Remove the setgid bit (`chmod g-s`) or the file.',
    },
    (c) => c.metrics?.setgid,
    (path) => `${path} is setgid`,
  ),
  metricsCheck(
    {
      id: 'world-writable',
      severity: 'warning',
      title: 'A path is world-writable',
      fix: 'Drop the other-write bit (`chmod o-w`); a shared scratch directory needs the sticky bit (1777) like /tmp.',
    },
    (c) => c.metrics?.worldWritable,
    (path) => `${path} is world-writable (and not a sticky directory)`,
  ),
];
