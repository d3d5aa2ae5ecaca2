import { describe, expect, it } from 'vitest';
import { RampartError } from '../../../src/errors.js';
import { HttpClient } from '../../../src/http/client.js';
import { parseChallenge, RegistryAuthorizer, scopesOf } from '../../../src/registry/auth.js';
import { createRegistryClient, nextLink } from '../../../src/registry/client.js';
import { apiHostOf, hostnameOf, insecureAllowed, isLoopbackHost } from '../../../src/registry/transport.js';
import type { RegistryEvent } from '../../../src/registry/types.js';

/** An HTTP client whose network is down: it records where requests went. */
function recordingHttp(): { http: HttpClient; urls: string[] } {
  const urls: string[] = [];
  const http = new HttpClient({
    retries: 0,
    fetch: (async (input: string | URL | Request) => {
      urls.push(String(input));
      throw new TypeError('fetch failed');
    }) as typeof fetch,
  });
  return { http, urls };
}

describe('loopback and insecure policy', () => {
  it('knows loopback hosts', () => {
    for (const host of [
      '127.0.0.1:5000',
      '127.8.9.10',
      'localhost:5000',
      'LOCALHOST',
      '[::1]:5000',
      '::1',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
      '[::ffff:127.1.2.3]:5000',
    ]) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    for (const host of [
      '10.0.0.1:5000',
      'localhost.example.com',
      '127.0.0.1.nip.io',
      'registry:5000',
      '[::2]:5000',
      // An unbracketed IPv6 address is one host, not HOST:PORT ('fe80::1' is not 'fe80:' port 1).
      'fe80::1',
      '::ffff:10.0.0.1',
      'docker.io',
    ]) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });

  it('takes the host name out of HOST:PORT, [V6]:PORT and a bare IPv6 address', () => {
    expect(hostnameOf('Registry.Example:5000')).toBe('registry.example');
    expect(hostnameOf('[FE80::1]:5000')).toBe('fe80::1');
    expect(hostnameOf('fe80::1')).toBe('fe80::1');
    expect(hostnameOf('::1')).toBe('::1');
    expect(hostnameOf('127.0.0.1:5000')).toBe('127.0.0.1');
  });

  it('insecure: true relaxes loopback only; a named host is relaxed with a warning', () => {
    const events: RegistryEvent[] = [];
    const onEvent = (event: RegistryEvent) => events.push(event);
    expect(insecureAllowed('127.0.0.1:5000', true, onEvent)).toBe(true);
    expect(events).toEqual([]);
    expect(insecureAllowed('registry.internal:5000', true, onEvent)).toBe(false);
    expect(events).toHaveLength(1);
    expect(insecureAllowed('registry.internal:5000', ['registry.internal:5000'], onEvent)).toBe(true);
    expect(events.map((event) => event.kind)).toEqual(['warning', 'warning']);
    expect(insecureAllowed('other:5000', ['registry.internal:5000'], onEvent)).toBe(false);
    expect(insecureAllowed('127.0.0.1:5000', false, onEvent)).toBe(false);
  });

  it('a non-loopback host under insecure: true is only tried over https', async () => {
    const { http, urls } = recordingHttp();
    const events: RegistryEvent[] = [];
    const client = createRegistryClient('registry.example.invalid:5000', {
      insecure: true,
      http,
      onEvent: (e) => events.push(e),
    });
    const error = await client.ping().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RampartError);
    expect((error as RampartError).code).toBe('NETWORK');
    expect(urls.length).toBeGreaterThan(0);
    for (const url of urls) expect(url.startsWith('https://registry.example.invalid:5000/')).toBe(true);
    expect(events.some((event) => event.kind === 'warning')).toBe(true);
  });

  it('a named insecure host falls back from https to http, like docker and skopeo', async () => {
    const { http, urls } = recordingHttp();
    const client = createRegistryClient('registry.example.invalid:5000', {
      insecure: ['registry.example.invalid:5000'],
      http,
    });
    await client.ping().catch(() => undefined);
    expect(urls[0]).toBe('https://registry.example.invalid:5000/v2/');
    expect(urls.slice(1).every((url) => url.startsWith('http://registry.example.invalid:5000/'))).toBe(true);
  });

  it('Docker Hub is served from registry-1.docker.io', async () => {
    expect(apiHostOf('docker.io')).toBe('registry-1.docker.io');
    expect(apiHostOf('quay.io')).toBe('quay.io');
    const { http, urls } = recordingHttp();
    await createRegistryClient('docker.io', { http })
      .getManifest('library/debian', 'bookworm')
      .catch(() => undefined);
    expect(urls[0]).toBe('https://registry-1.docker.io/v2/library/debian/manifests/bookworm');
  });
});

describe('challenges, scopes and links', () => {
  it('parses WWW-Authenticate', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
      ),
    ).toEqual({
      scheme: 'bearer',
      params: {
        realm: 'https://auth.example/token',
        service: 'registry.example',
        scope: 'repository:a/b:pull,push',
      },
    });
    expect(parseChallenge('Basic realm="x y"')).toEqual({ scheme: 'basic', params: { realm: 'x y' } });
    expect(parseChallenge(null)).toBeUndefined();
    expect(parseChallenge('Bearer realm="a\\"b", error=invalid_token')?.params).toEqual({
      realm: 'a"b',
      error: 'invalid_token',
    });
  });

  it('builds sorted scopes, a mount source included', () => {
    expect(
      scopesOf({
        repository: 'b/target',
        actions: 'pull,push',
        also: [{ repository: 'a/source', actions: 'pull' }],
      }),
    ).toEqual(['repository:a/source:pull', 'repository:b/target:pull,push']);
    expect(scopesOf({})).toEqual([]);
  });

  it('finds the next link', () => {
    expect(nextLink('</v2/a/tags/list?n=2&last=b>; rel="next"')).toBe('/v2/a/tags/list?n=2&last=b');
    expect(nextLink('<https://x/prev>; rel="prev", <https://x/next>; rel=next')).toBe('https://x/next');
    expect(nextLink('<https://x/a>; rel="nextish"')).toBeUndefined();
    expect(nextLink(null)).toBeUndefined();
  });
});

describe('token realms', () => {
  it('refuses to send credentials to a realm that is not https (plain http only on loopback or an insecure host)', async () => {
    const { http, urls } = recordingHttp();
    const authorizer = new RegistryAuthorizer({
      registry: 'registry.example',
      http,
      credentials: { get: async () => ({ username: 'u', password: 'p' }) },
    });
    for (const realm of ['http://auth.example/token', 'file:///etc/passwd', 'not a url']) {
      const challenge = new Response(null, {
        status: 401,
        headers: { 'www-authenticate': `Bearer realm="${realm}",service="s"` },
      });
      const error = await authorizer
        .challenge(challenge, { repository: 'a/b', actions: 'pull' })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RampartError);
      expect((error as RampartError).code).toBe('UNAUTHORIZED');
      expect((error as RampartError).details).toEqual({
        registry: 'registry.example',
        repository: 'a/b',
        action: 'pull',
      });
    }
    expect(urls).toEqual([]);
  });
});

describe('Basic challenges', () => {
  const basic = () => new Response(null, { status: 401, headers: { 'www-authenticate': 'Basic realm="r"' } });
  const access = { repository: 'a/b', actions: 'pull' };

  it('a request sent before a concurrent one learnt the scheme gets its retry; one sent with the credentials does not', async () => {
    const authorizer = new RegistryAuthorizer({
      registry: 'registry.example',
      http: recordingHttp().http,
      credentials: { get: async () => ({ username: 'u', password: 'p' }) },
    });
    const header = { authorization: `Basic ${Buffer.from('u:p').toString('base64')}` };
    // Two requests went out together without credentials; both 401s are answered.
    expect(await authorizer.challenge(basic(), access, false)).toEqual(header);
    expect(await authorizer.challenge(basic(), access, false)).toEqual(header);
    // Later requests carry them; a 401 then means they were refused: no second try.
    expect(await authorizer.headers(access)).toEqual(header);
    expect(await authorizer.challenge(basic(), access, true)).toBeUndefined();
  });

  it('without credentials there is nothing to retry with', async () => {
    const authorizer = new RegistryAuthorizer({ registry: 'registry.example', http: recordingHttp().http });
    expect(await authorizer.challenge(basic(), access, false)).toBeUndefined();
  });
});

describe('secrets that cannot be sent', () => {
  it('a stored registry token with a line break fails without showing the token', async () => {
    const secret = 'abc.def\nghi-secret-token';
    const fetched: string[] = [];
    const http = new HttpClient({
      retries: 0,
      fetch: (async (input: string | URL | Request, init?: RequestInit) => {
        fetched.push(String(input));
        new Headers(init?.headers);
        return new Response(null, { status: 200 });
      }) as typeof fetch,
    });
    const client = createRegistryClient('registry.example', {
      http,
      credentials: { get: async () => ({ registryToken: secret }) },
    });
    const error = await client.getManifest('a/b', 'latest').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RampartError);
    expect((error as RampartError).code).toBe('USAGE');
    const shown = JSON.stringify({ json: (error as RampartError).toJSON(), stack: (error as Error).stack });
    expect(shown).not.toContain('ghi-secret-token');
    expect(shown).not.toContain('abc.def');
    expect(fetched).toEqual([]);
  });
});
