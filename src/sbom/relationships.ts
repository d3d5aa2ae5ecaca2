import type { RawPackage } from './cataloger.js';
import { normalisePythonName } from './identity/purl.js';

/**
 * Resolves each package's dependency names to package ids within the same ecosystem (dpkg
 * Provides included). The first alternative present wins, as apt would have satisfied it.
 */
export function resolveDependencies(
  packages: ReadonlyArray<{ raw: RawPackage; id: string }>,
): Map<string, string[]> {
  type Candidate = { id: string; arch: string | undefined; version: string };
  const byName = new Map<string, Candidate[]>();
  const add = (key: string, candidate: Candidate) => {
    const list = byName.get(key);
    if (!list) byName.set(key, [candidate]);
    else if (!list.some((c) => c.id === candidate.id)) list.push(candidate);
  };
  for (const { raw, id } of packages) {
    const candidate = { id, arch: raw.architecture, version: raw.version };
    add(keyOf(raw.type, raw.name), candidate);
    for (const provided of raw.provides ?? []) add(keyOf(raw.type, provided), candidate);
  }
  const edges = new Map<string, string[]>();
  for (const { raw, id } of packages) {
    const targets = new Set<string>();
    for (const alternatives of raw.depends ?? []) {
      for (const alternative of alternatives) {
        const name = typeof alternative === 'string' ? alternative : alternative.name;
        const candidates = (byName.get(keyOf(raw.type, name)) ?? []).filter(
          (c) => typeof alternative === 'string' || c.version === alternative.version,
        );
        if (candidates.length === 0) continue;
        // Prefer a provider with the same architecture (multi-arch); fall back to the first one.
        const sameArch = candidates.find((c) => c.arch === raw.architecture);
        const target = (sameArch ?? candidates[0]!).id;
        if (target !== id) targets.add(target);
        break;
      }
    }
    edges.set(id, [...targets].sort());
  }
  return edges;
}

/** PyPI names compare after PEP 503 normalisation; other ecosystems compare exactly. */
function keyOf(type: RawPackage['type'], name: string): string {
  return `${type}\0${type === 'pypi' ? normalisePythonName(name) : name}`;
}
