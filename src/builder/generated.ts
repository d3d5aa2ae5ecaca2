import { type Accounts, groupFile, NSSWITCH_CONF, passwdFile } from './accounts.js';
import type { PathSpec } from './spec.js';
import { canonicalPath, type FileTree, rootFile, USR_MERGED_DIRS } from './tree.js';

/** Layer key of everything derived from the spec rather than from a package. */
export const CONFIG_OWNER = '(config)';

/**
 * Links that packages' postinst scripts would create through update-alternatives, for the
 * packages the catalog uses. The link points straight at the chosen target (no
 * /etc/alternatives indirection: there is no update-alternatives in the image to manage it).
 */
export const ALTERNATIVES: ReadonlyArray<{ package: string; link: string; target: string }> = [
  // nodejs.postinst: update-alternatives --install /usr/bin/js js /usr/bin/nodejs 50
  { package: 'nodejs', link: 'usr/bin/js', target: 'nodejs' },
];

/**
 * Busybox applets linked for `dev` variants, standing in for `busybox --install`, which cannot
 * run for a foreign architecture. A fixed list of applets Debian's busybox build includes; a
 * name another package already ships is left alone.
 */
export const BUSYBOX_APPLETS = [
  '[',
  'ash',
  'awk',
  'basename',
  'cat',
  'chmod',
  'chown',
  'clear',
  'cp',
  'cut',
  'date',
  'df',
  'dirname',
  'du',
  'echo',
  'env',
  'expr',
  'false',
  'find',
  'free',
  'grep',
  'gunzip',
  'gzip',
  'head',
  'hostname',
  'id',
  'kill',
  'less',
  'ln',
  'ls',
  'mkdir',
  'mktemp',
  'more',
  'mv',
  'nslookup',
  'ps',
  'pwd',
  'readlink',
  'realpath',
  'rm',
  'rmdir',
  'sed',
  'sh',
  'sleep',
  'sort',
  'stat',
  'tail',
  'tar',
  'tee',
  'test',
  'top',
  'touch',
  'tr',
  'true',
  'uname',
  'uniq',
  'vi',
  'wc',
  'wget',
  'which',
  'whoami',
  'xargs',
] as const;

/** Creates `bin -> usr/bin` etc. for every merged-/usr directory that has content, as Debian has them. */
export function addUsrMergedLinks(tree: FileTree, owner = 'base-files'): void {
  for (const dir of USR_MERGED_DIRS) {
    if (tree.get(`usr/${dir}`)?.type !== 'directory') continue;
    const existing = tree.get(dir);
    if (existing?.type === 'symlink') continue;
    tree.put(dir, { type: 'symlink', mode: 0o777, uid: 0, gid: 0, target: `usr/${dir}`, owner });
  }
}

/**
 * /etc/os-release as a regular file copied from base-files' /usr/lib/os-release, so scanners
 * that read layers without resolving links still find the distribution. Returns false when
 * base-files is not installed.
 */
export function addOsRelease(tree: FileTree): boolean {
  const source = tree.get('usr/lib/os-release');
  if (source?.type !== 'file') return false;
  tree.put('etc/os-release', { ...source, mode: 0o644, owner: source.owner });
  return true;
}

/** /tmp 1777, /etc/nsswitch.conf: the base-files/libc post-install state every image needs. */
export function addSystemFiles(tree: FileTree, owner = 'base-files'): void {
  tree.put('tmp', { type: 'directory', mode: 0o1777, uid: 0, gid: 0, owner });
  tree.put('etc/nsswitch.conf', rootFile(NSSWITCH_CONF, owner));
}

export function addAccounts(tree: FileTree, accounts: Accounts): void {
  const file = (text: string) => rootFile(text, CONFIG_OWNER);
  tree.put('etc/passwd', file(passwdFile(accounts)));
  tree.put('etc/group', file(groupFile(accounts)));
  for (const user of accounts.users) {
    if (user.home === '/nonexistent' || user.home === '/') continue;
    tree.put(user.home.slice(1), {
      type: 'directory',
      mode: 0o700,
      uid: user.uid,
      gid: user.gid,
      owner: CONFIG_OWNER,
    });
  }
}

/** Links the alternatives table's entries for the installed packages; returns the links made. */
export function addAlternatives(tree: FileTree, installed: ReadonlySet<string>): string[] {
  const made: string[] = [];
  for (const alt of ALTERNATIVES) {
    if (!installed.has(alt.package) || tree.has(alt.link)) continue;
    tree.put(alt.link, {
      type: 'symlink',
      mode: 0o777,
      uid: 0,
      gid: 0,
      target: alt.target,
      owner: alt.package,
    });
    made.push(alt.link);
  }
  return made;
}

/** The `busybox --install` equivalent: relative links in /usr/bin for the applet table. */
export function addBusyboxApplets(tree: FileTree): string[] {
  const busybox = tree.get('usr/bin/busybox');
  if (busybox?.type !== 'file') return [];
  const made: string[] = [];
  for (const applet of BUSYBOX_APPLETS) {
    const link = `usr/bin/${applet}`;
    if (tree.has(link) || tree.has(`usr/sbin/${applet}`)) continue;
    tree.put(link, { type: 'symlink', mode: 0o777, uid: 0, gid: 0, target: 'busybox', owner: busybox.owner });
    made.push(link);
  }
  return made;
}

/** The spec's `paths:` entries, in the config layer. */
export function addSpecPaths(tree: FileTree, paths: PathSpec[]): void {
  for (const p of paths) {
    // Canonical like package paths: `/bin/x` goes to usr/bin/x, not through the /bin symlink.
    const path = canonicalPath(p.path, p.type);
    const base = { uid: p.uid, gid: p.gid, owner: CONFIG_OWNER };
    if (p.type === 'directory') tree.put(path, { ...base, type: 'directory', mode: p.mode ?? 0o755 });
    else if (p.type === 'symlink')
      tree.put(path, { ...base, type: 'symlink', mode: 0o777, target: p.target ?? '' });
    else
      tree.put(path, { ...base, type: 'file', mode: p.mode ?? 0o644, content: Buffer.from(p.content ?? '') });
  }
}

/**
 * OpenSSL's compiled-in defaults (/usr/lib/ssl/cert.pem and certs/) come from the `openssl`
 * CLI package, which images leave out; link them to the CA bundle when libssl is installed,
 * so programs that ignore SSL_CERT_FILE (Python's openssl_cafile) still find the roots.
 */
export function addOpensslDefaults(tree: FileTree, installed: readonly string[]): string[] {
  const libssl = installed.find((p) => /^libssl3/.test(p));
  if (!libssl || !tree.has('etc/ssl/certs/ca-certificates.crt')) return [];
  const links: Array<[string, string]> = [
    ['usr/lib/ssl/cert.pem', '/etc/ssl/certs/ca-certificates.crt'],
    ['usr/lib/ssl/certs', '/etc/ssl/certs'],
  ];
  const made: string[] = [];
  for (const [link, target] of links) {
    if (tree.has(link)) continue;
    tree.put(link, { type: 'symlink', mode: 0o777, uid: 0, gid: 0, target, owner: libssl });
    made.push(link);
  }
  return made;
}
