import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RampartError } from '../../../src/errors.js';
import { sha256Digest } from '../../../src/oci/digest.js';
import { MediaType } from '../../../src/oci/media-types.js';
import { createRegistryClient } from '../../../src/registry/client.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';

const subject = sha256Digest('subject');
const signature = {
  mediaType: MediaType.OciManifest,
  digest: sha256Digest('sig'),
  size: 10,
  artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
};
const sbom = {
  mediaType: MediaType.OciManifest,
  digest: sha256Digest('sbom'),
  size: 11,
  artifactType: 'application/spdx+json',
};

/**
 * A registry with the referrers API, as small as the API is: two pages joined by `Link`, and a
 * switch for whether it applies `artifactType` itself (and says so in OCI-Filters-Applied).
 * docker-registry 2.8 has no such API; the real one (refreg) is the interop tests' business.
 */
let filters = false;
let server: Server;
let host = '';
const requested: string[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    requested.push(url.pathname + url.search);
    if (url.pathname !== `/v2/app/referrers/${subject}`) {
      response.writeHead(404).end();
      return;
    }
    const page = url.searchParams.get('page') ?? '1';
    const wanted = url.searchParams.get('artifactType');
    let manifests = page === '1' ? [signature] : [sbom];
    const headers: Record<string, string> = { 'content-type': MediaType.OciIndex };
    if (filters && wanted) {
      manifests = manifests.filter((d) => d.artifactType === wanted);
      headers['oci-filters-applied'] = 'artifactType';
    }
    if (page === '1') {
      const next = new URLSearchParams(url.searchParams);
      next.set('page', '2');
      headers.link = `</v2/app/referrers/${subject}?${next}>; rel="next"`;
    }
    response
      .writeHead(200, headers)
      .end(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  host = `127.0.0.1:${address.port}`;
});
afterAll(() => {
  server?.closeAllConnections();
  server?.close();
});

describe('referrers API', () => {
  it('lists every referrer across pages', async () => {
    const client = createRegistryClient(host, { insecure: true });
    expect(await client.referrers('app', subject)).toEqual([signature, sbom]);
  });

  it('filters by artifactType itself when the registry did not', async () => {
    filters = false;
    const client = createRegistryClient(host, { insecure: true });
    expect(await client.referrers('app', subject, 'application/spdx+json')).toEqual([sbom]);
    expect(requested.at(-1)).toContain('artifactType=application%2Fspdx%2Bjson');
  });

  it('trusts the registry’s filter when OCI-Filters-Applied says it applied it', async () => {
    filters = true;
    const client = createRegistryClient(host, { insecure: true });
    expect(await client.referrers('app', subject, signature.artifactType)).toEqual([signature]);
  });

  it('refuses a malformed digest before any request', async () => {
    const client = createRegistryClient(host, { insecure: true });
    const error = await client.referrers('app', 'sha256:../../x' as never).catch((caught: unknown) => caught);
    expect((error as RampartError).code).toBe('INVALID_REFERENCE');
  });
});

describe('docker-registry 2.8 (no referrers API)', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('answers undefined, so callers use the referrers tag schema', async () => {
    const client = createRegistryClient(registry.host, { insecure: true });
    expect(await client.referrers('any/repo', subject)).toBeUndefined();
    expect(await client.referrers('any/repo', subject, 'application/spdx+json')).toBeUndefined();
  });
});
