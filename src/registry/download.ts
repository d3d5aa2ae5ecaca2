/**
 * Blob download: a stream that is size- and digest-checked at the end, and survives a broken
 * connection. When the body breaks after N bytes, the blob is asked for again with
 * `Range: bytes=N-`; a 206 from offset N continues the stream, a 200 restarts it and the first N
 * bytes are skipped (they were already passed on). Bounded: `resumes` further requests at most,
 * and never more bytes than the descriptor's size. Nothing is held in memory beyond a chunk.
 */
import { Readable } from 'node:stream';
import { RampartError } from '../errors.js';
import type { HttpResponse } from '../http/client.js';
import { BlobCheck, markVerified } from '../oci/digest.js';
import type { Descriptor } from '../oci/types.js';
import { markRecyclable } from '../util/chunk-pool.js';
import type { RegistryApi } from './api.js';
import { checkDigest, checkRepository } from './names.js';

/** Resumes after broken connections, per blob. */
const DEFAULT_RESUMES = 5;
/**
 * Blobs at least this big are read with a bulk GET (http/bulk-get.ts): ~1/3 of node:http's CPU
 * per byte, but a connection of its own per request (one more round trip, and a TLS handshake;
 * they are not kept alive yet). Smaller ones, where that costs more than it saves on a distant
 * registry, reuse the kept-alive pool.
 */
const BULK_MIN_BYTES = 1024 * 1024;
/** Progress events at most every this many bytes. */
const PROGRESS_STEP = 1024 * 1024;

export interface OpenBlobOptions {
  resumes?: number;
  /** Read with a bulk GET from this size on (default `BULK_MIN_BYTES`). */
  bulkMinBytes?: number;
}

export async function openBlob(
  api: RegistryApi,
  repository: string,
  descriptor: Descriptor,
  options: OpenBlobOptions = {},
): Promise<Readable> {
  checkRepository(repository);
  const digest = checkDigest(descriptor.digest);
  const size = descriptor.size;
  // Errors and events name this URL, never the one a redirect led to: storage URLs are often
  // signed (a short-lived credential in the query).
  const url = await api.url(`${repository}/blobs/${digest}`);
  const access = { repository, actions: 'pull' };
  const maxResumes = options.resumes ?? DEFAULT_RESUMES;
  const bulkMinBytes = options.bulkMinBytes ?? BULK_MIN_BYTES;

  const fetchFrom = async (offset: number): Promise<HttpResponse> => {
    const response = await api.request(url, {
      access,
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      acceptStatuses: [404],
      // A 200 answer to a range request restarts from 0: the whole blob may come again. The floor
      // lets a small blob's 404 carry its JSON error body; the verifier still stops at `size`.
      maxBytes: Math.max(size, 64 * 1024),
      expectedBytes: size - offset,
      // Read from the socket into reused buffers (http/bulk-get.ts): `out` forwards them as they are.
      bulk: size >= bulkMinBytes,
      operation: `downloading ${digest} from ${api.registry}/${repository}`,
    });
    if (response.status === 404) {
      await response.cancel();
      throw new RampartError('BLOB_NOT_FOUND', `blob ${digest} is not in ${api.registry}/${repository}`, {
        details: { digest, location: `${api.registry}/${repository}` },
      });
    }
    return response;
  };

  // The first request happens now, so that 404/401 surface from openBlob itself.
  let first: HttpResponse | undefined = await fetchFrom(0);
  const check = new BlobCheck(digest, size, `${api.registry}/${repository}@${digest}`);
  let response: HttpResponse | undefined;
  let body: Readable | undefined;
  let offset = 0;
  let resumes = 0;
  let reported = 0;
  /** Bytes a restarted (200) answer sends again, dropped. */
  let skip = 0;

  // One stream between the response body and the reader, verifying as it forwards: no async
  // generator, no extra stream per hop (each costs a promise or a queue per 16-64 KiB chunk).
  const out: Readable = new Readable({
    read() {
      if (body) body.resume();
      else if (first) {
        const given = first;
        first = undefined;
        attach(given);
      }
      // Otherwise a resumed request is on its way: its body flows when it arrives.
    },
    destroy(error, callback) {
      // Closed before the first read, or mid-body: the answer (and its connection) is released.
      const pending = [first, response];
      first = undefined;
      release();
      for (const answer of pending) void answer?.cancel();
      callback(error);
    },
  });

  const release = (): void => {
    // A late error of a body let go (cancelled) must still have a listener.
    body?.off('data', onData).off('end', onEnd).off('error', onError).on('error', ignore);
    body = undefined;
    response = undefined;
  };

  const attach = (answer: HttpResponse): void => {
    if (offset > 0) {
      if (answer.status === 206) {
        const start = /^bytes (\d+)-/.exec(answer.headers.get('content-range') ?? '')?.[1];
        if (start === undefined || Number(start) !== offset) {
          void answer.cancel();
          out.destroy(
            new RampartError(
              'NETWORK',
              `${api.registry} answered a resumed download of ${digest} from the wrong offset (${start ?? 'none'}, asked for ${offset})`,
              { details: { url, status: 206 } },
            ),
          );
          return;
        }
        skip = 0;
      } else {
        skip = offset;
      }
    }
    response = answer;
    body = answer.stream();
    body.on('data', onData).once('end', onEnd).once('error', onError);
    // A body that failed while it waited for its first read: its 'error' went by before these
    // listeners, so it is taken from the stream (and resumed with a Range request like any other).
    if (body.errored) onError(body.errored);
  };

  /** Tells the listener; one that throws fails this read (as a stream error would), not the socket. */
  function emit(event: Parameters<NonNullable<RegistryApi['onEvent']>>[0]): boolean {
    try {
      api.onEvent?.(event);
      return true;
    } catch (error) {
      out.destroy(error as Error);
      return false;
    }
  }

  function onData(chunk: Buffer): void {
    let bytes = chunk;
    if (skip > 0) {
      const dropped = Math.min(skip, bytes.byteLength);
      skip -= dropped;
      bytes = bytes.subarray(dropped);
      if (bytes.byteLength === 0) return;
    }
    try {
      check.update(bytes);
    } catch (error) {
      out.destroy(error as Error);
      return;
    }
    offset += bytes.byteLength;
    if (offset - reported >= PROGRESS_STEP || offset === size) {
      reported = offset;
      if (!emit({ kind: 'blob-progress', digest, bytes: offset, size, direction: 'pull' })) return;
    }
    if (!out.push(bytes)) body?.pause();
  }

  function onEnd(): void {
    const answer = response;
    release();
    void answer?.cancel();
    try {
      check.finish();
    } catch (error) {
      out.destroy(error as Error);
      return;
    }
    out.push(null);
  }

  function onError(error: unknown): void {
    const answer = response;
    release();
    void answer?.cancel();
    if (!resumable(error) || resumes >= maxResumes || offset >= size) {
      out.destroy(error as Error);
      return;
    }
    resumes++;
    const told = emit({
      kind: 'retry',
      url,
      attempt: resumes,
      reason: `connection broke after ${offset} of ${size} bytes; resuming`,
      delayMs: 0,
    });
    if (!told) return;
    fetchFrom(offset).then(
      (again) => {
        if (out.destroyed) void again.cancel();
        else attach(again);
      },
      (failure: unknown) => out.destroy(failure as Error),
    );
  }

  // Chunks pass on as they came (or cut at the front): the file writer may recycle them.
  return markRecyclable(markVerified(out, digest, size));
}

function ignore(): void {}

/** A transport failure another request may cure; the reader's own checks and cancellation are not. */
function resumable(error: unknown): boolean {
  return (
    error instanceof RampartError &&
    ((error.code === 'NETWORK' && error.details.status === undefined) || error.code === 'TIMEOUT')
  );
}
