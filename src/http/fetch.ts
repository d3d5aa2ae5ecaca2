import { RampartError } from '../errors.js';

export type FetchFn = typeof fetch;

export interface FetchOptions {
  fetch?: FetchFn;
  headers?: Record<string, string>;
  /** Per-attempt timeout; a stalled mirror must not hang a build forever. */
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

function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 408 || status >= 500;
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
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0) await sleep(backoffMs * 2 ** (attempt - 1));
    let response: Response;
    try {
      response = await doFetch(target, {
        headers,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      lastError = error;
      continue;
    }
    if (response.ok || options.acceptStatuses?.includes(response.status)) return response;
    // Drain so undici can reuse the connection.
    await response.body?.cancel().catch(() => undefined);
    lastError = new Error(`HTTP ${response.status} ${response.statusText}`);
    if (!isRetryableStatus(response.status)) {
      throw new RampartError(
        'NETWORK',
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
  throw new RampartError(
    'NETWORK',
    `GET ${redactUrl(url)} failed after ${retries + 1} attempts (${reason}); check the network or the mirror URL`,
    { cause: lastError },
  );
}
