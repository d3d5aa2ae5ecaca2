/**
 * Hostile registries (security review of issue 12): node:http servers on 127.0.0.1 that lie,
 * redirect and challenge in ways a real registry would not. Each test records what reached the
 * hostile side and asserts that no credential did, or that the client stopped at its bound.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { RampartError } from '../../../src/errors.js';
import { HttpClient } from '../../../src/http/client.js';
import { findAttachments, MAX_ATTACHMENTS } from '../../../src/oci/attachments.js';
import { type Digest, sha256Digest } from '../../../src/oci/digest.js';
import { openImage, writeImage } from '../../../src/oci/open.js';
import { createRegistryClient } from '../../../src/registry/client.js';
import { registryAttachmentStore } from '../../../src/registry/referrers.js';
import { loopbackOnlyLookup } from '../../../src/registry/transport.js';
import type { CredentialStore } from '../../../src/registry/types.js';
import { writeRandomImage } from '../../helpers/random-image.js';
import { makeCertificates } from '../../helpers/registry-auth.js';
import { rampart } from '../../helpers/run-cli.js';

const USER = 'alice';
const PASSWORD = 'hostile-test-secret-9f3a';
const BASIC = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** A server on 127.0.0.1 answering with `handler`; every request it saw is in `seen`. */
async function serve(
  handler: (request: Seen, response: import('node:http').ServerResponse) => void,
): Promise<{ host: string; origin: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((request, response) => {
    const entry = { method: request.method ?? 'GET', url: request.url ?? '/', headers: request.headers };
    seen.push(entry);
    request.resume();
    request.on('end', () => handler(entry, response));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { host, origin: `http://${host}`, seen };
}

const credentials = (registry: string): CredentialStore => ({
  async get(name) {
    return name === registry ? { username: USER, password: PASSWORD } : undefined;
  },
});

async function caught(promise: Promise<unknown>): Promise<RampartError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RampartError);
  return error as RampartError;
}

function leaked(seen: Seen[]): boolean {
  return seen.some((request) => {
    const text = `${request.url} ${JSON.stringify(request.headers)}`;
    return request.headers.authorization !== undefined || text.includes(PASSWORD) || text.includes(BASIC);
  });
}

describe('a redirect to another origin that answers 401', () => {
  const blob = Buffer.from('hostile blob');
  const digest = sha256Digest(blob);

  /** The registry redirects the blob to `elsewhere` before any challenge: the client holds no auth yet. */
  async function registryRedirectingTo(elsewhere: string) {
    return serve((request, response) => {
      if (request.url.startsWith('/v2/app/blobs/')) {
        response.writeHead(307, { location: `${elsewhere}/storage/blob` }).end();
      } else {
        response.writeHead(404).end();
      }
    });
  }

  it('does not answer a Basic challenge of the redirect target with the registry password', async () => {
    const storage = await serve((_request, response) => {
      response.writeHead(401, { 'www-authenticate': 'Basic realm="storage"' }).end();
    });
    const registry = await registryRedirectingTo(storage.origin);
    const client = createRegistryClient(registry.host, {
      insecure: true,
      credentials: credentials(registry.host),
    });
    const error = await caught(
      client.openBlob('app', { mediaType: 'application/octet-stream', digest, size: blob.length }),
    );
    expect(storage.seen.length).toBeGreaterThan(0);
    expect(leaked(storage.seen)).toBe(false);
    expect(error.code).toBe('UNAUTHORIZED');
  });

  it('does not fetch a token for a Bearer challenge of the redirect target', async () => {
    const realm = await serve((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"stolen"}');
    });
    const storage = await serve((_request, response) => {
      response.writeHead(401, { 'www-authenticate': `Bearer realm="${realm.origin}/token"` }).end();
    });
    const registry = await registryRedirectingTo(storage.origin);
    const client = createRegistryClient(registry.host, {
      insecure: true,
      credentials: credentials(registry.host),
    });
    await caught(
      client.openBlob('app', { mediaType: 'application/octet-stream', digest, size: blob.length }),
    );
    expect(realm.seen).toEqual([]);
    expect(leaked(storage.seen)).toBe(false);
  });
});

describe('a token realm over plain http', () => {
  it('refuses a plain-http realm on a non-loopback host even for an insecure loopback registry', async () => {
    const realmHost = 'rampart-realm.invalid';
    const registry = await serve((_request, response) => {
      response
        .writeHead(401, {
          'www-authenticate': `Bearer realm="http://${realmHost}/token",service="registry"`,
        })
        .end();
    });
    const requested: string[] = [];
    const http = new HttpClient({
      retries: 0,
      fetch: (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
        requested.push(String(input));
        return fetch(input, init);
      }) as typeof fetch,
    });
    const client = createRegistryClient(registry.host, {
      insecure: true,
      http,
      credentials: credentials(registry.host),
    });
    const error = await caught(client.getManifest('app', 'latest'));
    expect(requested.filter((url) => new URL(url).hostname === realmHost)).toEqual([]);
    expect(error.code).toBe('UNAUTHORIZED');
    expect(JSON.stringify(error.details)).not.toContain(PASSWORD);
    // Named as insecure, the realm's host is asked (it does not exist: a network error).
    const named = createRegistryClient(registry.host, {
      insecure: [registry.host, realmHost],
      http,
      credentials: credentials(registry.host),
    });
    await caught(named.getManifest('app', 'latest'));
    expect(requested.filter((url) => new URL(url).hostname === realmHost)).toHaveLength(1);
  });
});

describe('a token realm over https on another host', () => {
  it("keeps TLS verified for it when the registry's is relaxed (--insecure)", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rampart-realm-tls-'));
    try {
      const certificates = await makeCertificates(dir);
      // A token server whose certificate no trusted CA signed (the test CA is not given).
      const asked: Array<string | undefined> = [];
      const server = createHttpsServer(
        { key: await readFile(certificates.key), cert: await readFile(certificates.certificate) },
        (request, response) => {
          asked.push(request.headers.authorization);
          response.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"t0k3n"}');
        },
      );
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      // localhost, not the registry's 127.0.0.1: another host, whose TLS --insecure does not relax.
      const realm = `https://localhost:${(server.address() as AddressInfo).port}/token`;
      const registry = await serve((request, response) => {
        if (request.headers.authorization === 'Bearer t0k3n') response.writeHead(200).end('{}');
        else response.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="s"` }).end();
      });
      const client = createRegistryClient(registry.host, {
        insecure: true,
        credentials: credentials(registry.host),
      });
      const error = await caught(client.ping());
      await client.close();
      expect(asked).toEqual([]);
      expect(JSON.stringify(error.details)).not.toContain(PASSWORD);
      // Its CA given (--ca-file), the same server is asked, with the credentials, and answers.
      const trusting = createRegistryClient(registry.host, {
        insecure: true,
        caFile: certificates.caCertificate,
        credentials: credentials(registry.host),
      });
      await trusting.ping();
      await trusting.close();
      expect(asked).toEqual([`Basic ${BASIC}`]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('login against a /v2/ that redirects to another origin', () => {
  it("is not verified by the other origin's answer (login would store an unchecked password)", async () => {
    const elsewhere = await serve((_request, response) => void response.writeHead(200).end('{}'));
    const registry = await serve((request, response) => {
      if (request.headers.authorization === undefined)
        response.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
      else response.writeHead(307, { location: `${elsewhere.origin}/v2/` }).end();
    });
    const client = createRegistryClient(registry.host, {
      insecure: true,
      credentials: credentials(registry.host),
    });
    const error = await caught(client.ping());
    await client.close();
    expect(error.code).toBe('NETWORK');
    expect(error.details).toMatchObject({ location: elsewhere.origin });
    expect(leaked(elsewhere.seen)).toBe(false);
  });
});

describe("a server's own words", () => {
  it('an error names the standard reason phrase, never the one the server sent', async () => {
    // Raw, so that the reason phrase can hold what node:http's server would refuse to send.
    const hostile = `\x1b]0;PWNED\x07\x1b[2K fine ${USER}:${PASSWORD}`;
    const server = createNetServer((socket) => {
      socket.once('data', () => socket.end(`HTTP/1.1 400 ${hostile}\r\nContent-Length: 0\r\n\r\n`));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = createRegistryClient(host, { insecure: true, credentials: credentials(host) });
    const error = await caught(client.getManifest('app', 'latest')).finally(async () => {
      await client.close();
      await new Promise((resolve) => server.close(resolve));
    });
    expect(error.message).toContain('HTTP 400 Bad Request');
    const shown = `${error.message} ${JSON.stringify(error.details)}`;
    expect(shown).not.toContain(PASSWORD);
    expect(shown).not.toContain('\x1b');
    expect(shown).not.toContain('PWNED');
  });
});

describe('endless listings', () => {
  it('stops a tag list whose pages never end at a total size bound', async () => {
    let pages = 0;
    // 1 MiB pages of fresh tags, each linking to the next: 48 of them before the server stops.
    const registry = await serve((request, response) => {
      pages++;
      const tags = Array.from({ length: 8192 }, (_, i) => `t${pages}-${i}`.padEnd(120, 'x'));
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (pages < 48) headers.link = `</v2/app/tags/list?n=1000&last=p${pages}>; rel="next"`;
      response.writeHead(200, headers).end(JSON.stringify({ name: 'app', tags }));
      void request;
    });
    const client = createRegistryClient(registry.host, { insecure: true });
    const error = await caught(client.listTags('app'));
    expect(error.code).toBe('TOO_LARGE');
    expect(pages).toBeLessThan(48);
  });

  it('reads a referrers listing at ten a page in full, and stops a hostile one early', async () => {
    const subject = sha256Digest(Buffer.from('subject'));
    const descriptor = (n: number) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: sha256Digest(Buffer.from(`referrer ${n}`)),
      size: 10,
      artifactType: 'application/x-test',
    });
    // pageOf(n): the descriptors of page n, or undefined when the listing ends there.
    const listing = async (pageOf: (n: number) => unknown[] | undefined, last: number) => {
      let pages = 0;
      const registry = await serve((request, response) => {
        const n = Number(new URL(request.url, 'http://x').searchParams.get('page') ?? 0);
        pages++;
        const headers: Record<string, string> = { 'content-type': 'application/vnd.oci.image.index.v1+json' };
        if (n < last) headers.link = `</v2/app/referrers/${subject}?page=${n + 1}>; rel="next"`;
        const manifests = pageOf(n) ?? [];
        response.writeHead(200, headers).end(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.index.v1+json',
            manifests,
          }),
        );
      });
      const client = createRegistryClient(registry.host, { insecure: true });
      const result = await client.referrers('app', subject).then(
        (found) => ({ found }),
        (error: unknown) => ({ error: error as RampartError }),
      );
      await client.close();
      return { ...result, pages };
    };
    // 1,010 distinct referrers, ten a page (the page size the referrers spec suggests): all of them.
    const normal = await listing((n) => Array.from({ length: 10 }, (_, i) => descriptor(n * 10 + i)), 100);
    expect('found' in normal && normal.found?.length).toBe(1010);
    // The same referrer a page, without end: read until more than any caller uses, then stopped.
    const endless = await listing(() => [descriptor(0)], Number.POSITIVE_INFINITY);
    expect('found' in endless && endless.found?.length).toBe(1001);
    expect(endless.pages).toBe(1001);
    // Empty pages that link on: refused at the first.
    const empty = await listing(() => [], Number.POSITIVE_INFINITY);
    expect('error' in empty && empty.error?.code).toBe('MALFORMED_MANIFEST');
    expect(empty.pages).toBe(1);
  });
});

describe('a tag list with hostile tags', () => {
  it('refuses tags outside the grammar (terminal escapes, newlines) instead of handing them to ls', async () => {
    const registry = await serve((_request, response) => {
      response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ name: 'app', tags: ['v1', 'v2\u001b]0;owned\u0007\nforged-line'] }));
    });
    const client = createRegistryClient(registry.host, { insecure: true });
    const error = await caught(client.listTags('app'));
    expect(error.code).toBe('MALFORMED_MANIFEST');
    expect(error.details).toMatchObject({ field: 'tags' });
  });
});

describe('a pull from a lying registry into an existing OCI layout', () => {
  let work: string;
  afterEach(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Every file of a directory (relative path → sha256 of its bytes). */
  async function snapshot(dir: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const path = join(entry.parentPath, entry.name);
      out[relative(dir, path)] = sha256Digest(await readFile(path));
    }
    return out;
  }

  it('leaves index.json as it was and no partial or unverified blob behind', async () => {
    work = await mkdtemp(join(tmpdir(), 'rampart-hostile-'));
    const served = join(work, 'served');
    const image = await writeRandomImage(served, 'v1', [200_000, 300_000]);
    const bad = image.layers[1]?.digest as string;
    const registry = await serve((request, response) => {
      const match = /^\/v2\/app\/(manifests|blobs)\/(.+)$/.exec(request.url);
      if (request.url === '/v2/') return void response.writeHead(200).end('{}');
      if (!match) return void response.writeHead(404).end();
      const digest = match[1] === 'manifests' && match[2] === 'v1' ? image.digest : (match[2] as string);
      readFile(join(served, 'blobs/sha256', digest.replace('sha256:', ''))).then(
        (bytes) => {
          // The second layer is served with one byte changed: right size, wrong digest.
          if (digest === bad) bytes[1000] = (bytes[1000] ?? 0) ^ 0xff;
          response
            .writeHead(200, {
              'content-type': 'application/vnd.oci.image.manifest.v1+json',
              'content-length': String(bytes.length),
            })
            .end(request.method === 'HEAD' ? undefined : bytes);
        },
        () => response.writeHead(404).end(),
      );
    });
    const target = join(work, 'target');
    await writeRandomImage(target, 'existing', [10_000]);
    const before = await snapshot(target);
    const options = { registry: { insecure: true as const } };
    const error = await caught(
      openImage(`docker://${registry.host}/app:v1`, options).then((opened) =>
        writeImage(`oci:${target}:pulled`, opened, options),
      ),
    );
    expect(['DIGEST_MISMATCH', 'NETWORK']).toContain(error.code);
    const after = await snapshot(target);
    expect(after['index.json']).toBe(before['index.json']);
    // Verified blobs of the failed pull may stay (content-addressed, harmless); nothing else may.
    for (const [path, digest] of Object.entries(after)) {
      if (before[path] !== undefined) expect(digest).toBe(before[path]);
      else expect(path.startsWith('blobs/sha256/') && `sha256:${basename(path)}` === digest).toBe(true);
    }
    expect(after[`blobs/sha256/${bad.replace('sha256:', '')}`]).toBeUndefined();
  });
});

describe('an interrupted pull (the CLI turns SIGINT into this abort)', () => {
  let work: string;
  afterEach(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('from a registry that stalls mid-blob: CANCELLED at once, no layout and no staging left', async () => {
    work = await mkdtemp(join(tmpdir(), 'rampart-hostile-'));
    const served = join(work, 'served');
    const image = await writeRandomImage(served, 'v1', [400_000]);
    const layer = image.layers[0]?.digest as string;
    let stalled!: () => void;
    const stalling = new Promise<void>((resolve) => {
      stalled = resolve;
    });
    const registry = await serve((request, response) => {
      const match = /^\/v2\/app\/(manifests|blobs)\/(.+)$/.exec(request.url);
      if (!match) return void response.writeHead(request.url === '/v2/' ? 200 : 404).end();
      const digest = match[1] === 'manifests' ? image.digest : (match[2] as string);
      void readFile(join(served, 'blobs/sha256', digest.replace('sha256:', ''))).then((bytes) => {
        response.writeHead(200, {
          'content-type': 'application/vnd.oci.image.manifest.v1+json',
          'content-length': String(bytes.length),
        });
        if (digest !== layer) return void response.end(bytes);
        // Half the layer, then nothing: the connection stays open.
        response.write(bytes.subarray(0, bytes.length / 2), () => stalled());
      });
    });
    const target = join(work, 'pulled');
    const controller = new AbortController();
    const options = {
      registry: { insecure: true as const, signal: controller.signal },
      signal: controller.signal,
    };
    const pulling = openImage(`docker://${registry.host}/app:v1`, options).then((opened) =>
      writeImage(`oci:${target}:v1`, opened, options),
    );
    await stalling;
    controller.abort(new Error('SIGINT'));
    const error = await caught(pulling);
    expect(error.code).toBe('CANCELLED');
    expect((await readdir(work)).sort()).toEqual(['served']);
  });
});

describe('credentials in what the CLI prints', () => {
  const TOKEN = 'tok-hostile-test-7c1e';

  /** The secrets of this test in any form the client could leak them. */
  function expectNoSecret(text: string): void {
    for (const secret of [PASSWORD, BASIC, TOKEN, Buffer.from(PASSWORD).toString('base64')]) {
      expect(text.includes(secret), `output contains ${secret}`).toBe(false);
    }
  }

  it('shows neither the password, its base64 nor a token when auth fails (--debug, -o json)', async () => {
    // A token flow where the registry refuses the token it just had issued, and a Basic-only one.
    const realm = await serve((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: TOKEN }));
    });
    const bearer = await serve((_request, response) => {
      response
        .writeHead(401, { 'www-authenticate': `Bearer realm="${realm.origin}/token",service="s"` })
        .end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: `bad token ${TOKEN}` }] }));
    });
    const basic = await serve((_request, response) => {
      response.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
    });
    const failing = await serve((_request, response) => {
      response.writeHead(500).end(`echo ${BASIC}`);
    });
    for (const host of [bearer.host, basic.host, failing.host]) {
      for (const args of [
        ['ls', `docker://${host}/app`, '--insecure', '--creds', `${USER}:${PASSWORD}`, '--debug'],
        ['ls', `docker://${host}/app`, '--insecure', '--creds', `${USER}:${PASSWORD}`, '-o', 'json'],
        [
          'copy',
          `docker://${host}/app:v1`,
          `oci:${join(tmpdir(), 'rampart-never-written')}:v1`,
          '--insecure',
          '--creds',
          `${USER}:${PASSWORD}`,
          '--debug',
        ],
      ]) {
        const result = await rampart(...args);
        expect(result.code).not.toBe(0);
        expectNoSecret(result.stdout + result.stderr);
      }
    }
    // The token server got the Basic credentials; the registry got them only as that token.
    expect(realm.seen.some((request) => request.headers.authorization === `Basic ${BASIC}`)).toBe(true);
  }, 120_000);
});

describe('URLs and challenges a hostile registry hands back', () => {
  it('does not follow a tag-list Link to another origin, nor loop on a Link to itself', async () => {
    const elsewhere = await serve((_request, response) => void response.writeHead(200).end('{"tags":[]}'));
    const foreign = await serve((_request, response) => {
      response
        .writeHead(200, {
          'content-type': 'application/json',
          link: `<${elsewhere.origin}/v2/app/tags/list?last=a>; rel="next"`,
        })
        .end('{"tags":["a"]}');
    });
    const looping = await serve((request, response) => {
      response
        .writeHead(200, { 'content-type': 'application/json', link: `<${request.url}>; rel="next"` })
        .end('{"tags":["a"]}');
    });
    const creds = { insecure: true as const, credentials: credentials(foreign.host) };
    expect((await caught(createRegistryClient(foreign.host, creds).listTags('app'))).code).toBe('NETWORK');
    expect(elsewhere.seen).toEqual([]);
    const loop = await caught(createRegistryClient(looping.host, { insecure: true }).listTags('app'));
    expect(loop.code).toBe('TOO_LARGE');
    expect(looping.seen.length).toBeLessThanOrEqual(3);
  });

  it('does not send a blob or credentials to an upload Location on another origin', async () => {
    const elsewhere = await serve((_request, response) => void response.writeHead(201).end());
    const registry = await serve((request, response) => {
      if (request.method === 'HEAD') return void response.writeHead(404).end();
      if (request.method === 'POST') {
        return void response.writeHead(202, { location: `${elsewhere.origin}/v2/app/blobs/uploads/x` }).end();
      }
      response.writeHead(404).end();
    });
    const blob = Buffer.from('pushed blob');
    const client = createRegistryClient(registry.host, {
      insecure: true,
      credentials: credentials(registry.host),
    });
    const error = await caught(
      client.pushBlob(
        'app',
        { mediaType: 'application/octet-stream', digest: sha256Digest(blob), size: blob.length },
        async () => Readable.from([blob]),
      ),
    );
    expect(error.code).toBe('NETWORK');
    expect(elsewhere.seen).toEqual([]);
  });

  it('a token answer that is huge or not JSON is UNAUTHORIZED or TOO_LARGE, never a crash or a leak', async () => {
    for (const body of ['<html>not json</html>', JSON.stringify({ token: 'a'.repeat(2 * 1024 * 1024) })]) {
      const realm = await serve((_request, response) => void response.writeHead(200).end(body));
      const registry = await serve((_request, response) => {
        response
          .writeHead(401, {
            'www-authenticate': `Bearer realm="${realm.origin}/t",service="a\\"b",scope="x",realm2=,=bad`,
          })
          .end();
      });
      const error = await caught(
        createRegistryClient(registry.host, {
          insecure: true,
          credentials: credentials(registry.host),
        }).getManifest('app', 'v1'),
      );
      expect(['UNAUTHORIZED', 'TOO_LARGE']).toContain(error.code);
      expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain(PASSWORD);
      expect(leaked(registry.seen)).toBe(false);
    }
  });
});

describe('a blob redirected to storage with a signed URL', () => {
  it('keeps the signed query out of errors and retry events, and refuses a 206 from the wrong offset', async () => {
    const SIGNATURE = 'sig-hostile-test-4b2d';
    const blob = Buffer.alloc(256 * 1024, 7);
    const digest = sha256Digest(blob);
    const storage = await serve((request, response) => {
      if (request.headers.range === undefined) {
        // Half the blob, then the connection breaks: the client resumes with Range.
        response.writeHead(200, { 'content-length': String(blob.length) });
        response.write(blob.subarray(0, blob.length / 2), () => response.socket?.destroy());
        return;
      }
      // A 206 that starts at 0 whatever was asked.
      response.writeHead(206, { 'content-range': `bytes 0-${blob.length - 1}/${blob.length}` }).end(blob);
    });
    const registry = await serve((_request, response) => {
      response
        .writeHead(307, {
          location: `${storage.origin}/blob?X-Amz-Signature=${SIGNATURE}&X-Amz-Credential=c`,
        })
        .end();
    });
    const events: unknown[] = [];
    const client = createRegistryClient(registry.host, {
      insecure: true,
      onEvent: (event) => events.push(event),
    });
    const stream = await client.openBlob('app', {
      mediaType: 'application/octet-stream',
      digest,
      size: blob.length,
    });
    const error = await caught(
      (async () => {
        for await (const _ of stream) void _;
      })(),
    );
    expect(error.code).toBe('NETWORK');
    expect(events.some((event) => (event as { kind: string }).kind === 'retry')).toBe(true);
    const shown = JSON.stringify({ message: error.message, details: error.details, events });
    expect(shown).not.toContain(SIGNATURE);
  });
});

describe('--insecure and localhost', () => {
  const lookup = (hostname: string, all: boolean) =>
    new Promise<{ error: NodeJS.ErrnoException | null; address: unknown }>((resolve) =>
      loopbackOnlyLookup(hostname, { all }, (error, address) => resolve({ error, address })),
    );

  it('a relaxed localhost connects only to loopback addresses: other addresses are refused', async () => {
    for (const all of [true, false]) {
      expect((await lookup('10.1.2.3', all)).error?.code).toBe('ENOTLOOPBACK');
      expect((await lookup('::ffff:10.1.2.3', all)).error?.code).toBe('ENOTLOOPBACK');
      const local = await lookup('127.0.0.1', all);
      expect(local.error).toBeNull();
    }
  });

  it('an insecure localhost registry still works (localhost resolves to loopback here)', async () => {
    const registry = await serve((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"tags":["v1"]}');
    });
    const port = registry.host.split(':')[1];
    const client = createRegistryClient(`localhost:${port}`, { insecure: true });
    expect(await client.listTags('app')).toEqual(['v1']);
  });
});

describe('manifests and referrers a registry lies about', () => {
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.empty.v1+json',
        digest: sha256Digest(Buffer.from('{}')),
        size: 2,
      },
      layers: [],
    }),
  );
  const digest = sha256Digest(manifest);
  const other = sha256Digest(Buffer.from('other'));

  it('manifest bytes that are not the digest asked for, a lying Docker-Content-Digest, an endless body', async () => {
    const registry = await serve((request, response) => {
      const headers = { 'content-type': 'application/vnd.oci.image.manifest.v1+json' };
      if (request.url.endsWith(`/manifests/${other}`))
        return void response.writeHead(200, headers).end(manifest);
      if (request.url.endsWith('/manifests/lying')) {
        return void response.writeHead(200, { ...headers, 'docker-content-digest': other }).end(manifest);
      }
      // Without a length, and never ending: 64 KiB chunks until the client hangs up.
      response.writeHead(200, headers);
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = () => {
        while (!response.destroyed && response.write(chunk));
        if (!response.destroyed) response.once('drain', pump);
      };
      pump();
    });
    const client = createRegistryClient(registry.host, { insecure: true });
    const substituted = await caught(client.getManifest('app', other));
    expect(substituted.code).toBe('DIGEST_MISMATCH');
    expect(substituted.details).toMatchObject({ expected: other, actual: digest });
    expect((await caught(client.getManifest('app', 'lying'))).code).toBe('DIGEST_MISMATCH');
    expect((await caught(client.getManifest('app', 'endless'))).code).toBe('TOO_LARGE');
  });

  it('a referrers index listing itself and thousands of entries: bounded, and nothing smuggled in', async () => {
    const referrers = (subject: string) => ({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subject, size: manifest.length },
        ...Array.from({ length: 1500 }, (_, i) => ({
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: sha256Digest(Buffer.from(`${subject} ${i}`)),
          size: 100,
        })),
      ],
    });
    const registry = await serve((request, response) => {
      const referrer = /\/referrers\/(sha256:[0-9a-f]{64})/.exec(request.url)?.[1];
      if (referrer) {
        return void response
          .writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' })
          .end(JSON.stringify(referrers(referrer)));
      }
      response.writeHead(404).end();
    });
    const client = createRegistryClient(registry.host, { insecure: true });
    const store = registryAttachmentStore(client, 'app', async () => {
      throw new Error('not opened');
    });
    const error = await caught(findAttachments(store, [digest as Digest]));
    expect(error.code).toBe('TOO_LARGE');
    expect(error.details).toMatchObject({ limit: MAX_ATTACHMENTS });
    // One subject's listing overflowed the bound before any other subject was asked about.
    expect(registry.seen.filter((request) => request.url.includes('/referrers/')).length).toBe(1);
  });
});

describe('an identity token posted to a token server that redirects', () => {
  it('is not posted again to another origin on a 307', async () => {
    const IDENTITY = 'identity-hostile-test-51f0';
    const bodies: string[] = [];
    // Records what was posted to it (the server helper drains bodies unread).
    const collector = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      request.on('end', () => {
        bodies.push(body);
        response.writeHead(200).end('{"token":"t"}');
      });
    });
    servers.push(collector);
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const collectorOrigin = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
    const realm = await serve((_request, response) => {
      response.writeHead(307, { location: `${collectorOrigin}/token` }).end();
    });
    const registry = await serve((_request, response) => {
      response
        .writeHead(401, { 'www-authenticate': `Bearer realm="${realm.origin}/token",service="s"` })
        .end();
    });
    const client = createRegistryClient(registry.host, {
      insecure: true,
      credentials: { get: async () => ({ identityToken: IDENTITY }) },
    });
    await caught(client.getManifest('app', 'v1'));
    expect(bodies.some((body) => body.includes(IDENTITY))).toBe(false);
  });
});

describe('an upload session URL with state in its query', () => {
  it('keeps the session query out of the error and the retry events when the connection breaks', async () => {
    const STATE = 'state-hostile-test-d41c';
    const registry = await serve((request, response) => {
      if (request.method === 'HEAD') return void response.writeHead(404).end();
      if (request.method === 'POST') {
        return void response.writeHead(202, { location: `/v2/app/blobs/uploads/u1?_state=${STATE}` }).end();
      }
      if (request.method === 'DELETE') return void response.writeHead(204).end();
      // The upload itself: the connection breaks.
      response.socket?.destroy();
    });
    const events: unknown[] = [];
    const blob = Buffer.from('pushed blob');
    const client = createRegistryClient(
      registry.host,
      { insecure: true, onEvent: (event) => events.push(event) },
      { upload: { attempts: 2, sleep: async () => undefined } },
    );
    const error = await caught(
      client.pushBlob(
        'app',
        { mediaType: 'application/octet-stream', digest: sha256Digest(blob), size: blob.length },
        async () => Readable.from([blob]),
      ),
    );
    expect(error.code).toBe('NETWORK');
    expect(events.some((event) => (event as { kind: string }).kind === 'retry')).toBe(true);
    expect(JSON.stringify({ message: error.message, details: error.details, events })).not.toContain(STATE);
  });
});
