import { createHash } from 'node:crypto';
import type { SbomDocument } from '../../sbom/model.js';
import type { ScanMatch, ScanResult, SuppressedMatch } from '../types.js';

/**
 * OpenVEX 0.2.0: one statement per finding. Open findings are `affected` (with an action
 * statement naming the fix when there is one); VEX-suppressed findings keep the status and
 * justification that suppressed them. With an image digest the product is the image
 * (`pkg:oci/NAME@sha256:…`) and the package a subcomponent, as `rampart attest` and users' VEX name it.
 */
export function encodeScanOpenVex(
  result: ScanResult,
  sbom: SbomDocument | undefined,
  options: { now: Date; author?: string },
): string {
  const timestamp = options.now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const digest = sbom?.source.digest;
  const imageName =
    (sbom?.source.ref ?? 'image')
      .replace(/^[a-z-]+:/, '')
      .replace(/[@:].*$/, '')
      .split('/')
      .pop() || 'image';
  const product = (m: ScanMatch) =>
    digest
      ? {
          '@id': `pkg:oci/${encodeURIComponent(imageName)}@${encodeURIComponent(digest)}`,
          subcomponents: [{ '@id': m.package.purl }],
        }
      : { '@id': m.package.purl };
  const statements = scanVexStatements(result, product);
  const body = JSON.stringify(statements);
  const doc = {
    '@context': 'https://openvex.dev/ns/v0.2.0',
    '@id': `https://openvex.dev/docs/public/rampart-${createHash('sha256').update(body).digest('hex').slice(0, 32)}`,
    author: options.author ?? 'rampart',
    timestamp,
    version: 1,
    tooling: 'rampart scan',
    statements,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** The product a statement is about: the image (with the package as subcomponent) or the package. */
export type VexProduct = { '@id': string; subcomponents?: Array<{ '@id': string }> };

/**
 * The OpenVEX statements of a scan, one per finding: open findings are `affected` (with an action
 * statement naming the fix when there is one); VEX-suppressed findings keep the status and
 * justification that suppressed them. `rampart scan -o openvex` and `build --sign-key` share it.
 */
export function scanVexStatements(
  result: ScanResult,
  product: (m: ScanMatch) => VexProduct,
): Array<{
  vulnerability: { name: string; aliases?: string[] };
  products: VexProduct[];
  status: 'not_affected' | 'affected' | 'fixed' | 'under_investigation';
  [field: string]: unknown;
}> {
  const vuln = (m: ScanMatch) => ({
    name: m.vulnerability.id,
    ...(m.vulnerability.aliases.length ? { aliases: m.vulnerability.aliases } : {}),
  });
  return [
    ...result.matches.map((m) => ({
      vulnerability: vuln(m),
      products: [product(m)],
      status: 'affected' as const,
      action_statement: m.vulnerability.fixedVersion
        ? `Upgrade ${m.package.name} to ${m.vulnerability.fixedVersion} or later`
        : 'No fix is available yet; monitor the advisory',
    })),
    ...result.suppressed.map((m: SuppressedMatch) => ({
      vulnerability: vuln(m),
      products: [product(m)],
      status: m.vex.status as 'not_affected' | 'affected' | 'fixed' | 'under_investigation',
      ...(m.vex.justification ? { justification: m.vex.justification } : {}),
      ...(m.vex.status === 'not_affected' && !m.vex.justification
        ? { impact_statement: `suppressed by a VEX statement${m.vex.author ? ` from ${m.vex.author}` : ''}` }
        : {}),
    })),
  ];
}
