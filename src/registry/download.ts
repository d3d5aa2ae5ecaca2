/**
 * Blob download: a stream that is size- and digest-checked at the end, and survives a broken
 * connection. When the body breaks after N bytes, the blob is asked for again with
 * `Range: bytes=N-`; a 206 from offset N continues the stream, a 200 restarts it and the first N
 * bytes are skipped (they were already passed on). Bounded: `resumes` further requests at most,
 * and never more bytes than the descriptor's size. Nothing is held in memory beyond a chunk.
 */
import { pipeline, Readable } from 'node:stream';
import { RampartError } from '../errors.js';
import type { HttpResponse } from '../http/client.js';
import { verifyingStream } from '../oci/digest.js';
import type { Descriptor } from '../oci/types.js';
import type { RegistryApi } from './api.js';
import { checkDigest, checkRepository } from './names.js';

/** Resumes after broken connections, per blob. */
const DEFAULT_RESUMES = 5;
/** Progress events at most every this many bytes. */
const PROGRESS_STEP = 1024 * 1024;

export interface OpenBlobOptions {
  resumes?: number;
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

  const fetchFrom = async (offset: number): Promise<HttpResponse> => {
    const response = await api.request(url, {
      access,
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      acceptStatuses: [404],
      // A 200 answer to a range request restarts from 0: the whole blob may come again. The floor
      // lets a small blob's 404 carry its JSON error body; the verifier still stops at `size`.
      maxBytes: Math.max(size, 64 * 1024),
      expectedBytes: size - offset,
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

  async function* chunks(): AsyncGenerator<Uint8Array> {
    let offset = 0;
    let resumes = 0;
    let reported = 0;
    for (;;) {
      const response: HttpResponse = first ?? (await fetchFrom(offset));
      first = undefined;
      let skip = 0;
      if (offset > 0) {
        if (response.status === 206) {
          const start = /^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '')?.[1];
          if (start === undefined || Number(start) !== offset) {
            await response.cancel();
            throw new RampartError(
              'NETWORK',
              `${api.registry} answered a resumed download of ${digest} from the wrong offset (${start ?? 'none'}, asked for ${offset})`,
              { details: { url, status: 206 } },
            );
          }
        } else {
          skip = offset;
        }
      }
      try {
        for await (const chunk of response.stream() as AsyncIterable<Buffer>) {
          let bytes = chunk;
          if (skip > 0) {
            const dropped = Math.min(skip, bytes.byteLength);
            skip -= dropped;
            bytes = bytes.subarray(dropped);
            if (bytes.byteLength === 0) continue;
          }
          offset += bytes.byteLength;
          if (offset - reported >= PROGRESS_STEP || offset === size) {
            reported = offset;
            api.onEvent?.({ kind: 'blob-progress', digest, bytes: offset, size, direction: 'pull' });
          }
          yield bytes;
        }
        return;
      } catch (error) {
        if (!resumable(error) || resumes >= maxResumes || offset >= size) throw error;
        resumes++;
        api.onEvent?.({
          kind: 'retry',
          url,
          attempt: resumes,
          reason: `connection broke after ${offset} of ${size} bytes; resuming`,
          delayMs: 0,
        });
      } finally {
        await response.cancel();
      }
    }
  }

  const verifier = verifyingStream(digest, size, `${api.registry}/${repository}@${digest}`);
  pipeline(Readable.from(chunks(), { objectMode: false }), verifier, () => undefined);
  // Closed before the first read: the generator never ran, so its `finally` cannot release this.
  verifier.once('close', () => void first?.cancel());
  return verifier;
}

/** A transport failure another request may cure; the reader's own checks and cancellation are not. */
function resumable(error: unknown): boolean {
  return (
    error instanceof RampartError &&
    ((error.code === 'NETWORK' && error.details.status === undefined) || error.code === 'TIMEOUT')
  );
}
