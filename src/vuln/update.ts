/**
 * `rampart db update`: downloads the configured feeds and imports each one that changed. Requests
 * are conditional (If-None-Match / If-Modified-Since from the validators the store kept for the
 * feed), so an unchanged feed costs a 304 and no import. A download is staged in a temp file
 * beside the store and imported in its own transaction; a feed that fails is reported and the
 * others go on (the failed one keeps its previous data).
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RampartError } from '../errors.js';
import { type HttpClient, type HttpResponse, throwIfCancelled } from '../http/client.js';
import { sweepAbandonedStaging, tempSuffix } from '../util/staging.js';
import { type ImportFormat, importAdvisories } from './import/index.js';
import type { AdvisoryStore } from './store.js';
import type { ImportProgress } from './types.js';

export interface FeedConfig {
  name: string;
  url: string;
  /** Default: detected from the download. */
  format?: ImportFormat;
}

/** The largest feed download accepted (TOO_LARGE past it): the biggest real feeds are a few hundred MB. */
export const MAX_FEED_BYTES = 4 * 1024 ** 3;

const OSV_BASE = 'https://osv-vulnerabilities.storage.googleapis.com';

/** The feeds `db update` reads unless told otherwise. */
export const DEFAULT_FEEDS: readonly FeedConfig[] = [
  {
    name: 'debian-tracker',
    url: 'https://security-tracker.debian.org/tracker/data/json',
    format: 'debian-tracker',
  },
  { name: 'osv-debian', url: `${OSV_BASE}/Debian/all.zip`, format: 'osv' },
  { name: 'osv-npm', url: `${OSV_BASE}/npm/all.zip`, format: 'osv' },
  { name: 'osv-pypi', url: `${OSV_BASE}/PyPI/all.zip`, format: 'osv' },
  { name: 'osv-go', url: `${OSV_BASE}/Go/all.zip`, format: 'osv' },
  { name: 'osv-maven', url: `${OSV_BASE}/Maven/all.zip`, format: 'osv' },
  { name: 'osv-crates.io', url: `${OSV_BASE}/crates.io/all.zip`, format: 'osv' },
];

/** `RAMPART_FEED_URL_OSV_NPM` for the feed `osv-npm`. */
export function feedUrlVariable(name: string): string {
  return `RAMPART_FEED_URL_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/**
 * The feeds to update: the defaults with their URLs from the environment (`RAMPART_FEED_URL_<NAME>`),
 * then `overrides` (`NAME=URL`: replace that feed's URL, or add a feed), restricted to `only`.
 */
export function configuredFeeds(
  options: { overrides?: string[]; only?: string[]; env?: Record<string, string | undefined> } = {},
): FeedConfig[] {
  const env = options.env ?? {};
  const feeds = new Map<string, FeedConfig>();
  for (const feed of DEFAULT_FEEDS) {
    const url = env[feedUrlVariable(feed.name)];
    feeds.set(feed.name, url ? { ...feed, url } : { ...feed });
  }
  for (const override of options.overrides ?? []) {
    const equals = override.indexOf('=');
    const name = override.slice(0, equals);
    const url = override.slice(equals + 1);
    if (equals <= 0 || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || !/^https?:\/\//.test(url)) {
      throw new RampartError('USAGE', `--feed ${override}: expected NAME=URL with an http(s) URL`, {
        details: { option: '--feed', value: override },
      });
    }
    feeds.set(name, { ...feeds.get(name), name, url });
  }
  if (options.only && options.only.length > 0) {
    for (const name of options.only) {
      if (!feeds.has(name)) {
        throw new RampartError(
          'USAGE',
          `--only ${name}: no such feed (known: ${[...feeds.keys()].join(', ')})`,
          {
            details: { option: '--only', value: name },
          },
        );
      }
    }
    return [...feeds.values()].filter((f) => options.only!.includes(f.name));
  }
  return [...feeds.values()];
}

export type UpdateEvent =
  | { kind: 'download'; feed: string; bytes: number; totalBytes?: number }
  | { kind: 'import'; feed: string; progress: ImportProgress }
  | { kind: 'done'; feed: FeedUpdateResult };

export interface FeedUpdateResult {
  name: string;
  url: string;
  outcome: 'updated' | 'not-modified' | 'failed';
  records?: number;
  skipped?: number;
  skippedSamples?: Array<{ record: string; reason: string }>;
  bytes?: number;
  error?: { code: string; message: string };
}

export interface UpdateOptions {
  http: HttpClient;
  feeds: FeedConfig[];
  signal?: AbortSignal;
  onEvent?: (event: UpdateEvent) => void;
}

/** Updates every feed; returns one result per feed (a failed feed does not stop the others). */
export async function updateAdvisories(
  store: AdvisoryStore,
  options: UpdateOptions,
): Promise<FeedUpdateResult[]> {
  // Downloads a killed update left behind.
  await sweepAbandonedStaging(dirname(store.path));
  const results: FeedUpdateResult[] = [];
  for (const feed of options.feeds) {
    let result: FeedUpdateResult;
    try {
      result = await updateFeed(store, feed, options);
    } catch (error) {
      // Cancellation stops the whole update; anything else is this feed's failure.
      if (error instanceof RampartError && error.code === 'CANCELLED') throw error;
      result = {
        name: feed.name,
        url: feed.url,
        outcome: 'failed',
        error: {
          code: error instanceof RampartError ? error.code : 'IO',
          message: (error as Error).message,
        },
      };
    }
    results.push(result);
    options.onEvent?.({ kind: 'done', feed: result });
  }
  return results;
}

async function updateFeed(
  store: AdvisoryStore,
  feed: FeedConfig,
  options: UpdateOptions,
): Promise<FeedUpdateResult> {
  throwIfCancelled(options.signal, 'db update');
  const previous = store.feed(feed.name);
  const headers: Record<string, string> = {};
  // Validators belong to the URL they came from: a feed moved to another URL is fetched in full.
  if (previous && previous.location === feed.url) {
    if (previous.etag) headers['if-none-match'] = previous.etag;
    if (previous.lastModified) headers['if-modified-since'] = previous.lastModified;
  }
  const response = await options.http.request(feed.url, {
    headers,
    acceptStatuses: [304],
    maxBytes: MAX_FEED_BYTES,
    operation: `db update ${feed.name}`,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (response.status === 304) {
    await response.cancel();
    await store.transaction(async (writer) => writer.touchFeed(feed.name, writer.now().toISOString()));
    return { name: feed.name, url: feed.url, outcome: 'not-modified' };
  }
  const staging = join(dirname(store.path), `.${feed.name}.download${tempSuffix()}`);
  try {
    const bytes = await saveBody(response, staging, (received, totalBytes) =>
      options.onEvent?.({
        kind: 'download',
        feed: feed.name,
        bytes: received,
        ...(totalBytes !== undefined ? { totalBytes } : {}),
      }),
    );
    const etag = response.headers.get('etag');
    const lastModified = response.headers.get('last-modified');
    const [result] = await importAdvisories(
      store,
      [
        {
          path: staging,
          location: feed.url,
          feed: feed.name,
          ...(feed.format ? { format: feed.format } : {}),
          ...(etag ? { etag } : {}),
          ...(lastModified ? { lastModified } : {}),
        },
      ],
      {
        ...(options.signal ? { signal: options.signal } : {}),
        onProgress: (progress) => options.onEvent?.({ kind: 'import', feed: feed.name, progress }),
      },
    );
    return {
      name: feed.name,
      url: feed.url,
      outcome: 'updated',
      records: result!.records,
      skipped: result!.skipped,
      skippedSamples: result!.skippedSamples,
      bytes,
    };
  } finally {
    await rm(staging, { force: true });
  }
}

/** Writes a response body to `path` (mode 0600), reporting bytes as they arrive; returns the byte count. */
async function saveBody(
  response: HttpResponse,
  path: string,
  onBytes?: (bytes: number, totalBytes: number | undefined) => void,
): Promise<number> {
  const length = Number(response.headers.get('content-length') ?? Number.NaN);
  const totalBytes = Number.isFinite(length) ? length : undefined;
  let bytes = 0;
  const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
  body.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    onBytes?.(bytes, totalBytes);
  });
  await pipeline(body, createWriteStream(path, { mode: 0o600 }));
  return bytes;
}

/**
 * Downloads `url` into a staging file in `dir` for `db import URL`; the caller imports it and
 * removes it (`remove`).
 */
export async function downloadForImport(
  http: HttpClient,
  url: string,
  dir: string,
  signal?: AbortSignal,
): Promise<{ path: string; remove: () => Promise<void> }> {
  const response = await http.request(url, {
    operation: `download ${url}`,
    maxBytes: MAX_FEED_BYTES,
    ...(signal ? { signal } : {}),
  });
  const path = join(dir, `.import.download${tempSuffix()}`);
  try {
    await saveBody(response, path);
  } catch (error) {
    await rm(path, { force: true });
    throw error;
  }
  return { path, remove: () => rm(path, { force: true }) };
}
