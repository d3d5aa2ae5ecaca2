import { isFloatingTag } from './tags.js';
import type { LintCheck } from './types.js';
import { findingOf } from './types.js';

/** The OCI pre-defined annotations a published image should carry (image-spec annotations.md). */
export const RECOMMENDED_OCI_LABELS = [
  'org.opencontainers.image.created',
  'org.opencontainers.image.source',
  'org.opencontainers.image.revision',
  'org.opencontainers.image.version',
  'org.opencontainers.image.title',
  'org.opencontainers.image.description',
  'org.opencontainers.image.licenses',
] as const;

const missingOciLabels: LintCheck = {
  id: 'missing-oci-labels',
  group: 'metadata',
  severity: 'info',
  title: 'Recommended org.opencontainers.image.* labels are missing',
  fix: 'Set them in the spec: `version:`, `description:`, and `annotations:` for source and revision (rampart sets created and title).',
  requires: [],
  run(context) {
    const labels = context.image.config.config?.Labels ?? {};
    const missing = RECOMMENDED_OCI_LABELS.filter((label) => !labels[label]);
    return missing.length === 0
      ? []
      : [findingOf(this, `missing labels: ${missing.join(', ')}`, { kind: 'config', field: 'Labels' })];
  },
};

const latestOnlyTag: LintCheck = {
  id: 'latest-only-tag',
  group: 'metadata',
  severity: 'info',
  title: 'The image is tagged only `latest`',
  fix: 'Tag releases with a version (`rampart copy IMAGE docker://REG/REPO:1.2.3`) so deployments can pin and roll back.',
  requires: ['tags'],
  run(context) {
    const tags = context.tags;
    if (!tags || tags.length === 0 || !tags.every(isFloatingTag)) return [];
    return [
      findingOf(this, `the only tags are ${tags.join(', ')}`, { kind: 'tag', name: tags[0] as string }),
    ];
  },
};

export const METADATA_CHECKS: readonly LintCheck[] = [missingOciLabels, latestOnlyTag];
