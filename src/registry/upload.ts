/**
 * Blob upload (OCI distribution "push"). One session is `POST /blobs/uploads/`, then either one
 * streamed `PUT ?digest=` (monolithic: small blobs) or `PATCH` chunks with `Content-Range`, each
 * answered by the next Location, closed by an empty `PUT ?digest=` (chunked: large blobs).
 *
 * - The source is streamed, never buffered: a chunk is a window onto the stream, not a copy.
 * - The bytes are verified while sent (size and digest); a source that does not match fails the
 *   push without retrying, before the closing PUT of a chunked upload. The registry's own digest
 *   check stays the last word.
 * - A registry that refuses one style (405, 413, 416...) gets the other, once.
 * - 5xx, 429 (after its Retry-After), 408 and broken connections restart the session with a fresh
 *   stream from `open()`, with exponential backoff, a bounded number of times.
 * - Locations from the registry are followed only on its own origin (credentials go with them).
 */
import type { Readable } from 'node:stream';
import { RampartError } from '../errors.js';
import type { HttpResponse } from '../http/client.js';
import { isRetryableStatus, parseRetryAfter, reasonPhrase } from '../http/fetch.js';
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/types.js';
import type { Access, RegistryApi } from './api.js';
import { checkDigest, checkRepository } from './names.js';
import type { BlobPushResult } from './types.js';
import { VerifiedSource } from './upload-source.js';

export interface UploadOptions {
  /** Blobs smaller than this go in one PUT. Default 5 MiB. */
  monolithicMax?: number;
  /** PATCH size of a chunked upload (raised to the registry's OCI-Chunk-Min-Length). Default 32 MiB. */
  chunkSize?: number;
  /** Sessions tried in all. Default 4. */
  attempts?: number;
  /** First backoff delay, doubled per attempt. Default 500 ms. */
  backoffMs?: number;
  /** The longest Retry-After honoured. Default 60 s. */
  maxRetryAfterMs?: number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** No `HEAD` first: the caller has just asked `hasBlob`. */
  skipCheck?: boolean;
}

type Style = 'monolithic' | 'chunked';

/** Statuses by which a registry says it does not do this upload style. */
const STYLE_REFUSED = new Set([400, 405, 411, 413, 415, 416, 501]);
/** Statuses inspected here rather than raised by HttpClient. */
const HANDLED_STATUSES = [400, 404, 405, 408, 411, 413, 415, 416, 429, 500, 501, 502, 503, 504];

/** An attempt's failure, with what the loop needs to decide: retry, switch style, or give up. */
class UploadFailure extends Error {
  constructor(
    readonly error: RampartError,
    readonly disposition: 'retry' | 'refused' | 'fatal',
    readonly retryAfterMs?: number,
  ) {
    super(error.message);
  }
}

export async function hasBlob(
  api: RegistryApi,
  repository: string,
  descriptor: Descriptor,
): Promise<boolean> {
  checkRepository(repository);
  const digest = checkDigest(descriptor.digest);
  const response = await api.request(await api.url(`${repository}/blobs/${digest}`), {
    method: 'HEAD',
    access: { repository, actions: 'pull' },
    acceptStatuses: [404],
  });
  await response.cancel();
  if (response.status === 404) return false;
  const length = response.headers.get('content-length');
  // A registry that holds other bytes under this digest is broken: upload ours.
  return length === null || Number(length) === descriptor.size;
}

export async function mountBlob(
  api: RegistryApi,
  repository: string,
  descriptor: Descriptor,
  from: string,
): Promise<boolean> {
  checkRepository(repository);
  checkRepository(from);
  const digest = checkDigest(descriptor.digest);
  const access: Access = { repository, actions: 'pull,push', also: [{ repository: from, actions: 'pull' }] };
  const query = new URLSearchParams({ mount: digest, from });
  const url = await api.url(`${repository}/blobs/uploads/?${query}`);
  const response = await api.request(url, { method: 'POST', access, acceptStatuses: [202, 404] });
  await response.cancel();
  if (response.status === 201) return true;
  // 202: the registry opened an ordinary upload instead; give the session back.
  const location = response.headers.get('location');
  if (response.status === 202 && location) {
    await api
      .request(api.resolve(location, url), {
        method: 'DELETE',
        access,
        retries: 0,
        hideQuery: true,
        acceptStatuses: [404, 405],
      })
      .then((r) => r.cancel())
      .catch(() => undefined);
  }
  return false;
}

export async function pushBlob(
  api: RegistryApi,
  repository: string,
  descriptor: Descriptor,
  open: () => Promise<Readable>,
  options: UploadOptions = {},
): Promise<BlobPushResult> {
  checkRepository(repository);
  const digest = checkDigest(descriptor.digest);
  if (!options.skipCheck && (await hasBlob(api, repository, descriptor))) return 'exists';
  const attempts = options.attempts ?? 4;
  const backoffMs = options.backoffMs ?? 500;
  const sleep = options.sleep ?? abortableSleep;
  let style: Style = descriptor.size < (options.monolithicMax ?? 5 * 1024 * 1024) ? 'monolithic' : 'chunked';
  let switched = false;
  for (let attempt = 1; ; attempt++) {
    try {
      await uploadOnce(
        api,
        repository,
        descriptor,
        digest,
        open,
        style,
        options.chunkSize ?? 32 * 1024 * 1024,
      );
      return 'pushed';
    } catch (caught) {
      if (!(caught instanceof UploadFailure)) throw caught;
      if (caught.disposition === 'refused' && !switched) {
        switched = true;
        style = style === 'monolithic' ? 'chunked' : 'monolithic';
        attempt--;
        continue;
      }
      if (caught.disposition !== 'retry' || attempt >= attempts) throw caught.error;
      const delayMs = Math.min(
        caught.retryAfterMs ?? backoffMs * 2 ** (attempt - 1),
        options.maxRetryAfterMs ?? 60_000,
      );
      api.onEvent?.({
        kind: 'retry',
        url: urlOf(caught.error) ?? digest,
        attempt,
        reason: caught.error.message,
        delayMs,
      });
      await sleep(delayMs, api.signal);
    }
  }
}

async function uploadOnce(
  api: RegistryApi,
  repository: string,
  descriptor: Descriptor,
  digest: Digest,
  open: () => Promise<Readable>,
  style: Style,
  chunkSize: number,
): Promise<void> {
  const access: Access = { repository, actions: 'pull,push' };
  const start = await api.url(`${repository}/blobs/uploads/`);
  // Opened first: a source that cannot be opened leaves no session behind.
  const source = new VerifiedSource(await open(), digest, descriptor.size, (bytes) =>
    api.onEvent?.({ kind: 'blob-progress', digest, bytes, size: descriptor.size, direction: 'push' }),
  );
  let location: string | undefined;
  let finished = false;
  try {
    const started = await sendStep(api, start, { method: 'POST', access }, 'starting the upload');
    await started.cancel();
    location = locationOf(api, started, start);
    const minChunk = Number(started.headers.get('oci-chunk-min-length') ?? 0);
    if (style === 'monolithic') {
      const response = await sendStep(
        api,
        withDigest(location, digest),
        {
          method: 'PUT',
          access,
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(descriptor.size) },
          body: source.body(descriptor.size),
          expectedBytes: descriptor.size,
        },
        'uploading',
        source,
      );
      await response.cancel();
      finished = true;
      return checkStored(api, response, digest);
    }
    const size = Math.max(chunkSize, Number.isFinite(minChunk) ? minChunk : 0);
    for (let offset = 0; offset < descriptor.size; ) {
      const length = Math.min(size, descriptor.size - offset);
      const response = await sendStep(
        api,
        location,
        {
          method: 'PATCH',
          access,
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': String(length),
            'content-range': `${offset}-${offset + length - 1}`,
          },
          body: source.body(length),
          expectedBytes: length,
        },
        'uploading a chunk',
        source,
      );
      await response.cancel();
      location = locationOf(api, response, location);
      offset += length;
    }
    await source.end();
    const response = await sendStep(
      api,
      withDigest(location, digest),
      { method: 'PUT', access, headers: { 'content-length': '0' } },
      'finishing the upload',
    );
    await response.cancel();
    finished = true;
    return checkStored(api, response, digest);
  } finally {
    source.destroy();
    // A failed session is given back rather than left for the registry's purge.
    if (!finished && location !== undefined) await cancelSession(api, location, access);
  }
}

async function cancelSession(api: RegistryApi, location: string, access: Access): Promise<void> {
  await api
    .request(location, {
      method: 'DELETE',
      access,
      retries: 0,
      hideQuery: true,
      acceptStatuses: [404, 405],
      deadlineMs: 10_000,
    })
    .then((response) => response.cancel())
    .catch(() => undefined);
}

/** One request of a session: failures sorted into retry / refused (switch style) / fatal. */
async function sendStep(
  api: RegistryApi,
  url: string,
  request: Parameters<RegistryApi['request']>[1],
  what: string,
  source?: VerifiedSource,
): Promise<HttpResponse> {
  let response: HttpResponse;
  try {
    response = await api.request(url, {
      ...request,
      retries: 0,
      hideQuery: true,
      acceptStatuses: HANDLED_STATUSES,
      operation: `${what} ${request.method} ${api.registry}`,
    });
  } catch (error) {
    // A source that failed its own check explains the broken request better than the request does.
    if (source?.failure) throw new UploadFailure(source.failure, 'fatal');
    if (!(error instanceof RampartError)) throw error;
    const transient =
      (error.code === 'NETWORK' && error.details.status === undefined) || error.code === 'TIMEOUT';
    throw new UploadFailure(error, transient ? 'retry' : 'fatal');
  }
  if (response.status < 400) return response;
  await response.cancel();
  if (source?.failure) throw new UploadFailure(source.failure, 'fatal');
  const status = response.status;
  const error = new RampartError(
    'NETWORK',
    `${api.registry}: ${what} failed with HTTP ${status} ${reasonPhrase(status)} (${request.method} ${redactQuery(url)})`,
    { details: { url: redactQuery(url), status } },
  );
  if (isRetryableStatus(status)) {
    throw new UploadFailure(error, 'retry', parseRetryAfter(response.headers.get('retry-after'), Date.now()));
  }
  throw new UploadFailure(
    error,
    STYLE_REFUSED.has(status) && request.method !== 'POST' ? 'refused' : 'fatal',
  );
}

function locationOf(api: RegistryApi, response: HttpResponse, base: string): string {
  const location = response.headers.get('location');
  if (!location) {
    throw new UploadFailure(
      new RampartError('NETWORK', `${api.registry} answered an upload step without a Location header`, {
        details: { url: redactQuery(base), status: response.status },
      }),
      'fatal',
    );
  }
  return api.resolve(location, base);
}

function urlOf(error: RampartError): string | undefined {
  const url = (error.details as { url?: unknown }).url;
  return typeof url === 'string' ? url : undefined;
}

function withDigest(location: string, digest: Digest): string {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url.href;
}

/** The registry's answer names the digest it stored: it must be ours. */
function checkStored(api: RegistryApi, response: HttpResponse, digest: Digest): void {
  const stored = response.headers.get('docker-content-digest');
  if (stored !== null && stored !== digest) {
    throw new UploadFailure(
      new RampartError('DIGEST_MISMATCH', `${api.registry} stored ${stored} for an upload of ${digest}`, {
        details: { expected: digest, actual: stored, location: api.registry },
      }),
      'fatal',
    );
  }
}

/** Upload URLs carry session state (`_state=` tokens): errors show the path only. */
function redactQuery(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancelled(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(cancelled(signal as AbortSignal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function cancelled(signal: AbortSignal): RampartError {
  return new RampartError('CANCELLED', 'the blob upload was cancelled', {
    cause: signal.reason,
    details: { operation: 'blob upload' },
  });
}
