/**
 * The advisory store's SQLite schema and its migrations. The version lives in `PRAGMA
 * user_version` (0 = a new, empty file); `PRAGMA application_id` marks the file as rampart's, so
 * another program's SQLite file is refused rather than written into. `MIGRATIONS[i]` takes a store
 * from version i to i + 1; a store newer than `SCHEMA_VERSION` was written by a newer rampart and is
 * refused (ADVISORY_DB_INVALID), never guessed at.
 *
 * Layout: one row per affected statement (`affected`, indexed by ecosystem + package name, the
 * matchers' only query), one per vulnerability and feed (`vulnerabilities`), alias pairs, VEX
 * statements, and one row per feed (`feeds`: records, age, conditional-request validators). Every
 * row names the feed it came from, so a feed is replaced as a unit by the next import of it.
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
      CREATE INDEX vulnerabilities_feed ON vulnerabilities (feed);
      CREATE TABLE affected (
        feed TEXT NOT NULL,
        source TEXT NOT NULL,
        ecosystem TEXT NOT NULL,
        package TEXT NOT NULL,
        vulnerability TEXT NOT NULL,
        release TEXT,
        status TEXT,
        fixed_version TEXT,
        urgency TEXT,
        nodsa TEXT,
        nodsa_reason TEXT,
        osv TEXT
      ) STRICT;
      CREATE INDEX affected_package ON affected (ecosystem, package);
      CREATE INDEX affected_feed ON affected (feed);
      CREATE TABLE aliases (feed TEXT NOT NULL, id TEXT NOT NULL, alias TEXT NOT NULL) STRICT;
      CREATE INDEX aliases_id ON aliases (id);
      CREATE INDEX aliases_alias ON aliases (alias);
      CREATE INDEX aliases_feed ON aliases (feed);
      CREATE TABLE debian_releases (feed TEXT NOT NULL, release TEXT NOT NULL, PRIMARY KEY (feed, release)) STRICT, WITHOUT ROWID;
      CREATE TABLE vex (feed TEXT NOT NULL, statement TEXT NOT NULL) STRICT;
      CREATE INDEX vex_feed ON vex (feed);
    `);
  },
];
