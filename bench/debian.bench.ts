/**
 * Debian client figures on the real trixie archive (mirror from the host's apt config):
 * xz decompressors on Packages.xz, parsing Packages, and resolving python3 from a warm cache.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { defaultCacheDir } from '../src/debian/cache.js';
import { parsePackagesFile } from '../src/debian/package-index.js';
import { loadRepositories } from '../src/debian/repository.js';
import { resolvePackageClosure } from '../src/debian/resolver.js';
import { createDecompressor, decompressBuffer } from '../src/util/decompress.js';
import type { BenchFigure } from './run.js';

const require = createRequire(import.meta.url);

/** Best of `runs`: the machine is shared, the minimum is the least noisy estimate. */
async function best<T>(runs: number, fn: () => Promise<T> | T): Promise<{ ms: number; result: T }> {
  let ms = Number.POSITIVE_INFINITY;
  let result: T | undefined;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    result = await fn();
    ms = Math.min(ms, performance.now() - start);
  }
  return { ms, result: result as T };
}

type Decompressor = { name: string; run: (data: Buffer) => Promise<Buffer> };

function optionalDecompressors(): Decompressor[] {
  const list: Decompressor[] = [];
  try {
    const lzmaNative = require('lzma-native') as {
      decompress: (b: Buffer, o: object, cb: (r: Buffer) => void) => void;
    };
    list.push({
      name: 'lzma-native',
      run: (data) =>
        new Promise((resolve) => lzmaNative.decompress(data, {}, (r) => resolve(Buffer.from(r)))),
    });
  } catch {
    // Uninstalled after losing the comparison (figures in src/debian/decompress.ts); install to re-run.
  }
  try {
    const napi = require('@napi-rs/lzma/xz') as { decompress: (b: Buffer) => Promise<Buffer> };
    list.push({ name: '@napi-rs/lzma', run: (data) => napi.decompress(data) });
  } catch {
    // Not installed.
  }
  return list;
}

/** The streaming path .deb members take: createDecompressor('xz') fed in 64 KiB chunks. */
async function viaStream(data: Buffer): Promise<Buffer> {
  const stream = createDecompressor('xz');
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  for (let i = 0; i < data.length; i += 65536) {
    if (!stream.write(data.subarray(i, i + 65536))) await new Promise((r) => stream.once('drain', r));
  }
  stream.end();
  await done;
  return Buffer.concat(chunks);
}

export default async function debianBench(): Promise<BenchFigure[]> {
  const figures: BenchFigure[] = [];
  const cacheDir = defaultCacheDir();
  const cold = await best(1, () =>
    loadRepositories({ suites: ['trixie'], architectures: ['amd64'], cacheDir }),
  );
  figures.push({
    name: 'loadRepositories trixie/amd64 (first call, cache as found)',
    value: cold.ms,
    unit: 'ms',
  });
  const warm = await best(3, () =>
    loadRepositories({ suites: ['trixie'], architectures: ['amd64'], cacheDir }),
  );
  figures.push({
    name: 'loadRepositories trixie/amd64, warm cache',
    value: warm.ms,
    unit: 'ms',
    note: 'InRelease revalidation, signature check, compact-index load',
  });

  const xzIndex = warm.result.releases[0]?.indexes.find((i) => i.path.endsWith('Packages.xz'));
  if (!xzIndex) throw new Error('trixie Release lists no main/binary-amd64/Packages.xz');
  const compressed = await readFile(`${cacheDir}/blobs/sha256/${xzIndex.sha256}`);
  const candidates: Decompressor[] = [
    { name: 'xz -dc, whole buffer (decompressBuffer)', run: (data) => decompressBuffer(data, 'xz') },
    { name: 'xz -dc, streamed (createDecompressor)', run: viaStream },
    ...optionalDecompressors(),
  ];
  let text = '';
  for (const candidate of candidates) {
    const { ms, result } = await best(3, () => candidate.run(compressed));
    text = result.toString('utf8');
    figures.push({
      name: `xz decompress Packages.xz (${(compressed.length / 1e6).toFixed(1)} MB): ${candidate.name}`,
      value: ms,
      unit: 'ms',
    });
  }

  const parse = await best(3, () => parsePackagesFile(text, { suite: 'trixie', component: 'main' }));
  figures.push({
    name: `parse Packages (${parse.result.length} stanzas)`,
    value: parse.ms,
    unit: 'ms',
    target: 1500,
  });

  const index = warm.result.index;
  const resolve = await best(5, () =>
    resolvePackageClosure(index, { packages: ['python3'], architecture: 'amd64' }),
  );
  figures.push({
    name: `resolve python3 closure (${resolve.result.packages.length} packages), warm`,
    value: resolve.ms,
    unit: 'ms',
    target: 50,
  });
  const first = performance.now();
  const fresh = await loadRepositories({ suites: ['trixie'], architectures: ['amd64'], cacheDir });
  const loaded = performance.now();
  resolvePackageClosure(fresh.index, { packages: ['python3'], architecture: 'amd64' });
  figures.push({
    name: 'resolve python3 on a fresh index (first lookups)',
    value: performance.now() - loaded,
    unit: 'ms',
    target: 50,
    note: `index load ${(loaded - first).toFixed(0)} ms`,
  });
  return figures;
}
