import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The Debian mirror of this machine: the `URIs:` of the first paragraph of debian.sources. */
export function hostMirror(path = '/etc/apt/sources.list.d/debian.sources'): string {
  const match = /^URIs:\s*(\S+)/m.exec(readFileSync(path, 'utf8'));
  if (!match) throw new Error(`no URIs: line in ${path}`);
  return match[1]!;
}

/**
 * An `mmdebstrap --variant=minbase trixie` root, made once (~15 s) under the cache dir and reused.
 * Built into a temp name and renamed, so an interrupted run never leaves a half root behind.
 */
export function ensureMinbaseRoot(): string {
  return ensureTrixieRoot('minbase-trixie', []);
}

/**
 * A minbase trixie root with `include` added (`--include=`), cached under `name` like the minbase
 * root: e.g. ripgrep and fd-find, whose dpkg status carries Built-Using and X-Cargo-Built-Using.
 */
export function ensureTrixieRoot(name: string, include: readonly string[]): string {
  const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  const root = join(cache, 'rampart/e2e', name);
  if (existsSync(join(root, 'var/lib/dpkg/status'))) return root;
  mkdirSync(join(cache, 'rampart/e2e'), { recursive: true });
  const temp = `${root}.tmp-${process.pid}`;
  rmSync(temp, { recursive: true, force: true });
  const extra = include.length > 0 ? [`--include=${include.join(',')}`] : [];
  execFileSync('mmdebstrap', ['--variant=minbase', ...extra, 'trixie', temp, hostMirror()], {
    stdio: 'pipe',
  });
  renameSync(temp, root);
  return root;
}

/**
 * A `mmdebstrap --variant=minbase --include=<packages> trixie` root, made once under the cache dir
 * (named after the packages) and reused; built under a temp name and renamed, and a concurrent
 * builder that renamed first wins (this one's copy is dropped).
 */
export function ensureTrixieRootWith(packages: readonly string[]): string {
  const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  const root = join(cache, `rampart/e2e/minbase-trixie+${[...packages].sort().join('+')}`);
  if (existsSync(join(root, 'var/lib/dpkg/status'))) return root;
  mkdirSync(join(cache, 'rampart/e2e'), { recursive: true });
  const temp = `${root}.tmp-${process.pid}`;
  rmSync(temp, { recursive: true, force: true });
  execFileSync(
    'mmdebstrap',
    ['--variant=minbase', `--include=${packages.join(',')}`, 'trixie', temp, hostMirror()],
    { stdio: 'pipe' },
  );
  try {
    renameSync(temp, root);
  } catch (error) {
    if (!existsSync(join(root, 'var/lib/dpkg/status'))) throw error;
    rmSync(temp, { recursive: true, force: true });
  }
  return root;
}
