import { join } from 'node:path';
import { defaultCacheDir } from '../debian/cache.js';

/** The environment variable that names the advisory store when `--db` is not given. */
export const ADVISORY_DB_VARIABLE = 'RAMPART_ADVISORY_DB';

/**
 * Where the advisory store lives: `--db FILE`, else `$RAMPART_ADVISORY_DB`, else `vuln/advisories.db`
 * in rampart's cache dir (`$XDG_CACHE_HOME/rampart` or `~/.cache/rampart`).
 */
export function advisoryDbPath(
  option: string | undefined,
  env: Record<string, string | undefined> = process.env,
): string {
  if (option) return option;
  const fromEnv = env[ADVISORY_DB_VARIABLE];
  if (fromEnv) return fromEnv;
  return join(defaultCacheDir(env as NodeJS.ProcessEnv), 'vuln', 'advisories.db');
}
