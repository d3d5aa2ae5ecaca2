import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { isRampartError, RampartError } from '../errors.js';
import { type HttpClient, httpClientFor, throwIfCancelled } from '../http/client.js';
import { type FetchFn, redactUrl } from '../http/fetch.js';
import { compressionOf, decompressBuffer } from '../util/decompress.js';
import {
  type AptMirrors,
  DEFAULT_KEYRING,
  expandSuites,
  mirrorForSuite,
  readHostAptSources,
  resolveMirrors,
  selectMirrors,
} from './apt-sources.js';
import { ContentCache, defaultCacheDir } from './cache.js';
import { COMPACT_FORMAT, CompactPackages, encodeCompactPackages } from './compact-index.js';
import { fetchVerifiedIntoCache } from './download.js';
import {
  checkReleaseDate,
  checkReleaseFreshness,
  checkReleaseSuite,
  parseRelease,
  parseReleaseDate,
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
  /** The HTTP client (timeouts, deadline, retries); default one built on `fetch`. */
  http?: HttpClient;
  /** Used only when `http` is not given. */
  fetch?: FetchFn;
  /** Stops the fetches promptly; the call then fails with CANCELLED. */
  signal?: AbortSignal;
  /** Read only the suites named, not also their `-updates` and `-security` (default true: read them). */
  updates?: boolean;
  /**
   * Default true. false: fetch and verify the InRelease files only and return empty indexes, for a
   * caller that keys a cache by the archive state (`releases`) and needs the packages only on a miss.
   */
  indexes?: boolean;
  /** Accept a Release dated before the newest this cache has verified for its suite (a snapshot). */
  allowDowngrade?: boolean;
  /** Default 5 minutes. */
  maxClockSkewMs?: number;
  /** A Release without Valid-Until older than this gets a warning; default 30 days. */
  maxReleaseAgeMs?: number;
  /** Default 8 MiB. */
  maxInReleaseBytes?: number;
  log?: (message: string) => void;
  /** Warnings (an old Release, a companion suite missing on the mirror); default `log`. */
  warn?: (message: string) => void;
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

/** An InRelease is a few hundred KiB; anything past this is a broken or hostile server. */
export const DEFAULT_MAX_INRELEASE_BYTES = 8 * 1024 * 1024;

type FetchedInRelease =
  | { kind: 'missing' }
  | { kind: 'cached'; bytes: Buffer; sha256: string }
  | { kind: 'fresh'; bytes: Buffer; etag?: string; lastModified?: string };

/**
 * Fetches InRelease, at most `maxBytes` of it, into memory; nothing is cached here: the caller
 * stores it only once its signature and dates have been checked. A 304 serves the copy cached
 * (verified) earlier.
 */
async function fetchInRelease(
  url: string,
  cache: ContentCache,
  http: HttpClient,
  opts: { maxBytes: number; signal?: AbortSignal; log: (message: string) => void },
): Promise<FetchedInRelease> {
  // Keyed without credentials: the cache must not hold the mirror's password.
  const meta = await cache.readJson<InReleaseMeta>('inrelease', redactUrl(url));
  const headers: Record<string, string> = {};
  if (meta && (await cache.has(meta.sha256))) {
    if (meta.etag) headers['if-none-match'] = meta.etag;
    if (meta.lastModified) headers['if-modified-since'] = meta.lastModified;
  }
  const fetched = await http.read(
    url,
    {
      headers,
      acceptStatuses: [304, 404],
      maxBytes: opts.maxBytes,
      // Sizes the deadline: a typical InRelease is a few hundred KiB.
      expectedBytes: 1024 * 1024,
      ...(opts.signal ? { signal: opts.signal } : {}),
      operation: `fetching ${redactUrl(url)}`,
    },
    async (response): Promise<FetchedInRelease> => {
      if (response.status === 404) return { kind: 'missing' };
      if (response.status === 304) return { kind: 'cached', bytes: Buffer.alloc(0), sha256: '' };
      const etag = response.headers.get('etag');
      const lastModified = response.headers.get('last-modified');
      return {
        kind: 'fresh',
        bytes: await response.bytes(),
        ...(etag ? { etag } : {}),
        ...(lastModified ? { lastModified } : {}),
      };
    },
  );
  if (fetched.kind !== 'cached') return fetched;
  if (!meta) {
    throw new RampartError(
      'NETWORK',
      `${redactUrl(url)} answered 304 Not Modified to a request without validators; the server is broken`,
      { details: { url: redactUrl(url), status: 304 } },
    );
  }
  opts.log(`${redactUrl(url)}: not modified`);
  return { kind: 'cached', bytes: await cache.readBlob(meta.sha256), sha256: meta.sha256 };
}

/** Fetches a file listed in the signed Release into the cache, verified, by-hash when offered. */
async function fetchIndexFile(
  distUrl: string,
  path: string,
  entry: ReleaseFileEntry,
  release: Release,
  cache: ContentCache,
  http: HttpClient,
  signal: AbortSignal | undefined,
): Promise<string> {
  if (await cache.has(entry.sha256, entry.size)) return cache.blobPath(entry.sha256);
  const dir = path.slice(0, path.lastIndexOf('/') + 1);
  const urls = release.acquireByHash ? [`${distUrl}/${dir}by-hash/SHA256/${entry.sha256}`] : [];
  urls.push(`${distUrl}/${path}`);
  for (const [i, url] of urls.entries()) {
    try {
      return await fetchVerifiedIntoCache(url, entry, cache, { http, ...(signal ? { signal } : {}) });
    } catch (error) {
      if (!(isRampartError(error, 'NETWORK') && error.details.status === 404)) throw error;
      // The by-hash copy can be pruned between Release publication and our fetch; fall back.
      if (i < urls.length - 1) continue;
      throw new RampartError(
        'INDEX_MISSING',
        `${redactUrl(url)} is listed in the signed Release but missing on the mirror (HTTP 404); retry later or use another mirror`,
        { cause: error, details: { url: redactUrl(url) } },
      );
    }
  }
  throw new RampartError('INDEX_MISSING', `no URL to fetch ${path} from ${redactUrl(distUrl)}`, {
    details: { url: redactUrl(distUrl) },
  });
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
  http: HttpClient,
  inReleaseUrl: string,
  signal: AbortSignal | undefined,
): Promise<{ compact: CompactPackages; count: number; path: string; entry: ReleaseFileEntry }> {
  const base = `${component}/binary-${arch}/`;
  const name = INDEX_NAMES.find((n) => release.files.has(base + n));
  const entry = name ? release.files.get(base + name) : undefined;
  if (!name || !entry) {
    throw new RampartError(
      'INDEX_MISSING',
      `${redactUrl(inReleaseUrl)} lists no ${base}Packages index; check --arch ${arch} and the component ${component}`,
      { details: { url: redactUrl(inReleaseUrl), suite, component, architecture: arch } },
    );
  }
  const origin = { suite, component };
  const parsedKey = `${parsedCacheFormat()}|${entry.sha256}|${suite}|${component}`;
  const cached = await readCompactIndex(cache, parsedKey, origin);
  if (cached) return { ...cached, path: base + name, entry };
  const file = await fetchIndexFile(distUrl, base + name, entry, release, cache, http, signal);
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
 * A keyring of the caller's own (not the host's) means an archive of its own: the host's
 * security mirror serves the host's archive, signed by the host's key, so an implied -security
 * suite is looked for on the caller's mirror instead (unless a security mirror was given too).
 */
async function isOwnArchive(opts: LoadRepositoriesOptions): Promise<boolean> {
  if (opts.keyring === undefined || opts.securityMirror !== undefined) return false;
  const host = selectMirrors(await readHostAptSources(opts.etcApt));
  return opts.keyring !== (host.keyring ?? DEFAULT_KEYRING);
}

/** What the cache keeps per suite: the newest Release date verified, and that InRelease's blob. */
type NewestRelease = { date: string; sha256?: string };

function readNewest(value: string | NewestRelease | undefined): NewestRelease | undefined {
  // Caches written before the blob was recorded hold the date alone.
  return typeof value === 'string' ? { date: value } : value;
}

/**
 * Verifies a fetched InRelease (signature, suite, Valid-Until, Date against the newest this cache
 * has verified for the suite) and, only then, records it in the cache. A Release older than the
 * newest verified one is what a stale mirror (or a CDN node behind the others) serves as well as
 * a replay: as apt does (a "last minute IMS hit"), the newest verified InRelease is used instead,
 * re-verified from the cache, with a warning; it is refused only when that copy is gone or no
 * longer valid, or when its indexes cannot be had (`downgrade` then builds the refusal).
 */
async function trustRelease(
  fetched: Exclude<FetchedInRelease, { kind: 'missing' }>,
  ctx: {
    suite: string;
    implied: boolean;
    url: string;
    keys: Awaited<ReturnType<typeof readKeyring>>;
    keyringName: string;
    cache: ContentCache;
    now: Date;
    warn: (message: string) => void;
    opts: LoadRepositoriesOptions;
  },
): Promise<{ release: Release; sha256: string; downgrade?: (cause: unknown) => RampartError }> {
  const { suite, url, cache, now, opts } = ctx;
  const verify = async (bytes: Buffer): Promise<Release> => {
    try {
      const { text } = await verifyInRelease(bytes.toString('utf8'), ctx.keys, {
        url,
        keyringName: ctx.keyringName,
        now,
      });
      const release = parseRelease(text, url);
      checkReleaseSuite(release, suite, url);
      return release;
    } catch (error) {
      // A companion suite the user did not name: say why it was read and how not to.
      if (!ctx.implied || !isRampartError(error, 'SIGNATURE_INVALID')) throw error;
      throw new RampartError(
        'SIGNATURE_INVALID',
        `${error.message} (${suite} is read by default with the suites given; pass --no-updates to read only those, or --security-mirror URL)`,
        { cause: error, details: error.details },
      );
    }
  };
  const release = await verify(fetched.bytes);
  checkReleaseFreshness(release, now, url);
  // Keyed by the suite asked for, not by the signed Codename: an old Release of another codename
  // that was once `stable` (signed Suite: stable) must not start a fresh history of its own, and
  // `-updates`/`-security` suites that share a codename keep their own newest dates.
  const dateKey = `${release.origin ?? ''}|${suite}`;
  const newest = readNewest(await cache.readJson<string | NewestRelease>('release-date', dateKey));
  const dateOpts = {
    url,
    now,
    ...(opts.allowDowngrade ? { allowDowngrade: true } : {}),
    ...(opts.maxClockSkewMs !== undefined ? { maxClockSkewMs: opts.maxClockSkewMs } : {}),
    ...(opts.maxReleaseAgeMs !== undefined ? { maxAgeMs: opts.maxReleaseAgeMs } : {}),
  };
  let refusal: RampartError<'RELEASE_DATE_INVALID'>;
  try {
    const { warning } = checkReleaseDate(release, {
      ...dateOpts,
      ...(newest !== undefined ? { newestSeen: newest.date } : {}),
    });
    if (warning) ctx.warn(warning);
  } catch (error) {
    if (!isRampartError(error, 'RELEASE_DATE_INVALID') || error.details?.reason !== 'downgrade') throw error;
    refusal = error;
    const kept = newest?.sha256 ? await keptRelease(newest.sha256, cache, verify) : undefined;
    if (!kept) throw refusal;
    checkReleaseFreshness(kept, now, url);
    if (kept.date !== newest?.date) throw refusal;
    ctx.warn(
      `${url} is dated ${release.date}, older than the ${kept.date} already verified for this suite (a stale mirror, or a replay): using the verified one, as apt does; pass --allow-downgrade if the older archive is intended`,
    );
    return {
      release: kept,
      sha256: newest.sha256 as string,
      downgrade: (cause) =>
        new RampartError(
          'RELEASE_DATE_INVALID',
          `${refusal.message} (the indexes of the verified one are not available: ${cause instanceof Error ? cause.message : String(cause)})`,
          {
            cause,
            details: refusal.details,
          },
        ),
    };
  }
  // Trusted from here on: only now does it enter the cache.
  let sha256: string;
  if (fetched.kind === 'fresh') {
    sha256 = await cache.putBytes(fetched.bytes);
    await cache.writeJson('inrelease', url, {
      sha256,
      ...(fetched.etag ? { etag: fetched.etag } : {}),
      ...(fetched.lastModified ? { lastModified: fetched.lastModified } : {}),
    } satisfies InReleaseMeta);
  } else {
    sha256 = fetched.sha256;
  }
  if (
    newest === undefined ||
    parseReleaseDate(newest.date, 'Date', url) <= parseReleaseDate(release.date, 'Date', url)
  ) {
    await cache.writeJson('release-date', dateKey, { date: release.date, sha256 } satisfies NewestRelease);
  }
  return { release, sha256 };
}

/** The newest verified InRelease, read back from the cache and verified again; undefined when gone. */
async function keptRelease(
  sha256: string,
  cache: ContentCache,
  verify: (bytes: Buffer) => Promise<Release>,
): Promise<Release | undefined> {
  if (!(await cache.has(sha256))) return undefined;
  const bytes = await cache.readBlob(sha256).catch(() => undefined);
  if (!bytes || createHash('sha256').update(bytes).digest('hex') !== sha256) return undefined;
  return verify(bytes).catch(() => undefined);
}

/**
 * Fetches and verifies InRelease for every suite (each release suite with its `-updates` and
 * `-security` unless `updates: false`), then each suite's Packages index per architecture
 * (hash-checked against the signed Release), and returns one PackageIndex per architecture.
 * Nothing unsigned is trusted: the Release is parsed from the verified cleartext only, and an
 * InRelease enters the cache only after its signature, suite and dates passed.
 */
export async function loadRepositories(opts: LoadRepositoriesOptions): Promise<LoadedRepositories> {
  if (opts.suites.length === 0) {
    throw new RampartError('USAGE', 'no suite given; pass --suite (e.g. trixie)', {
      details: { option: '--suite' },
    });
  }
  if (opts.architectures.length === 0 && opts.indexes !== false) {
    throw new RampartError('USAGE', 'no architecture given; pass --arch', { details: { option: '--arch' } });
  }
  const log = opts.log ?? (() => undefined);
  const warn = opts.warn ?? log;
  const now = opts.now ?? new Date();
  const http = httpClientFor(opts);
  const mirrors = await resolveMirrors(opts, opts.etcApt);
  const cache = new ContentCache(opts.cacheDir ?? defaultCacheDir());
  const keyringBytes = await readFile(mirrors.keyring).catch((error: Error) => {
    throw new RampartError(
      'IO',
      `cannot read keyring ${mirrors.keyring}: ${error.message}; pass --keyring FILE`,
      { cause: error, details: { path: mirrors.keyring } },
    );
  });
  const keys = await readKeyring(keyringBytes, mirrors.keyring);
  const components = opts.components ?? ['main'];
  const perArch = new Map<string, CompactPackages[]>(opts.architectures.map((a) => [a, []]));
  const releases: LoadedRelease[] = [];

  for (const { suite, implied } of expandSuites(opts.suites, { updates: opts.updates !== false })) {
    throwIfCancelled(opts.signal, 'loading the repositories');
    const ownArchive = implied && (await isOwnArchive(opts));
    const distUrl = `${ownArchive ? mirrors.mirror : mirrorForSuite(suite, mirrors)}/dists/${suite}`;
    const url = `${distUrl}/InRelease`;
    const shownUrl = redactUrl(url);
    const fetched = await fetchInRelease(url, cache, http, {
      maxBytes: opts.maxInReleaseBytes ?? DEFAULT_MAX_INRELEASE_BYTES,
      log,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (fetched.kind === 'missing') {
      // An implied suite may not exist on this archive (or this mirror has no security suite).
      // One this cache has verified before does exist: a 404 now would hide its updates.
      const seenBefore = await cache.readJson<InReleaseMeta>('inrelease', shownUrl);
      // The Debian archive (its own keyring, not the caller's archive) always has a -security
      // suite: a 404 for it is a broken mirror or a man in the middle hiding security fixes.
      const securityExpected =
        implied && suite.endsWith('-security') && !ownArchive && mirrors.keyring === DEFAULT_KEYRING;
      if (securityExpected && !seenBefore) {
        throw new RampartError(
          'INDEX_MISSING',
          `${shownUrl} not found (HTTP 404), though the Debian archive always has ${suite}: its security fixes would be missing; check the mirror or --security-mirror URL, or pass --no-updates to build without -updates and -security`,
          { details: { url: shownUrl, suite } },
        );
      }
      if (implied && !seenBefore) {
        warn(
          `${shownUrl} not found (HTTP 404): reading ${opts.suites.join(', ')} without ${suite}; pass --no-updates to stop looking for it, or --security-mirror URL`,
        );
        continue;
      }
      throw new RampartError(
        'INDEX_MISSING',
        `${shownUrl} not found (HTTP 404)${seenBefore ? ', though it was there before' : ''}; check the suite name and the mirror`,
        { details: { url: shownUrl, suite } },
      );
    }
    const trusted = await trustRelease(fetched, {
      suite,
      implied,
      url: shownUrl,
      keys,
      keyringName: mirrors.keyring,
      cache,
      now,
      warn,
      opts,
    });
    const { release, sha256 } = trusted;
    const indexFiles: LoadedRelease['indexes'] = [];
    for (const arch of opts.indexes === false ? [] : opts.architectures) {
      for (const component of components) {
        throwIfCancelled(opts.signal, 'loading the repositories');
        const loaded = await loadPackages(
          distUrl,
          suite,
          component,
          arch,
          release,
          cache,
          http,
          url,
          opts.signal,
        ).catch((error: unknown) => {
          throw trusted.downgrade && !isRampartError(error, 'CANCELLED') ? trusted.downgrade(error) : error;
        });
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
      url: shownUrl,
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
