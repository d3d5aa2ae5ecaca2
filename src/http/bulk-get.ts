/**
 * A GET whose large body is read straight from its socket into reused buffers (util/chunk-pool.ts):
 * the blob downloads of a registry pull. node:http costs ~3× the CPU for the same bytes: every 64 KiB
 * socket read lands in fresh memory, its parser copies each body chunk out again (fresh memory,
 * page faults both times), and each chunk takes a JavaScript hop per stream. Read here with
 * `onread` into 1 MiB slabs that are reused once the file writer has written them, a 200 MB pull
 * makes ~250 reads instead of ~3,200, and ~4× fewer page faults (bench/registry.bench.ts). No
 * library offers this: undici and node:http both allocate per read. So this is a small HTTP/1.1
 * reader for the one case it is worth it, and it hands everything else back:
 *
 * - only a GET without a body, on a direct connection (no proxy), through the same connection
 *   settings as the caller's agent (its CA list, TLS verification, the loopback-only lookup);
 * - only an answer with a status of 200-599 and a `Content-Length` and no `Transfer-Encoding`;
 *   anything else (chunked, read to close, 1xx) is `undefined`: the caller sends the request
 *   again through node:http, which handles every case (a GET is safe to repeat);
 * - headers as node:http would check them: request header names and values validated (no CR/LF
 *   injection from a token), a response head of at most 64 KiB, conflicting lengths refused;
 * - one request per connection (`connection: close`): no pool to poison, nothing left half-read.
 *
 * The body is a Node stream marked recyclable (see chunk-pool.ts); it fails with an ECONNRESET
 * error when the connection ends before `Content-Length` bytes, which the client's resume
 * (registry/download.ts) answers with a Range request, as for node:http.
 */
import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import { ChunkPool, markRecyclable } from '../util/chunk-pool.js';

/** The most bytes of a response head (status line and headers) accepted: node:http's limit is 16 KiB. */
const MAX_HEAD_BYTES = 64 * 1024;
/** Response headers of which node:http keeps the first when repeated (its `matchKnownFields`). */
const SINGLE_VALUED = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);
/** Header names: RFC 9110 tokens. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Agent options that are the pool's, not the connection's. */
const AGENT_ONLY = new Set([
  'path',
  'timeout',
  'keepAlive',
  'keepAliveMsecs',
  'maxSockets',
  'maxTotalSockets',
  'maxFreeSockets',
  'scheduling',
  'maxCachedSessions',
  'proxyEnv',
]);

/** What `sendNode` makes of an answer: the fields the client's Answer needs. */
export interface BulkAnswer {
  status: number;
  statusText: string;
  headers: Record<string, string>;
  body: Readable;
  discard(): Promise<void>;
}

/** An error of the connection, shaped as node:http's (a `code`), so the client words and retries it alike. */
function connectionError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * Sends `GET target` on a connection of its own made with `agent`'s settings, and resolves with
 * the answer, or undefined when this path does not apply (see above; nothing was read then that
 * the caller needs).
 */
export function sendBulkGet(
  target: URL,
  headers: ReadonlyMap<string, string>,
  signal: AbortSignal,
  agent: HttpAgent | HttpsAgent,
): Promise<BulkAnswer | undefined> {
  const settings = (agent as { options?: Record<string, unknown> }).options ?? {};
  // A proxy is node:http's to speak to.
  if (settings.proxyEnv) return Promise.resolve(undefined);
  const https = target.protocol === 'https:';
  const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
  const port = Number(target.port || (https ? 443 : 80));
  const { validateHeaderName, validateHeaderValue } = process.getBuiltinModule('node:http');
  let head = `GET ${target.pathname}${target.search} HTTP/1.1\r\nhost: ${target.host}\r\n`;
  for (const [name, value] of headers) {
    if (name === 'host' || name === 'connection') continue;
    // Throws as node:http would (ERR_INVALID_HTTP_TOKEN / ERR_INVALID_CHAR): no header injection.
    validateHeaderName(name);
    validateHeaderValue(name, value);
    head += `${name}: ${value}\r\n`;
  }
  head += 'connection: close\r\n\r\n';

  return new Promise<BulkAnswer | undefined>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const pool = new ChunkPool();
    let headBytes: Buffer[] = [];
    let headLength = 0;
    let answered = false;
    let remaining = 0;
    let body: Readable | undefined;
    let socket: Socket;

    const options: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(settings)) if (!AGENT_ONLY.has(key)) options[key] = value;
    Object.assign(options, {
      host,
      port,
      onread: { buffer: () => pool.space(), callback: onRead },
      ...(https && !isIP(host) ? { servername: host } : {}),
    });

    const finish = (): void => {
      signal.removeEventListener('abort', onAbort);
      pool.close();
      socket.destroy();
    };
    /** Before the answer, the promise fails; after it, the body does. */
    const fail = (error: Error): void => {
      finish();
      if (!answered) {
        answered = true;
        reject(error);
      } else if (body && !body.readableEnded) body.destroy(error);
    };
    const onAbort = (): void => fail(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });

    function onRead(length: number): void {
      if (body) {
        deliver(pool.take(length));
        return;
      }
      const read = pool.peek(length);
      headBytes.push(Buffer.from(read));
      headLength += length;
      const all = headBytes.length === 1 ? (headBytes[0] as Buffer) : Buffer.concat(headBytes);
      headBytes = [all];
      // Empty lines before the status line are skipped, as node:http does (RFC 9112 2.2).
      let start = 0;
      while (start < all.length && (all[start] === 0x0d || all[start] === 0x0a)) start++;
      const end = all.indexOf('\r\n\r\n', start);
      if (end === -1 || end > MAX_HEAD_BYTES) {
        if (headLength > MAX_HEAD_BYTES) {
          fail(
            connectionError(
              `the response head is larger than ${MAX_HEAD_BYTES} bytes`,
              'HPE_HEADER_OVERFLOW',
            ),
          );
          return;
        }
        pool.skip(length);
        return;
      }
      let parsed: ReturnType<typeof parseHead>;
      try {
        parsed = parseHead(all.subarray(start, end).toString('latin1'));
      } catch (error) {
        fail(error as Error);
        return;
      }
      if (parsed === undefined) {
        // Not for this path: the caller asks again through node:http.
        answered = true;
        finish();
        resolve(undefined);
        return;
      }
      remaining = parsed.length;
      // The body bytes of this read stay in the slab, handed out as a chunk; the head's were copied.
      const bodyBytes = all.length - (end + 4);
      pool.skip(length - bodyBytes);
      const first = bodyBytes > 0 ? pool.take(bodyBytes) : undefined;
      body = markRecyclable(
        new Readable({
          read() {
            socket.resume();
          },
          destroy(error, callback) {
            finish();
            callback(error);
          },
        }),
      );
      // The body may fail before anyone reads it (a 401's body while a token is fetched): an
      // 'error' with no listener would end the process. The failure stays on the stream
      // (`errored`), where pipeline, finished and async iteration report it to a later reader.
      body.on('error', () => undefined);
      answered = true;
      resolve({
        status: parsed.status,
        statusText: parsed.statusText,
        headers: parsed.headers,
        body,
        discard: async () => {
          body?.destroy();
        },
      });
      headBytes = [];
      if (remaining === 0) {
        finish();
        body.push(null);
      } else if (first) deliver(first);
    }

    function deliver(chunk: Buffer): void {
      const stream = body as Readable;
      if (stream.destroyed || remaining === 0) return;
      // Bytes past Content-Length are not this answer's: they are dropped with the connection.
      const part = chunk.byteLength > remaining ? chunk.subarray(0, remaining) : chunk;
      remaining -= part.byteLength;
      const more = stream.push(part);
      if (remaining === 0) {
        finish();
        stream.push(null);
      } else if (!more) socket.pause();
    }

    const connect = https
      ? process.getBuiltinModule('node:tls').connect
      : process.getBuiltinModule('node:net').connect;
    socket = (connect as (options: Record<string, unknown>) => Socket)(options);
    socket.once(https ? 'secureConnect' : 'connect', () => socket.write(head));
    socket.on('error', fail);
    socket.once('end', () => {
      if (!answered || remaining > 0)
        fail(
          connectionError(
            answered
              ? `the connection closed with ${remaining} bytes of the body still to come`
              : 'the connection closed before a complete response head',
            'ECONNRESET',
          ),
        );
    });
    socket.once('close', () => {
      if (!answered || remaining > 0) fail(connectionError('the connection closed', 'ECONNRESET'));
    });
  });
}

/**
 * The status line and headers, or undefined for an answer this path leaves to node:http (no
 * length, chunked, 1xx). Malformed heads fail, as node:http's parser would (HPE_*).
 */
function parseHead(
  text: string,
): { status: number; statusText: string; headers: Record<string, string>; length: number } | undefined {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.[01] ([1-5]\d\d)(?: ([^\r\n]*))?$/.exec(lines[0] ?? '');
  if (!status) throw connectionError('malformed HTTP status line', 'HPE_INVALID_CONSTANT');
  const code = Number(status[1]);
  const headers: Record<string, string> = Object.create(null);
  let length: string | undefined;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    // No obsolete line folding, no name without a value, no control characters in a value.
    if (colon <= 0 || !TOKEN.test(name) || /[\0-\x08\x0a-\x1f\x7f]/.test(line))
      throw connectionError('malformed HTTP response header', 'HPE_INVALID_HEADER_TOKEN');
    const value = line.slice(colon + 1).trim();
    if (name === 'content-length') {
      if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== value))
        throw connectionError('invalid or conflicting Content-Length', 'HPE_UNEXPECTED_CONTENT_LENGTH');
      length = value;
    }
    // Repeats joined with ", ", except where node:http keeps the first (one value by definition).
    if (!(name in headers)) headers[name] = value;
    else if (!SINGLE_VALUED.has(name)) headers[name] = `${headers[name]}, ${value}`;
  }
  if (code < 200 || 'transfer-encoding' in headers) return undefined;
  // Answers without a body whatever they declare (RFC 9110 6.4.1); a GET has no HEAD case.
  if (code === 204 || code === 304) return { status: code, statusText: status[2] ?? '', headers, length: 0 };
  if (length === undefined) return undefined;
  return { status: code, statusText: status[2] ?? '', headers, length: Number(length) };
}
