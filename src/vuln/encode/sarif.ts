import type { SbomDocument } from '../../sbom/model.js';
import { compareText } from '../../util/compare-text.js';
import { sarifLog } from '../../util/sarif-log.js';
import type { ScanMatch, ScanResult, Severity } from '../types.js';

const LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = {
  critical: 'error',
  high: 'error',
  medium: 'warning',
  low: 'note',
  negligible: 'note',
  unknown: 'warning',
};

/** GitHub code scanning reads `security-severity` (0–10) to rank alerts; without a CVSS score, the band's midpoint. */
const BAND_SCORE: Record<Severity, string> = {
  critical: '9.5',
  high: '8.0',
  medium: '5.5',
  low: '2.0',
  negligible: '0.1',
  unknown: '0.0',
};

function securitySeverity(m: ScanMatch): string {
  const scores = (m.vulnerability.cvss ?? []).map((c) => c.score);
  return m.vulnerability.severitySource.startsWith('cvss') && scores.length
    ? Math.max(...scores).toFixed(1)
    : BAND_SCORE[m.vulnerability.severity];
}

/**
 * SARIF 2.1.0 (OASIS), as GitHub code scanning reads it: one rule per vulnerability id, one result
 * per (vulnerability, package), located at the file that evidences the package in the image
 * (the dpkg status file, package.json, the binary) as a path relative to the image root.
 */
export function encodeScanSarif(
  result: ScanResult,
  sbom: SbomDocument | undefined,
  tool: { version: string },
): string {
  const locationOf = new Map<string, string>();
  for (const p of sbom?.packages ?? []) if (p.locations[0]) locationOf.set(p.purl, p.locations[0]);
  const firstMatch = new Map<string, ScanMatch>();
  for (const m of result.matches)
    if (!firstMatch.has(m.vulnerability.id)) firstMatch.set(m.vulnerability.id, m);
  const ruleIds = [...firstMatch.keys()].sort(compareText);
  const artifact = sbom?.source.ref ?? 'image';
  const rules = ruleIds.map((id) => {
    const m = firstMatch.get(id)!;
    return {
      id,
      name: id.replace(/[^A-Za-z0-9]/g, ''),
      shortDescription: { text: `${id} (${m.vulnerability.severity})` },
      fullDescription: {
        text: `${id}${m.vulnerability.aliases.length ? ` (${m.vulnerability.aliases.join(', ')})` : ''}`,
      },
      ...(m.vulnerability.urls[0] ? { helpUri: m.vulnerability.urls[0] } : {}),
      help: {
        text: `${id}: severity ${m.vulnerability.severity} (${m.vulnerability.severitySource}).`,
        markdown: `**${id}** — severity ${m.vulnerability.severity} (${m.vulnerability.severitySource})${
          m.vulnerability.urls.length ? `\n\n${m.vulnerability.urls.map((u) => `- <${u}>`).join('\n')}` : ''
        }`,
      },
      defaultConfiguration: { level: LEVEL[m.vulnerability.severity] },
      properties: {
        'security-severity': securitySeverity(m),
        tags: ['security', 'vulnerability', m.vulnerability.severity],
      },
    };
  });
  const doc = sarifLog(tool.version, rules, {
    results: result.matches.map((m) => {
      const where = (locationOf.get(m.package.purl) ?? artifact).replace(/^\/+/, '');
      const fix = m.vulnerability.fixedVersion ? `; fixed in ${m.vulnerability.fixedVersion}` : '';
      return {
        ruleId: m.vulnerability.id,
        ruleIndex: ruleIds.indexOf(m.vulnerability.id),
        level: LEVEL[m.vulnerability.severity],
        message: {
          text: `${m.package.name} ${m.package.version} (${m.package.type}) is affected by ${m.vulnerability.id}: ${m.vulnerability.status}${fix}`,
        },
        locations: [
          {
            physicalLocation: { artifactLocation: { uri: where }, region: { startLine: 1 } },
            logicalLocations: [{ name: m.package.purl, kind: 'package' }],
          },
        ],
        partialFingerprints: { packageVulnerability: `${m.package.purl}#${m.vulnerability.id}` },
        properties: { status: m.vulnerability.status, purl: m.package.purl, image: artifact },
      };
    }),
  });
  return `${JSON.stringify(doc, null, 2)}\n`;
}
