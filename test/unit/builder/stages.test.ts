/**
 * The build's stages called alone: plan is pure (spec + lock -> what to fetch and assemble), the
 * record is computed from what the stages produced, and file contents are references whose bytes
 * are verified when the layer reads them (the unpacked-.deb cache included).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDebCached } from '../../../src/builder/build-cache.js';
import { layerEntries } from '../../../src/builder/build-layers.js';
import { ContentStore, isContentRef, openContent, readContent } from '../../../src/builder/content.js';
import type { LockedPackage } from '../../../src/builder/lock.js';
import { parseOutput } from '../../../src/builder/output.js';
import { parseImageSpec } from '../../../src/builder/spec.js';
import { BUILDER_ID, buildRecordOf, checkRequest, planBuild } from '../../../src/builder/stages.js';
import { FileTree } from '../../../src/builder/tree.js';
import { isRampartError } from '../../../src/errors.js';
import { readAll } from '../../../src/oci/digest.js';
import { buildDeb } from '../../helpers/apt-repo.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-stages-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const SPEC = [
  'name: demo',
  'version: "1.0"',
  'contents: {suites: [trixie, trixie-security], packages: [base-files, tool]}',
  'archs: [amd64, arm64]',
  '',
].join('\n');

function pkg(name: string, arch: string, sha: string, suite = 'trixie'): LockedPackage {
  return {
    name,
    version: '1',
    architecture: arch,
    source: name,
    sourceVersion: '1',
    suite,
    filename: `pool/main/${name[0]}/${name}/${name}_1_${arch}.deb`,
    size: 100,
    sha256: sha.repeat(64).slice(0, 64),
  };
}

const LOCK = {
  releases: [
    {
      suite: 'trixie',
      inReleaseSha256: 'a'.repeat(64),
      date: 'Sat, 01 Nov 2025 10:00:00 UTC',
      url: 'http://m/dists/trixie/InRelease',
    },
    {
      suite: 'trixie-security',
      inReleaseSha256: 'b'.repeat(64),
      date: 'Mon, 03 Nov 2025 08:30:00 UTC',
      url: 'http://s/dists/trixie-security/InRelease',
    },
  ],
  archs: {
    amd64: [
      pkg('base-files', 'amd64', '1'),
      pkg('tzdata', 'all', '3'),
      pkg('tool', 'amd64', '4', 'trixie-security'),
    ],
    arm64: [
      pkg('base-files', 'arm64', '2'),
      pkg('tzdata', 'all', '3'),
      pkg('tool', 'arm64', '5', 'trixie-security'),
    ],
  },
};

describe('plan (pure)', () => {
  const { spec } = parseImageSpec(SPEC, 'demo.yaml', '/nonexistent');

  it('lists each .deb to fetch once across architectures, and the packages per architecture', () => {
    const plan = planBuild(spec, LOCK, ['amd64', 'arm64'], {});
    expect(plan.downloads.map((p) => `${p.name}:${p.architecture}`)).toEqual([
      'base-files:amd64',
      'tzdata:all',
      'tool:amd64',
      'base-files:arm64',
      'tool:arm64',
    ]);
    expect(plan.packages.arm64!.map((p) => p.name)).toEqual(['base-files', 'tzdata', 'tool']);
    expect(planBuild(spec, LOCK, ['arm64'], {}).downloads).toHaveLength(3);
  });

  it('takes the time from SOURCE_DATE_EPOCH in the env it is given, else the newest InRelease', () => {
    const fromLock = planBuild(spec, LOCK, ['amd64'], {});
    expect(fromLock).toMatchObject({ created: '2025-11-03T08:30:00Z', epochFromEnvironment: false });
    expect(fromLock.annotations).toMatchObject({
      'org.opencontainers.image.created': '2025-11-03T08:30:00Z',
      'org.opencontainers.image.title': 'demo',
      'org.opencontainers.image.version': '1.0',
    });
    const pinned = planBuild(spec, LOCK, ['amd64'], { SOURCE_DATE_EPOCH: '86400' });
    expect(pinned).toMatchObject({
      created: '1970-01-02T00:00:00Z',
      epoch: 86400,
      epochFromEnvironment: true,
    });
    const bad = (() => {
      try {
        planBuild(spec, LOCK, ['amd64'], { SOURCE_DATE_EPOCH: 'soon' });
      } catch (error) {
        return error;
      }
    })();
    expect(isRampartError(bad, 'INVALID_ENVIRONMENT')).toBe(true);
  });

  it('is LOCK_STALE for an architecture the lock lacks', () => {
    expect(() => planBuild(spec, { ...LOCK, archs: { amd64: LOCK.archs.amd64 } }, ['arm64'], {})).toThrow(
      expect.objectContaining({ code: 'LOCK_STALE' }),
    );
  });

  it('checks the request before anything slow: unknown arch, docker-archive with two', () => {
    const oci = parseOutput('oci:out/demo:latest');
    expect(checkRequest(spec, 'demo.yaml', undefined, oci)).toEqual(['amd64', 'arm64']);
    expect(() => checkRequest(spec, 'demo.yaml', ['s390x'], oci)).toThrow(
      expect.objectContaining({ code: 'USAGE', details: { option: '--arch', value: 's390x' } }),
    );
    expect(() => checkRequest(spec, 'demo.yaml', undefined, parseOutput('docker-archive:x.tar'))).toThrow(
      expect.objectContaining({ code: 'USAGE' }),
    );
  });
});

describe('record v2 (pure)', () => {
  it('holds what SLSA provenance needs: builder id, invocation, every InRelease and .deb with digests, file sources, times', () => {
    const { spec } = parseImageSpec(SPEC, 'demo.yaml', '/nonexistent');
    const plan = planBuild(spec, LOCK, ['amd64'], {});
    const urls = new Map(plan.downloads.map((p) => [p.sha256, `http://m/${p.filename}`]));
    const record = buildRecordOf(
      {
        plan,
        spec,
        specPath: 'demo.yaml',
        specText: SPEC,
        lockPath: 'demo.lock.json',
        output: parseOutput('oci:out/demo:latest'),
        digest: `sha256:${'f'.repeat(64)}`,
        platforms: [{ architecture: 'amd64', digest: `sha256:${'e'.repeat(64)}`, packages: 3 }],
        fetched: { urls },
        fileSources: [
          { source: './app', path: '/x/app', type: 'directory', sha256: 'c'.repeat(64), files: 2 },
        ],
        invocation: { spec: 'demo.yaml', archs: ['amd64'], output: 'oci:out/demo:latest', locked: true },
        startedOn: new Date('2026-01-01T00:00:00Z'),
        recordPath: 'out/demo.build.json',
      },
      'd'.repeat(64),
      new Date('2026-01-01T00:01:00Z'),
    );
    expect(record).toMatchObject({
      recordVersion: 2,
      builder: { id: BUILDER_ID, name: 'rampart' },
      spec: { path: 'demo.yaml', sha256: createHash('sha256').update(SPEC).digest('hex') },
      lock: { path: 'demo.lock.json', sha256: 'd'.repeat(64) },
      invocation: { locked: true, archs: ['amd64'] },
      files: [{ source: './app', type: 'directory', sha256: 'c'.repeat(64), files: 2 }],
      startedOn: '2026-01-01T00:00:00.000Z',
      finishedOn: '2026-01-01T00:01:00.000Z',
      created: '2025-11-03T08:30:00Z',
    });
    expect(record.releases.map((r) => [r.url, r.inReleaseSha256])).toEqual([
      ['http://m/dists/trixie/InRelease', 'a'.repeat(64)],
      ['http://s/dists/trixie-security/InRelease', 'b'.repeat(64)],
    ]);
    expect(record.packages).toHaveLength(3);
    for (const p of record.packages) expect(p.url).toBe(urls.get(p.sha256));
    expect(record.sourceDateEpoch).toBeUndefined();
  });
});

describe('file contents by reference', () => {
  it('verifies a referenced file when it is read: a changed cache file fails instead of entering the layer', async () => {
    const store = new ContentStore(join(work, 'store'));
    const ref = await store.put(Buffer.from('original bytes\n'));
    expect((await readAll(openContent(ref))).toString()).toBe('original bytes\n');
    await writeFile(ref.path, 'tampered bytes\n');
    const error = await readAll(openContent(ref)).catch((e: unknown) => e);
    expect(isRampartError(error, 'DIGEST_MISMATCH'), String(error)).toBe(true);
    await writeFile(ref.path, 'short');
    const truncated = await readAll(openContent(ref)).catch((e: unknown) => e);
    expect(isRampartError(truncated, 'SIZE_MISMATCH'), String(truncated)).toBe(true);
  });

  it('streams references into layer entries with their size and digest, without reading them', () => {
    const tree = new FileTree();
    const ref = { path: join(work, 'absent'), sha256: '0'.repeat(64), size: 5 };
    tree.add('big', { type: 'file', mode: 0o644, uid: 0, gid: 0, content: ref, owner: 'p' });
    const [entry] = layerEntries(tree, ['big']);
    expect(entry).toMatchObject({ path: 'big', size: 5, sha256: '0'.repeat(64) });
    expect(typeof entry!.content).toBe('function');
  });

  it('keeps unpacked .debs as references in the cache, verified, and re-unpacks a corrupt index', async () => {
    const deb = await buildDeb(work, {
      name: 'hello',
      version: '1.0',
      files: { 'usr/bin/hello': '#!hello\n', 'usr/share/doc/hello/README': 'readme\n' },
    });
    const sha = createHash('sha256')
      .update(await readFile(deb))
      .digest('hex');
    const cacheDir = join(work, 'cache');
    const cold = await readDebCached(deb, sha, cacheDir);
    const hello = cold.entries.find((e) => e.header.name === 'usr/bin/hello')!;
    expect(isContentRef(hello.content)).toBe(true);
    expect((await readContent(hello.content)).toString()).toBe('#!hello\n');
    const warm = await readDebCached(deb, sha, cacheDir);
    expect(warm.entries.map((e) => e.content)).toEqual(cold.entries.map((e) => e.content));
    expect(warm.control.controlFiles.get('control')!.toString()).toContain('Package: hello');
    // A flipped byte in the index: it is not trusted, the .deb is unpacked again.
    const index = join(cacheDir, 'build', 'unpacked', `${sha}.v2`);
    const bytes = await readFile(index);
    bytes[bytes.length - 3]! ^= 0xff;
    await writeFile(index, bytes);
    const again = await readDebCached(deb, sha, cacheDir);
    expect(again.entries.map((e) => e.header.name)).toEqual(cold.entries.map((e) => e.header.name));
    expect((await readFile(index)).equals(bytes)).toBe(false);
    // A changed file in the store fails the read with DIGEST_MISMATCH.
    const files = await readdir(join(cacheDir, 'build', 'files'));
    expect(files.length).toBeGreaterThanOrEqual(2);
    const ref = again.entries.find((e) => e.header.name === 'usr/bin/hello')!.content;
    if (!isContentRef(ref)) throw new Error('expected a reference');
    await writeFile(ref.path, '#!evil!\n');
    const error = await readContent(ref).catch((e: unknown) => e);
    expect(isRampartError(error, 'DIGEST_MISMATCH'), String(error)).toBe(true);
  });
});

describe('content store', () => {
  it('never turns a forged digest into a path', () => {
    const store = new ContentStore(join(work, 'store-forged'));
    for (const forged of ['../../etc/shadow', '/etc/shadow', 'A'.repeat(64), '']) {
      expect(() => store.pathOf(forged)).toThrow(expect.objectContaining({ code: 'DIGEST_MISMATCH' }));
    }
    expect(store.pathOf('a'.repeat(64))).toBe(join(work, 'store-forged', 'a'.repeat(64)));
  });
  it('replaces a damaged file of the right size on the next put (review finding 5)', async () => {
    const store = new ContentStore(join(work, 'store-repair'));
    const ref = await store.put(Buffer.from('payload\n'));
    await writeFile(ref.path, Buffer.alloc(ref.size));
    expect(await store.holds(ref.sha256, ref.size)).toBe(false);
    await store.put(Buffer.from('payload\n'));
    expect((await readContent(ref)).toString()).toBe('payload\n');
  });

  it('re-unpacks a cached .deb whose stored file was zero-filled, repairing it (review finding 5)', async () => {
    const deb = await buildDeb(work, {
      name: 'zeroed',
      version: '1.0',
      files: { 'usr/bin/zeroed': '#!zeroed\n' },
    });
    const sha = createHash('sha256')
      .update(await readFile(deb))
      .digest('hex');
    const cacheDir = join(work, 'cache-repair');
    const cold = await readDebCached(deb, sha, cacheDir);
    const ref = cold.entries.find((e) => e.header.name === 'usr/bin/zeroed')!.content;
    if (!isContentRef(ref)) throw new Error('expected a reference');
    await writeFile(ref.path, Buffer.alloc(ref.size));
    const warm = await readDebCached(deb, sha, cacheDir);
    const again = warm.entries.find((e) => e.header.name === 'usr/bin/zeroed')!.content;
    expect((await readContent(again)).toString()).toBe('#!zeroed\n');
  });
});
