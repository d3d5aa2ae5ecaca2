import { sarifLog } from '../../util/sarif-log.js';
import { VERSION } from '../../version.js';
import { LINT_CHECKS } from './registry.js';
import type { LintFinding, LintLocation, LintResult, LintSeverity } from './types.js';

/**
 * SARIF 2.1.0 (OASIS) for `rampart lint -o sarif`: one run, every check as a rule (so a viewer
 * shows the fix of a rule even for results it did not get), one result per finding. Files are
 * located relative to the image root (`uriBaseId` IMAGE_ROOT); config entries, packages and tags
 * are logical locations. Validated against the official schema in the tests.
 */

const LEVELS: Record<LintSeverity, 'note' | 'warning' | 'error'> = {
  info: 'note',
  warning: 'warning',
  error: 'error',
};

function encodePath(path: string): string {
  return path
    .replace(/^\/+/, '')
    .split('/')
    .map((part) => encodeURIComponent(part))
    .join('/');
}

function locationOf(location: LintLocation) {
  switch (location.kind) {
    case 'file':
      return {
        physicalLocation: { artifactLocation: { uri: encodePath(location.path), uriBaseId: 'IMAGE_ROOT' } },
      };
    case 'env':
      return {
        logicalLocations: [
          { name: location.name, fullyQualifiedName: `config.Env.${location.name}`, kind: 'variable' },
        ],
      };
    case 'label':
      return {
        logicalLocations: [
          { name: location.name, fullyQualifiedName: `config.Labels.${location.name}`, kind: 'property' },
        ],
      };
    case 'config':
      return {
        logicalLocations: [
          { name: location.field, fullyQualifiedName: `config.${location.field}`, kind: 'property' },
        ],
      };
    case 'package':
      return {
        logicalLocations: [
          { name: location.name, fullyQualifiedName: `${location.name}@${location.version}`, kind: 'module' },
        ],
      };
    case 'tag':
      return { logicalLocations: [{ name: location.name, kind: 'resource' }] };
    case 'image':
      return { logicalLocations: [{ name: 'image', kind: 'resource' }] };
  }
}

function resultOf(finding: LintFinding, ruleIndex: number) {
  return {
    ruleId: finding.check,
    ruleIndex,
    level: LEVELS[finding.severity],
    message: { text: finding.message },
    locations: [locationOf(finding.location)],
  };
}

export function encodeSarif(result: LintResult): Record<string, unknown> {
  const index = new Map(LINT_CHECKS.map((check, i) => [check.id, i]));
  const rules = LINT_CHECKS.map((check) => ({
    id: check.id,
    name: check.id.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase()),
    shortDescription: { text: check.title },
    help: { text: check.fix },
    defaultConfiguration: { level: LEVELS[check.severity] },
    properties: { group: check.group },
  }));
  return sarifLog(VERSION, rules, {
    originalUriBaseIds: {
      IMAGE_ROOT: {
        description: {
          text: `the root filesystem of ${result.subject.reference} (${result.subject.digest})`,
        },
      },
    },
    results: result.findings.map((finding) => resultOf(finding, index.get(finding.check) ?? -1)),
    properties: {
      subject: result.subject,
      skipped: result.skipped,
      disabled: result.disabled,
    },
  });
}
