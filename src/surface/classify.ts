/**
 * The one place that says what a file in an image *is*, for attack-surface metrics, lint and diff:
 * a shell, a package manager, an interpreter, on the default PATH. Matching is by basename of a
 * regular file or symlink in a PATH directory (a shell is a shell wherever it lives, but only a
 * PATH entry is what `sh -c` or an attacker's `exec` finds by name).
 */

/** The default PATH of rampart images and of Debian (`/etc/login.defs` ENV_SUPATH). */
export const DEFAULT_PATH_DIRS: readonly string[] = [
  '/usr/local/sbin',
  '/usr/local/bin',
  '/usr/sbin',
  '/usr/bin',
  '/sbin',
  '/bin',
];

export const SHELLS: ReadonlySet<string> = new Set([
  'sh',
  'bash',
  'dash',
  'ash',
  'busybox',
  'zsh',
  'ksh',
  'mksh',
  'pdksh',
  'ksh93',
  'csh',
  'tcsh',
  'fish',
  'rbash',
  'yash',
  'toybox',
]);

export const PACKAGE_MANAGERS: ReadonlySet<string> = new Set([
  'apt',
  'apt-get',
  'aptitude',
  'dpkg',
  'dpkg-deb',
  'apk',
  'yum',
  'dnf',
  'microdnf',
  'rpm',
  'zypper',
  'pacman',
  'pip',
  'pip3',
  'pipx',
  'npm',
  'npx',
  'yarn',
  'pnpm',
  'gem',
  'cargo',
  'go',
  'conda',
  'mamba',
  'nix',
  'nix-env',
  'snap',
  'flatpak',
]);

/** Names are matched exactly or as NAME + version suffix (python3.13, perl5.40.1, lua5.4). */
export const INTERPRETERS: readonly string[] = [
  'python',
  'python2',
  'python3',
  'perl',
  'ruby',
  'node',
  'nodejs',
  'php',
  'lua',
  'luajit',
  'tclsh',
  'wish',
  'java',
  'jshell',
  'deno',
  'bun',
  'Rscript',
  'R',
  'awk',
  'gawk',
  'mawk',
  'busybox',
];

export type FileRole = 'shell' | 'package-manager' | 'interpreter';

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function dirName(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}

/** Whether an absolute path is directly inside one of the default PATH directories. */
export function isOnDefaultPath(path: string): boolean {
  return DEFAULT_PATH_DIRS.includes(dirName(path));
}

function isInterpreterName(name: string): boolean {
  return INTERPRETERS.some(
    (base) => name === base || (name.startsWith(base) && /^[0-9][0-9.]*$/.test(name.slice(base.length))),
  );
}

/** The roles of one absolute path by name (empty when it has none). A PATH directory is required. */
export function rolesOf(path: string): FileRole[] {
  if (!isOnDefaultPath(path)) return [];
  const name = baseName(path);
  const roles: FileRole[] = [];
  if (SHELLS.has(name)) roles.push('shell');
  if (PACKAGE_MANAGERS.has(name)) roles.push('package-manager');
  if (isInterpreterName(name)) roles.push('interpreter');
  return roles;
}
