/**
 * The advisory store's SQLite schema and its migrations. The version lives in `PRAGMA
 * user_version` (0 = a new, empty file); `PRAGMA application_id` marks the file as rampart's, so
 * another program's SQLite file is refused rather than written into. `MIGRATIONS[i]` takes a store
 * from version i to i + 1; a store newer than `SCHEMA_VERSION` was written by a newer rampart and is
 * refused (ADVISORY_DB_INVALID), never guessed at.
 *
 * Layout: `affected` holds, per feed and package (indexed by ecosystem + package name, the
 * matchers' only query), a JSON list of that package's affected records: the tracker's ~1.5 M
 * (package, CVE, release) statements become ~35 k rows, which is what makes a full import take
 * seconds rather than minutes (one row per statement, with its index, was ~10 times slower).
 * Then one row per vulnerability and feed (`vulnerabilities`), alias pairs, VEX statements, and one
 * row per feed (`feeds`: records, age, conditional-request validators). Every row names the feed it
 * came from, so a feed is replaced as a unit by the next import of it (a scan of the tables, which
 * costs less than keeping a feed index up to date on every insert).
 */
import type { DatabaseSync } from 'node:sqlite';

/** "RAMP" as a 32-bit integer. */
export const APPLICATION_ID = 0x52414d50;
export const SCHEMA_VERSION = 1;

export const MIGRATIONS: ReadonlyArray<(db: DatabaseSync) => void> = [
  // 0 -> 1: the first schema.
  (db) => {
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
      CREATE TABLE feeds (
        name TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        format TEXT NOT NULL,
        records INTEGER NOT NULL,
        skipped INTEGER NOT NULL,
        updated TEXT NOT NULL,
        location TEXT,
        etag TEXT,
        last_modified TEXT
      ) STRICT;
      CREATE TABLE vulnerabilities (
        feed TEXT NOT NULL,
        id TEXT NOT NULL,
        source TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (id, feed)
      ) STRICT, WITHOUT ROWID;
      CREATE TABLE affected (
        feed TEXT NOT NULL,
        ecosystem TEXT NOT NULL,
        package TEXT NOT NULL,
        records TEXT NOT NULL
      ) STRICT;
      CREATE INDEX affected_package ON affected (ecosystem, package);
      CREATE TABLE aliases (feed TEXT NOT NULL, id TEXT NOT NULL, alias TEXT NOT NULL) STRICT;
      CREATE INDEX aliases_id ON aliases (id);
      CREATE INDEX aliases_alias ON aliases (alias);
      CREATE TABLE debian_releases (feed TEXT NOT NULL, release TEXT NOT NULL, PRIMARY KEY (feed, release)) STRICT, WITHOUT ROWID;
      CREATE TABLE vex (feed TEXT NOT NULL, statement TEXT NOT NULL) STRICT;
    `);
  },
];
