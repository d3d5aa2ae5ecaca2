import { createRequire } from 'node:module';
import type { AffectedRecord, Severity, VulnerabilityRecord } from './types.js';

// A CommonJS (webpack) bundle, loaded on first use (synchronously): a scan whose findings are all
// rated by the tracker's urgency scores no vector and never needs it.
const require = createRequire(import.meta.url);
let calculator: typeof import('ae-cvss-calculator') | undefined;
const cvssCalculator = () =>
  (calculator ??= require('ae-cvss-calculator') as typeof import('ae-cvss-calculator'));

export const SEVERITY_ORDER: readonly Severity[] = [
  'unknown',
  'negligible',
  'low',
  'medium',
  'high',
  'critical',
];

export function severityRank(s: Severity): number {
  return SEVERITY_ORDER.indexOf(s);
}

export interface ScoredCvss {
  version: string;
  vector: string;
  score: number;
  source?: string;
}

/**
 * CVSS base scores through ae-cvss-calculator (maintained, covers 3.0, 3.1 and 4.0 with FIRST's
 * test vectors). A vector the library refuses is left out of the finding, never scored as 0.
 */
export function scoreCvss(entry: {
  version: string;
  vector: string;
  source?: string;
}): ScoredCvss | undefined {
  const vector = entry.vector.trim();
  const { Cvss3P0, Cvss3P1, Cvss4P0 } = cvssCalculator();
  try {
    let score: number | undefined;
    if (vector.startsWith('CVSS:4.0/')) score = new Cvss4P0(vector).calculateScores().base;
    else if (vector.startsWith('CVSS:3.1/')) score = new Cvss3P1(vector).calculateScores().base;
    else if (vector.startsWith('CVSS:3.0/')) score = new Cvss3P0(vector).calculateScores().base;
    else return undefined;
    if (typeof score !== 'number' || !Number.isFinite(score)) return undefined;
    const version = vector.slice(5, 8);
    return { version, vector, score, ...(entry.source ? { source: entry.source } : {}) };
  } catch {
    return undefined;
  }
}

/** CVSS qualitative rating scale (the same bands for 3.x and 4.0). */
export function severityFromScore(score: number): Severity {
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'medium';
  if (score > 0) return 'low';
  return 'negligible';
}

/** Debian urgency (with the tracker's `**` "guessed from NVD" mark stripped). */
export function severityFromUrgency(urgency: string | undefined): Severity | undefined {
  switch (urgency?.replace(/\*+$/, '').trim()) {
    case 'unimportant':
      return 'negligible';
    case 'low':
      return 'low';
    case 'medium':
      return 'medium';
    case 'high':
      return 'high';
    default:
      return undefined; // "not yet assigned", "end-of-life", absent
  }
}

/** OSV `database_specific.severity` labels: GHSA's LOW/MODERATE/HIGH/CRITICAL and the like. */
export function severityFromLabel(label: string): Severity | undefined {
  switch (label.trim().toLowerCase()) {
    case 'negligible':
    case 'unimportant':
      return 'negligible';
    case 'low':
      return 'low';
    case 'moderate':
    case 'medium':
      return 'medium';
    case 'high':
    case 'important':
      return 'high';
    case 'critical':
      return 'critical';
    default:
      return undefined;
  }
}

export interface SeverityVerdict {
  severity: Severity;
  severitySource: string;
  cvss: ScoredCvss[];
}

/**
 * The one precedence rule (README "Severity"):
 * 1. a Debian package with a Debian urgency (low/medium/high/unimportant): the distro's rating,
 *    source `debian-tracker` — the distro knows how the package is built and used;
 * 2. else the newest CVSS version present (4.0 over 3.1 over 3.0), the highest base score of that
 *    version, mapped by the CVSS rating scale: source `cvss-<version>` (`:<who>` when the feed
 *    names who scored it);
 * 3. else the feed's own label (OSV `database_specific.severity`): source `<feed>`;
 * 4. else `unknown`, source `none`.
 */
export function chooseSeverity(
  ecosystem: string,
  records: AffectedRecord[],
  vulns: VulnerabilityRecord[],
): SeverityVerdict {
  const seen = new Set<string>();
  const cvss: ScoredCvss[] = [];
  for (const v of vulns)
    for (const c of v.cvss) {
      if (seen.has(c.vector)) continue;
      seen.add(c.vector);
      const scored = scoreCvss(c);
      if (scored) cvss.push(scored);
    }
  cvss.sort((a, b) => (a.version === b.version ? b.score - a.score : a.version < b.version ? 1 : -1));
  if (ecosystem === 'deb') {
    for (const r of records) {
      const s = severityFromUrgency(r.debian?.urgency);
      if (s) return { severity: s, severitySource: 'debian-tracker', cvss };
    }
    for (const v of vulns)
      for (const l of v.severityLabels) {
        if (l.source !== 'debian-tracker') continue;
        const s = severityFromUrgency(l.label);
        if (s) return { severity: s, severitySource: 'debian-tracker', cvss };
      }
  }
  const best = cvss[0];
  if (best) {
    return {
      severity: severityFromScore(best.score),
      severitySource: `cvss-${best.version}${best.source ? `:${best.source}` : ''}`,
      cvss,
    };
  }
  for (const v of vulns)
    for (const l of v.severityLabels) {
      if (l.source === 'debian-tracker') continue;
      const s = severityFromLabel(l.label);
      if (s) return { severity: s, severitySource: l.source, cvss };
    }
  return { severity: 'unknown', severitySource: 'none', cvss };
}
