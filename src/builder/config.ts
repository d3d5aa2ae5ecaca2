import type { Digest } from '../oci/digest.js';
import type { History, ImageConfig, Platform } from '../oci/types.js';
import { compareText } from '../util/compare-text.js';
import { type Environment, sourceDateEpoch } from '../util/source-date-epoch.js';
import { CA_BUNDLE_PATH } from './ca-bundle.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export type ConfigInput = {
  platform: Platform;
  /** RFC 3339, identical for every platform of one build. */
  created: string;
  user: string;
  workingDir: string;
  entrypoint?: string[];
  cmd?: string[];
  environment: Record<string, string>;
  labels: Record<string, string>;
  layers: Array<{ diffID: Digest; comment: string }>;
  hasCaBundle: boolean;
};

/** The OCI image config: distroless defaults (PATH, SSL_CERT_FILE), then the spec's environment. */
export function imageConfig(input: ConfigInput): ImageConfig {
  const env = new Map<string, string>([['PATH', DEFAULT_PATH]]);
  if (input.hasCaBundle) env.set('SSL_CERT_FILE', `/${CA_BUNDLE_PATH}`);
  for (const [k, v] of Object.entries(input.environment)) env.set(k, v);
  const history: History[] = input.layers.map((l) => ({
    created: input.created,
    created_by: `rampart build: ${l.comment}`,
    comment: l.comment,
  }));
  const config: ImageConfig = {
    created: input.created,
    architecture: input.platform.architecture,
    os: input.platform.os,
    ...(input.platform.variant ? { variant: input.platform.variant } : {}),
    config: {
      User: input.user,
      Env: [...env].map(([k, v]) => `${k}=${v}`),
      ...(input.entrypoint ? { Entrypoint: input.entrypoint } : {}),
      ...(input.cmd ? { Cmd: input.cmd } : {}),
      WorkingDir: input.workingDir,
      Labels: sortedRecord(input.labels),
    },
    rootfs: { type: 'layers', diff_ids: input.layers.map((l) => l.diffID) },
    history,
  };
  return config;
}

/**
 * The build time: SOURCE_DATE_EPOCH when set in `env`, otherwise the newest InRelease `Date` of
 * the lock, so two builds from one lock agree without the user doing anything.
 */
export function buildTimestamp(env: Environment, releaseDates: string[]): Date {
  const epoch = sourceDateEpoch(env);
  if (epoch !== undefined) return new Date(epoch * 1000);
  const times = releaseDates.map((d) => Date.parse(d)).filter((t) => Number.isFinite(t));
  return new Date(times.length ? Math.max(...times) : 0);
}

/** RFC 3339 without milliseconds, as registries and scanners display it. */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The `org.opencontainers.image.*` annotations/labels a build sets; the spec's own win. */
export function standardAnnotations(input: {
  name: string;
  description?: string;
  version?: string;
  created: string;
  licenses?: string;
  extra: Record<string, string>;
}): Record<string, string> {
  const base: Record<string, string> = {
    'org.opencontainers.image.created': input.created,
    'org.opencontainers.image.title': input.name,
  };
  if (input.description) base['org.opencontainers.image.description'] = input.description;
  if (input.version) base['org.opencontainers.image.version'] = input.version;
  if (input.licenses) base['org.opencontainers.image.licenses'] = input.licenses;
  return sortedRecord({ ...base, ...input.extra });
}

function sortedRecord(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => compareText(a, b)));
}
