import { randomUUID } from 'node:crypto';
import type { SbomDocument } from '../../sbom/model.js';
import type { ScanMatch, ScanResult, Severity, SuppressedMatch } from '../types.js';

const CDX_SEVERITY: Record<Severity, string> = {
  critical: 'critical',
  high: 'high',
  medium: 'medium',
  low: 'low',
  negligible: 'info',
  unknown: 'unknown',
};

const CVSS_METHOD: Record<string, string> = { '3.0': 'CVSSv3', '3.1': 'CVSSv31', '4.0': 'CVSSv4' };

/** OpenVEX justifications → CycloneDX `analysis.justification`. */
const JUSTIFICATION: Record<string, string> = {
  component_not_present: 'code_not_present',
  vulnerable_code_not_present: 'code_not_present',
  vulnerable_code_not_in_execute_path: 'code_not_reachable',
  vulnerable_code_cannot_be_controlled_by_adversary: 'requires_environment',
  inline_mitigations_already_exist: 'protected_by_mitigating_control',
};

/**
 * CycloneDX 1.6 JSON with `vulnerabilities` (a vulnerability disclosure report): the scanned
 * packages as components, one vulnerability per id listing every affected component, VEX-suppressed
 * findings with their `analysis`.
 */
export function encodeScanCycloneDx(
  result: ScanResult,
  sbom: SbomDocument | undefined,
  options: { version: string; now: Date; serialNumber?: string },
): string {
  const components = new Map<
    string,
    { type: string; 'bom-ref': string; name: string; version: string; purl: string }
  >();
  const refOf = (m: ScanMatch) =>
    m.package.purl || `${m.package.type}:${m.package.name}@${m.package.version}`;
  for (const p of sbom?.packages ?? [])
    if (p.purl && !components.has(p.purl))
      components.set(p.purl, {
        type: 'library',
        'bom-ref': p.purl,
        name: p.name,
        version: p.version,
        purl: p.purl,
      });
  for (const m of [...result.matches, ...result.suppressed]) {
    const ref = refOf(m);
    if (!components.has(ref))
      components.set(ref, {
        type: 'library',
        'bom-ref': ref,
        name: m.package.name,
        version: m.package.version,
        purl: m.package.purl,
      });
  }
  const byId = new Map<string, { first: ScanMatch; matches: ScanMatch[]; suppressed: SuppressedMatch[] }>();
  for (const m of result.matches) {
    const v = byId.get(m.vulnerability.id) ?? { first: m, matches: [], suppressed: [] };
    v.matches.push(m);
    byId.set(m.vulnerability.id, v);
  }
  for (const m of result.suppressed) {
    // One CycloneDX vulnerability carries one analysis: suppressed findings get their own entry.
    const key = `${m.vulnerability.id}\0${refOf(m)}`;
    byId.set(key, { first: m, matches: [], suppressed: [m] });
  }
  const vulnerabilities = [...byId.values()].map(({ first, matches, suppressed }) => {
    const v = first.vulnerability;
    const ratings = [
      ...(v.cvss ?? []).map((c) => ({
        score: c.score,
        severity: CDX_SEVERITY[severityOfScore(c.score)],
        method: CVSS_METHOD[c.version] ?? 'other',
        vector: c.vector,
      })),
      ...(v.severitySource.startsWith('cvss')
        ? []
        : [{ severity: CDX_SEVERITY[v.severity], method: 'other', source: { name: v.severitySource } }]),
    ];
    const affected = [...matches, ...suppressed];
    const vex = suppressed[0]?.vex;
    return {
      'bom-ref': `vuln:${v.id}${vex ? `:${refOf(first)}` : ''}`,
      id: v.id,
      ...(v.urls[0] ? { source: { url: v.urls[0] } } : {}),
      ...(v.aliases.length
        ? { references: v.aliases.map((id) => ({ id, source: { name: sourceOfId(id) } })) }
        : {}),
      ...(ratings.length ? { ratings } : {}),
      ...(v.fixedVersion ? { recommendation: `Upgrade to ${v.fixedVersion} or later` } : {}),
      ...(vex
        ? {
            analysis: {
              state: vex.status === 'fixed' ? 'resolved' : 'not_affected',
              ...(vex.justification && JUSTIFICATION[vex.justification]
                ? { justification: JUSTIFICATION[vex.justification] }
                : {}),
              ...(vex.author || vex.justification
                ? {
                    detail: [vex.justification, vex.author ? `by ${vex.author}` : '']
                      .filter(Boolean)
                      .join(' '),
                  }
                : {}),
            },
          }
        : {}),
      affects: affected.map((m) => ({
        ref: refOf(m),
        versions: [{ version: m.package.version, status: vex ? 'unaffected' : 'affected' }],
      })),
      properties: [
        { name: 'rampart:status', value: v.status },
        { name: 'rampart:severitySource', value: v.severitySource },
      ],
    };
  });
  const doc = {
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: options.serialNumber ?? `urn:uuid:${randomUUID()}`,
    version: 1,
    metadata: {
      timestamp: options.now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      tools: { components: [{ type: 'application', name: 'rampart', version: options.version }] },
      ...(sbom
        ? {
            component: {
              type: sbom.source.kind === 'image' ? 'container' : 'file',
              'bom-ref': 'subject',
              name: sbom.source.ref,
              ...(sbom.source.digest ? { version: sbom.source.digest } : {}),
            },
          }
        : {}),
    },
    components: [...components.values()],
    vulnerabilities,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function severityOfScore(score: number): Severity {
  return score >= 9
    ? 'critical'
    : score >= 7
      ? 'high'
      : score >= 4
        ? 'medium'
        : score > 0
          ? 'low'
          : 'negligible';
}

function sourceOfId(id: string): string {
  const prefix = id.split('-')[0] ?? '';
  return (
    {
      CVE: 'NVD',
      GHSA: 'GitHub',
      PYSEC: 'PyPA',
      GO: 'Go',
      DSA: 'Debian',
      DLA: 'Debian',
      DEBIAN: 'Debian',
      RUSTSEC: 'RustSec',
    }[prefix] ?? prefix
  );
}
