import { RampartError } from '../errors.js';

export type FetchFn = typeof fetch;

export interface FetchOptions {
  fetch?: FetchFn;
  headers?: Record<string, string>;
  /**
   * Idle timeout: how long to wait for the response headers, and then for each chunk of the
   * body. A stalled mirror must not hang a build, but a large file on a slow link may take
   * far longer than this in total.
   */
  timeoutMs?: number;
  /** Extra attempts after the first one, for network errors and 5xx/429 answers. */
  retries?: number;
  /** First backoff delay; doubled per attempt. */
  backoffMs?: number;
  /** Statuses returned to the caller instead of raising (e.g. 304, 404). */
  acceptStatuses?: number[];
}

/** Strips user:password from a URL so it can go into error messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username || parsed.password) {
      parsed.username = '';
      parsed.password = '';
    }
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//');
  }
}

/** A NETWORK error caused by an HTTP status, so callers can tell a 404 from a 503 without parsing text. */
export class HttpStatusError extends RampartError {
  constructor(
    readonly status: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('NETWORK', message, options);
  }
}

/** Statuses worth retrying: the server is overloaded or timed out, not refusing the request. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 408 || status >= 500;
}

// Statuses whose Response must not carry a body (the Response constructor throws otherwise).
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/** Re-arms `timer` on every body chunk and disarms it when the body ends or is cancelled. */
function withIdleTimeout(response: Response, timer: NodeJS.Timeout): Response {
  const source = response.body;
  if (source === null || NULL_BODY_STATUSES.has(response.status)) {
    clearTimeout(timer);
    return response;
  }
  const reader = source.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          clearTimeout(timer);
          controller.close();
          return;
        }
        timer.refresh();
        controller.enqueue(value);
      } catch (error) {
        clearTimeout(timer);
        throw error;
      }
    },
    cancel(reason) {
      clearTimeout(timer);
      return reader.cancel(reason);
    },
  });
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * GET with a timeout and retries with exponential backoff. Returns a Response whose status is
 * 2xx or one of `acceptStatuses`; anything else becomes a NETWORK error naming the URL.
 */
export async function fetchWithRetry(url: string, options: FetchOptions = {}): Promise<Response> {
  const doFetch = options.fetch ?? fetch;
  const retries = options.retries ?? 3;
  const backoffMs = options.backoffMs ?? 250;
  const timeoutMs = options.timeoutMs ?? 60_000;
  // fetch() refuses URLs with credentials; send them as Basic auth (e.g. a private mirror).
  const headers: Record<string, string> = { ...options.headers };
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  if (parsed && (parsed.username || parsed.password)) {
    const user = decodeURIComponent(parsed.username);
    const password = decodeURIComponent(parsed.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  }
  const target = parsed ? redactUrl(url) : url;
  let lastError: unknown;
  let lastStatus: number | undefined;
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0) await sleep(backoffMs * 2 ** (attempt - 1));
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new Error(`no data from the server for ${timeoutMs} ms`)),
      timeoutMs,
    );
    timer.unref();
    let response: Response;
    try {
      response = await doFetch(target, { headers, signal: controller.signal });
    } catch (error) {
      clearTimeout(timer);
      lastError = error;
      lastStatus = undefined;
      continue;
    }
    if (response.ok || options.acceptStatuses?.includes(response.status)) {
      return withIdleTimeout(response, timer);
    }
    clearTimeout(timer);
    // Drain so undici can reuse the connection.
    await response.body?.cancel().catch(() => undefined);
    lastError = new Error(`HTTP ${response.status} ${response.statusText}`);
    lastStatus = response.status;
    if (!isRetryableStatus(response.status)) {
      throw new HttpStatusError(
        response.status,
        `GET ${redactUrl(url)} failed: HTTP ${response.status}; check the mirror URL and suite`,
      );
    }
  }
  // undici says only "fetch failed"; the useful part (ECONNREFUSED, ENOTFOUND, timeout) is the cause.
  const cause =
    lastError instanceof Error
      ? (lastError.cause as { code?: string; message?: string } | undefined)
      : undefined;
  const detail = cause?.code ?? cause?.message;
  const reason =
    lastError instanceof Error ? `${lastError.message}${detail ? `: ${detail}` : ''}` : String(lastError);
  const message = `GET ${redactUrl(url)} failed after ${retries + 1} attempts (${reason}); check the network or the mirror URL`;
  if (lastStatus !== undefined) throw new HttpStatusError(lastStatus, message, { cause: lastError });
  throw new RampartError('NETWORK', message, { cause: lastError });
}
