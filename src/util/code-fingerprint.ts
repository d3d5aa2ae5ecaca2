import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder rampart's code runs from (`src/` in a checkout, the compiled tree in a package). */
export const CODE_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * A fingerprint of the code a cache's values are computed by: every code file (`.js`, `.ts`,
 * `.mjs`, `.cjs`) under `folders` of `root`, by path, size and mtime, hashed. The one rule for the
 * caches whose values rampart computes (catalogs, attack-surface metrics, resolved standard roots):
 * rampart's version alone would not do, because a checkout keeps one version while its code
 * changes, and the test suites' fixtures have the same digests run after run. A cache names the
 * folders its value depends on; a change to a file in any of them (an edit, a rebuild, a
 * checkout) gives another fingerprint, so the old entries are never read again.
 * A few hundred stat calls; the running code's fingerprint is taken once per process and folder
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
  // All at once, not one await per file: a few hundred stat calls run on libuv's threads while
  // the main thread does other work (the fingerprint is started early, beside module loading).
  const listed = await Promise.all(
    [...new Set(folders)].sort().map(async (folder) => {
      const names = await readdir(join(root, folder), { recursive: true }).catch(() => [] as string[]);
      const files = names.filter((n) => /\.[cm]?[jt]s$/.test(n)).sort();
      const infos = await Promise.all(
        files.map((name) => stat(join(root, folder, name)).catch(() => undefined)),
      );
      return files.map((name, i) => ({ name, info: infos[i] }));
    }),
  );
  const hash = createHash('sha256');
  [...new Set(folders)].sort().forEach((folder, f) => {
    for (const { name, info } of listed[f]!)
      if (info?.isFile()) hash.update(`${folder}/${name}\0${info.size}\0${info.mtimeMs}\n`);
  });
  return hash.digest('hex').slice(0, 32);
}
