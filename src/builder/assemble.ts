import type { DebControl } from '../debian/deb-reader.js';
import { RampartError } from '../errors.js';
import { type Accounts, resolveAccounts } from './accounts.js';
import { addAppFiles, type FileSourceRecord } from './app-files.js';
import { readDebCached } from './build-cache.js';
import { CA_CERTS_DIR, installCaBundle } from './ca-bundle.js';
import { type ContentStore, isContentRef, readContent } from './content.js';
import {
  addAccounts,
  addAlternatives,
  addBusyboxApplets,
  addOpensslDefaults,
  addOsRelease,
  addSpecPaths,
  addSystemFiles,
  addUsrMergedLinks,
} from './generated.js';
import { unpackOrder } from './layering.js';
import type { LockedPackage } from './lock.js';
import { type PruneOptions, pathFilter } from './prune.js';
import type { FileSpec, ImageSpec, SpecLocator } from './spec.js';
import { imageMd5sums, statusStanza } from './status-d.js';
import { canonicalPath, FileTree, movedSymlinkTarget, type NodeType, rootFile } from './tree.js';

export const STATUS_DIR = 'var/lib/dpkg/status.d';

export type AssembledRootfs = {
  tree: FileTree;
  accounts: Accounts;
  /** Installed package names in unpack order. */
  installed: string[];
  controls: Map<string, DebControl>;
  caCertificates: number;
  /** Links created in place of postinst work (alternatives, busybox applets). */
  links: string[];
  /** Paths whose setuid/setgid or world-writable bits were cleared, and how. */
  hardened: HardeningChange[];
  /** The spec's `files:` as read, with their digests (for the build record). */
  fileSources: FileSourceRecord[];
};

/** One mode the build tightened, reported to the user: `{ path: '/usr/bin/su', change: 'setuid cleared (4755 -> 0755)' }`. */
export type HardeningChange = { path: string; change: string };

/**
 * Unpacks the packages' data into one tree without running any maintainer script, then adds
 * the deterministic equivalents of their post-install work, the scanner-readable package
 * database and the spec's `files:` (relative to `spec.baseDir`). Modes are hardened last, so
 * nothing the spec adds escapes it.
 */
export async function assembleRootfs(
  debs: ReadonlyArray<{ pkg: LockedPackage; path: string }>,
  spec: Pick<ImageSpec, 'accounts' | 'paths'> & { prune: PruneOptions; files?: FileSpec[]; baseDir?: string },
  opts: {
    cacheDir?: string;
    locate?: SpecLocator;
    /** Directories besides the spec's that `files[].source` may come from. */
    allowOutsideContext?: readonly string[];
    /** Where `files:` bytes are spooled (read through the checked descriptor); default in memory. */
    fileStore?: ContentStore;
    signal?: AbortSignal;
  } = {},
): Promise<AssembledRootfs> {
  const tree = new FileTree();
  const keep = pathFilter(spec.prune);
  const byName = new Map(debs.map((d) => [d.pkg.name, d]));
  const installed = unpackOrder([...byName.keys()]);
  const controls = new Map<string, DebControl>();
  const hardlinks: Array<{ path: string; target: string; owner: string }> = [];

  for (const name of installed) {
    opts.signal?.throwIfAborted();
    const { pkg, path } = byName.get(name)!;
    const unpacked = await readDebCached(path, pkg.sha256, opts.cacheDir);
    controls.set(name, unpacked.control);
    for (const entry of unpacked.entries) {
      const h = entry.header;
      if (h.type !== 'file' && h.type !== 'directory' && h.type !== 'symlink' && h.type !== 'link') {
        throw new RampartError(
          'MALFORMED_DEB',
          `${pkg.name} ${pkg.version} ships a ${h.type} at /${h.name}; images cannot carry device nodes`,
          { details: { path, package: pkg.name, member: h.name } },
        );
      }
      const type: NodeType = h.type === 'link' ? 'hardlink' : h.type;
      const canonical = canonicalPath(h.name, type);
      if (canonical === '' || !keep(canonical, type)) continue;
      if (type === 'hardlink') {
        hardlinks.push({ path: canonical, target: canonicalPath(h.linkname ?? ''), owner: name });
        continue;
      }
      tree.add(canonical, {
        type,
        mode: h.mode & 0o7777,
        uid: h.uid,
        gid: h.gid,
        ...(type === 'file' ? { content: entry.content ?? Buffer.alloc(0) } : {}),
        ...(type === 'symlink' ? { target: movedSymlinkTarget(h.name, canonical, h.linkname ?? '') } : {}),
        owner: name,
      });
    }
  }
  // Hard links become copies: a layer boundary or a pruned target would otherwise break them.
  for (const link of hardlinks) {
    const target = tree.get(link.target);
    if (target?.type !== 'file') continue;
    tree.add(link.path, { ...target, owner: link.owner });
  }

  for (const name of installed) {
    const control = controls.get(name)!;
    const controlText = control.controlFiles.get('control')!.toString('utf8');
    const file = (text: string) => rootFile(text, name);
    tree.put(`${STATUS_DIR}/${name}`, file(statusStanza(controlText)));
    const md5 = imageMd5sums(control.md5sums, (p) => tree.get(p)?.type === 'file');
    if (md5) tree.put(`${STATUS_DIR}/${name}.md5sums`, file(md5));
  }

  const accounts = resolveAccounts(spec.accounts);
  addUsrMergedLinks(tree);
  addOsRelease(tree);
  addSystemFiles(tree, installed.includes('base-files') ? 'base-files' : (installed[0] ?? 'base-files'));
  if (installed.includes('ca-certificates')) await loadCertificates(tree);
  const caCertificates = installed.includes('ca-certificates') ? installCaBundle(tree) : 0;
  const links = [
    ...addAlternatives(tree, new Set(installed)),
    ...addBusyboxApplets(tree),
    ...addOpensslDefaults(tree, installed),
  ];
  addAccounts(tree, accounts);
  addSpecPaths(tree, spec.paths);
  const fileSources = spec.files?.length
    ? await addAppFiles(tree, spec.files, spec.baseDir ?? '.', {
        locate: opts.locate ?? ((path) => path.join('.')),
        ...(opts.allowOutsideContext ? { allowOutsideContext: opts.allowOutsideContext } : {}),
        ...(opts.fileStore ? { store: opts.fileStore } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      })
    : [];
  const hardened = hardenModes(tree);
  return { tree, accounts, installed, controls, caCertificates, links, hardened, fileSources };
}

/** The CA bundle is computed from the certificates' bytes: read those few (verified) into memory. */
async function loadCertificates(tree: FileTree): Promise<void> {
  for (const path of tree.paths()) {
    const node = tree.get(path)!;
    if (node.type === 'file' && path.startsWith(`${CA_CERTS_DIR}/`) && isContentRef(node.content)) {
      node.content = await readContent(node.content);
    }
  }
}

const MODE_BITS = [
  [0o4000, 'setuid'],
  [0o2000, 'setgid'],
  [0o002, 'world-write'],
] as const;

/**
 * Clears setuid/setgid on files and world-write on everything but /tmp: nothing in a
 * runtime image should gain privileges or be writable by any uid.
 */
export function hardenModes(tree: FileTree): HardeningChange[] {
  const changed: HardeningChange[] = [];
  for (const path of tree.paths()) {
    const node = tree.get(path)!;
    if (node.type === 'symlink' || path === 'tmp') continue;
    let mode = node.mode;
    if (node.type === 'file') mode &= ~0o6000;
    mode &= ~0o002;
    if (mode !== node.mode) {
      const names = MODE_BITS.filter(([bit]) => node.mode & bit & ~mode).map(([, name]) => name);
      changed.push({
        path: `/${path}`,
        change: `${names.join(', ')} cleared (${octal(node.mode)} -> ${octal(mode)})`,
      });
      node.mode = mode;
    }
  }
  return changed;
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}
