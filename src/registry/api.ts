/**
 * One registry host's request plumbing, shared by the manifest, blob and upload calls: the base
 * URL (scheme chosen once), the auth headers for a scope, and the mapping of statuses that every
 * call treats alike (401/403 → UNAUTHORIZED). URLs the registry hands back (upload locations,
 * `Link` pages) are accepted only on the registry's own origin, so a hostile server cannot make
 * the client send credentials elsewhere.
 */
import { RampartError } from '../errors.js';
import type { ChallengeResponse, HttpClient, HttpRequestOptions, HttpResponse } from '../http/client.js';
import type { RegistryEvent } from './types.js';

/** What a request needs access to: `repository:NAME:ACTIONS` scopes for the token flow. */
export interface Access {
  repository?: string;
  /** `pull`, `pull,push`, `delete`... */
  actions?: string;
  /** Further scopes (a mount's source repository). */
  also?: Array<{ repository: string; actions: string }>;
}

/** Supplies credentials for requests; the anonymous one adds nothing. */
export interface RequestAuthorizer {
  /** Headers for a request with this access (a cached token, Basic credentials), if any. */
  headers(access: Access): Promise<Record<string, string>>;
  /**
   * On 401: headers to retry with, or undefined when nothing more can be tried. `sentCredentials`
   * says whether the refused request carried an Authorization header (concurrent requests sent
   * before the first challenge was answered did not, and deserve their one retry).
   */
  challenge(
    response: ChallengeResponse,
    access: Access,
    sentCredentials: boolean,
  ): Promise<Record<string, string> | undefined>;
}

export const anonymous: RequestAuthorizer = {
  async headers() {
    return {};
  },
  async challenge() {
    return undefined;
  },
};

export interface ApiRequest extends Omit<HttpRequestOptions, 'onChallenge' | 'signal'> {
  access: Access;
}

export interface RegistryApiOptions {
  registry: string;
  apiHost: string;
  http: HttpClient;
  /** Plain http / unverified https allowed: probe https, fall back to http. */
  insecure: boolean;
  /**
   * For an insecure host: asks whether the server speaks TLS without loading `node:tls`
   * (`speaksTls`); false means plain http without the https probe. Only for direct connections
   * made by rampart's own agents (a proxy or a caller's client would be bypassed).
   */
  speaksTls?: (signal?: AbortSignal) => Promise<boolean | undefined>;
  authorizer?: RequestAuthorizer;
  signal?: AbortSignal;
  onEvent?: (event: RegistryEvent) => void;
}

/** Every 4xx/5xx: for the scheme probe, where any HTTP answer proves the scheme works. */
const ANY_ERROR_STATUS = Array.from({ length: 200 }, (_, index) => 400 + index);

export class RegistryApi {
  readonly registry: string;
  readonly http: HttpClient;
  readonly signal: AbortSignal | undefined;
  readonly onEvent: ((event: RegistryEvent) => void) | undefined;
  private readonly authorizer: RequestAuthorizer;
  private base: Promise<string> | undefined;

  constructor(private readonly options: RegistryApiOptions) {
    this.registry = options.registry;
    this.http = options.http;
    this.signal = options.signal;
    this.onEvent = options.onEvent;
    this.authorizer = options.authorizer ?? anonymous;
  }

  /** `SCHEME://HOST/v2/`, probed once for an insecure host. */
  baseUrl(): Promise<string> {
    // A cancelled probe must not stick: the next call probes again.
    this.base ??= this.chooseBase().catch((error: unknown) => {
      this.base = undefined;
      throw error;
    });
    return this.base;
  }

  private async chooseBase(): Promise<string> {
    const https = `https://${this.options.apiHost}/v2/`;
    if (!this.options.insecure) return https;
    const http = `http://${this.options.apiHost}/v2/`;
    // Answered in plain HTTP to a TLS ClientHello: the https probe could only fail.
    if ((await this.options.speaksTls?.(this.signal)) === false) return http;
    try {
      const response = await this.http.request(https, {
        retries: 0,
        acceptStatuses: ANY_ERROR_STATUS,
        signal: this.signal,
        operation: `probing https on ${this.registry}`,
      });
      await response.cancel();
      return https;
    } catch (error) {
      if (error instanceof RampartError && error.code === 'CANCELLED') throw error;
      return http;
    }
  }

  /** The URL of a path under `/v2/` (`library/ubuntu/manifests/latest`). */
  async url(path: string): Promise<string> {
    return `${await this.baseUrl()}${path}`;
  }

  /**
   * A URL the registry returned (Location, Link), resolved against `base`; refused when it leaves
   * the registry's origin — credentials would follow it.
   */
  resolve(location: string, base: string): string {
    const resolved = new URL(location, base);
    if (resolved.origin !== new URL(base).origin) {
      throw new RampartError(
        'NETWORK',
        `${this.registry} pointed the client at another origin (${resolved.origin}); refusing to send the request there`,
        { details: { url: `${resolved.origin}${resolved.pathname}` } },
      );
    }
    return resolved.href;
  }

  /** Sends a request with auth; 401/403 become UNAUTHORIZED, other statuses as HttpClient decides. */
  async request(url: string, request: ApiRequest): Promise<HttpResponse> {
    const response = await this.http
      .request(url, await this.httpOptions(request))
      .catch((error: unknown) => this.rethrow(error, request));
    if (response.status === 401 || response.status === 403) {
      await response.cancel();
      throw this.unauthorized(response.status, request);
    }
    return response;
  }

  /** As `request`, with the body read by `reader` and the whole exchange retried on network failure. */
  async read<T>(
    url: string,
    request: ApiRequest,
    reader: (response: HttpResponse) => Promise<T>,
  ): Promise<T> {
    return this.http
      .read(url, await this.httpOptions(request), async (response) => {
        if (response.status === 401 || response.status === 403)
          throw this.unauthorized(response.status, request);
        return reader(response);
      })
      .catch((error: unknown) => this.rethrow(error, request));
  }

  /** HttpClient raises a 401 it could not answer as NETWORK: it is UNAUTHORIZED here. */
  private rethrow(error: unknown, request: ApiRequest): never {
    if (error instanceof RampartError && error.code === 'NETWORK') {
      const status = (error.details as { status?: number }).status;
      if (status === 401 || status === 403) throw this.unauthorized(status, request);
    }
    throw error;
  }

  private async httpOptions(request: ApiRequest): Promise<HttpRequestOptions> {
    const { access, ...rest } = request;
    const auth = await this.authorizer.headers(access);
    return {
      ...rest,
      headers: { ...rest.headers, ...auth },
      acceptStatuses: [...(rest.acceptStatuses ?? []), 401, 403],
      signal: this.signal,
      onChallenge: (response) => this.authorizer.challenge(response, access, 'authorization' in auth),
    };
  }

  unauthorized(status: number, request: ApiRequest): RampartError<'UNAUTHORIZED'> {
    const { repository, actions } = request.access;
    const what = repository
      ? `${actions ?? 'access'} on ${this.registry}/${repository}`
      : `access to ${this.registry}`;
    return new RampartError(
      'UNAUTHORIZED',
      status === 401
        ? `${this.registry} refused the credentials for ${what} (HTTP 401); run rampart login ${this.registry} or check --creds`
        : `${this.registry} denied ${what} (HTTP 403); check the repository name and that the account may ${actions ?? 'access'} it`,
      {
        details: {
          registry: this.registry,
          ...(repository ? { repository } : {}),
          status,
          ...(actions ? { action: actions } : {}),
        },
      },
    );
  }
}
