/** The fetch-compatible function the HTTP client sends through (Node's built-in by default). */
export type FetchFn = typeof fetch;

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
    // Unparseable (a password with a `/` in it, say): everything between `//` and the last `@`
    // may be credentials, so all of it goes. Over-redacting a broken URL costs nothing.
    const start = url.indexOf('//');
    const at = url.lastIndexOf('@');
    return start !== -1 && at > start ? `${url.slice(0, start + 2)}${url.slice(at + 1)}` : url;
  }
}

/**
 * The standard reason phrase of an HTTP status ("Service Unavailable"), for messages: never the
 * server's own, which is whatever it chose to send (terminal escape sequences, a credential it
 * reflects back).
 */
export function reasonPhrase(status: number): string {
  return process.getBuiltinModule('node:http').STATUS_CODES[status] ?? '';
}

/** Statuses worth retrying: the server is overloaded or timed out, not refusing the request. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 408 || status >= 500;
}

/**
 * When to try again, from a `Retry-After` header (delay seconds or an HTTP date), in ms from
 * `now`; undefined when absent or unparseable.
 */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}
