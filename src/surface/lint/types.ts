import type { FsTree } from '../../oci/fs-tree.js';
import type { Image } from '../../oci/image.js';
import type { SbomDocument } from '../../sbom/model.js';
import type { SurfaceMetrics } from '../types.js';

/**
 * `rampart lint` (issue 15 item 4): the shapes of checks, findings and results. Plain serialisable
 * data except `LintCheck.run`; `LintCheckInfo` is what the service lists.
 */

/** Ordered: `--fail-on warning` fails on warning and error. SARIF levels: note, warning, error. */
export const LINT_SEVERITIES = ['info', 'warning', 'error'] as const;
export type LintSeverity = (typeof LINT_SEVERITIES)[number];

/** What a check needs beyond the image itself; without it the check is skipped, and says why. */
export type LintRequirement = 'metrics' | 'attachments' | 'tags' | 'archive' | 'files';

export interface LintCheckInfo {
  /** Stable: users disable checks and match SARIF results by it. */
  id: string;
  /** The file in src/surface/lint that holds it: user, filesystem, secrets, attachments, packages, metadata. */
  group: string;
  severity: LintSeverity;
  title: string;
  /** How to fix it, in one or two sentences. */
  fix: string;
  requires: LintRequirement[];
}

export type LintLocation =
  | { kind: 'file'; path: string }
  | { kind: 'env'; name: string }
  | { kind: 'label'; name: string }
  | { kind: 'config'; field: string }
  | { kind: 'package'; name: string; version: string }
  | { kind: 'tag'; name: string }
  | { kind: 'image' };

export interface LintFinding {
  check: string;
  severity: LintSeverity;
  message: string;
  fix: string;
  location: LintLocation;
}

/** Attachments seen beside the image (presence only: `rampart verify` checks them). */
export interface AttachmentsSeen {
  signature: boolean;
  sbom: boolean;
  provenance: boolean;
}

/** The newer version of a package in the configured archive, or undefined when it has none. */
export type NewerVersionLookup = (pkg: {
  name: string;
  version: string;
  architecture?: string;
}) => string | undefined;

export interface LintContext {
  reference: string;
  image: Image;
  tree: FsTree;
  sbom: SbomDocument;
  metrics?: SurfaceMetrics;
  attachments?: AttachmentsSeen;
  /** Every tag that names this image where it is stored; undefined when they cannot be seen. */
  tags?: string[];
  newerVersion?: NewerVersionLookup;
  now: Date;
  signal?: AbortSignal;
  /** Bounds of the file secrets scan. */
  limits: { fileBytes: number; totalBytes: number };
  /** Counters a check may fill (the secrets scan reports what it read). */
  stats: { filesScanned: number; bytesScanned: number; filesTruncated: number; budgetExhausted: boolean };
}

export interface LintCheck extends LintCheckInfo {
  run(context: LintContext): LintFinding[] | Promise<LintFinding[]>;
}

/** Helper for checks: a finding with the check's own id, severity and fix. */
export function findingOf(check: LintCheckInfo, message: string, location: LintLocation): LintFinding {
  return { check: check.id, severity: check.severity, message, fix: check.fix, location };
}

/** `rampart lint -o json` (a contract, README "rampart lint"). */
export interface LintResult {
  schemaVersion: 1;
  subject: { reference: string; digest: string; platform: string };
  findings: LintFinding[];
  /** Checks that did not run, and why (a requirement was not available). */
  skipped: Array<{ check: string; reason: string }>;
  /** Checks turned off by the lint configuration, with the reason it gives. */
  disabled: Array<{ check: string; reason: string }>;
  summary: Record<LintSeverity, number>;
  /** What the file secrets scan read (it is bounded). */
  secretsScan: {
    filesScanned: number;
    bytesScanned: number;
    filesTruncated: number;
    budgetExhausted: boolean;
  };
}
