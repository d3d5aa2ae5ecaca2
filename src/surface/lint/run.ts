import { isRampartError, RampartError } from '../../errors.js';
import { flattenImage } from '../../oci/fs-view.js';
import type { Image } from '../../oci/image.js';
import { generateSbom } from '../../sbom/generate.js';
import type { SbomDocument } from '../../sbom/model.js';
import type { SurfaceMetrics } from '../types.js';
import type { LintConfig } from './config.js';
import { LINT_CHECKS } from './registry.js';
import type {
  AttachmentsSeen,
  LintContext,
  LintFinding,
  LintRequirement,
  LintResult,
  LintSeverity,
  NewerVersionLookup,
} from './types.js';
import { LINT_SEVERITIES } from './types.js';

export interface LintOptions {
  config?: LintConfig;
  /** The surface metrics of the image (src/surface/metrics.ts `measureImage`); without it the file-fact checks are skipped. */
  measure?: (image: Image, reference: string, signal?: AbortSignal) => Promise<SurfaceMetrics>;
  /** Attachments beside the image; undefined when the transport holds none (docker-archive:, dir:). */
  attachments?: () => Promise<AttachmentsSeen | undefined>;
  /** Every tag naming the image where it is stored; undefined when they cannot be listed. */
  tags?: () => Promise<string[] | undefined>;
  /**
   * The configured archive (see archive.ts `loadArchiveLookup`); absent when none is configured.
   * A failure to reach it skips `outdated-package` with the error as the reason (other errors throw).
   */
  archive?: (sbom: SbomDocument) => Promise<NewerVersionLookup>;
  /** The clock (end-of-life dates). */
  now?: () => Date;
  signal?: AbortSignal;
  /** Bounds of the file secrets scan; defaults 256 KiB per file, 64 MiB in all. */
  limits?: Partial<LintContext['limits']>;
}

export const DEFAULT_SECRET_LIMITS = { fileBytes: 256 * 1024, totalBytes: 64 * 1024 * 1024 } as const;

const REQUIREMENT_REASONS: Record<LintRequirement, string> = {
  metrics: 'no surface metrics were measured',
  attachments: 'attachments cannot be seen for this transport (docker-archive:, dir:)',
  tags: 'the tags naming the image cannot be seen for this transport',
  archive: 'no archive is configured (rampart lint --archive)',
  files: 'the image files cannot be read',
};

/** Lints one image with every check (or those the configuration leaves on). */
export async function lintImage(
  reference: string,
  image: Image,
  options: LintOptions = {},
): Promise<LintResult> {
  const { signal } = options;
  const disabled = new Map((options.config?.disable ?? []).map((entry) => [entry.check, entry.reason]));
  const active = LINT_CHECKS.filter((check) => !disabled.has(check.id));
  const needs = (requirement: LintRequirement) =>
    active.some((check) => check.requires.includes(requirement));
  const sbom = await generateSbom({ kind: 'image-object', ref: reference, image }, signal ? { signal } : {});
  const tree = await flattenImage(image, { onSkippedEntry: () => undefined });
  const context: LintContext = {
    reference,
    image,
    tree,
    sbom,
    now: options.now?.() ?? new Date(),
    limits: { ...DEFAULT_SECRET_LIMITS, ...options.limits },
    stats: { filesScanned: 0, bytesScanned: 0, filesTruncated: 0, budgetExhausted: false },
    ...(signal ? { signal } : {}),
  };
  if (options.measure && needs('metrics')) context.metrics = await options.measure(image, reference, signal);
  if (options.attachments && needs('attachments')) {
    const seen = await options.attachments();
    if (seen) context.attachments = seen;
  }
  if (options.tags && needs('tags')) {
    const tags = await options.tags();
    if (tags) context.tags = tags;
  }
  let archiveProblem: string | undefined;
  if (options.archive && needs('archive')) {
    try {
      context.newerVersion = await options.archive(sbom);
    } catch (error) {
      if (!isRampartError(error) || error.code === 'CANCELLED' || error.code === 'USAGE') throw error;
      archiveProblem = `the archive could not be read: ${error.code}: ${error.message}`;
    }
  }
  const available: Record<LintRequirement, boolean> = {
    metrics: context.metrics !== undefined,
    attachments: context.attachments !== undefined,
    tags: context.tags !== undefined,
    archive: context.newerVersion !== undefined,
    files: true,
  };
  const findings: LintFinding[] = [];
  const skipped: LintResult['skipped'] = [];
  for (const check of active) {
    if (signal?.aborted)
      throw new RampartError('CANCELLED', 'lint was cancelled', {
        cause: signal.reason,
        details: { operation: 'lint' },
      });
    const missing = check.requires.find((requirement) => !available[requirement]);
    if (missing) {
      const reason = missing === 'archive' && archiveProblem ? archiveProblem : REQUIREMENT_REASONS[missing];
      skipped.push({ check: check.id, reason });
      continue;
    }
    findings.push(...(await check.run(context)));
  }
  const summary = Object.fromEntries(LINT_SEVERITIES.map((severity) => [severity, 0])) as Record<
    LintSeverity,
    number
  >;
  for (const finding of findings) summary[finding.severity]++;
  const { config } = image;
  return {
    schemaVersion: 1,
    subject: {
      reference,
      digest: image.digest,
      platform: `${config.os}/${config.architecture}${config.variant ? `/${config.variant}` : ''}`,
    },
    findings,
    skipped,
    disabled: [...disabled].map(([check, reason]) => ({ check, reason })),
    summary,
    secretsScan: context.stats,
  };
}

/** Whether a result fails `--fail-on SEVERITY`: any finding at that severity or above. */
export function failsAt(result: LintResult, threshold: LintSeverity): boolean {
  const rank = LINT_SEVERITIES.indexOf(threshold);
  return result.findings.some((finding) => LINT_SEVERITIES.indexOf(finding.severity) >= rank);
}
