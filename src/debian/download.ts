import { RampartError } from '../errors.js';
import { type HttpClient, httpClientFor } from '../http/client.js';
import { type FetchFn, redactUrl } from '../http/fetch.js';
import { mapBounded } from '../util/map-bounded.js';
import { type AptMirrors, mirrorForSuite } from './apt-sources.js';
import { ContentCache, defaultCacheDir } from './cache.js';

/** What a download needs from a lock entry (a resolver LockedPackage fits). */
export interface DownloadablePackage {
  name: string;
  version: string;
  architecture: string;
  suite: string;
  filename: string;
  size: number;
  sha256: string;
}

/** Every event says when it happened (ms since the epoch, from the clock passed in) and for which job. */
export type DownloadEvent = { timestamp: number; jobId?: string } & (
  | { kind: 'start'; packages: number; bytes: number }
  | { kind: 'bytes'; bytes: number }
  | { kind: 'done'; pkg: DownloadablePackage; path: string; cached: boolean }
);

export interface DownloadOptions {
  /** Mirrors by suite: `-security` suites use `securityMirror`. */
  mirrors: AptMirrors;
  cacheDir?: string;
  /** Parallel downloads; default 4. */
  concurrency?: number;
  /** Attempts per package after the first, for network and stream errors; default the client's (3). */
  retries?: number;
  /** The HTTP client (timeouts, deadline, retries); default one built on `fetch`. */
  http?: HttpClient;
  /** Used only when `http` is not given. */
  fetch?: FetchFn;
  /** Stops every download promptly; the call then fails with CANCELLED. */
  signal?: AbortSignal;
  onProgress?: (event: DownloadEvent) => void;
  /** The clock for event timestamps; default `Date.now`. */
  now?: () => number;
  /** Echoed in every event, for callers that run several jobs. */
  jobId?: string;
}

/** A Packages `Filename:` must stay under the mirror root. */
function checkPoolPath(filename: string): void {
  if (filename.startsWith('/') || filename.split('/').includes('..') || filename.includes('\\')) {
    throw new RampartError(
      'PATH_TRAVERSAL',
      `refusing package path ${JSON.stringify(filename)} from the index`,
      { details: { path: filename } },
    );
  }
}

/**
 * Streams `url` into the cache, verified against `expected` while it arrives; nothing enters
 * the cache unless its SHA-256 (and size) match; reading stops as soon as the body exceeds the
 * signed size (DIGEST_MISMATCH: the size is part of what was signed). The client retries network errors, 408/429/5xx and bodies that break mid-stream
 * within its deadline; other statuses, a digest mismatch (retrying would only hide tampering)
 * and a cache that cannot be written are not retried.
 */
export async function fetchVerifiedIntoCache(
  url: string,
  expected: { sha256: string; size?: number },
  cache: ContentCache,
  opts: {
    http?: HttpClient;
    fetch?: FetchFn;
    retries?: number;
    signal?: AbortSignal;
    onBytes?: (n: number) => void;
  } = {},
): Promise<string> {
  const http = httpClientFor(opts);
  return http.read(
    url,
    {
      ...(expected.size !== undefined ? { expectedBytes: expected.size } : {}),
      ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      operation: `download of ${redactUrl(url)}`,
    },
    (response) => cache.putVerifiedStream(response.body, expected, redactUrl(url), opts.onBytes),
  );
}

/**
 * Downloads every package into the content-addressed cache (already cached ones are not
 * fetched again), verifying SHA-256 and size while streaming. Returns sha256 → cached path.
 * On the first failure, or when `signal` aborts, the other downloads stop and the first error
 * is thrown.
 */
export async function downloadPackages(
  pkgs: DownloadablePackage[],
  opts: DownloadOptions,
): Promise<Map<string, string>> {
  const cache = new ContentCache(opts.cacheDir ?? defaultCacheDir());
  const http = httpClientFor(opts);
  const now = opts.now ?? Date.now;
  const stamp = { ...(opts.jobId !== undefined ? { jobId: opts.jobId } : {}) };
  const emit = (event: DownloadEvent) => opts.onProgress?.(event);
  const result = new Map<string, string>();
  const unique = [...new Map(pkgs.map((p) => [p.sha256, p])).values()];
  const cancelled = () =>
    new RampartError('CANCELLED', 'the download was cancelled', {
      cause: opts.signal?.reason,
      details: { operation: 'download' },
    });
  if (opts.signal?.aborted) throw cancelled();
  emit({
    timestamp: now(),
    ...stamp,
    kind: 'start',
    packages: unique.length,
    bytes: unique.reduce((n, p) => n + p.size, 0),
  });
  const downloadOne = (pkg: DownloadablePackage, stop: AbortSignal) => {
    checkPoolPath(pkg.filename);
    const url = `${mirrorForSuite(pkg.suite, opts.mirrors)}/${pkg.filename}`;
    return fetchVerifiedIntoCache(url, { sha256: pkg.sha256, size: pkg.size }, cache, {
      http,
      signal: stop,
      ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
      onBytes: (bytes) => emit({ timestamp: now(), ...stamp, kind: 'bytes', bytes }),
    });
  };
  // The pool's signal stops the downloads still running when one fails (or the caller aborts).
  try {
    await mapBounded(
      unique,
      opts.concurrency ?? 4,
      async (pkg, _index, stop) => {
        const cached = await cache.has(pkg.sha256, pkg.size);
        const path = cached ? cache.blobPath(pkg.sha256) : await downloadOne(pkg, stop);
        if (cached) emit({ timestamp: now(), ...stamp, kind: 'bytes', bytes: pkg.size });
        result.set(pkg.sha256, path);
        emit({ timestamp: now(), ...stamp, kind: 'done', pkg, path, cached });
      },
      { signal: opts.signal },
    );
  } catch (error) {
    if (opts.signal?.aborted) throw cancelled();
    throw error;
  }
  return result;
}
