/**
 * The advisory store: one SQLite file (`node:sqlite`, built into Node: no native build, no
 * download) that air-gapped users can copy. Readers (`AdvisoryReader`) are synchronous, as the
 * matchers want; writes happen only inside `transaction()`, one per import: SQLite's journal makes
 * a failed, cancelled or killed import vanish on the next open, leaving the previous data as it was.
 *
 * The store runs in WAL mode so that scans keep reading while an import writes; the WAL is folded
 * back into the file when the last connection closes, so a closed store is one self-contained
 * file. Every row carries the name of the feed it came from, and an import of a feed replaces all
 * of that feed's rows: records removed upstream disappear with the next update.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { RampartError } from '../errors.js';
import { aliasClosure } from './prefetch.js';
import { APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION } from './schema.js';
import type {
  AdvisoryEcosystem,
  AdvisoryReader,
  AdvisorySourceName,
  AdvisorySourceStatus,
  AffectedRecord,
  VexStatementRecord,
  VulnerabilityRecord,
} from './types.js';

export interface OpenStoreOptions {
  /** Open for reading only; an older schema is then refused instead of migrated. */
  readOnly?: boolean;
  /** How long to wait for another process's write lock, in ms. Default 30 s. */
  busyTimeoutMs?: number;
  /** The clock, for `built`/`updated` stamps. */
  now?: () => Date;
}

/** A feed's row in the store: its status plus what kind of data it holds. */
export interface FeedStatus extends AdvisorySourceStatus {
  source: AdvisorySourceName;
  format: string;
}

/**
 * The package name as the store indexes it: PyPI names are compared in their PEP 503 normal form
 * (`Foo_Bar.baz` and `foo-bar-baz` are one project); every other ecosystem's names are exact.
 */
export function normalizePackageName(ecosystem: AdvisoryEcosystem, name: string): string {
  return ecosystem === 'pypi' ? name.toLowerCase().replace(/[-_.]+/g, '-') : name;
}

/**
 * An affected record as stored, without the package and ecosystem (the row's): a tracker record
 * is a tuple `[id, source, release, status, fixed_version, urgency, nodsa, nodsa_reason]` (a third
 * of the bytes of the object form; the tracker's records are most of the store), others the
 * object itself.
 */
type StoredAffected =
  | [string, string, string | null, string, string | null, string | null, string | null, string | null]
  | Omit<AffectedRecord, 'ecosystem' | 'packageName'>;

function storeAffected({ ecosystem: _e, packageName: _p, ...record }: AffectedRecord): StoredAffected {
  if (!record.debian || record.osv) return record;
  const d = record.debian;
  return [
    record.vulnerabilityId,
    record.source,
    record.release ?? null,
    d.status,
    d.fixedVersion ?? null,
    d.urgency ?? null,
    d.nodsa ?? null,
    d.nodsaReason ?? null,
  ];
}

function loadAffected(
  stored: StoredAffected,
  ecosystem: AdvisoryEcosystem,
  packageName: string,
): AffectedRecord {
  if (!Array.isArray(stored)) return { ...stored, ecosystem, packageName };
  const [vulnerabilityId, source, release, status, fixedVersion, urgency, nodsa, nodsaReason] = stored;
  const debian: NonNullable<AffectedRecord['debian']> = { status };
  if (fixedVersion !== null) debian.fixedVersion = fixedVersion;
  if (urgency !== null) debian.urgency = urgency;
  if (nodsa !== null) debian.nodsa = nodsa;
  if (nodsaReason !== null) debian.nodsaReason = nodsaReason;
  return {
    vulnerabilityId,
    source: source as AdvisorySourceName,
    ecosystem,
    packageName,
    ...(release !== null ? { release } : {}),
    debian,
  };
}

function invalid(path: string, message: string, cause?: unknown, extra: { schemaVersion?: number } = {}) {
  return new RampartError('ADVISORY_DB_INVALID', message, {
    ...(cause !== undefined ? { cause } : {}),
    details: { path, supported: SCHEMA_VERSION, ...extra },
  });
}

/**
 * The store a command reads when it can do without one (`diff`, `compare`): a path the user named
 * (`--db`) must exist (NOT_FOUND otherwise), the default one (`$RAMPART_ADVISORY_DB`, else the
 * cache's) is opened read-only only when it is there; `undefined` means "no store, no findings".
 */
export function openOptionalAdvisoryStore(
  named: string | undefined,
  defaultPath: string,
): AdvisoryStore | undefined {
  if (named !== undefined) return openAdvisoryStore(named, { readOnly: true });
  try {
    statSync(defaultPath);
  } catch {
    return undefined;
  }
  return openAdvisoryStore(defaultPath, { readOnly: true });
}

/** Opens (and, unless read-only, creates or migrates) the advisory store at `path`. */
export function openAdvisoryStore(path: string, options: OpenStoreOptions = {}): AdvisoryStore {
  if (options.readOnly) {
    let exists = true;
    try {
      statSync(path);
    } catch {
      exists = false;
    }
    if (!exists) {
      throw new RampartError(
        'NOT_FOUND',
        `no advisory store at ${path}; run \`rampart db update\` or \`rampart db import\` first`,
        { details: { path } },
      );
    }
  } else {
    mkdirSync(dirname(path), { recursive: true });
  }
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, {
      readOnly: options.readOnly ?? false,
      timeout: options.busyTimeoutMs ?? 30_000,
    });
  } catch (error) {
    throw invalid(path, `cannot open the advisory store ${path}: ${(error as Error).message}`, error);
  }
  try {
    prepareSchema(db, path, options.readOnly ?? false);
  } catch (error) {
    db.close();
    throw error;
  }
  return new AdvisoryStore(db, path, options.now ?? (() => new Date()));
}

function pragmaNumber(db: DatabaseSync, name: string): number {
  const row = db.prepare(`PRAGMA ${name}`).get() as Record<string, number> | undefined;
  return Number(row?.[name] ?? 0);
}

function prepareSchema(db: DatabaseSync, path: string, readOnly: boolean): void {
  let version: number;
  let applicationId: number;
  try {
    version = pragmaNumber(db, 'user_version');
    applicationId = pragmaNumber(db, 'application_id');
  } catch (error) {
    // "file is not a database": a truncated or foreign file.
    throw invalid(
      path,
      `${path} is not an advisory store (${(error as Error).message}); delete it and run \`rampart db update\``,
      error,
    );
  }
  if (version > SCHEMA_VERSION) {
    throw invalid(
      path,
      `the advisory store ${path} has schema version ${version}, newer than this rampart reads (${SCHEMA_VERSION}); upgrade rampart or use another --db`,
      undefined,
      { schemaVersion: version },
    );
  }
  const hasTables =
    (db.prepare(`SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'`).get() as { n: number }).n > 0;
  if ((applicationId !== APPLICATION_ID && (version > 0 || hasTables)) || (version === 0 && hasTables)) {
    throw invalid(
      path,
      `${path} is an SQLite file but not rampart's advisory store; choose another --db`,
      undefined,
      { schemaVersion: version },
    );
  }
  if (!readOnly) {
    // WAL: scans read while an import writes, and the import's pages are written once to the
    // WAL (a rollback journal would copy the old ones first, then block readers while it writes
    // the file). synchronous=FULL makes a commit durable: the WAL is synced before COMMIT
    // returns, so an import reported done survives a power cut (NORMAL syncs it only at the
    // checkpoint, and a power cut may roll the last import back). One import is one transaction,
    // so this costs one fsync of the WAL per import, which the checkpoint at close would do
    // anyway. A 64 MiB page cache keeps a full import's index pages in memory.
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = FULL');
    db.exec('PRAGMA cache_size = -65536');
  }
  if (version === SCHEMA_VERSION) return;
  if (readOnly) {
    throw invalid(
      path,
      `the advisory store ${path} has schema version ${version}; run \`rampart db update\` (or \`db import\`) to migrate it to ${SCHEMA_VERSION}`,
      undefined,
      { schemaVersion: version },
    );
  }
  db.exec('BEGIN IMMEDIATE');
  try {
    // Read again under the write lock: another process may have migrated meanwhile.
    let current = pragmaNumber(db, 'user_version');
    for (; current < SCHEMA_VERSION; current++) MIGRATIONS[current]!(db);
    db.exec(`PRAGMA application_id = ${APPLICATION_ID}`);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec('COMMIT');
  } catch (error) {
    db.exec('ROLLBACK');
    throw invalid(path, `cannot migrate the advisory store ${path}: ${(error as Error).message}`, error, {
      schemaVersion: version,
    });
  }
}

export class AdvisoryStore implements AdvisoryReader {
  private readonly statements = new Map<string, StatementSync>();
  private inTransaction = false;

  constructor(
    private readonly db: DatabaseSync,
    readonly path: string,
    private readonly now: () => Date,
  ) {}

  private statement(sql: string): StatementSync {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  // ---- reader ----

  affected(ecosystem: AdvisoryEcosystem, packageName: string): AffectedRecord[] {
    const name = normalizePackageName(ecosystem, packageName);
    const rows = this.statement('SELECT records FROM affected WHERE ecosystem = ? AND package = ?').all(
      ecosystem,
      name,
    ) as Array<{ records: string }>;
    return affectedFromRows(
      rows.map((r) => r.records),
      ecosystem,
      name,
    );
  }

  /** `affected` of many names in one query (`json_each` of the names), keyed by the names as given. */
  affectedMany(ecosystem: AdvisoryEcosystem, packageNames: readonly string[]): Map<string, AffectedRecord[]> {
    const names = [...new Set(packageNames.map((n) => normalizePackageName(ecosystem, n)))];
    const rows = this.statement(
      'SELECT package, records FROM affected WHERE ecosystem = ? AND package IN (SELECT value FROM json_each(?))',
    ).all(ecosystem, JSON.stringify(names)) as Array<{ package: string; records: string }>;
    const byName = new Map<string, string[]>();
    for (const row of rows) {
      const list = byName.get(row.package);
      if (list) list.push(row.records);
      else byName.set(row.package, [row.records]);
    }
    const records = new Map<string, AffectedRecord[]>();
    for (const name of names) records.set(name, affectedFromRows(byName.get(name) ?? [], ecosystem, name));
    return new Map(
      packageNames.map((n) => [n, records.get(normalizePackageName(ecosystem, n)) ?? []] as const),
    );
  }

  vulnerability(id: string): VulnerabilityRecord | undefined {
    return this.vulnerabilities([id]).get(id);
  }

  /** The vulnerability records of many ids in one query; an id no feed has is left out. */
  vulnerabilities(ids: readonly string[]): Map<string, VulnerabilityRecord> {
    const rows = this.statement(
      'SELECT id, source, record FROM vulnerabilities WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id, feed',
    ).all(JSON.stringify([...new Set(ids)])) as Array<{ id: string; source: string; record: string }>;
    const byId = new Map<string, VulnerabilityRecord[]>();
    for (const r of rows) {
      const record: VulnerabilityRecord = {
        id: r.id,
        source: r.source as AdvisorySourceName,
        aliases: [],
        cvss: [],
        severityLabels: [],
        urls: [],
        ...(JSON.parse(r.record) as Partial<VulnerabilityRecord>),
      };
      const list = byId.get(r.id);
      if (list) list.push(record);
      else byId.set(r.id, [record]);
    }
    return new Map([...byId].map(([id, records]) => [id, mergeVulnerabilities(records)]));
  }

  aliasesOf(id: string): string[] {
    return aliasClosure(id, (node) => this.aliasEdges([node]).get(node) ?? []);
  }

  /** Each id's neighbours in the alias graph (both directions), sorted; every id gets an entry. */
  aliasEdges(ids: readonly string[]): Map<string, string[]> {
    const unique = [...new Set(ids)];
    const rows = this.statement(
      `SELECT id AS a, alias AS b FROM aliases WHERE id IN (SELECT value FROM json_each(?1))
       UNION SELECT alias, id FROM aliases WHERE alias IN (SELECT value FROM json_each(?1))`,
    ).all(JSON.stringify(unique)) as Array<{ a: string; b: string }>;
    const edges = new Map<string, string[]>(unique.map((id) => [id, []]));
    for (const { a, b } of rows) edges.get(a)?.push(b);
    for (const list of edges.values()) list.sort(compareStrings);
    return edges;
  }

  vexStatements(): VexStatementRecord[] {
    return (
      this.statement('SELECT statement FROM vex ORDER BY rowid').all() as Array<{ statement: string }>
    ).map((r) => JSON.parse(r.statement) as VexStatementRecord);
  }

  debianReleases(): string[] {
    return (
      this.statement('SELECT DISTINCT release FROM debian_releases ORDER BY release').all() as Array<{
        release: string;
      }>
    ).map((r) => r.release);
  }

  status(): { path: string; schemaVersion: number; built: string; sources: FeedStatus[] } {
    const built =
      (this.statement(`SELECT value FROM meta WHERE key = 'built'`).get() as { value: string } | undefined)
        ?.value ?? '';
    const sources = (
      this.statement('SELECT * FROM feeds ORDER BY name').all() as Array<Record<string, unknown>>
    ).map(feedFromRow);
    return { path: this.path, schemaVersion: pragmaNumber(this.db, 'user_version'), built, sources };
  }

  feed(name: string): FeedStatus | undefined {
    const row = this.statement('SELECT * FROM feeds WHERE name = ?').get(name) as
      | Record<string, unknown>
      | undefined;
    return row ? feedFromRow(row) : undefined;
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  // ---- writer ----

  /**
   * Runs `body` as one write transaction: all of its changes are committed together, or, when it
   * throws (or the process dies), none. `built` is stamped on commit.
   */
  async transaction<T>(body: (writer: AdvisoryWriter) => Promise<T>): Promise<T> {
    if (this.inTransaction) throw new Error('advisory store: transactions do not nest');
    try {
      this.db.exec('BEGIN IMMEDIATE');
    } catch (error) {
      // Another import or update holds the write lock for longer than the busy timeout.
      throw new RampartError(
        'LOCKED',
        `the advisory store ${this.path} is being written by another rampart; retry when it is done`,
        { cause: error, details: { path: this.path } },
      );
    }
    this.inTransaction = true;
    try {
      const result = await body(new AdvisoryWriter(this.statement.bind(this), this.now));
      this.statement(`INSERT OR REPLACE INTO meta (key, value) VALUES ('built', ?)`).run(
        this.now().toISOString(),
      );
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw error;
    } finally {
      this.inTransaction = false;
    }
  }
}

/** The write side, only reachable inside `AdvisoryStore.transaction`. */
export class AdvisoryWriter {
  constructor(
    private readonly statement: (sql: string) => StatementSync,
    readonly now: () => Date,
  ) {}

  /** Removes every row the feed contributed (before it is imported again). */
  clearFeed(feed: string): void {
    for (const table of ['affected', 'vulnerabilities', 'aliases', 'vex', 'debian_releases']) {
      // A table holding only this feed's rows (the tracker's, in a store without OSV data) is
      // emptied whole: SQLite frees its pages without visiting each row and its index entries
      // (the replacing import of a 70 MB dump spent ~1.4 s deleting row by row).
      const other = this.statement(`SELECT 1 AS found FROM ${table} WHERE feed <> ? LIMIT 1`).get(feed);
      // Otherwise a scan: cheaper than keeping a feed index up to date on every insert of an import.
      this.statement(other ? `DELETE FROM ${table} WHERE feed = ?` : `DELETE FROM ${table}`).run(
        ...(other ? [feed] : []),
      );
    }
  }

  putVulnerability(feed: string, record: VulnerabilityRecord): void {
    // Empty lists are left out of the stored JSON (most tracker records have only a summary and URLs).
    const { id, source, ...rest } = record;
    const stored: Partial<VulnerabilityRecord> = { ...rest };
    for (const key of ['aliases', 'cvss', 'severityLabels', 'urls'] as const) {
      if (stored[key]?.length === 0) delete stored[key];
    }
    this.statement(
      'INSERT OR REPLACE INTO vulnerabilities (feed, id, source, record) VALUES (?, ?, ?, ?)',
    ).run(feed, id, source, JSON.stringify(stored));
    for (const alias of record.aliases) {
      if (alias !== record.id)
        this.statement('INSERT INTO aliases (feed, id, alias) VALUES (?, ?, ?)').run(feed, record.id, alias);
    }
  }

  /** The affected records of one package, as one row (all records must share ecosystem and package). */
  putAffected(
    feed: string,
    ecosystem: AdvisoryEcosystem,
    packageName: string,
    records: AffectedRecord[],
  ): void {
    if (records.length === 0) return;
    const stored = records.map(storeAffected);
    this.statement('INSERT INTO affected (feed, ecosystem, package, records) VALUES (?, ?, ?, ?)').run(
      feed,
      ecosystem,
      normalizePackageName(ecosystem, packageName),
      JSON.stringify(stored),
    );
  }

  putDebianRelease(feed: string, release: string): void {
    this.statement('INSERT OR IGNORE INTO debian_releases (feed, release) VALUES (?, ?)').run(feed, release);
  }

  putVex(feed: string, statement: VexStatementRecord): void {
    this.statement('INSERT INTO vex (feed, statement) VALUES (?, ?)').run(feed, JSON.stringify(statement));
  }

  putFeed(status: FeedStatus): void {
    this.statement(
      `INSERT OR REPLACE INTO feeds (name, source, format, records, skipped, updated, location, etag, last_modified)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      status.name,
      status.source,
      status.format,
      status.records,
      status.skipped ?? 0,
      status.updated,
      status.location ?? null,
      status.etag ?? null,
      status.lastModified ?? null,
    );
  }

  /** Marks a feed as checked now without changing its data (a 304 from `db update`). */
  touchFeed(name: string, updated: string): void {
    this.statement('UPDATE feeds SET updated = ? WHERE name = ?').run(updated, name);
  }
}

/**
 * The records of one package from its rows (one per feed that has it), in a stable order. One
 * record shipped in two feeds (a GHSA in the npm and the Maven archive) is one statement; the
 * importers write no duplicates within one row (a tracker package's ids are the keys of one JSON
 * object, an OSV record is a row of its own), so a single row needs no de-duplication.
 */
function affectedFromRows(rows: string[], ecosystem: AdvisoryEcosystem, name: string): AffectedRecord[] {
  let stored: StoredAffected[];
  if (rows.length === 1) stored = JSON.parse(rows[0]!) as StoredAffected[];
  else {
    const unique = new Map<string, StoredAffected>();
    for (const row of rows) {
      for (const record of JSON.parse(row) as StoredAffected[]) unique.set(JSON.stringify(record), record);
    }
    stored = [...unique.values()];
  }
  return stored
    .map((record) => loadAffected(record, ecosystem, name))
    .sort(
      (a, b) =>
        compareStrings(a.vulnerabilityId, b.vulnerabilityId) ||
        compareStrings(a.release ?? '', b.release ?? '') ||
        compareStrings(a.source, b.source),
    );
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function feedFromRow(row: Record<string, unknown>): FeedStatus {
  const status: FeedStatus = {
    name: String(row.name),
    source: row.source as AdvisorySourceName,
    format: String(row.format),
    records: Number(row.records),
    skipped: Number(row.skipped),
    updated: String(row.updated),
  };
  if (row.location !== null) status.location = String(row.location);
  if (row.etag !== null) status.etag = String(row.etag);
  if (row.last_modified !== null) status.lastModified = String(row.last_modified);
  return status;
}

/** One record from the rows several feeds hold for an id: the first feed's facts, every list merged. */
function mergeVulnerabilities(records: VulnerabilityRecord[]): VulnerabilityRecord {
  const [first, ...rest] = records as [VulnerabilityRecord, ...VulnerabilityRecord[]];
  const merged: VulnerabilityRecord = {
    ...first,
    aliases: [...first.aliases],
    cvss: [...first.cvss],
    severityLabels: [...first.severityLabels],
    urls: [...first.urls],
  };
  for (const other of rest) {
    merged.summary ??= other.summary;
    merged.published ??= other.published;
    merged.modified ??= other.modified;
    merged.withdrawn ??= other.withdrawn;
    for (const alias of other.aliases) if (!merged.aliases.includes(alias)) merged.aliases.push(alias);
    for (const url of other.urls) if (!merged.urls.includes(url)) merged.urls.push(url);
    for (const cvss of other.cvss) {
      if (!merged.cvss.some((c) => c.vector === cvss.vector)) merged.cvss.push(cvss);
    }
    for (const label of other.severityLabels) {
      if (!merged.severityLabels.some((l) => l.source === label.source && l.label === label.label)) {
        merged.severityLabels.push(label);
      }
    }
  }
  return merged;
}
