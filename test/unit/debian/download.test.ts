import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DownloadablePackage, downloadPackages } from '../../../src/debian/download.js';
import { isRampartError } from '../../../src/errors.js';
import { HttpClient } from '../../../src/http/client.js';

const body = (name: string) => Buffer.from(`${name} `.repeat(5000));
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const hits = new Map<string, number>();
let active = 0;
let maxActive = 0;
let server: Server;
let mirror: string;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-dl-'));
  server = createServer((req, res) => {
    const path = req.url ?? '';
    const n = (hits.get(path) ?? 0) + 1;
    hits.set(path, n);
    const name = path.split('/').pop() ?? '';
    if (name.startsWith('flaky') && n === 1) return void res.writeHead(503).end();
    if (name.startsWith('missing')) return void res.writeHead(404).end();
    if (name.startsWith('busy') && n === 1) return void res.writeHead(429).end();
    if (name.startsWith('trickle')) {
      // 10 chunks, 30 ms apart: longer in total than the idle timeout, never idle that long.
      res.writeHead(200);
      let sent = 0;
      const timer = setInterval(() => {
        res.write(`chunk${sent} `);
        if (++sent === 10) {
          clearInterval(timer);
          res.end();
        }
      }, 30);
      return;
    }
    if (name.startsWith('stall')) {
      res.writeHead(200);
      res.write('first bytes, then nothing');
      return;
    }
    if (name.startsWith('reset') && n === 1) {
      res.writeHead(200, { 'content-length': body(name).length });
      res.write(body(name).subarray(0, 100));
      setTimeout(() => res.destroy(), 10);
      return;
    }
    if (name.startsWith('wrong')) return void res.writeHead(200).end(body('tampered'));
    active++;
    maxActive = Math.max(maxActive, active);
    setTimeout(() => {
      active--;
      res.writeHead(200).end(body(name));
    }, 30);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}/debian`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

const pkg = (name: string, suite = 'trixie'): DownloadablePackage => ({
  name,
  version: '1',
  architecture: 'amd64',
  suite,
  filename: `pool/main/${name[0]}/${name}/${name}`,
  size: body(name).length,
  sha256: sha256(body(name)),
});

describe('downloadPackages', () => {
  it('downloads concurrently up to the limit and verifies every file', async () => {
    const pkgs = Array.from({ length: 8 }, (_, i) => pkg(`ok${i}.deb`));
    maxActive = 0;
    const paths = await downloadPackages(pkgs, {
      mirrors: { mirror },
      cacheDir: await mkdtemp(join(dir, 'c-')),
      concurrency: 3,
    });
    expect(maxActive).toBe(3);
    for (const p of pkgs) expect(sha256(await readFile(paths.get(p.sha256)!))).toBe(p.sha256);
  });

  it('routes -security suites to the security mirror', async () => {
    const securityMirror = mirror.replace('/debian', '/debian-security');
    const p = pkg('sec.deb', 'trixie-security');
    await downloadPackages([p], {
      mirrors: { mirror, securityMirror },
      cacheDir: await mkdtemp(join(dir, 'c-')),
    });
    expect(hits.get(`/debian-security/${p.filename}`)).toBe(1);
    expect(hits.get(`/debian/${p.filename}`)).toBeUndefined();
  });

  it('retries server errors and broken transfers', async () => {
    const pkgs = [pkg('flaky.deb'), pkg('reset.deb')];
    const paths = await downloadPackages(pkgs, {
      mirrors: { mirror },
      cacheDir: await mkdtemp(join(dir, 'c-')),
    });
    expect(paths.size).toBe(2);
    expect(hits.get(`/debian/${pkgs[0]!.filename}`)).toBe(2);
    expect(hits.get(`/debian/${pkgs[1]!.filename}`)).toBe(2);
  });

  it('retries 429 Too Many Requests', async () => {
    const busy = pkg('busy.deb');
    const paths = await downloadPackages([busy], {
      mirrors: { mirror },
      cacheDir: await mkdtemp(join(dir, 'c-')),
    });
    expect(paths.size).toBe(1);
    expect(hits.get(`/debian/${busy.filename}`)).toBe(2);
  });

  it('does not retry a hash mismatch or a 404, and names the URL', async () => {
    const cacheDir = await mkdtemp(join(dir, 'c-'));
    const wrong = pkg('wrong.deb');
    const error = await downloadPackages([wrong], { mirrors: { mirror }, cacheDir }).catch((e: unknown) => e);
    expect(isRampartError(error, 'DIGEST_MISMATCH')).toBe(true);
    expect((error as Error).message).toContain(`${mirror}/${wrong.filename}`);
    expect(hits.get(`/debian/${wrong.filename}`)).toBe(1);
    const missing = pkg('missing.deb');
    const notFound = await downloadPackages([missing], { mirrors: { mirror }, cacheDir }).catch(
      (e: unknown) => e,
    );
    expect(isRampartError(notFound, 'NETWORK')).toBe(true);
    expect((notFound as Error).message).toMatch(/HTTP 404/);
    expect(hits.get(`/debian/${missing.filename}`)).toBe(1);
  });

  it('reports an unwritable cache as IO without retrying the download', async () => {
    const notADir = join(dir, 'cache-is-a-file');
    await writeFile(notADir, '');
    const p = pkg('unwritable.deb');
    const error = await downloadPackages([p], { mirrors: { mirror }, cacheDir: notADir }).catch(
      (e: unknown) => e,
    );
    expect(isRampartError(error, 'IO')).toBe(true);
    expect((error as Error).message).toContain(`cache ${notADir}`);
    expect(hits.get(`/debian/${p.filename}`)).toBe(1);
  });

  it('refuses pool paths that leave the mirror', async () => {
    const evil = { ...pkg('evil.deb'), filename: '../../etc/passwd' };
    const error = await downloadPackages([evil], { mirrors: { mirror }, cacheDir: dir }).catch(
      (e: unknown) => e,
    );
    expect(isRampartError(error, 'PATH_TRAVERSAL')).toBe(true);
  });

  it('redacts credentials in error messages', async () => {
    const withCreds = mirror.replace('http://', 'http://user:secret@');
    const error = await downloadPackages([pkg('missing2.deb')], {
      mirrors: { mirror: withCreds },
      cacheDir: dir,
    }).catch((e: unknown) => e);
    expect(String((error as Error).message)).not.toContain('secret');
  });
});

describe('HttpClient idle timeout', () => {
  it('lets a slow body run past the timeout as long as data keeps arriving', async () => {
    const response = await new HttpClient({ idleTimeoutMs: 150 }).request(`${mirror}/trickle`);
    expect((await response.bytes()).toString()).toContain('chunk9');
  });

  it('aborts a body that stops sending data', async () => {
    const response = await new HttpClient({ idleTimeoutMs: 150 }).request(`${mirror}/stall`);
    const error = await response.bytes().catch((e: unknown) => e);
    expect(isRampartError(error, 'TIMEOUT')).toBe(true);
    expect((error as { details: object }).details).toMatchObject({ url: `${mirror}/stall`, timeoutMs: 150 });
  });
});
