import { createHash } from 'node:crypto';
import { type Dirent, readdirSync, type Stats, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder rampart's code runs from (`src/` in a checkout, the compiled tree in a package). */
export const CODE_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * A fingerprint of the code a cache's values are computed by: every code file (`.js`, `.ts`,
 * `.mjs`, `.cjs`; not `.d.ts`) under `folders` of `root`, by path, size and mtime, hashed. The one
 * rule for the caches whose values rampart computes (catalogs, attack-surface metrics, resolved
 * standard roots): rampart's version alone would not do, because a checkout keeps one version
 * while its code changes, and the test suites' fixtures have the same digests run after run. A
 * cache names the folders its value depends on; a change to a file in any of them (an edit, a
 * rebuild, a checkout) gives another fingerprint, so the old entries are never read again.
 * A hundred-odd stat calls; the running code's fingerprint is taken once per process and folder
 * set (the code a process runs does not change under it), an injected root's every time.
 */
export function codeFingerprint(folders: readonly string[], root: string = CODE_ROOT): Promise<string> {
  if (root !== CODE_ROOT) return fingerprintOf(root, folders);
  const key = [...folders].sort().join('\0');
  let memo = running.get(key);
  if (!memo) {
    memo = fingerprintOf(root, folders);
    running.set(key, memo);
  }
  return memo;
}

const running = new Map<string, Promise<string>>();

async function fingerprintOf(root: string, folders: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const folder of [...new Set(folders)].sort()) {
    const files: Array<{ name: string; size: number; mtimeMs: number }> = [];
    codeFiles(join(root, folder), '', files);
    for (const { name, size, mtimeMs } of files.sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    ))
      hash.update(`${folder}/${name}\0${size}\0${mtimeMs}\n`);
  }
  return hash.digest('hex').slice(0, 32);
}

/**
 * The code files under `dir` (declaration files are types only: they never run), by a synchronous
 * walk: a hundred-odd files cost ~5-10 ms of CPU this way, against ~45 ms through fs/promises'
 * recursive readdir and one promise per stat (a warm `rampart scan` is ~300 ms in all).
 */
function codeFiles(
  dir: string,
  prefix: string,
  out: Array<{ name: string; size: number; mtimeMs: number }>,
): void {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const name = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) codeFiles(join(dir, entry.name), name, out);
    else if (CODE_FILE.test(entry.name) && !DECLARATION_FILE.test(entry.name)) {
      let info: Stats;
      try {
        info = statSync(join(dir, entry.name));
      } catch {
        continue; // gone or unreadable meanwhile: as before, not part of the fingerprint
      }
      if (info.isFile()) out.push({ name, size: info.size, mtimeMs: info.mtimeMs });
    }
  }
}

const CODE_FILE = /\.[cm]?[jt]s$/;
const DECLARATION_FILE = /\.d\.[cm]?ts$/;
