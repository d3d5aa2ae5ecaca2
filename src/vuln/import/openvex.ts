/**
 * OpenVEX documents (https://github.com/openvex/spec, 0.2.0, and the 0.0.x shapes still in the
 * wild): each statement becomes a `VexStatementRecord` with its product and subcomponent
 * identifiers flattened (`@id`, `identifiers.purl`, `hashes.sha-256` as `sha256:<hex>`). A
 * statement without a vulnerability, products or a known status is counted and skipped.
 */
import type { VexStatementRecord } from '../types.js';

const STATUSES = new Set(['not_affected', 'affected', 'fixed', 'under_investigation']);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether a parsed JSON document is an OpenVEX document (for format detection). */
export function looksLikeOpenVex(doc: unknown): boolean {
  return (
    isObject(doc) &&
    typeof doc['@context'] === 'string' &&
    doc['@context'].startsWith('https://openvex.dev/ns')
  );
}

/** Product and subcomponent identifiers of one component, as strings. */
function componentIds(component: unknown): string[] {
  if (typeof component === 'string') return [component];
  if (!isObject(component)) throw new Error('a product is neither a string nor an object');
  const ids: string[] = [];
  if (typeof component['@id'] === 'string') ids.push(component['@id']);
  if (isObject(component.identifiers)) {
    for (const value of Object.values(component.identifiers)) if (typeof value === 'string') ids.push(value);
  }
  if (isObject(component.hashes)) {
    for (const [algorithm, value] of Object.entries(component.hashes)) {
      if (typeof value === 'string') ids.push(`${algorithm.replace('-', '')}:${value}`);
    }
  }
  return ids;
}

export interface OpenVexResult {
  statements: VexStatementRecord[];
  skipped: Array<{ record: string; reason: string }>;
}

/** The statements of one OpenVEX document; throws (a message) when the document itself is not OpenVEX. */
export function openVexStatements(doc: unknown, document: string): OpenVexResult {
  if (!looksLikeOpenVex(doc)) throw new Error('not an OpenVEX document (no openvex @context)');
  const root = doc as Record<string, unknown>;
  if (!Array.isArray(root.statements)) throw new Error('statements is not a list');
  const author = typeof root.author === 'string' ? root.author : undefined;
  const documentTimestamp = typeof root.timestamp === 'string' ? root.timestamp : undefined;
  const result: OpenVexResult = { statements: [], skipped: [] };
  for (const [index, statement] of root.statements.entries()) {
    const name = `statements[${index}]`;
    try {
      if (!isObject(statement)) throw new Error('not an object');
      const vulnerability = statement.vulnerability;
      let vulnerabilityId: string | undefined;
      let aliases: string[] = [];
      if (typeof vulnerability === 'string') vulnerabilityId = vulnerability;
      else if (isObject(vulnerability)) {
        vulnerabilityId =
          typeof vulnerability.name === 'string'
            ? vulnerability.name
            : typeof vulnerability['@id'] === 'string'
              ? vulnerability['@id']
              : undefined;
        if (Array.isArray(vulnerability.aliases))
          aliases = vulnerability.aliases.filter((a) => typeof a === 'string');
      }
      if (!vulnerabilityId) throw new Error('no vulnerability name');
      const status = statement.status;
      if (typeof status !== 'string' || !STATUSES.has(status))
        throw new Error(`unknown status ${String(status)}`);
      if (!Array.isArray(statement.products) || statement.products.length === 0)
        throw new Error('no products');
      const products: string[] = [];
      const subcomponents: string[] = [];
      for (const product of statement.products) {
        products.push(...componentIds(product));
        if (isObject(product) && Array.isArray(product.subcomponents)) {
          for (const sub of product.subcomponents) subcomponents.push(...componentIds(sub));
        }
      }
      if (Array.isArray(statement.subcomponents)) {
        for (const sub of statement.subcomponents) subcomponents.push(...componentIds(sub));
      }
      if (products.length === 0) throw new Error('no product identifiers');
      const record: VexStatementRecord = {
        vulnerabilityId,
        aliases,
        products,
        subcomponents,
        status: status as VexStatementRecord['status'],
        document,
      };
      if (typeof statement.justification === 'string') record.justification = statement.justification;
      if (typeof statement.impact_statement === 'string') record.impactStatement = statement.impact_statement;
      if (author !== undefined) record.author = author;
      const timestamp = typeof statement.timestamp === 'string' ? statement.timestamp : documentTimestamp;
      if (timestamp !== undefined) record.timestamp = timestamp;
      result.statements.push(record);
    } catch (error) {
      result.skipped.push({ record: name, reason: (error as Error).message });
    }
  }
  return result;
}
