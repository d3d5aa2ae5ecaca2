import { createHash } from 'node:crypto';
import { chmod, link, lstat, mkdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { statusStanza } from '../builder/status-d.js';
import { canonicalPath, movedSymlinkTarget, USR_MERGED_DIRS } from '../builder/tree.js';
import type { AptMirrors } from '../debian/apt-sources.js';
import { defaultCacheDir } from '../debian/cache.js';
import { readDeb, readDebData } from '../debian/deb-reader.js';
import { downloadPackages } from '../debian/download.js';
import type { PackageIndex } from '../debian/package-index.js';
import { loadRepositories, parsedCacheFormat } from '../debian/repository.js';
import { resolvePackageClosure } from '../debian/resolver.js';
import { RampartError } from '../errors.js';
import type { FetchFn } from '../http/fetch.js';
import { installedPackages } from '../sbom/installed.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { codeFingerprint } from '../util/code-fingerprint.js';
import { compareText } from '../util/compare-text.js';
import { tempSuffix } from '../util/staging.js';
import { VERSION } from '../version.js';

/** `--against debian:SUITE`: which standard root to compare with. */
export interface StandardRootRequest {
  /** A Debian suite (trixie, bookworm, ...). */
  suite: string;
  /** Debian architecture (amd64, arm64, ...). */
  architecture: string;
  /** The image's main packages, installed on top of minbase (see mainPackages). */
  packages: readonly string[];
  /** The archive's mirror and keyring (default: the host's apt sources and Debian's keyring). */
  mirrors?: AptMirrors;
  /** The archive state from archiveState, when the caller checked it already (default: checked here). */
  archive?: ArchiveState;
  cacheDir?: string;
  fetch?: FetchFn;
  signal?: AbortSignal;
  log?: (message: string) => void;
}

/** The verified InRelease digest of each suite read (SUITE, SUITE-updates, SUITE-security). */
export type ArchiveState = ReadonlyArray<{ suite: string; inReleaseSha256: string }>;

export interface StandardRoot {
  /** The root directory (in the cache; reused while the archive resolves to the same packages). */
  path: string;
  /** `debian:SUITE minbase + PKG...` */
  description: string;
  packages: number;
  cached: boolean;
}

/** Parses `debian:SUITE` (the only family `--against` knows). */
export function parseAgainst(value: string): { suite: string } {
  const match = /^debian:([a-z][a-z0-9-]*)$/.exec(value);
  if (!match)
    throw new RampartError(
      'USAGE',
      `--against ${JSON.stringify(value)}: give debian:SUITE (for example debian:trixie)`,
      { details: { option: '--against', value } },
    );
  return { suite: match[1] as string };
}

/**
 * The standard Debian root an image is measured against: what `mmdebstrap --variant=minbase`
 * installs (every `Priority: required` package and apt) plus the image's main packages and their
 * dependencies, resolved by rampart's resolver against the signature-verified archive
 * (SUITE, SUITE-updates, SUITE-security), downloaded and digest-checked into rampart's cache,
 * and unpacked as dpkg unpacks: modes kept (setuid included), merged /usr, a dpkg status
 * database. No maintainer script runs, so files those scripts would create (/etc/passwd from
 * base-passwd, alternatives links) are absent; everything that packages ship is there.
 *
 * The root is cached under CACHE/surface/standard-roots/KEY/root, KEY being the digest of the
 * resolved package set (names, versions, .deb SHA-256s), so a root never changes once built.
 * Which KEY a request resolves to is remembered per archive state (resolvedKey): a warm compare
 * fetches and verifies the suites' InRelease files (conditional requests) and reads nothing else
 * of the archive — no index load, no resolve, no download, no unpack.
 */
export async function ensureStandardRoot(request: StandardRootRequest): Promise<StandardRoot> {
  const cacheDir = request.cacheDir ?? defaultCacheDir();
  const log = request.log ?? (() => undefined);
  const repoOptions = { ...archiveOptions(request), architectures: [request.architecture], cacheDir };
  const parent = join(cacheDir, 'surface', 'standard-roots');
  // Warm: the verified InRelease digests name the archive state; with the request they name the
  // root built before, so neither the ~70k-package index nor the resolver is needed.
  const archive = request.archive ?? (await archiveState(request));
  const known = await readResolved(parent, await resolvedKey(request, archive));
  if (known) return { ...known, cached: true };
  const repos = await loadRepositories(repoOptions);
  const index = repos.indexes.get(request.architecture) ?? repos.index;
  const required = await requiredPackages(index, parent, repos.releases, request.architecture);
  const wanted = [...new Set([...required, 'apt', ...request.packages])].sort(compareText);
  const resolution = resolvePackageClosure(index, { packages: wanted, architecture: request.architecture });
  const key = createHash('sha256')
    .update(resolution.packages.map((p) => `${p.name}:${p.architecture}=${p.version} ${p.sha256}`).join('\n'))
    .digest('hex')
    .slice(0, 32);
  const extra = request.packages.filter((p) => !required.includes(p) && p !== 'apt');
  const description = `debian:${request.suite} minbase${extra.length > 0 ? ` + ${extra.join(', ')}` : ''}`;
  // KEY/root is the root; KEY/description marks it complete (and holds no file of the root).
  const entry = join(parent, key);
  const path = join(entry, 'root');
  const done = join(entry, 'description');
  const remember = async () =>
    writeResolved(parent, await resolvedKey(request, repos.releases), {
      key,
      description,
      packages: resolution.packages.length,
    });
  if (await exists(done)) {
    await remember();
    return { path, description, packages: resolution.packages.length, cached: true };
  }
  log(`building the standard root (${resolution.packages.length} packages)`);
  const files = await downloadPackages(resolution.packages, {
    mirrors: repos.mirrors,
    cacheDir,
    ...(request.fetch ? { fetch: request.fetch } : {}),
    ...(request.signal ? { signal: request.signal } : {}),
  });
  await mkdir(parent, { recursive: true });
  const stagingEntry = `${entry}${tempSuffix()}`;
  const staging = join(stagingEntry, 'root');
  try {
    await mkdir(staging, { recursive: true });
    const stanzas: string[] = [];
    for (const pkg of resolution.packages) {
      request.signal?.throwIfAborted();
      const deb = files.get(pkg.sha256) as string;
      await unpackDeb(staging, deb);
      const control = (await readDeb(deb)).controlFiles.get('control') as Buffer;
      stanzas.push(statusStanza(control.toString('utf8')));
    }
    for (const dir of USR_MERGED_DIRS) {
      const present = await lstat(join(staging, 'usr', dir)).then(
        (s) => s.isDirectory(),
        () => false,
      );
      const taken = await lstat(join(staging, dir)).then(
        () => true,
        () => false,
      );
      if (present && !taken) await symlink(`usr/${dir}`, join(staging, dir));
    }
    await mkdir(join(staging, 'var/lib/dpkg'), { recursive: true });
    await writeFile(join(staging, 'var/lib/dpkg/status'), stanzas.join('\n'));
    await writeFile(join(stagingEntry, 'description'), `${description}\n`);
    await rename(stagingEntry, entry).catch(async (error: NodeJS.ErrnoException) => {
      // Another process finished the same root first: theirs is as good as ours.
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
      await rm(stagingEntry, { recursive: true, force: true });
    });
    await remember();
  } catch (error) {
    await rm(stagingEntry, { recursive: true, force: true });
    if (request.signal?.aborted)
      throw new RampartError('CANCELLED', 'building the standard root was cancelled', {
        cause: error,
        details: { operation: 'standard root' },
      });
    throw error;
  }
  return { path, description, packages: resolution.packages.length, cached: false };
}

function archiveOptions(request: Omit<StandardRootRequest, 'architecture' | 'packages'>) {
  const log = request.log ?? (() => undefined);
  return {
    ...request.mirrors,
    suites: [request.suite],
    cacheDir: request.cacheDir ?? defaultCacheDir(),
    ...(request.fetch ? { fetch: request.fetch } : {}),
    ...(request.signal ? { signal: request.signal } : {}),
    log,
    warn: log,
  };
}

/**
 * Fetches (conditionally) and verifies the InRelease files of SUITE, SUITE-updates and
 * SUITE-security, reading no index: the state of the archive a standard root is resolved
 * against. Needs nothing of the image, so `compare --against` starts it while it measures.
 */
export async function archiveState(
  request: Omit<StandardRootRequest, 'architecture' | 'packages'>,
): Promise<ArchiveState> {
  const { releases } = await loadRepositories({
    ...archiveOptions(request),
    architectures: [],
    indexes: false,
  });
  return releases.map((r) => ({ suite: r.suite, inReleaseSha256: r.inReleaseSha256 }));
}

/** Bump when the memo file's shape changes: entries written before are then ignored. */
const RESOLUTION_FORMAT = 1;

/**
 * The folders of the code that decides what a standard root is resolved to (the required set,
 * the resolver's choices, the closure key): a change there gives another memo key.
 */
export const RESOLUTION_CODE = ['surface', 'debian', 'util'] as const;

/** What `resolved-KEY.json` remembers: the root directory's key and what ensureStandardRoot returns. */
interface ResolvedRoot {
  key: string;
  description: string;
  packages: number;
}

/**
 * The memo key of a request against an archive state: the suite, architecture and main packages
 * asked for, and the SHA-256 of each InRelease the index was read from (suite, -updates,
 * -security; verified, and listing the digest of every Packages index), with the parser's format
 * (parsedCacheFormat), rampart's version, RESOLUTION_FORMAT and the fingerprint of the resolving
 * code (`codeFingerprint(RESOLUTION_CODE)`; `codeRoot` is for tests). Those fix the index and so
 * the closure: when the archive publishes a new Release, or the resolver changes, the key changes
 * and the root is resolved again.
 */
export async function resolvedKey(
  request: StandardRootRequest,
  releases: ReadonlyArray<{ suite: string; inReleaseSha256: string }>,
  codeRoot?: string,
): Promise<string> {
  const code = await codeFingerprint(RESOLUTION_CODE, codeRoot);
  return createHash('sha256')
    .update(
      JSON.stringify([
        RESOLUTION_FORMAT,
        VERSION,
        code,
        parsedCacheFormat(),
        request.suite,
        request.architecture,
        [...new Set(request.packages)].sort(compareText),
        releases.map((r) => [r.suite, r.inReleaseSha256]),
      ]),
    )
    .digest('hex')
    .slice(0, 32);
}

/** The root a memo names, when the memo parses and the root is complete; otherwise undefined. */
async function readResolved(parent: string, memo: string): Promise<Omit<StandardRoot, 'cached'> | undefined> {
  const known = await readFile(join(parent, `resolved-${memo}.json`), 'utf8').then(
    (text) => JSON.parse(text) as Partial<ResolvedRoot>,
    () => undefined,
  );
  if (
    typeof known?.key !== 'string' ||
    !/^[0-9a-f]{32}$/.test(known.key) ||
    typeof known.description !== 'string' ||
    typeof known.packages !== 'number'
  )
    return undefined;
  const entry = join(parent, known.key);
  if (!(await exists(join(entry, 'description')))) return undefined;
  return { path: join(entry, 'root'), description: known.description, packages: known.packages };
}

async function writeResolved(parent: string, memo: string, root: ResolvedRoot): Promise<void> {
  await mkdir(parent, { recursive: true });
  await writeFileAtomic(join(parent, `resolved-${memo}.json`), JSON.stringify(root)).catch(() => undefined);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * The `Priority: required` and `Essential: yes` packages of the index. Finding them parses every
 * stanza of the index (~70k, seconds), so the answer is kept per archive state (the InRelease
 * digests of the suites read) and architecture beside the standard roots.
 */
async function requiredPackages(
  index: PackageIndex,
  dir: string,
  releases: ReadonlyArray<{ suite: string; inReleaseSha256: string }>,
  architecture: string,
): Promise<string[]> {
  const key = createHash('sha256')
    .update(JSON.stringify([architecture, releases.map((r) => [r.suite, r.inReleaseSha256])]))
    .digest('hex')
    .slice(0, 32);
  const file = join(dir, `required-${key}.json`);
  const cached = await readFile(file, 'utf8').then(
    (text) => JSON.parse(text) as unknown,
    () => undefined,
  );
  if (Array.isArray(cached) && cached.every((n) => typeof n === 'string')) return cached as string[];
  const required: string[] = [];
  for (const name of index.names()) {
    const candidate = index.candidates(name)[0];
    if (candidate && (candidate.priority === 'required' || candidate.essential)) required.push(name);
  }
  required.sort(compareText);
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(file, JSON.stringify(required)).catch(() => undefined);
  return required;
}

/**
 * Unpacks one .deb's data into `root` as dpkg would (paths canonicalised into merged /usr).
 * Entry names were checked by the .deb reader (no `..`, no absolute); an entry whose parent on
 * disk is not a real directory (a symlink a package shipped) is refused, so nothing is written
 * through a link out of the root.
 */
async function unpackDeb(root: string, deb: string): Promise<void> {
  for await (const entry of readDebData(deb)) {
    const h = entry.header;
    if (h.type !== 'file' && h.type !== 'directory' && h.type !== 'symlink' && h.type !== 'link') continue;
    const type = h.type === 'link' ? 'hardlink' : h.type;
    const path = canonicalPath(h.name, type);
    if (path === '') continue;
    await ensureRealParents(root, path, deb);
    const target = join(root, path);
    const existing = await lstat(target).catch(() => undefined);
    if (h.type === 'directory') {
      if (!existing) await mkdir(target);
      else if (!existing.isDirectory()) continue;
      await chmod(target, h.mode & 0o7777);
      continue;
    }
    if (existing?.isDirectory()) continue;
    if (existing) await rm(target, { force: true });
    if (h.type === 'symlink') await symlink(movedSymlinkTarget(h.name, path, h.linkname ?? ''), target);
    else if (h.type === 'link') {
      const source = join(root, canonicalPath(h.linkname ?? ''));
      if ((await lstat(source).catch(() => undefined))?.isFile()) await link(source, target);
    } else {
      await writeFile(target, entry.content ?? Buffer.alloc(0), { flag: 'wx' });
      await chmod(target, h.mode & 0o7777);
    }
  }
}

async function ensureRealParents(root: string, path: string, deb: string): Promise<void> {
  const parts = path.split('/').slice(0, -1);
  let current = root;
  for (const part of parts) {
    current = join(current, part);
    const info = await lstat(current).catch(() => undefined);
    if (!info) await mkdir(current, { mode: 0o755 });
    else if (!info.isDirectory())
      throw new RampartError(
        'UNSAFE_LINK',
        `${deb}: /${path} would be written through ${current.slice(root.length)}, which is not a directory`,
        { details: { path: `/${path}`, target: current.slice(root.length) } },
      );
  }
}

/**
 * The image's main packages, for `--against`: the roots of the dependency graph of its Debian
 * packages (from the SBOM) — packages that nothing outside their own dependency cycle depends on
 * (nodejs and libnode depend on each other; both are roots). For a rampart image these are the
 * spec's `packages:`, as the resolver pulled in the rest. Names only, sorted.
 */
export function mainPackages(
  packages: ReadonlyArray<{
    id: string;
    name: string;
    type: string;
    architecture?: string;
    dependsOn: readonly string[];
  }>,
): string[] {
  // Installed packages only: a Built-Using source package (`architecture: 'source'`) has no
  // incoming edge but is no package one could install.
  const debs = installedPackages(packages).filter((p) => p.type === 'deb');
  const ids = new Set(debs.map((p) => p.id));
  const edges = new Map(debs.map((p) => [p.id, p.dependsOn.filter((d) => ids.has(d))]));
  const reach = new Map<string, Set<string>>();
  for (const { id } of debs) {
    const seen = new Set<string>();
    const pending = [...(edges.get(id) ?? [])];
    for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
      if (seen.has(next)) continue;
      seen.add(next);
      pending.push(...(edges.get(next) ?? []));
    }
    reach.set(id, seen);
  }
  // p is a root when every package that reaches p is also reached from p (same cycle).
  const roots = debs.filter((p) =>
    debs.every((q) => q.id === p.id || !reach.get(q.id)?.has(p.id) || reach.get(p.id)?.has(q.id)),
  );
  return [...new Set(roots.map((p) => p.name))].sort(compareText);
}
