/**
 * Registry authentication (docker's token flow, as distribution documents it): a request goes
 * out with whatever is known; a 401's `WWW-Authenticate` says how to authenticate:
 *
 * - `Basic`: the user's username/password, on every later request to this host.
 * - `Bearer realm=…,service=…`: a token for the request's scopes (`repository:NAME:pull,push`)
 *   from the realm — `GET ?service=&scope=` with Basic credentials (or none: anonymous tokens
 *   for public pulls), or `POST` a form with `grant_type=refresh_token` for an identity token.
 *   Tokens are cached per scope set until `expires_in` (default 60 s) runs out, shared by
 *   concurrent requests (one token request for many calls), and fetched afresh on a 401.
 * - A `registryToken` credential is sent as the bearer token as is.
 *
 * Credentials and tokens never reach an error, its details, an event or a log line: errors
 * name the registry, repository, status and action only.
 */
import { RampartError } from '../errors.js';
import type { ChallengeResponse, HttpClient } from '../http/client.js';
import type { Access, RequestAuthorizer } from './api.js';
import { apiHostOf, hostnameOf, isLoopbackHost } from './transport.js';
import type { Credential, CredentialStore } from './types.js';

/** Token responses are small JSON documents. */
const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;
/** Distribution's default when a token response gives no `expires_in`. */
const DEFAULT_TOKEN_SECONDS = 60;
/** Tokens are dropped this long before they expire, so a request does not race the expiry. */
const EXPIRY_MARGIN_MS = 10_000;
/** What a bearer token may hold (RFC 6750 b64token, loosely: visible ASCII). */
const HEADER_TOKEN = /^[\x21-\x7e]+$/;

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses a `WWW-Authenticate` header: `Bearer realm="…",service="…",scope="…"` (first challenge). */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const match = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/s.exec(header);
  if (!match?.[1]) return undefined;
  const params: Record<string, string> = {};
  const pattern = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,\s*|$)/gy;
  const rest = match[2] ?? '';
  pattern.lastIndex = 0;
  for (let found = pattern.exec(rest); found !== null && found[0] !== ''; found = pattern.exec(rest)) {
    const name = (found[1] ?? '').toLowerCase();
    params[name] = found[2] !== undefined ? found[2].replace(/\\(.)/g, '$1') : (found[3] ?? '');
  }
  return { scheme: match[1].toLowerCase(), params };
}

/** The token scopes for an access: `repository:NAME:ACTIONS`, sorted, one per repository. */
export function scopesOf(access: Access): string[] {
  const scopes: string[] = [];
  if (access.repository) scopes.push(`repository:${access.repository}:${access.actions ?? 'pull'}`);
  for (const extra of access.also ?? []) scopes.push(`repository:${extra.repository}:${extra.actions}`);
  return scopes.sort();
}

export interface AuthorizerOptions {
  registry: string;
  credentials?: CredentialStore;
  http: HttpClient;
  /** Plain http is allowed for this registry (then also for a token realm on the same host). */
  insecure?: boolean;
  /** Hosts the user named as insecure (`--insecure HOST[:PORT]`): a plain-http realm there is allowed. */
  insecureHosts?: readonly string[];
  /**
   * For a relaxed registry (`insecure`): the client for a token realm on another host, with TLS
   * verified. The registry's relaxation is the registry's: its token server may be anywhere.
   * Without it, `http` serves the realm too (a caller's own client).
   */
  realmHttp?: (host: string) => HttpClient;
  signal?: AbortSignal;
  now?: () => number;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export class RegistryAuthorizer implements RequestAuthorizer {
  private credential: Promise<Credential | undefined> | undefined;
  private scheme: 'basic' | 'bearer' | undefined;
  private realm: { url: string; service?: string } | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<string>>();
  private readonly now: () => number;
  /** Token requests sent, for tests and debugging (no token values). */
  tokenRequests = 0;

  constructor(private readonly options: AuthorizerOptions) {
    this.now = options.now ?? Date.now;
  }

  private loadCredential(): Promise<Credential | undefined> {
    this.credential ??= this.options.credentials?.get(this.options.registry) ?? Promise.resolve(undefined);
    return this.credential;
  }

  async headers(access: Access): Promise<Record<string, string>> {
    const credential = await this.loadCredential();
    if (credential?.registryToken) {
      // fetch() quotes an invalid header value in its error: check it here, where it is not shown.
      if (!HEADER_TOKEN.test(credential.registryToken)) {
        throw new RampartError(
          'USAGE',
          `the registry token stored for ${this.options.registry} has characters an HTTP header cannot carry; log in again`,
          { details: { option: 'registrytoken' } },
        );
      }
      return { authorization: `Bearer ${credential.registryToken}` };
    }
    if (this.scheme === 'basic') return basicHeader(credential) ?? {};
    if (this.scheme === 'bearer') return { authorization: `Bearer ${await this.token(access, false)}` };
    return {};
  }

  async challenge(
    response: ChallengeResponse,
    access: Access,
    sentCredentials = true,
  ): Promise<Record<string, string> | undefined> {
    const challenge = parseChallenge(response.headers.get('www-authenticate'));
    const credential = await this.loadCredential();
    if (challenge?.scheme === 'basic') {
      const header = basicHeader(credential);
      // Already sent with this request: the same credentials again would be refused again. A
      // request sent before a concurrent one learnt the scheme went without them: retry it.
      if (header === undefined || (this.scheme === 'basic' && sentCredentials)) return undefined;
      this.scheme = 'basic';
      return header;
    }
    if (challenge?.scheme === 'bearer' && challenge.params.realm) {
      if (credential?.registryToken) return undefined;
      this.scheme = 'bearer';
      this.realm = {
        url: this.checkRealm(challenge.params.realm, access),
        service: challenge.params.service,
      };
      return { authorization: `Bearer ${await this.token(access, true)}` };
    }
    return undefined;
  }

  /** A token for the access's scopes: cached, or fetched once for all concurrent callers. */
  private async token(access: Access, refresh: boolean): Promise<string> {
    const scopes = scopesOf(access);
    const key = scopes.join(' ');
    if (refresh) this.tokens.delete(key);
    else {
      const cached = this.cachedFor(scopes);
      if (cached !== undefined) return cached;
    }
    let pending = this.pending.get(key);
    if (!pending) {
      pending = this.fetchToken(scopes, access).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    return pending;
  }

  /** A live token for these scopes, or for a superset (a `pull,push` token serves a pull). */
  private cachedFor(scopes: string[]): string | undefined {
    const now = this.now();
    const exact = this.tokens.get(scopes.join(' '));
    if (exact && exact.expiresAt > now) return exact.token;
    for (const [key, cached] of this.tokens) {
      if (cached.expiresAt <= now) continue;
      const held = key.split(' ');
      if (scopes.every((wanted) => held.some((scope) => covers(scope, wanted)))) return cached.token;
    }
    return undefined;
  }

  private async fetchToken(scopes: string[], access: Access): Promise<string> {
    const realm = this.realm;
    if (!realm) throw new Error('token requested before any Bearer challenge');
    const credential = await this.loadCredential();
    this.tokenRequests++;
    const url = new URL(realm.url);
    let init: { method: string; headers: Record<string, string>; body?: string; secretBody?: boolean };
    if (credential?.identityToken) {
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: credential.identityToken,
        client_id: 'rampart',
        ...(realm.service ? { service: realm.service } : {}),
      });
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      init = {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        // The refresh token is in the body: it must not follow a redirect to another origin.
        secretBody: true,
      };
    } else {
      if (realm.service) url.searchParams.set('service', realm.service);
      for (const scope of scopes) url.searchParams.append('scope', scope);
      init = { method: 'GET', headers: basicHeader(credential) ?? {} };
    }
    const started = this.now();
    const response = await this.realmClient(url).request(url.href, {
      ...init,
      acceptStatuses: [400, 401, 403],
      maxBytes: MAX_TOKEN_RESPONSE_BYTES,
      signal: this.options.signal,
      operation: `getting a token for ${this.options.registry}`,
    });
    if (response.status !== 200) {
      await response.cancel();
      throw this.refused(response.status === 403 ? 403 : 401, access);
    }
    const body = await response.bytes();
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
    } catch {
      parsed = {};
    }
    const token =
      typeof parsed.token === 'string' && parsed.token
        ? parsed.token
        : typeof parsed.access_token === 'string'
          ? parsed.access_token
          : '';
    if (!HEADER_TOKEN.test(token)) {
      throw new RampartError(
        'UNAUTHORIZED',
        `the token server of ${this.options.registry} sent no usable token`,
        {
          details: {
            registry: this.options.registry,
            status: response.status,
            ...this.accessDetails(access),
          },
        },
      );
    }
    const seconds =
      typeof parsed.expires_in === 'number' && parsed.expires_in > 0
        ? parsed.expires_in
        : DEFAULT_TOKEN_SECONDS;
    this.tokens.set(scopes.join(' '), { token, expiresAt: started + seconds * 1000 - EXPIRY_MARGIN_MS });
    return token;
  }

  /**
   * The realm must be https; plain http only to a loopback host, to the registry's own host when
   * that may be plain http, or to a host the user named insecure. An insecure registry does not
   * make another host's realm insecure: the credentials would cross the network in clear to a host
   * the user never named.
   */
  /** The registry's own client for its own host (or a host named insecure), else a verifying one. */
  private realmClient(url: URL): HttpClient {
    const { insecure, registry, insecureHosts, realmHttp, http } = this.options;
    if (!insecure || !realmHttp) return http;
    const relaxed =
      hostnameOf(url.host) === hostnameOf(apiHostOf(registry)) ||
      (insecureHosts ?? []).some((host) => host.trim().toLowerCase() === url.host);
    return relaxed ? http : realmHttp(url.host);
  }

  private checkRealm(realm: string, access: Access): string {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw this.badRealm(access);
    }
    if (url.protocol === 'https:') return url.href;
    if (
      url.protocol === 'http:' &&
      (isLoopbackHost(url.host) ||
        (this.options.insecure && hostnameOf(url.host) === hostnameOf(this.options.registry)) ||
        (this.options.insecureHosts ?? []).some((host) => host.trim().toLowerCase() === url.host))
    ) {
      return url.href;
    }
    throw this.badRealm(access);
  }

  private badRealm(access: Access): RampartError {
    return new RampartError(
      'UNAUTHORIZED',
      `${this.options.registry} names a token server that is not an https URL; refusing to send credentials to it`,
      { details: { registry: this.options.registry, ...this.accessDetails(access) } },
    );
  }

  private refused(status: number, access: Access): RampartError {
    return new RampartError(
      'UNAUTHORIZED',
      `the token server of ${this.options.registry} refused ${access.actions ?? 'access'}${access.repository ? ` on ${access.repository}` : ''} (HTTP ${status}); run rampart login ${this.options.registry} or check --creds`,
      { details: { registry: this.options.registry, status, ...this.accessDetails(access) } },
    );
  }

  private accessDetails(access: Access): { repository?: string; action?: string } {
    return {
      ...(access.repository ? { repository: access.repository } : {}),
      ...(access.actions ? { action: access.actions } : {}),
    };
  }
}

/** `repository:NAME:pull,push` covers `repository:NAME:pull`. */
function covers(held: string, wanted: string): boolean {
  const split = (scope: string) => {
    const at = scope.lastIndexOf(':');
    return { resource: scope.slice(0, at), actions: scope.slice(at + 1).split(',') };
  };
  const a = split(held);
  const b = split(wanted);
  return a.resource === b.resource && b.actions.every((action) => a.actions.includes(action));
}

function basicHeader(credential: Credential | undefined): Record<string, string> | undefined {
  if (credential?.username === undefined || credential.password === undefined) return undefined;
  return {
    authorization: `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}`,
  };
}
