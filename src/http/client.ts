/**
 * The HTTP client role: every request rampart sends goes through one `HttpClient` (the Debian
 * archive today, the OCI registry next). What it guarantees, for any method:
 *
 * - **Bounded in time.** An idle timeout (no headers, or no body bytes, for `idleTimeoutMs`) and
 *   an overall deadline (`deadlineMs`, across every attempt, redirect and the whole body): a
 *   server that drips one byte at a time is abandoned at the deadline with TIMEOUT.
 * - **Bounded in size.** `maxBytes` is checked against Content-Length before reading and
 *   against the bytes actually received while streaming; the body is never buffered by the
 *   client (`bytes()` exists for small documents and obeys the same limit). TOO_LARGE.
 * - **Bounded retries.** Network errors, idle timeouts and 408/429/5xx are retried `retries`
 *   times with exponential backoff, or after `Retry-After` (capped, and never past the
 *   deadline). `read()` also retries a body that breaks mid-stream, because it owns the
 *   reading; errors the reader raises itself (a digest mismatch) are not retried.
 * - **No credential leaks.** Redirects are followed here (`redirect: 'manual'`), so that
 *   Authorization, Cookie and credentials from the URL are dropped when a redirect leaves the
 *   origin, and an https → http redirect is refused. A request with a streamed body (a function)
 *   follows none: fetch would buffer the whole body to be able to (see `attempt`).
 * - **An auth hook.** On 401, `onChallenge(response)` may return headers (a Bearer token after
 *   the registry token flow); the request is then sent once more with them. Only a 401 from the
 *   origin first asked is offered to the hook: a redirect target's challenge gets no credentials.
 * - **Cancellation.** An AbortSignal stops the request, the body and any backoff wait: CANCELLED.
 * - **Facts in errors.** NETWORK carries `url`, `status` and `attempts` (the true count);
 *   TIMEOUT `url`, `timeoutMs`, `attempts`; TOO_LARGE `limit`, `url`.
 *
 * Two transports, one set of rules. By default the platform's `fetch` (undici, built into Node
 * 24): it streams both ways, takes an AbortSignal, and stays replaceable (callers and tests pass any
 * fetch-compatible function). With `agents` (the registry client, which moves large blobs), requests
 * go through `node:http`/`node:https` instead: request and response bodies are Node streams, with
 * none of fetch's per-chunk work (each chunk copied into a new Uint8Array and queued through WHATWG
 * byte streams, then read back through a reader: ~1/3 of a 200 MB blob pull's CPU, and the copies
 * were most of its garbage), and nothing to load (fetch's undici is compiled on first use, ~0.1 s
 * of CPU; the undici package's Agent, ~0.3 s: a third of a small registry command). undici's own
 * `request` would stream as well but costs that load. The deadline and the idle timeout live here
 * either way (undici's `headersTimeout`/`bodyTimeout` are idle timeouts only). `HttpResponse`
 * offers the body both ways (`body`, `stream()`), each guarded alike.
 */
import type { Agent as HttpAgent, IncomingMessage } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { pipeline, Readable, Transform } from 'node:stream';
import type { ReadableStream as NodeWebReadableStream } from 'node:stream/web';
import { RampartError } from '../errors.js';
import { forwardRecyclable } from '../util/chunk-pool.js';
import { VERSION } from '../version.js';
import { environmentProxy, isOwnAgent, keepAliveAgents } from './agents.js';
import { sendBulkGet } from './bulk-get.js';
import { type FetchFn, isRetryableStatus, parseRetryAfter, reasonPhrase, redactUrl } from './fetch.js';
import { isLoopbackHost } from './hosts.js';

/** The `User-Agent` of every request rampart sends (a caller's own header wins). */
export const USER_AGENT = `rampart/${VERSION}`;

/** A request body; a function is called once per attempt, so streamed bodies can be retried. */
export type RequestBody =
  | Uint8Array
  | string
  | (() => ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>);

/** The connection pools of the `node:http` transport, one per scheme. */
export interface HttpAgents {
  readonly http: HttpAgent;
  readonly https: HttpsAgent;
  /** Closes the pools made so far (`lazyAgents`); without it, `close()` destroys both. */
  destroy?(): void;
}

/** What callers read of response headers (fetch's `Headers` is one). */
export interface ResponseHeaders {
  get(name: string): string | null;
  has(name: string): boolean;
}

export interface HttpClientOptions {
  fetch?: FetchFn;
  /**
   * Send through `node:http`/`node:https` with these agents (keep-alive, TLS settings) instead of
   * `fetch`; called once, at the first request. Ignored when `fetch` is given.
   */
  agents?: () => Promise<HttpAgents>;
  /** No response headers, or no body bytes, for this long: the attempt fails. Default 60 s. */
  idleTimeoutMs?: number;
  /**
   * The whole request (attempts, waits, redirects, body) must finish within this. Default 15 min,
   * or less for a request that says how big its body is or may be (`expectedBytes`, `maxBytes`).
   */
  deadlineMs?: number;
  /**
   * The slowest transfer tolerated for a request with `expectedBytes`: its deadline is
   * `minDeadlineMs` plus the time to move that many bytes at this rate (within `deadlineMs`).
   * Default 32 KiB/s.
   */
  minBytesPerSecond?: number;
  /** Default 60 s. */
  minDeadlineMs?: number;
  /** Extra attempts after the first. Default 3. */
  retries?: number;
  /** First backoff delay, doubled per attempt. Default 250 ms. */
  backoffMs?: number;
  /** The longest `Retry-After` honoured; longer waits are cut to this. Default 60 s. */
  maxRetryAfterMs?: number;
  /** Default 5. */
  maxRedirects?: number;
  /** Waits between attempts (tests record the delays instead of sleeping). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** The clock, for Retry-After dates. */
  now?: () => number;
}

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: RequestBody;
  signal?: AbortSignal;
  idleTimeoutMs?: number;
  deadlineMs?: number;
  retries?: number;
  /** The most body bytes accepted. */
  maxBytes?: number;
  /** How big the body should be (a signed size), to size the deadline. */
  expectedBytes?: number;
  /** Non-2xx statuses handed to the caller instead of raised (e.g. 304, 404). */
  acceptStatuses?: number[];
  /** On 401: headers to send the request again with (once), or undefined to fail. */
  onChallenge?: (response: ChallengeResponse) => Promise<Record<string, string> | undefined>;
  /** What the request is for, named in CANCELLED errors (default `METHOD URL`). */
  operation?: string;
  /**
   * The body is a secret (a token form): a 307/308 redirect to another origin, which would send
   * it on, is refused (NETWORK) rather than followed.
   */
  secretBody?: boolean;
  /** The URL's query is a secret (upload session state): errors and `url` show origin and path only. */
  hideQuery?: boolean;
  /**
   * A large body to be read once, in order (a registry blob): a GET is then read straight from its
   * socket into reused buffers (`bulk-get.ts`) when the `node:http` transport is in use and no
   * proxy is; otherwise, and for answers that path leaves alone, as usual. Its body stream is
   * recyclable (util/chunk-pool.ts): read it with one consumer.
   */
  bulk?: boolean;
}

/** What an auth hook sees of a 401 answer (its body is discarded). */
export interface ChallengeResponse {
  status: number;
  headers: ResponseHeaders;
}

export interface HttpResponse {
  /** The final URL after redirects, without credentials. */
  url: string;
  status: number;
  statusText: string;
  headers: ResponseHeaders;
  /** Attempts made so far, this one included. */
  attempts: number;
  /** The body, guarded by the idle timeout, the deadline, `maxBytes` and the signal. */
  readonly body: ReadableStream<Uint8Array>;
  /**
   * The same body as a Node stream (no WHATWG stream in between with `agents`): read one of
   * `body` and `stream()`, not both.
   */
  stream(): Readable;
  /** The whole body (at most `maxBytes`): for small documents only. */
  bytes(): Promise<Buffer>;
  cancel(): Promise<void>;
}

/** One answer of either transport, before the guards. */
interface Answer {
  status: number;
  statusText: string;
  headers: ResponseHeaders;
  /** WHATWG from fetch, Node from `node:http`; null for a HEAD (or a null-body status). */
  body: ReadableStream<Uint8Array> | Readable | null;
  /** Drops the body unread (keeping the connection where the transport can). */
  discard(): Promise<void>;
}

/**
 * The request headers that follow a redirect to another origin: content negotiation, caching
 * validators, the range. Everything else (authorization, cookies, API keys under any name) stays
 * with the origin it was meant for.
 */
const CROSS_ORIGIN_HEADERS = new Set([
  'accept',
  'accept-encoding',
  'user-agent',
  'if-none-match',
  'if-modified-since',
  'range',
]);
/** Describe a body that a 307/308 sends on: kept with it, not credentials. */
const BODY_HEADERS = new Set(['content-type', 'content-length']);
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Errors another attempt may cure: network failures, idle timeouts, 408/429/5xx. */
const retryable = new WeakSet<Error>();
/** The server's Retry-After for a failed attempt, in ms. */
const retryAfterOf = new WeakMap<Error, number>();

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The bits of undici's "fetch failed" that say what happened (ECONNREFUSED, "other side closed"). */
function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause as { code?: string; message?: string } | undefined;
  const detail = cause?.code ?? cause?.message;
  return detail && detail !== error.message ? `${error.message}: ${detail}` : error.message;
}

/** One request's shared state: its deadline and cancellation, and the attempt being made. */
class Exchange {
  readonly controller = new AbortController();
  /** Why `controller` aborted. */
  stopped: 'cancelled' | 'deadline' | undefined;
  attempts = 0;
  private readonly deadline: NodeJS.Timeout;
  private readonly onCallerAbort = () => this.stop('cancelled');

  constructor(
    readonly url: string,
    readonly method: string,
    readonly deadlineMs: number,
    readonly idleTimeoutMs: number,
    readonly operation: string,
    private readonly callerSignal: AbortSignal | undefined,
  ) {
    this.deadline = setTimeout(() => this.stop('deadline'), deadlineMs);
    this.deadline.unref();
    if (callerSignal?.aborted) this.stop('cancelled');
    callerSignal?.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  private stop(why: 'cancelled' | 'deadline'): void {
    if (this.stopped) return;
    this.stopped = why;
    this.controller.abort(new Error(why));
  }

  /** Releases the deadline timer and the caller's signal. */
  finish(): void {
    clearTimeout(this.deadline);
    this.callerSignal?.removeEventListener('abort', this.onCallerAbort);
  }

  /** The error for a failed attempt: cancellation and the deadline take precedence over the cause. */
  failure(cause: unknown, idleFired: boolean, status?: number): RampartError {
    const url = this.url;
    const attempts = this.attempts;
    const tried = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
    if (this.stopped === 'cancelled') {
      return new RampartError('CANCELLED', `${this.operation} was cancelled`, {
        cause,
        details: { operation: this.operation },
      });
    }
    if (this.stopped === 'deadline') {
      return new RampartError(
        'TIMEOUT',
        `${this.method} ${url} did not finish within ${this.deadlineMs} ms (${tried}); the server is too slow or stalling — retry or use another mirror`,
        { cause, details: { url, timeoutMs: this.deadlineMs, attempts } },
      );
    }
    if (cause instanceof RampartError) return cause;
    if (idleFired) {
      const error = new RampartError(
        'TIMEOUT',
        `${this.method} ${url} failed after ${tried}: no data from the server for ${this.idleTimeoutMs} ms; retry or use another mirror`,
        { cause, details: { url, timeoutMs: this.idleTimeoutMs, attempts } },
      );
      retryable.add(error);
      return error;
    }
    const error = new RampartError(
      'NETWORK',
      `${this.method} ${url} failed after ${tried} (${describeNetworkError(cause)}); check the network or the mirror URL`,
      { cause, details: { url, attempts, ...(status !== undefined ? { status } : {}) } },
    );
    retryable.add(error);
    return error;
  }
}

/** One attempt's idle timer: aborts the attempt when neither headers nor body bytes arrive. */
class IdleTimer {
  readonly controller = new AbortController();
  fired = false;
  private readonly timer: NodeJS.Timeout;
  private readonly onParentAbort: () => void;

  constructor(
    ms: number,
    private readonly parent: AbortSignal,
  ) {
    this.timer = setTimeout(() => {
      this.fired = true;
      this.controller.abort(new Error(`no data for ${ms} ms`));
    }, ms);
    this.timer.unref();
    this.onParentAbort = () => this.controller.abort(parent.reason);
    if (parent.aborted) this.onParentAbort();
    parent.addEventListener('abort', this.onParentAbort, { once: true });
  }

  refresh(): void {
    this.timer.refresh();
  }

  clear(): void {
    clearTimeout(this.timer);
    this.parent.removeEventListener('abort', this.onParentAbort);
  }
}

export class HttpClient {
  private readonly fetchFn: FetchFn;
  private readonly agentsFactory: (() => Promise<HttpAgents>) | undefined;
  private agents: Promise<HttpAgents> | undefined;
  private readonly defaults: Required<
    Pick<
      HttpClientOptions,
      | 'idleTimeoutMs'
      | 'deadlineMs'
      | 'minBytesPerSecond'
      | 'minDeadlineMs'
      | 'retries'
      | 'backoffMs'
      | 'maxRetryAfterMs'
      | 'maxRedirects'
    >
  >;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly now: () => number;

  constructor(options: HttpClientOptions = {}) {
    this.fetchFn = options.fetch ?? fetch;
    this.agentsFactory = options.fetch ? undefined : options.agents;
    this.defaults = {
      idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
      deadlineMs: options.deadlineMs ?? 15 * 60_000,
      minBytesPerSecond: options.minBytesPerSecond ?? 32 * 1024,
      minDeadlineMs: options.minDeadlineMs ?? 60_000,
      retries: options.retries ?? 3,
      backoffMs: options.backoffMs ?? 250,
      maxRetryAfterMs: options.maxRetryAfterMs ?? 60_000,
      maxRedirects: options.maxRedirects ?? 5,
    };
    this.sleep = options.sleep ?? abortableSleep;
    this.now = options.now ?? Date.now;
  }

  /**
   * Closes the kept-alive connections of the agents this client made (none with `fetch`): for a
   * library caller done with it (idle ones do not hold the process open). A later request makes
   * new agents.
   */
  async close(): Promise<void> {
    const agents = this.agents;
    this.agents = undefined;
    if (!agents) return;
    const made = await agents;
    if (made.destroy) made.destroy();
    else {
      made.http.destroy();
      made.https.destroy();
    }
  }

  /**
   * Sends the request (retrying until a 2xx or accepted status arrives) and returns the
   * response with its body unread; the deadline keeps running until the body is read or
   * cancelled. A body that breaks mid-stream is not retried: use `read()` for that.
   */
  async request(url: string, options: HttpRequestOptions = {}): Promise<HttpResponse> {
    return this.run(url, options, async (response) => response, false);
  }

  /**
   * Sends the request and hands the response to `reader`, retrying the whole exchange when the
   * network fails, including while `reader` consumes the body. Errors `reader` raises itself are
   * not retried. The body is cancelled when `reader` returns.
   */
  async read<T>(
    url: string,
    options: HttpRequestOptions,
    reader: (response: HttpResponse) => Promise<T>,
  ): Promise<T> {
    return this.run(url, options, reader, true);
  }

  private async run<T>(
    rawUrl: string,
    options: HttpRequestOptions,
    reader: (response: HttpResponse) => Promise<T>,
    owned: boolean,
  ): Promise<T> {
    const method = (options.method ?? 'GET').toUpperCase();
    const url = shownUrl(rawUrl, options);
    const exchange = new Exchange(
      url,
      method,
      this.deadlineFor(options),
      options.idleTimeoutMs ?? this.defaults.idleTimeoutMs,
      options.operation ?? `${method} ${url}`,
      options.signal,
    );
    const retries = options.retries ?? this.defaults.retries;
    let handedOver = false;
    try {
      for (;;) {
        exchange.attempts++;
        const idle = new IdleTimer(exchange.idleTimeoutMs, exchange.controller.signal);
        let response: HttpResponse | undefined;
        try {
          response = await this.attempt(rawUrl, method, options, exchange, idle);
          const result = await reader(response);
          if (!owned) handedOver = true;
          return result;
        } catch (error) {
          // Cancellation and the deadline win over whatever they caused; errors of the reader's
          // own (not raised by the transport) pass through unretried.
          if (exchange.stopped) throw exchange.failure(error, false);
          if (!(error instanceof RampartError) || !retryable.has(error)) throw error;
          const failure = error;
          if (exchange.attempts > retries) throw failure;
          const wait = Math.min(
            retryAfterOf.get(failure) ?? this.defaults.backoffMs * 2 ** (exchange.attempts - 1),
            this.defaults.maxRetryAfterMs,
          );
          try {
            await this.sleep(wait, exchange.controller.signal);
          } catch (sleepError) {
            // Cancelled or out of time while waiting: say so, with the last failure as the cause.
            throw exchange.stopped ? exchange.failure(failure, false) : sleepError;
          }
        } finally {
          if (owned || !handedOver) {
            idle.clear();
            await response?.cancel().catch(() => undefined);
          }
        }
      }
    } finally {
      if (!handedOver) exchange.finish();
    }
  }

  /** A dripping server must not hold a small file for the default deadline of a large one. */
  private deadlineFor(options: HttpRequestOptions): number {
    if (options.deadlineMs !== undefined) return options.deadlineMs;
    // A body of unknown size but bounded (a manifest, a token) gets its bound's deadline: a server
    // dripping a byte a minute must not hold a command for the 15 minutes a large blob may take.
    const bytes = options.expectedBytes ?? options.maxBytes;
    if (bytes === undefined) return this.defaults.deadlineMs;
    // A sized request still gets the time to wait out its retries' Retry-After (a rate-limited
    // registry answering a small blob's GET with 429 must not end in TIMEOUT).
    const waitsMs = (options.retries ?? this.defaults.retries) * this.defaults.maxRetryAfterMs;
    const transferMs = Math.ceil((bytes / this.defaults.minBytesPerSecond) * 1000) + waitsMs;
    return Math.min(this.defaults.deadlineMs, this.defaults.minDeadlineMs + transferMs);
  }

  /** One attempt: follows redirects, answers one 401 challenge, checks the status and size. */
  private async attempt(
    rawUrl: string,
    initialMethod: string,
    options: HttpRequestOptions,
    exchange: Exchange,
    idle: IdleTimer,
  ): Promise<HttpResponse> {
    let target = parseRequestUrl(rawUrl);
    let method = initialMethod;
    let body = options.body;
    // Lowercase names, as the `Headers` of fetch keeps them (without loading fetch).
    const headers = new Map<string, string>();
    for (const [name, value] of Object.entries(options.headers ?? {})) headers.set(name.toLowerCase(), value);
    // Who is asking, on both transports (fetch would send its own `node`; node:http sends none).
    if (!headers.has('user-agent')) headers.set('user-agent', USER_AGENT);
    // fetch() refuses URLs with credentials; they go as Basic auth, to this origin only.
    if (target.username || target.password) {
      const user = decodeURIComponent(target.username);
      const password = decodeURIComponent(target.password);
      headers.set('authorization', `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`);
      target.username = '';
      target.password = '';
    }
    let challenged = false;
    // Challenges are answered for the origin the caller asked; a redirect target's 401 is its own.
    const origin = target.origin;
    for (let redirects = 0; ; ) {
      const sent = body !== undefined && method !== 'GET' && method !== 'HEAD' ? body : undefined;
      let response: Answer;
      try {
        response = await this.send(target, method, headers, sent, idle.controller.signal, options.bulk);
      } catch (error) {
        throw exchange.failure(error, idle.fired);
      }
      if (typeof sent === 'function' && REDIRECT_STATUSES.has(response.status)) {
        // A streamed body is made afresh per attempt, so no redirect is followed for it (see
        // `send`): the attempt fails as a network error, as fetch's redirect mode 'error' does.
        await response.discard().catch(() => undefined);
        throw exchange.failure(
          new Error(`HTTP ${response.status} redirect in answer to a streamed request body`),
          false,
        );
      }
      const location = response.headers.get('location');
      if (REDIRECT_STATUSES.has(response.status) && location) {
        await response.discard().catch(() => undefined);
        const next = new URL(location, target);
        if (++redirects > this.defaults.maxRedirects || !/^https?:$/.test(next.protocol)) {
          throw new RampartError(
            'NETWORK',
            `${method} ${exchange.url} redirected too often or to an unsupported URL (${redactUrl(next.href)}); check the URL`,
            {
              details: {
                url: exchange.url,
                status: response.status,
                location: redactUrl(next.href),
                attempts: exchange.attempts,
              },
            },
          );
        }
        if (target.protocol === 'https:' && next.protocol === 'http:') {
          throw new RampartError(
            'NETWORK',
            `${method} ${exchange.url} redirected from https to plain http (${redactUrl(next.href)}); refusing the downgrade`,
            {
              details: {
                url: exchange.url,
                status: response.status,
                location: redactUrl(next.href),
                attempts: exchange.attempts,
              },
            },
          );
        }
        if (
          response.status === 303 ||
          ((response.status === 301 || response.status === 302) && method === 'POST')
        ) {
          method = method === 'HEAD' ? 'HEAD' : 'GET';
          body = undefined;
          headers.delete('content-type');
          headers.delete('content-length');
        }
        if (next.origin !== target.origin) {
          if (body !== undefined && options.secretBody) {
            throw new RampartError(
              'NETWORK',
              `${method} ${exchange.url} redirected to another origin (${next.origin}) with a body that holds a credential; refusing to send it there`,
              {
                details: {
                  url: exchange.url,
                  status: response.status,
                  location: redactUrl(next.href),
                  attempts: exchange.attempts,
                },
              },
            );
          }
          for (const name of [...headers.keys()]) {
            if (!CROSS_ORIGIN_HEADERS.has(name) && !(body !== undefined && BODY_HEADERS.has(name))) {
              headers.delete(name);
            }
          }
        }
        next.username = '';
        next.password = '';
        target = next;
        continue;
      }
      if (response.status === 401 && options.onChallenge && !challenged && target.origin === origin) {
        challenged = true;
        let extra: Record<string, string> | undefined;
        try {
          extra = await options.onChallenge(response);
        } finally {
          // Also when the hook fails: the answer's connection is not left open behind the error.
          await response.discard().catch(() => undefined);
        }
        if (extra) {
          for (const [name, value] of Object.entries(extra)) headers.set(name, value);
          continue;
        }
        return this.statusFailure(response, exchange);
      }
      if (
        (response.status < 200 || response.status > 299) &&
        !options.acceptStatuses?.includes(response.status)
      ) {
        await response.discard().catch(() => undefined);
        return this.statusFailure(response, exchange);
      }
      return this.guard(response, shownUrl(target.href, options), options.maxBytes, exchange, idle);
    }
  }

  /**
   * Sends one request through the transport, following no redirect. A streamed body (a function)
   * is made here, once per send. Through fetch it goes with redirect mode 'error': with any other
   * mode fetch clones the request to be able to follow a redirect, and the clone tees the body, so
   * the branch never read holds every byte sent, the whole upload in memory (nodejs/undici#4058).
   */
  private async send(
    target: URL,
    method: string,
    headers: Map<string, string>,
    body: RequestBody | undefined,
    signal: AbortSignal,
    bulk = false,
  ): Promise<Answer> {
    if (this.agentsFactory) {
      this.agents ??= this.agentsFactory();
      const agents = await this.agents;
      // The bulk reader opens a connection per request (none kept alive yet): free on loopback,
      // a TCP (and TLS) handshake per blob elsewhere, which costs a distant registry more round
      // trips than the CPU it saves; a redirect to another host goes through the pool again.
      const agent = target.protocol === 'https:' ? agents.https : agents.http;
      if (
        bulk &&
        method === 'GET' &&
        body === undefined &&
        isLoopbackHost(target.host) &&
        isOwnAgent(agent)
      ) {
        const answer = await sendBulkGet(target, headers, signal, agent);
        if (answer) return { ...answer, headers: new NodeHeaders(answer.headers) };
      }
      return sendNode(target, method, headers, body, signal, agents);
    }
    const init: RequestInit & { duplex?: 'half' } = {
      method,
      headers: Object.fromEntries(headers),
      redirect: 'manual',
      signal,
    };
    if (body !== undefined) {
      if (typeof body === 'function') {
        const stream = body();
        init.body =
          stream instanceof ReadableStream
            ? stream
            : (ReadableStream.from(stream) as ReadableStream<Uint8Array>);
        init.duplex = 'half';
        init.redirect = 'error';
      } else {
        init.body = body;
      }
    }
    const response = await this.fetchFn(target.href, init);
    return {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
      body: response.body,
      discard: async () => {
        await response.body?.cancel();
      },
    };
  }

  private statusFailure(response: Answer, exchange: Exchange): never {
    const status = response.status;
    const tried = `${exchange.attempts} attempt${exchange.attempts === 1 ? '' : 's'}`;
    const error = new RampartError(
      'NETWORK',
      isRetryableStatus(status)
        ? `${exchange.method} ${exchange.url} failed after ${tried}: HTTP ${status} ${reasonPhrase(status)}; retry later or use another mirror`
        : `${exchange.method} ${exchange.url} failed: HTTP ${status} ${reasonPhrase(status)}; check the URL (mirror, suite, name)`,
      { details: { url: exchange.url, status, attempts: exchange.attempts } },
    );
    if (isRetryableStatus(status)) {
      retryable.add(error);
      const after = parseRetryAfter(response.headers.get('retry-after'), this.now());
      if (after !== undefined) retryAfterOf.set(error, after);
    }
    throw error;
  }

  /** Wraps the body: idle timer re-armed per chunk, byte limit, failures turned into RampartErrors. */
  private guard(
    response: Answer,
    finalUrl: string,
    maxBytes: number | undefined,
    exchange: Exchange,
    idle: IdleTimer,
  ): HttpResponse {
    const tooLarge = (received: number) =>
      new RampartError(
        'TOO_LARGE',
        `${exchange.method} ${exchange.url}: the response is larger than the limit of ${maxBytes} bytes (${received} or more); the server is broken or hostile`,
        { details: { limit: maxBytes as number, url: exchange.url } },
      );
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    if (maxBytes !== undefined && Number.isFinite(declared) && declared > maxBytes) {
      void response.discard().catch(() => undefined);
      throw tooLarge(declared);
    }
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      idle.clear();
      exchange.finish();
    };
    let received = 0;
    /** Per chunk, both transports: the byte limit, then the idle timer. */
    const check = (length: number): void => {
      received += length;
      if (maxBytes !== undefined && received > maxBytes) {
        done();
        throw tooLarge(received);
      }
      idle.refresh();
    };
    const source = NULL_BODY_STATUSES.has(response.status) ? null : response.body;
    let web: ReadableStream<Uint8Array> | undefined;
    let node: Readable | undefined;
    if (source === null) {
      void response.discard().catch(() => undefined);
      done();
    } else if (!(source instanceof Readable)) {
      const upstream = source.getReader();
      web = new ReadableStream<Uint8Array>(
        {
          async pull(controller) {
            let chunk: Awaited<ReturnType<typeof upstream.read>>;
            try {
              chunk = await upstream.read();
            } catch (error) {
              const failure = exchange.failure(error, idle.fired);
              done();
              throw failure;
            }
            if (chunk.done) {
              done();
              controller.close();
              return;
            }
            try {
              check(chunk.value.byteLength);
            } catch (error) {
              await upstream.cancel().catch(() => undefined);
              throw error;
            }
            controller.enqueue(chunk.value);
          },
          async cancel(reason) {
            done();
            await upstream.cancel(reason).catch(() => undefined);
          },
        },
        { highWaterMark: 0 },
      );
    } else {
      // Chunks pass through as they are (no copy); the source's failures become RampartErrors.
      const guarded = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          try {
            check(chunk.byteLength);
          } catch (error) {
            callback(error as Error);
            return;
          }
          callback(null, chunk);
        },
        flush(callback) {
          done();
          callback();
        },
        destroy(error, callback) {
          done();
          // Left unread on purpose (cancelled, over the limit): `discard` reads out an answer that
          // has arrived whole (the connection is kept) and cuts one still arriving. Unpiped first:
          // the pipe would write what is read out into this destroyed stream, an error per chunk
          // (a registry's 404 page, answered to the referrers API, cost ~2 ms of a verify).
          source.unpipe(guarded);
          if (!source.readableEnded) void response.discard().catch(() => undefined);
          callback(error);
        },
      });
      source.on('error', (error) => guarded.destroy(exchange.failure(error, idle.fired)));
      // A body may fail before its reader comes (a blob opened while an upload is being set up):
      // an 'error' with no listener would end the process. The failure stays on the stream
      // (`errored`), where pipeline, finished, async iteration and download.ts's reader see it.
      guarded.on('error', () => undefined);
      source.pipe(guarded);
      // The same chunks, one by one: a recyclable body stays recyclable.
      node = forwardRecyclable(source, guarded);
    }
    const empty = () => {
      node = Readable.from([]);
      return node;
    };
    const nodeBody = (): Readable => {
      if (node) return node;
      if (web) {
        node = Readable.fromWeb(web as NodeWebReadableStream<Uint8Array>);
        // As for `guarded` above: a failure before the reader listens stays on the stream.
        node.on('error', () => undefined);
        web = undefined;
        return node;
      }
      return empty();
    };
    const webBody = (): ReadableStream<Uint8Array> => {
      if (web) return web;
      if (node) {
        web = Readable.toWeb(node) as unknown as ReadableStream<Uint8Array>;
        node = undefined;
        return web;
      }
      web = new ReadableStream({ start: (controller) => controller.close() });
      return web;
    };
    return {
      url: finalUrl,
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
      attempts: exchange.attempts,
      get body() {
        return webBody();
      },
      stream: nodeBody,
      async bytes() {
        const chunks: Uint8Array[] = [];
        for await (const chunk of nodeBody()) chunks.push(chunk as Uint8Array);
        return Buffer.concat(chunks);
      },
      async cancel() {
        if (web) {
          if (!web.locked) await web.cancel().catch(() => undefined);
        } else if (node && !node.destroyed && !node.readableEnded) {
          node.destroy();
        }
      },
    };
  }
}

/** One request through `node:http`/`node:https`, as an Answer; the body is the response stream. */
function sendNode(
  target: URL,
  method: string,
  headers: Map<string, string>,
  body: RequestBody | undefined,
  signal: AbortSignal,
  agents: HttpAgents,
): Promise<Answer> {
  const https = target.protocol === 'https:';
  return new Promise<Answer>((resolve, reject) => {
    // Taken from Node's own module table when used: an ESM import of node:http builds its ESM
    // facade, reading every export, and one of them (WebSocket) compiles fetch's undici (~0.1 s).
    const { request: send } = https
      ? process.getBuiltinModule('node:https')
      : process.getBuiltinModule('node:http');
    const request = send(target, {
      method,
      headers: Object.fromEntries(headers),
      agent: https ? agents.https : agents.http,
      signal,
    });
    // Errors after the answer arrived reach the response stream (and so its reader) as well.
    request.on('error', reject);
    request.once('response', (response: IncomingMessage) => {
      resolve({
        status: response.statusCode ?? 0,
        statusText: response.statusMessage ?? '',
        headers: new NodeHeaders(response.headers),
        body: method === 'HEAD' ? null : response,
        // An answer that has arrived whole is read out (the connection is kept); one still
        // arriving is cut, rather than read to its end.
        discard: async () => {
          if (response.complete) response.resume();
          else response.destroy();
        },
      });
    });
    if (body === undefined) {
      request.end();
    } else if (typeof body === 'function') {
      const made = body();
      const stream =
        made instanceof Readable
          ? made
          : Symbol.asyncIterator in made && !('getReader' in made)
            ? Readable.from(made, { objectMode: false })
            : Readable.fromWeb(made as NodeWebReadableStream<Uint8Array>);
      // A source that fails (a digest mismatch) ends the request with its error.
      pipeline(stream, request, (error) => {
        if (error) request.destroy(error);
      });
    } else {
      request.end(body);
    }
  });
}

/** `node:http`'s header object behind the `get`/`has` of fetch's Headers (repeated values joined). */
class NodeHeaders implements ResponseHeaders {
  constructor(private readonly raw: IncomingMessage['headers']) {}

  get(name: string): string | null {
    const value = this.raw[name.toLowerCase()];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(', ') : value;
  }

  has(name: string): boolean {
    return this.raw[name.toLowerCase()] !== undefined;
  }
}

/** A URL as errors show it: without credentials, and without its query under `hideQuery`. */
function shownUrl(url: string, options: HttpRequestOptions): string {
  const shown = redactUrl(url);
  if (!options.hideQuery) return shown;
  const query = shown.search(/[?#]/);
  return query === -1 ? shown : shown.slice(0, query);
}

/** Throws CANCELLED when `signal` has aborted: for long loops between requests. */
export function throwIfCancelled(signal: AbortSignal | undefined, operation: string): void {
  if (signal?.aborted) {
    throw new RampartError('CANCELLED', `${operation} was cancelled`, {
      cause: signal.reason,
      details: { operation },
    });
  }
}

/**
 * Keep-alive pools of `node:http`/`node:https` with Node's defaults (TLS verified against Node's
 * CA list; the proxy from the environment when NODE_USE_ENV_PROXY asks for it, as fetch and
 * Node's global agents do): the `node:http` transport without any setting of its own.
 */
export async function defaultAgents(env: NodeJS.ProcessEnv = process.env): Promise<HttpAgents> {
  const proxyEnv = environmentProxy(env);
  return keepAliveAgents(proxyEnv ? { proxyEnv } : {});
}

/**
 * The client callers get when they pass none (or only a fetch function). Without a fetch function
 * it sends through `node:http`/`node:https` (`defaultAgents`): the same rules as fetch, without
 * loading fetch's undici (~0.3 s of CPU on first use, most of a warm `compare`'s archive check).
 */
export function httpClientFor(options: { http?: HttpClient; fetch?: FetchFn }): HttpClient {
  return options.http ?? new HttpClient(options.fetch ? { fetch: options.fetch } : { agents: defaultAgents });
}

/**
 * The URL to request. The TypeError `new URL` throws carries the input — credentials included —
 * so a bad URL becomes a USAGE error that shows it redacted.
 */
function parseRequestUrl(rawUrl: string): URL {
  try {
    return new URL(rawUrl);
  } catch {
    const shown = redactUrl(rawUrl);
    throw new RampartError('USAGE', `${shown} is not a valid URL; check the mirror or registry address`, {
      details: { value: shown },
    });
  }
}
