import { isLocalFilesystemError, isRampartError, RampartError } from '../errors.js';
import {
  type FetchFn,
  fetchWithRetry,
  HttpStatusError,
  isRetryableStatus,
  redactUrl,
} from '../http/fetch.js';
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

export type DownloadEvent =
  | { kind: 'start'; packages: number; bytes: number }
  | { kind: 'bytes'; bytes: number }
  | { kind: 'done'; pkg: DownloadablePackage; path: string; cached: boolean };

export interface DownloadOptions {
  /** Mirrors by suite: `-security` suites use `securityMirror`. */
  mirrors: AptMirrors;
  cacheDir?: string;
  /** Parallel downloads; default 4. */
  concurrency?: number;
  /** Attempts per package after the first, for network and stream errors; default 3. */
  retries?: number;
  fetch?: FetchFn;
  onProgress?: (event: DownloadEvent) => void;
}

/** A Packages `Filename:` must stay under the mirror root. */
function checkPoolPath(filename: string): void {
  if (filename.startsWith('/') || filename.split('/').includes('..') || filename.includes('\\')) {
    throw new RampartError(
      'PATH_TRAVERSAL',
      `refusing package path ${JSON.stringify(filename)} from the index`,
    );
  }
}

/**
 * Streams `url` into the cache, verified against `expected` while it arrives. Network errors,
 * 408/429/5xx and connections dropped mid-body are retried with backoff; other HTTP statuses
 * (HttpStatusError), a hash mismatch (retrying would only hide tampering) and a cache that
 * cannot be written are not.
 */
export async function fetchVerifiedIntoCache(
  url: string,
  expected: { sha256: string; size?: number },
  cache: ContentCache,
  opts: { fetch?: FetchFn; retries?: number; onBytes?: (n: number) => void } = {},
): Promise<string> {
  const retries = opts.retries ?? 3;
  let lastError: unknown;
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** (attempt - 1)));
    try {
      const response = await fetchWithRetry(url, {
        ...(opts.fetch ? { fetch: opts.fetch } : {}),
        retries: 0,
      });
      if (!response.body) throw new Error('empty response body');
      return await cache.putVerifiedStream(response.body, expected, redactUrl(url), opts.onBytes);
    } catch (error) {
      if (isRampartError(error, 'DIGEST_MISMATCH') || isLocalFilesystemError(error)) throw error;
      if (error instanceof HttpStatusError && !isRetryableStatus(error.status)) throw error;
      lastError = error;
    }
  }
  if (lastError instanceof RampartError) throw lastError;
  throw new RampartError(
    'NETWORK',
    `GET ${redactUrl(url)} failed after ${retries + 1} attempts: ${(lastError as Error)?.message}; retry or use another mirror`,
    { cause: lastError },
  );
}

async function downloadOne(
  pkg: DownloadablePackage,
  cache: ContentCache,
  opts: DownloadOptions,
): Promise<string> {
  checkPoolPath(pkg.filename);
  const url = `${mirrorForSuite(pkg.suite, opts.mirrors)}/${pkg.filename}`;
  return fetchVerifiedIntoCache(url, { sha256: pkg.sha256, size: pkg.size }, cache, {
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
    onBytes: (bytes) => opts.onProgress?.({ kind: 'bytes', bytes }),
  });
}

/**
 * Downloads every package into the content-addressed cache (already cached ones are not
 * fetched again), verifying SHA-256 and size while streaming. Returns sha256 → cached path.
 */
export async function downloadPackages(
  pkgs: DownloadablePackage[],
  opts: DownloadOptions,
): Promise<Map<string, string>> {
  const cache = new ContentCache(opts.cacheDir ?? defaultCacheDir());
  const result = new Map<string, string>();
  const unique = [...new Map(pkgs.map((p) => [p.sha256, p])).values()];
  opts.onProgress?.({
    kind: 'start',
    packages: unique.length,
    bytes: unique.reduce((n, p) => n + p.size, 0),
  });
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < unique.length) {
      const pkg = unique[next++] as DownloadablePackage;
      try {
        const cached = await cache.has(pkg.sha256, pkg.size);
        const path = cached ? cache.blobPath(pkg.sha256) : await downloadOne(pkg, cache, opts);
        if (cached) opts.onProgress?.({ kind: 'bytes', bytes: pkg.size });
        result.set(pkg.sha256, path);
        opts.onProgress?.({ kind: 'done', pkg, path, cached });
      } catch (error) {
        failed ??= error;
      }
    }
  };
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  await Promise.all(Array.from({ length: Math.min(concurrency, unique.length) }, worker));
  if (failed !== undefined) throw failed;
  return result;
}
