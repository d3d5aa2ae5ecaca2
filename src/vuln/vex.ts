import type { PackageURL } from 'packageurl-js';
import { RampartError } from '../errors.js';
import { packageUrl } from '../sbom/identity/purl.js';
import type { VexStatementRecord } from './types.js';

const STATUSES = new Set(['not_affected', 'affected', 'fixed', 'under_investigation']);

/**
 * OpenVEX documents (0.2.0, and the 0.0.x shape where `vulnerability` and `products` were strings)
 * → statements. A statement without a vulnerability, a product or a known status is refused with
 * the document named: a VEX file that silently applies to nothing is the failure users report.
 */
export function parseOpenVex(json: unknown, document: string): VexStatementRecord[] {
  if (!isObject(json) || !Array.isArray(json.statements)) {
    throw new RampartError('FEED_INVALID', `${document}: not an OpenVEX document (no "statements" array)`, {
      details: { source: 'openvex', path: document, format: 'openvex' },
    });
  }
  const author = typeof json.author === 'string' ? json.author : undefined;
  const docTimestamp = typeof json.timestamp === 'string' ? json.timestamp : undefined;
  return json.statements.map((s, index): VexStatementRecord => {
    const bad = (reason: string) =>
      new RampartError('FEED_INVALID', `${document}: statement ${index}: ${reason}`, {
        details: { source: 'openvex', path: document, format: 'openvex' },
      });
    if (!isObject(s)) throw bad('not an object');
    const v = s.vulnerability;
    const vulnerabilityId =
      typeof v === 'string' ? v : isObject(v) ? (str(v.name) ?? str(v['@id'])) : undefined;
    if (!vulnerabilityId) throw bad('no vulnerability name');
    const aliases =
      isObject(v) && Array.isArray(v.aliases) ? v.aliases.filter((a) => typeof a === 'string') : [];
    const products: string[] = [];
    const subcomponents: string[] = [];
    for (const p of Array.isArray(s.products) ? s.products : []) {
      if (typeof p === 'string') products.push(p);
      else if (isObject(p)) {
        const id = str(p['@id']);
        if (id) products.push(id);
        if (isObject(p.identifiers))
          for (const x of Object.values(p.identifiers)) if (typeof x === 'string') products.push(x);
        if (isObject(p.hashes))
          for (const [alg, value] of Object.entries(p.hashes))
            if (typeof value === 'string') products.push(`${alg.replace(/-/g, '')}:${value}`);
        for (const sc of Array.isArray(p.subcomponents) ? p.subcomponents : []) {
          if (typeof sc === 'string') subcomponents.push(sc);
          else if (isObject(sc)) {
            const scId = str(sc['@id']);
            if (scId) subcomponents.push(scId);
            if (isObject(sc.identifiers))
              for (const x of Object.values(sc.identifiers)) if (typeof x === 'string') subcomponents.push(x);
          }
        }
      }
    }
    // 0.0.x: top-level subcomponents
    for (const sc of Array.isArray(s.subcomponents) ? s.subcomponents : [])
      if (typeof sc === 'string') subcomponents.push(sc);
    if (products.length === 0) throw bad('no products');
    const status = str(s.status);
    if (!status || !STATUSES.has(status)) throw bad(`unknown status ${JSON.stringify(status ?? null)}`);
    const justification = str(s.justification);
    const impactStatement = str(s.impact_statement);
    const timestamp = str(s.timestamp) ?? docTimestamp;
    const statementAuthor = str(s.supplier) ?? author;
    return {
      vulnerabilityId,
      aliases,
      products: [...new Set(products)],
      subcomponents: [...new Set(subcomponents)],
      status: status as VexStatementRecord['status'],
      ...(justification ? { justification } : {}),
      ...(impactStatement ? { impactStatement } : {}),
      ...(statementAuthor ? { author: statementAuthor } : {}),
      ...(timestamp ? { timestamp } : {}),
      document,
    };
  });
}

function parsePurl(text: string): PackageURL | undefined {
  try {
    return packageUrl().fromString(text);
  } catch {
    return undefined;
  }
}

/** `debian-13.2` → `debian-13`: a point release names the same release's packages. */
function distroKey(value: string): string {
  const m = /^([a-z0-9]+)-(\d+)(?:\.\d+)*$/i.exec(value.trim());
  return (m ? `${m[1]}-${m[2]}` : value.trim()).toLowerCase();
}

/**
 * Whether a VEX product purl names this package purl. Type, namespace and name must be equal
 * (npm/pypi names case-insensitively); the version when the product gives one; qualifiers are
 * compared only where both sides carry them, and then only `distro` (by release major:
 * `distro=debian-13.2` names `distro=debian-13`); `arch` and the rest are ignored — the same
 * package built for another architecture has the same vulnerabilities.
 */
export function purlMatches(product: string, packagePurl: string): boolean {
  const a = parsePurl(product);
  const b = parsePurl(packagePurl);
  if (!a || !b) return false;
  const fold = a.type === 'npm' || a.type === 'pypi' || a.type === 'deb';
  const eq = (x: string | null | undefined, y: string | null | undefined) =>
    fold ? (x ?? '').toLowerCase() === (y ?? '').toLowerCase() : (x ?? '') === (y ?? '');
  if (a.type !== b.type || !eq(a.namespace, b.namespace) || !eq(a.name, b.name)) return false;
  if (a.version && a.version !== b.version) return false;
  const da = a.qualifiers?.distro;
  const db = b.qualifiers?.distro;
  if (da && db && distroKey(da) !== distroKey(db)) return false;
  return true;
}

/** `sha256:…`, or `pkg:oci/NAME@sha256:…` (OpenVEX's usual image product), → the digest. */
export function productDigest(product: string): string | undefined {
  if (/^sha256:[0-9a-f]{64}$/.test(product)) return product;
  const p = product.startsWith('pkg:oci/') ? parsePurl(product) : undefined;
  if (p?.version && /^sha256:[0-9a-f]{64}$/.test(p.version)) return p.version;
  const at = /@(sha256:[0-9a-f]{64})$/.exec(product);
  return at?.[1];
}

/** Whether a statement covers this package in this image (by package purl, or image digest + optional subcomponents). */
export function statementApplies(
  statement: VexStatementRecord,
  packagePurl: string,
  imageDigest: string | undefined,
): boolean {
  for (const product of statement.products) {
    const digest = productDigest(product);
    if (digest) {
      if (!imageDigest || digest !== imageDigest) continue;
      if (statement.subcomponents.length === 0) return true;
      if (statement.subcomponents.some((s) => purlMatches(s, packagePurl))) return true;
      continue;
    }
    if (purlMatches(product, packagePurl)) return true;
  }
  return false;
}

/**
 * The statement that decides a finding: among those naming one of its ids and covering its
 * package, the newest (OpenVEX: a later statement supersedes an earlier one).
 */
export function decidingStatement(
  statements: VexStatementRecord[],
  ids: string[],
  packagePurl: string,
  imageDigest: string | undefined,
): VexStatementRecord | undefined {
  const idSet = new Set(ids);
  let best: VexStatementRecord | undefined;
  for (const s of statements) {
    if (!idSet.has(s.vulnerabilityId) && !s.aliases.some((a) => idSet.has(a))) continue;
    if (!statementApplies(s, packagePurl, imageDigest)) continue;
    if (!best || (s.timestamp ?? '') >= (best.timestamp ?? '')) best = s;
  }
  return best;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
