import type { Command } from 'commander';
import { ADVISORY_DB_VARIABLE, advisoryDbPath } from '../vuln/store-path.js';

export const DB_OPTION_HELP = `the advisory store (default: $${ADVISORY_DB_VARIABLE}, else vuln/advisories.db in the cache dir)`;

/** Adds `--db FILE` to a command (every `db` command and `scan`); read it back with `dbPathOf`. */
export function addDbOption(command: Command): Command {
  return command.option('--db <file>', DB_OPTION_HELP);
}

/** The store path a command's options name. */
export function dbPathOf(
  opts: { db?: string },
  env: Record<string, string | undefined> = process.env,
): string {
  return advisoryDbPath(opts.db, env);
}
