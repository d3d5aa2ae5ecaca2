import { inflateSync } from 'node:zlib';

export interface AuditablePackage {
  name: string;
  version: string;
  source?: string;
  kind?: string;
  dependencies: number[];
  root: boolean;
}

/** cargo-auditable's `.dep-v0` section: zlib-compressed JSON `{ packages: [...] }`. */
export function parseCargoAuditable(section: Buffer): AuditablePackage[] {
  // The section is small by design; cap the inflated size so a hostile binary cannot balloon it.
  const json: unknown = JSON.parse(
    inflateSync(section, { maxOutputLength: 8 * 1024 * 1024 }).toString('utf8'),
  );
  const list = (json as { packages?: unknown }).packages;
  if (!Array.isArray(list)) throw new Error('cargo-auditable data has no packages array');
  return list.flatMap((entry): AuditablePackage[] => {
    if (typeof entry !== 'object' || entry === null) return [];
    const e = entry as Record<string, unknown>;
    if (typeof e.name !== 'string' || typeof e.version !== 'string') return [];
    return [
      {
        name: e.name,
        version: e.version,
        ...(typeof e.source === 'string' ? { source: e.source } : {}),
        ...(typeof e.kind === 'string' ? { kind: e.kind } : {}),
        dependencies: Array.isArray(e.dependencies)
          ? e.dependencies.filter((d) => typeof d === 'number')
          : [],
        root: e.root === true,
      },
    ];
  });
}
