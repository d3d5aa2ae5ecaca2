import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildTimestamp, imageConfig, rfc3339 } from '../../../src/builder/config.js';
import { CONFIG_OWNER } from '../../../src/builder/generated.js';
import { APP_OWNER, planLayers, unpackOrder } from '../../../src/builder/layering.js';
import {
  type LockFile,
  readLock,
  requestMismatch,
  serializeLock,
  writeLock,
} from '../../../src/builder/lock.js';
import { FileTree } from '../../../src/builder/tree.js';
import type { Digest } from '../../../src/oci/digest.js';

function treeWith(packages: string[]): FileTree {
  const tree = new FileTree();
  for (const p of unpackOrder(packages)) {
    tree.add(`usr/share/doc/${p}/copyright`, {
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      content: Buffer.from(p),
      owner: p,
    });
    tree.add(`var/lib/dpkg/status.d/${p}`, {
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      content: Buffer.from(p),
      owner: p,
    });
  }
  tree.put('etc/passwd', {
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    content: Buffer.from('x'),
    owner: CONFIG_OWNER,
  });
  return tree;
}

describe('planLayers', () => {
  it('puts tier packages first, the rest next, config and app last, each with its parents', () => {
    const tree = treeWith(['nodejs', 'libc6', 'base-files', 'tzdata', 'libstdc++6']);
    tree.put('app/main.js', {
      type: 'file',
      mode: 0o644,
      uid: 1,
      gid: 1,
      content: Buffer.from('1'),
      owner: APP_OWNER,
    });
    const plan = planLayers(tree, ['nodejs', 'libc6', 'base-files', 'tzdata', 'libstdc++6']);
    expect(plan.map((l) => [l.name, l.owners])).toEqual([
      ['static', ['base-files', 'tzdata']],
      ['libc', ['libc6']],
      ['cc', ['libstdc++6']],
      ['packages', ['nodejs']],
      ['config', [CONFIG_OWNER]],
      ['app', [APP_OWNER]],
    ]);
    expect(plan[1]?.paths).toEqual([
      'usr',
      'usr/share',
      'usr/share/doc',
      'usr/share/doc/libc6',
      'usr/share/doc/libc6/copyright',
      'var',
      'var/lib',
      'var/lib/dpkg',
      'var/lib/dpkg/status.d',
      'var/lib/dpkg/status.d/libc6',
    ]);
    expect(plan[5]?.paths).toEqual(['app', 'app/main.js']);
    // every path of the tree is in some layer
    const covered = new Set(plan.flatMap((l) => l.paths));
    expect(tree.paths().filter((p) => !covered.has(p))).toEqual([]);
  });

  it('gives the shared tier the same paths and nodes whatever else the image holds', () => {
    const small = treeWith(['base-files', 'tzdata']);
    const big = treeWith(['base-files', 'tzdata', 'python3', 'libc6']);
    const a = planLayers(small, ['base-files', 'tzdata'])[0]!;
    const b = planLayers(big, ['base-files', 'tzdata', 'python3', 'libc6'])[0]!;
    expect(b.paths).toEqual(a.paths);
    expect(b.paths.map((p) => big.get(p))).toEqual(a.paths.map((p) => small.get(p)));
  });
});

describe('config', () => {
  it('uses SOURCE_DATE_EPOCH, else the newest release date', () => {
    expect(
      rfc3339(buildTimestamp({ SOURCE_DATE_EPOCH: '1700000000' }, ['Sat, 01 Nov 2025 10:00:00 UTC'])),
    ).toBe('2023-11-14T22:13:20Z');
    expect(
      rfc3339(buildTimestamp({}, ['Sat, 01 Nov 2025 10:00:00 UTC', 'Mon, 03 Nov 2025 08:30:00 UTC'])),
    ).toBe('2025-11-03T08:30:00Z');
  });

  it('refuses a malformed SOURCE_DATE_EPOCH instead of silently using another time', () => {
    expect(() => buildTimestamp({ SOURCE_DATE_EPOCH: '1700000000.5' }, [])).toThrow(
      /SOURCE_DATE_EPOCH must be a whole number.*got '1700000000\.5'/,
    );
    expect(() => buildTimestamp({ SOURCE_DATE_EPOCH: 'yesterday' }, [])).toThrow(/SOURCE_DATE_EPOCH/);
  });

  it('sets the distroless defaults and lets the spec environment win', () => {
    const config = imageConfig({
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      created: '2025-11-03T08:30:00Z',
      user: '65532:65532',
      workingDir: '/home/nonroot',
      entrypoint: ['/usr/bin/node'],
      environment: { NODE_ENV: 'production', PATH: '/custom' },
      labels: { b: '2', a: '1' },
      layers: [{ diffID: `sha256:${'0'.repeat(64)}` as Digest, comment: 'static: base-files' }],
      hasCaBundle: true,
    });
    expect(config.variant).toBe('v8');
    expect(config.config?.Env).toEqual([
      'PATH=/custom',
      'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
      'NODE_ENV=production',
    ]);
    expect(config.config?.User).toBe('65532:65532');
    expect(Object.keys(config.config?.Labels ?? {})).toEqual(['a', 'b']);
    expect(config.history?.[0]?.created_by).toContain('static: base-files');
  });
});

describe('lock', () => {
  const dir = mkdtemp(join(tmpdir(), 'rampart-lock-'));
  afterAll(async () => rm(await dir, { recursive: true, force: true }));
  const pkg = (name: string) => ({
    name,
    version: '1.0-1',
    architecture: 'amd64',
    source: name,
    sourceVersion: '1.0-1',
    suite: 'trixie',
    filename: `pool/main/${name[0]}/${name}/${name}_1.0-1_amd64.deb`,
    size: 10,
    sha256: 'ab'.repeat(32),
  });
  const request = {
    suites: ['trixie'],
    packages: ['b', 'a'],
    exclude: [],
    skip: ['debconf'],
    recommends: false,
  };
  const lock: LockFile = {
    lockVersion: 1,
    name: 'x',
    variants: {
      default: {
        request,
        releases: [
          {
            suite: 'trixie',
            inReleaseSha256: 'cd'.repeat(32),
            date: 'Sat, 01 Nov 2025 10:00:00 UTC',
            url: 'u',
          },
        ],
        archs: { amd64: [pkg('zlib'), pkg('base')] },
        skipped: [],
      },
    },
  };

  it('round-trips through the file, sorted and canonical', async () => {
    const path = join(await dir, 'x.lock.json');
    await writeLock(path, lock);
    const read = await readLock(path);
    expect(read?.variants.default?.archs.amd64?.map((p) => p.name)).toEqual(['base', 'zlib']);
    expect(serializeLock(read!)).toBe(await readFile(path, 'utf8'));
  });

  it('refuses a malformed lock with a hint', async () => {
    const path = join(await dir, 'bad.lock.json');
    await writeFile(path, '{"lockVersion":1,"name":"x","variants":{"default":{"archs":{}}}}');
    await expect(readLock(path)).rejects.toThrow(/malformed at variants\.default\.request.*delete it/);
    expect(await readLock(join(await dir, 'missing.json'))).toBeUndefined();
  });

  it('detects a changed request, ignoring order', () => {
    expect(requestMismatch(request, { ...request, packages: ['a', 'b'] })).toBeUndefined();
    expect(requestMismatch(request, { ...request, packages: ['a', 'b', 'c'] })).toBe('contents.packages');
    expect(requestMismatch(request, { ...request, suites: ['forky'] })).toBe('contents.suites');
  });
});

describe('layer cache key', () => {
  it('changes with content, metadata and mtime, and only with them', async () => {
    const { layerCacheKey } = await import('../../../src/builder/build-cache.js');
    const entries = [
      { path: 'etc', type: 'directory' as const, mode: 0o755, uid: 0, gid: 0 },
      { path: 'etc/x', type: 'file' as const, mode: 0o644, uid: 0, gid: 0, content: Buffer.from('a') },
    ];
    const key = layerCacheKey(entries, 0);
    expect(
      layerCacheKey(
        structuredClone(entries).map((e, i) => (i === 1 ? { ...e, content: Buffer.from('a') } : e)),
        0,
      ),
    ).toBe(key);
    expect(layerCacheKey([entries[0]!, { ...entries[1]!, content: Buffer.from('b') }], 0)).not.toBe(key);
    expect(layerCacheKey([entries[0]!, { ...entries[1]!, mode: 0o600 }], 0)).not.toBe(key);
    expect(layerCacheKey(entries, 1)).not.toBe(key);
  });
});
