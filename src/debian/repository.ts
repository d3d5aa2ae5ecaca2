import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { RampartError } from '../errors.js';
import { type FetchFn, fetchWithRetry, HttpStatusError, redactUrl } from '../http/fetch.js';
import { compressionOf, decompressBuffer } from '../util/decompress.js';
import { type AptMirrors, mirrorForSuite, resolveMirrors } from './apt-sources.js';
import { ContentCache, defaultCacheDir } from './cache.js';
import { COMPACT_FORMAT, CompactPackages, encodeCompactPackages } from './compact-index.js';
import { fetchVerifiedIntoCache } from './download.js';
import {
  checkReleaseFreshness,
  checkReleaseSuite,
  parseRelease,
  type Release,
  type ReleaseFileEntry,
  readKeyring,
  verifyInRelease,
} from './inrelease.js';
import { PackageIndex, parsePackagesFile } from './package-index.js';

export interface LoadRepositoriesOptions extends AptMirrors {
  suites: string[];
  architectures: string[];
  /** Default `['main']`. */
  components?: string[];
  cacheDir?: string;
  /**
   * The clock for Valid-Until and key validity; default `new Date()`. Pass the real time, not
   * SOURCE_DATE_EPOCH: freshness is about now, and a past clock predates the signature.
   */
  now?: Date;
  fetch?: FetchFn;
  log?: (message: string) => void;
  /** apt configuration directory for the default mirrors (tests point this elsewhere). */
  etcApt?: string;
}

/** What was trusted, for provenance: one entry per suite. */
export interface LoadedRelease {
  suite: string;
  inReleaseSha256: string;
  date: string;
  validUntil?: string;
  url: string;
  /** The Packages indexes read from this suite (paths relative to dists/SUITE/), as the Release lists them. */
  indexes: Array<{ path: string; sha256: string; size: number }>;
}

export interface LoadedRepositories {
  /** Index of the first requested architecture (arch-specific plus `all` packages). */
  index: PackageIndex;
  /** One index per requested architecture; resolve each architecture against its own. */
  indexes: Map<string, PackageIndex>;
  releases: LoadedRelease[];
  /** The mirrors and keyring actually used (options over host apt config); pass to downloadPackages. */
  mirrors: AptMirrors;
}

interface InReleaseMeta {
  etag?: string;
  lastModified?: string;
  sha256: string;
}

// The parsed-index cache must not outlive a change in how packages are parsed: key it by the
// parser's output for a sample stanza that exercises every relation feature.
const SAMPLE_STANZA = `Package: p
Version: 1:2.0-1
Architecture: amd64
Multi-Arch: same
Source: s (2.0-1)
Pre-Depends: a:any (>= 1) | b
Depends: c (<< 2) [amd64], d:native
Recommends: e
Provides: v (= 1)
Conflicts: f
Breaks: g (<< 1)
Essential: yes
Priority: required
Section: libs
Installed-Size: 1
Filename: pool/p.deb
Size: 1
SHA256: ${'0'.repeat(64)}
Description: d
`;
let parsedFormat: string | undefined;
/** Changes whenever the compact encoding or the parse of a stanza would give something else. */
export function parsedCacheFormat(): string {
  const origin = { suite: 's', component: 'c' };
  parsedFormat ??= createHash('sha256')
    .update(COMPACT_FORMAT)
    .update(encodeCompactPackages(SAMPLE_STANZA, origin).bytes)
    .update(JSON.stringify(parsePackagesFile(SAMPLE_STANZA, origin)))
    .digest('hex')
    .slice(0, 16);
  return parsedFormat;
}

async function fetchInRelease(
  url: string,
  cache: ContentCache,
  fetchFn: FetchFn | undefined,
  log: (message: string) => void,
): Promise<{ bytes: Buffer; sha256: string }> {
  const meta = await cache.readJson<InReleaseMeta>('inrelease', url);
  const headers: Record<string, string> = {};
  if (meta && (await cache.has(meta.sha256))) {
    if (meta.etag) headers['if-none-match'] = meta.etag;
    if (meta.lastModified) headers['if-modified-since'] = meta.lastModified;
  }
  const response = await fetchWithRetry(url, {
    ...(fetchFn ? { fetch: fetchFn } : {}),
    headers,
    acceptStatuses: [304, 404],
  });
  if (response.status === 404) {
    throw new RampartError(
      'INDEX_MISSING',
      `${redactUrl(url)} not found (HTTP 404); check the suite name and the mirror`,
    );
  }
  if (response.status === 304 && meta) {
    log(`${redactUrl(url)}: not modified`);
    return { bytes: await cache.readBlob(meta.sha256), sha256: meta.sha256 };
  }
  const bytes = Buffer.from(await response.arrayBuffer());
  const sha256 = await cache.putBytes(bytes);
  const etag = response.headers.get('etag');
  const lastModified = response.headers.get('last-modified');
  await cache.writeJson('inrelease', url, {
    sha256,
    ...(etag ? { etag } : {}),
    ...(lastModified ? { lastModified } : {}),
  } satisfies InReleaseMeta);
  return { bytes, sha256 };
}

/** Fetches a file listed in the signed Release into the cache, verified, by-hash when offered. */
async function fetchIndexFile(
  distUrl: string,
  path: string,
  entry: ReleaseFileEntry,
  release: Release,
  cache: ContentCache,
  fetchFn: FetchFn | undefined,
): Promise<string> {
  if (await cache.has(entry.sha256, entry.size)) return cache.blobPath(entry.sha256);
  const dir = path.slice(0, path.lastIndexOf('/') + 1);
  const urls = release.acquireByHash ? [`${distUrl}/${dir}by-hash/SHA256/${entry.sha256}`] : [];
  urls.push(`${distUrl}/${path}`);
  for (const [i, url] of urls.entries()) {
    try {
      return await fetchVerifiedIntoCache(url, entry, cache, fetchFn ? { fetch: fetchFn } : {});
    } catch (error) {
      if (!(error instanceof HttpStatusError && error.status === 404)) throw error;
      // The by-hash copy can be pruned between Release publication and our fetch; fall back.
      if (i < urls.length - 1) continue;
      throw new RampartError(
        'INDEX_MISSING',
        `${redactUrl(url)} is listed in the signed Release but missing on the mirror (HTTP 404); retry later or use another mirror`,
        { cause: error },
      );
    }
  }
  throw new RampartError('INDEX_MISSING', `no URL to fetch ${path} from ${redactUrl(distUrl)}`);
}

/** Prefers the smallest index the Release lists; the uncompressed file is the last resort. */
const INDEX_NAMES = ['Packages.xz', 'Packages.gz', 'Packages'];

async function loadPackages(
  distUrl: string,
  suite: string,
  component: string,
  arch: string,
  release: Release,
  cache: ContentCache,
  fetchFn: FetchFn | undefined,
  inReleaseUrl: string,
): Promise<{ compact: CompactPackages; count: number; path: string; entry: ReleaseFileEntry }> {
  const base = `${component}/binary-${arch}/`;
  const name = INDEX_NAMES.find((n) => release.files.has(base + n));
  const entry = name ? release.files.get(base + name) : undefined;
  if (!name || !entry) {
    throw new RampartError(
      'INDEX_MISSING',
      `${redactUrl(inReleaseUrl)} lists no ${base}Packages index; check --arch ${arch} and the component ${component}`,
    );
  }
  const origin = { suite, component };
  const parsedKey = `${parsedCacheFormat()}|${entry.sha256}|${suite}|${component}`;
  const cached = await readCompactIndex(cache, parsedKey, origin);
  if (cached) return { ...cached, path: base + name, entry };
  const file = await fetchIndexFile(distUrl, base + name, entry, release, cache, fetchFn);
  const compression = compressionOf(name) ?? 'none';
  const text = (await decompressBuffer(await readFile(file), compression)).toString('utf8');
  const { bytes, count } = encodeCompactPackages(text, origin);
  const sha256 = await cache.putBytes(bytes);
  await cache.writeJson('parsed', parsedKey, { compact: sha256, count } satisfies CompactIndexMeta);
  return { compact: new CompactPackages(bytes, origin), count, path: base + name, entry };
}

/** What the `parsed` cache keeps per index: the compact form's blob and its stanza count. */
type CompactIndexMeta = { compact: string; count: number };

/**
 * The cached compact form of an index, its digest checked on read (a damaged or tampered cache
 * file is a miss, rebuilt from the verified index); undefined on a miss.
 */
async function readCompactIndex(
  cache: ContentCache,
  key: string,
  origin: { suite: string; component: string },
): Promise<{ compact: CompactPackages; count: number } | undefined> {
  const meta = await cache.readJson<CompactIndexMeta>('parsed', key);
  if (!meta || typeof meta.compact !== 'string' || typeof meta.count !== 'number') return undefined;
  const bytes = await cache.readBlob(meta.compact).catch(() => undefined);
  if (!bytes) return undefined;
  if (createHash('sha256').update(bytes).digest('hex') !== meta.compact) {
    // Removed, or the rebuilt blob would be skipped as already present (same name, same size).
    await rm(cache.blobPath(meta.compact), { force: true });
    return undefined;
  }
  return { compact: new CompactPackages(bytes, origin), count: meta.count };
}

/**
 * Fetches and verifies InRelease for every suite, then each suite's Packages index per
 * architecture (hash-checked against the signed Release), and returns one PackageIndex
 * per architecture. Nothing unsigned is trusted: the Release is parsed from the verified
 * cleartext only.
 */
export async function loadRepositories(opts: LoadRepositoriesOptions): Promise<LoadedRepositories> {
  if (opts.suites.length === 0) throw new RampartError('USAGE', 'no suite given; pass --suite (e.g. trixie)');
  if (opts.architectures.length === 0) throw new RampartError('USAGE', 'no architecture given; pass --arch');
  const log = opts.log ?? (() => undefined);
  const now = opts.now ?? new Date();
  const mirrors = await resolveMirrors(opts, opts.etcApt);
  const cache = new ContentCache(opts.cacheDir ?? defaultCacheDir());
  const keyringBytes = await readFile(mirrors.keyring).catch((error: Error) => {
    throw new RampartError(
      'IO',
      `cannot read keyring ${mirrors.keyring}: ${error.message}; pass --keyring FILE`,
      {
        cause: error,
      },
    );
  });
  const keys = await readKeyring(keyringBytes, mirrors.keyring);
  const components = opts.components ?? ['main'];
  const perArch = new Map<string, CompactPackages[]>(opts.architectures.map((a) => [a, []]));
  const releases: LoadedRelease[] = [];

  for (const suite of opts.suites) {
    const distUrl = `${mirrorForSuite(suite, mirrors)}/dists/${suite}`;
    const url = `${distUrl}/InRelease`;
    const { bytes, sha256 } = await fetchInRelease(url, cache, opts.fetch, log);
    const { text } = await verifyInRelease(bytes.toString('utf8'), keys, {
      url: redactUrl(url),
      keyringName: mirrors.keyring,
      now,
    });
    const release = parseRelease(text, redactUrl(url));
    checkReleaseSuite(release, suite, redactUrl(url));
    checkReleaseFreshness(release, now, redactUrl(url));
    const indexFiles: LoadedRelease['indexes'] = [];
    for (const arch of opts.architectures) {
      for (const component of components) {
        const loaded = await loadPackages(distUrl, suite, component, arch, release, cache, opts.fetch, url);
        log(`${suite}/${component}/binary-${arch}: ${loaded.count} packages`);
        perArch.get(arch)?.push(loaded.compact);
        indexFiles.push({ path: loaded.path, ...loaded.entry });
      }
    }
    releases.push({
      suite,
      inReleaseSha256: sha256,
      date: release.date,
      ...(release.validUntil ? { validUntil: release.validUntil } : {}),
      url: redactUrl(url),
      indexes: indexFiles,
    });
  }
  const indexes = new Map<string, PackageIndex>();
  for (const [arch, lists] of perArch) {
    const index = new PackageIndex();
    for (const compact of lists) index.addSource(compact);
    indexes.set(arch, index);
  }
  const first = indexes.get(opts.architectures[0] as string) as PackageIndex;
  return { index: first, indexes, releases, mirrors };
}
