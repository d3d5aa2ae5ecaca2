import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RampartError } from '../../../src/errors.js';
import { HttpClient } from '../../../src/http/client.js';
import { readAll, sha256Digest } from '../../../src/oci/digest.js';
import { MediaType } from '../../../src/oci/media-types.js';
import type { Descriptor } from '../../../src/oci/types.js';
import { createRegistryClient } from '../../../src/registry/client.js';
import type {
  Credential,
  RegistryClient,
  RegistryEvent,
  RegistryOptions,
} from '../../../src/registry/types.js';
import { freePort } from '../../helpers/processes.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';
import {
  makeCertificates,
  makeHtpasswd,
  startTokenServer,
  type TestCertificates,
  type TokenServer,
} from '../../helpers/registry-auth.js';

const PASSWORD = 'correct-horse-battery-staple-7f3a';
const WRONG_PASSWORD = 'wrong-password-91c2e';
const REFRESH_TOKEN = 'refresh-token-5d8e1b';
const work = mkdtempSync(join(tmpdir(), 'rampart-registry-auth-'));
let certificates: TestCertificates;

beforeAll(async () => {
  certificates = await makeCertificates(work);
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

const store = (credential?: Credential) => ({ get: async () => credential });

function caught(promise: Promise<unknown>): Promise<RampartError> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => {
      expect(error).toBeInstanceOf(RampartError);
      return error as RampartError;
    },
  );
}

/** Pushes a layer, a config and a manifest, reads them back, and returns what was pushed. */
async function roundTrip(client: RegistryClient, repository: string) {
  const layer = randomBytes(50_000);
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
  const layerDescriptor: Descriptor = {
    mediaType: MediaType.OciLayerGzip,
    digest: sha256Digest(layer),
    size: layer.length,
  };
  const configDescriptor: Descriptor = {
    mediaType: MediaType.OciConfig,
    digest: sha256Digest(config),
    size: config.length,
  };
  expect(await client.pushBlob(repository, layerDescriptor, async () => Readable.from([layer]))).toBe(
    'pushed',
  );
  expect(await client.pushBlob(repository, configDescriptor, async () => Readable.from([config]))).toBe(
    'pushed',
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: configDescriptor,
      layers: [layerDescriptor],
    }),
  );
  const digest = await client.putManifest(repository, 'v1', manifest, MediaType.OciManifest);
  const fetched = await client.getManifest(repository, 'v1');
  expect(fetched.raw.equals(manifest)).toBe(true);
  expect(fetched.digest).toBe(digest);
  expect((await readAll(await client.openBlob(repository, layerDescriptor))).equals(layer)).toBe(true);
  return { layerDescriptor, layer, digest };
}

/** Everything a failure or a run could show a user: the error's JSON (causes included) and the events. */
function everythingShown(error: RampartError | undefined, events: RegistryEvent[]): string {
  return JSON.stringify({ error: error?.toJSON(), message: error?.message, stack: error?.stack, events });
}

describe('htpasswd Basic auth over TLS with a CA made by the test', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    const htpasswd = join(work, 'htpasswd');
    await makeHtpasswd(htpasswd, { alice: PASSWORD });
    registry = await startRegistry({
      tls: { certificate: certificates.certificate, key: certificates.key },
      htpasswd,
    });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('pushes and pulls with the CA file and the right password', async () => {
    const client = createRegistryClient(registry.host, {
      caFile: certificates.caCertificate,
      credentials: store({ username: 'alice', password: PASSWORD }),
    });
    await client.ping();
    await roundTrip(client, 'private/app');
    expect(await client.listTags('private/app')).toEqual(['v1']);
  });

  it('a wrong password is UNAUTHORIZED with the facts, and the password shows nowhere', async () => {
    const events: RegistryEvent[] = [];
    const client = createRegistryClient(registry.host, {
      caFile: certificates.caCertificate,
      credentials: store({ username: 'alice', password: WRONG_PASSWORD }),
      onEvent: (event) => events.push(event),
    });
    const error = await caught(client.getManifest('private/app', 'v1'));
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.details).toEqual({
      registry: registry.host,
      repository: 'private/app',
      status: 401,
      action: 'pull',
    });
    const pushError = await caught(
      client.pushBlob('private/app', { mediaType: 'x', digest: sha256Digest('x'), size: 1 }, async () =>
        Readable.from(['x']),
      ),
    );
    expect(pushError.code).toBe('UNAUTHORIZED');
    const shown = everythingShown(error, events) + everythingShown(pushError, []);
    expect(shown).not.toContain(WRONG_PASSWORD);
    expect(shown).not.toContain(Buffer.from(`alice:${WRONG_PASSWORD}`).toString('base64'));
  });

  it('no credentials: UNAUTHORIZED, not a network error', async () => {
    const client = createRegistryClient(registry.host, { caFile: certificates.caCertificate });
    const error = await caught(client.ping());
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.details).toMatchObject({ registry: registry.host, status: 401 });
  });

  it('without the CA file the certificate is refused; insecure on loopback skips verification', async () => {
    const strict = createRegistryClient(registry.host, {
      credentials: store({ username: 'alice', password: PASSWORD }),
      http: new HttpClient({ retries: 0 }),
    });
    expect((await caught(strict.ping())).code).toBe('NETWORK');
    const insecure = createRegistryClient(registry.host, {
      insecure: true,
      credentials: store({ username: 'alice', password: PASSWORD }),
    });
    await insecure.ping();
    expect((await insecure.getManifest('private/app', 'v1')).mediaType).toBe(MediaType.OciManifest);
  });
});

describe('token auth (distribution auth.token) with a test token server', () => {
  let registry: TestRegistry;
  let tokens: TokenServer;
  const options = (credential?: Credential, events?: RegistryEvent[]): RegistryOptions => ({
    insecure: true,
    credentials: store(credential),
    ...(events ? { onEvent: (event: RegistryEvent) => events.push(event) } : {}),
  });

  beforeAll(async () => {
    tokens = await startTokenServer({
      dir: work,
      users: { alice: PASSWORD },
      refreshTokens: { [REFRESH_TOKEN]: 'alice' },
      publicPrefix: 'public/',
    });
    registry = await startRegistry({ token: tokens });
  });
  afterAll(async () => {
    await registry?.stop();
    await tokens?.stop();
  });

  it('pushes and pulls with a password; one token per scope serves many calls', async () => {
    const client = createRegistryClient(registry.host, options({ username: 'alice', password: PASSWORD }));
    const before = tokens.requests;
    await roundTrip(client, 'team/app');
    for (let i = 0; i < 5; i++) await client.getManifest('team/app', 'v1');
    // One token for `pull` (HEAD/GET) and one for `pull,push` (uploads, manifest PUT).
    expect(tokens.requests - before).toBe(2);
  });

  it('exchanges an identity token (refresh token) at the token endpoint', async () => {
    const client = createRegistryClient(registry.host, options({ identityToken: REFRESH_TOKEN }));
    await roundTrip(client, 'team/refreshed');
  });

  it('pulls a public repository anonymously and refuses an anonymous push', async () => {
    const alice = createRegistryClient(registry.host, options({ username: 'alice', password: PASSWORD }));
    const { layerDescriptor, layer, digest } = await roundTrip(alice, 'public/base');
    const anonymous = createRegistryClient(registry.host, options());
    expect((await anonymous.getManifest('public/base', 'v1')).digest).toBe(digest);
    expect((await readAll(await anonymous.openBlob('public/base', layerDescriptor))).equals(layer)).toBe(
      true,
    );
    const error = await caught(
      anonymous.putManifest('public/base', 'v2', Buffer.from('{}'), MediaType.OciManifest),
    );
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.details).toMatchObject({
      registry: registry.host,
      repository: 'public/base',
      action: 'pull,push',
    });
  });

  it('a wrong password is UNAUTHORIZED, and neither password nor any token shows', async () => {
    const events: RegistryEvent[] = [];
    const client = createRegistryClient(
      registry.host,
      options({ username: 'alice', password: WRONG_PASSWORD }, events),
    );
    const error = await caught(client.getManifest('team/app', 'v1'));
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.details).toMatchObject({ registry: registry.host, repository: 'team/app', status: 401 });
    const shown = everythingShown(error, events);
    expect(shown).not.toContain(WRONG_PASSWORD);
    for (const token of tokens.issued) expect(shown).not.toContain(token.split('.')[2]);
  });
});

describe('an unreachable registry', () => {
  it('fails with one NETWORK error naming the URL', async () => {
    const port = await freePort();
    const client = createRegistryClient(`127.0.0.1:${port}`, {
      insecure: true,
      http: new HttpClient({ retries: 1, backoffMs: 10, deadlineMs: 5_000 }),
    });
    const error = await caught(client.getManifest('any/repo', 'latest'));
    expect(error.code).toBe('NETWORK');
    expect(error.details).toMatchObject({
      url: `http://127.0.0.1:${port}/v2/any/repo/manifests/latest`,
      attempts: 2,
    });
  });
});
