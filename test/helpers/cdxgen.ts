import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The cdxgen release the comparisons run against. */
export const CDXGEN_VERSION = '12.8.4';

/**
 * The path of a `cdxgen` binary, installed once into the cache dir. cdxgen is a peer we compare
 * with, not a dependency: installing it on demand keeps it out of `npm ci` (its lock entries name
 * platform packages that the registry does not serve, which makes `npm ci` refuse the lock).
 */
export function ensureCdxgen(): string {
  const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  const prefix = join(cache, 'rampart/tools', `cdxgen-${CDXGEN_VERSION}`);
  const bin = join(prefix, 'node_modules/.bin/cdxgen');
  if (existsSync(bin)) return bin;
  mkdirSync(join(cache, 'rampart/tools'), { recursive: true });
  const temp = `${prefix}.tmp-${process.pid}`;
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(temp);
  execFileSync(
    'npm',
    [
      'install',
      '--prefix',
      temp,
      '--no-audit',
      '--no-fund',
      '--no-save',
      `@cyclonedx/cdxgen@${CDXGEN_VERSION}`,
    ],
    { stdio: 'pipe' },
  );
  rmSync(prefix, { recursive: true, force: true });
  renameSync(temp, prefix);
  return bin;
}
