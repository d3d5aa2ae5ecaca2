import type {
  AdvisoryEcosystem,
  AdvisoryReader,
  AffectedRecord,
  VexStatementRecord,
  VulnerabilityRecord,
} from './types.js';

/** How far an alias closure reaches (a guard against a hostile feed's giant alias graph). */
export const MAX_ALIAS_CLOSURE = 1000;
/** How many alias-graph nodes one scan fetches ahead in batches; beyond it, one node at a time. */
const MAX_PREFETCHED_ALIAS_NODES = 20_000;

/**
 * The ids that alias `id`, transitively, in both directions (CVE <- GHSA -> PYSEC ties all three),
 * not including `id`, sorted: breadth first over `neighbours`, stopping once `MAX_ALIAS_CLOSURE`
 * ids are known. The one rule for the store's `aliasesOf` and a scan's batched lookups.
 */
export function aliasClosure(id: string, neighbours: (id: string) => readonly string[]): string[] {
  const seen = new Set([id]);
  const queue = [id];
  while (queue.length > 0 && seen.size < MAX_ALIAS_CLOSURE) {
    for (const other of neighbours(queue.shift()!)) {
      if (!seen.has(other)) {
        seen.add(other);
        queue.push(other);
      }
    }
  }
  seen.delete(id);
  return [...seen].sort();
}

/**
 * A reader for one scan: it asks the store for every package's records, every candidate's aliases
 * and every finding's vulnerability record in a few batched queries (`prefetch*`), then answers
 * the matchers' one-at-a-time questions from what it fetched. A reader without the batch methods
 * (a test's in-memory one) is asked one name or id at a time, as before; either way the answers
 * are the reader's own.
 */
export class PrefetchingReader implements AdvisoryReader {
  private readonly affectedByName = new Map<string, AffectedRecord[]>();
  private readonly vulns = new Map<string, VulnerabilityRecord | undefined>();
  private readonly edges = new Map<string, readonly string[]>();

  constructor(private readonly reader: AdvisoryReader) {}

  /** The affected records of `names` in one query. */
  prefetchAffected(ecosystem: AdvisoryEcosystem, names: readonly string[]): void {
    if (!this.reader.affectedMany) return;
    const missing = [...new Set(names)].filter((n) => !this.affectedByName.has(key(ecosystem, n)));
    if (missing.length === 0) return;
    const found = this.reader.affectedMany(ecosystem, missing);
    for (const name of missing) this.affectedByName.set(key(ecosystem, name), found.get(name) ?? []);
  }

  /** The alias graph around `ids`, a level (one query) at a time. */
  prefetchAliases(ids: Iterable<string>): void {
    if (!this.reader.aliasEdges) return;
    let frontier = [...new Set(ids)].filter((id) => !this.edges.has(id));
    while (frontier.length > 0 && this.edges.size < MAX_PREFETCHED_ALIAS_NODES) {
      const found = this.reader.aliasEdges(frontier);
      const next = new Set<string>();
      for (const id of frontier) {
        const others = found.get(id) ?? [];
        this.edges.set(id, others);
        for (const other of others) if (!this.edges.has(other)) next.add(other);
      }
      frontier = [...next];
    }
  }

  /** The vulnerability records of `ids` in one query. */
  prefetchVulnerabilities(ids: Iterable<string>): void {
    if (!this.reader.vulnerabilities) return;
    const missing = [...new Set(ids)].filter((id) => !this.vulns.has(id));
    if (missing.length === 0) return;
    const found = this.reader.vulnerabilities(missing);
    for (const id of missing) this.vulns.set(id, found.get(id));
  }

  affected(ecosystem: AdvisoryEcosystem, packageName: string): AffectedRecord[] {
    const k = key(ecosystem, packageName);
    let records = this.affectedByName.get(k);
    if (!records) {
      records = this.reader.affected(ecosystem, packageName);
      this.affectedByName.set(k, records);
    }
    return records;
  }

  vulnerability(id: string): VulnerabilityRecord | undefined {
    if (!this.vulns.has(id)) this.vulns.set(id, this.reader.vulnerability(id));
    return this.vulns.get(id);
  }

  aliasesOf(id: string): string[] {
    const aliasEdges = this.reader.aliasEdges?.bind(this.reader);
    if (!aliasEdges) return this.reader.aliasesOf(id);
    return aliasClosure(id, (node) => {
      let others = this.edges.get(node);
      if (!others) {
        others = aliasEdges([node]).get(node) ?? [];
        this.edges.set(node, others);
      }
      return others;
    });
  }

  vexStatements(): VexStatementRecord[] {
    return this.reader.vexStatements();
  }

  debianReleases(): string[] {
    return this.reader.debianReleases();
  }

  status(): ReturnType<AdvisoryReader['status']> {
    return this.reader.status();
  }

  close(): void {
    this.reader.close();
  }
}

function key(ecosystem: AdvisoryEcosystem, name: string): string {
  return `${ecosystem}\0${name}`;
}
