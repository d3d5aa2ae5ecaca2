import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../../helpers/fault-proxy.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';

/** The fault proxy itself, against a real docker-registry: each scripted fault happens, once, and is recorded. */
describe('fault proxy', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  const blob = randomBytes(256 * 1024);
  const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: blob.length },
      layers: [],
    }),
  );
  const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
  const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

  beforeAll(async () => {
    registry = await startRegistry();
    const post = await fetch(`${registry.url}/v2/demo/blobs/uploads/`, { method: 'POST' });
    const location = new URL(post.headers.get('location') ?? '', registry.url);
    location.searchParams.set('digest', digest);
    expect((await fetch(location, { method: 'PUT', body: blob })).status).toBe(201);
    const put = await fetch(`${registry.url}/v2/demo/manifests/v1`, {
      method: 'PUT',
      body: manifest,
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(put.status).toBe(201);
    proxy = await startFaultProxy(registry.url);
  });
  afterAll(async () => {
    await proxy?.close();
    await registry?.stop();
  });
  beforeEach(() => {
    proxy.script = {};
    proxy.reset();
  });

  it('passes requests through and records method, path and Range', async () => {
    const res = await fetch(`${proxy.url}/v2/demo/blobs/${digest}`, { headers: { range: 'bytes=10-19' } });
    expect(res.status).toBe(206);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(blob.subarray(10, 20));
    expect(proxy.requests).toEqual([
      { method: 'GET', path: `/v2/demo/blobs/${digest}`, range: 'bytes=10-19', status: 206 },
    ]);
  });

  it('resets a blob download after N bytes, the first time only', async () => {
    proxy.script = { resetBlob: { afterBytes: 100_000 } };
    const first = await getRaw(`${proxy.url}/v2/demo/blobs/${digest}`);
    expect(first.error).toBeDefined();
    expect(first.body.length).toBe(100_000);
    expect(first.body).toEqual(blob.subarray(0, 100_000));
    const second = await fetch(`${proxy.url}/v2/demo/blobs/${digest}`);
    expect(sha(Buffer.from(await second.arrayBuffer()))).toBe(digest);
    expect(proxy.requests.map((r) => r.fault)).toEqual(['reset-blob', undefined]);
  });

  it('answers 503 to the first K requests, then passes through', async () => {
    proxy.script = { unavailable: { count: 2 } };
    const statuses = [];
    for (let i = 0; i < 3; i++)
      statuses.push(
        (
          await fetch(`${proxy.url}/v2/demo/manifests/v1`, {
            method: 'HEAD',
            headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
          })
        ).status,
      );
    expect(statuses).toEqual([503, 503, 200]);
  });

  it('answers 429 with Retry-After', async () => {
    proxy.script = { tooManyRequests: { count: 1, retryAfter: '1' } };
    const limited = await fetch(`${proxy.url}/v2/demo/tags/list`);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect((await fetch(`${proxy.url}/v2/demo/tags/list`)).status).toBe(200);
  });

  it('corrupts a blob: same length, other digest', async () => {
    proxy.script = { corruptBlobs: [digest] };
    const res = await fetch(`${proxy.url}/v2/demo/blobs/${digest}`);
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.length).toBe(blob.length);
    expect(sha(body)).not.toBe(digest);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
  });

  it('serves a manifest with other bytes than its digest (by tag and by digest)', async () => {
    proxy.script = { tamperManifests: ['v1', manifestDigest] };
    for (const ref of ['v1', manifestDigest]) {
      const res = await fetch(`${proxy.url}/v2/demo/manifests/${ref}`, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      const body = Buffer.from(await res.arrayBuffer());
      expect(res.headers.get('docker-content-digest')).toBe(manifestDigest);
      expect(sha(body)).not.toBe(manifestDigest);
      expect(JSON.parse(body.toString())).toEqual(JSON.parse(manifest.toString()));
    }
  });

  it('resets an upload after N bytes of its body, the first time only', async () => {
    proxy.script = { resetUpload: { afterBytes: 64 * 1024 } };
    const upload = randomBytes(200 * 1024);
    const uploadDigest = sha(upload);
    const start = async () => {
      const res = await fetch(`${proxy.url}/v2/demo/blobs/uploads/`, { method: 'POST' });
      expect(res.status).toBe(202);
      return new URL(res.headers.get('location') ?? '', proxy.url);
    };
    const location = await start();
    location.searchParams.set('digest', uploadDigest);
    await expect(fetch(location, { method: 'PUT', body: upload })).rejects.toThrow();
    const retry = await start();
    retry.searchParams.set('digest', uploadDigest);
    const ok = await fetch(retry, { method: 'PUT', body: upload });
    expect(ok.status).toBe(201);
    expect(proxy.requests.filter((r) => r.method === 'PUT').map((r) => r.fault)).toEqual([
      'reset-upload',
      undefined,
    ]);
    const head = await fetch(`${registry.url}/v2/demo/blobs/${uploadDigest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
  });
});

/** A GET that keeps what arrived before the connection broke. */
function getRaw(url: string): Promise<{ body: Buffer; error?: Error }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const req = request(url, (res) => {
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ body: Buffer.concat(chunks) }));
      res.on('error', (error) => resolve({ body: Buffer.concat(chunks), error }));
    });
    req.on('error', (error) => resolve({ body: Buffer.concat(chunks), error }));
    req.end();
  });
}
