/**
 * `rampart build` figures on this machine, from the real archive: cold (empty download cache)
 * and warm builds of `base` and `nodejs` for amd64, image bytes, and the same suite's
 * `mmdebstrap --variant=minbase --include=nodejs` root for comparison, measured in the same run.
 * Run with `npm run bench -- build`.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildImage } from '../src/builder/pipeline.js';
import { resolveMirrors } from '../src/debian/apt-sources.js';
import type { BenchFigure } from './run.js';

const IMAGES = resolve(import.meta.dirname, '../images');

async function timedBuild(work: string, name: string, cacheDir: string, tag: string) {
  const specDir = join(work, 'specs', name);
  await mkdir(specDir, { recursive: true });
  const spec = join(specDir, `${name}.yaml`);
  await copyFile(join(IMAGES, `${name}.yaml`), spec);
  const start = performance.now();
  const result = await buildImage({
    specPath: spec,
    archs: ['amd64'],
    cacheDir,
    output: `oci:${join(work, 'out', name)}:${tag}`,
  });
  const seconds = (performance.now() - start) / 1000;
  const platform = result.platforms[0]!;
  const uncompressed = platform.layers.reduce((n, l) => n + l.uncompressedSize, 0);
  return { seconds, compressed: platform.size, uncompressed, packages: platform.packages.length };
}

const MIB = 1024 * 1024;

export default async function buildBench(): Promise<BenchFigure[]> {
  const work = await mkdtemp(join(tmpdir(), 'rampart-bench-build-'));
  try {
    // cold: an empty download cache (indexes, packages, unpacked packages, layers), one per image
    // so an earlier image's downloads do not warm the next; warm: the same cache again.
    const figures: BenchFigure[] = [];
    const sizes = new Map<string, { compressed: number; uncompressed: number }>();
    for (const name of ['static', 'base', 'nodejs']) {
      const cache = join(work, `cache-${name}`);
      const cold = await timedBuild(work, name, cache, 'cold');
      const warm = await timedBuild(work, name, cache, 'warm');
      sizes.set(name, warm);
      figures.push(
        { name: `build ${name} amd64, cold (${cold.packages} packages)`, value: cold.seconds, unit: 's' },
        {
          name: `build ${name} amd64, warm`,
          value: warm.seconds,
          unit: 's',
          ...(name === 'nodejs' ? { target: 5 } : {}),
        },
        {
          name: `${name} image, compressed`,
          value: warm.compressed / MIB,
          unit: 'MiB',
          ...(name === 'static' ? { target: 3 } : {}),
        },
        { name: `${name} image, unpacked`, value: warm.uncompressed / MIB, unit: 'MiB' },
      );
    }
    const { mirror } = await resolveMirrors({});
    const root = join(work, 'minbase');
    const start = performance.now();
    execFileSync('mmdebstrap', ['--quiet', '--variant=minbase', '--include=nodejs', 'trixie', root, mirror], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const mmSeconds = (performance.now() - start) / 1000;
    const minbaseBytes = Number(execFileSync('du', ['-sb', root]).toString().split(/\s/)[0]);
    const node = sizes.get('nodejs')!;
    figures.push(
      { name: 'mmdebstrap --variant=minbase --include=nodejs trixie', value: mmSeconds, unit: 's' },
      { name: 'minbase+nodejs root (du -sb)', value: minbaseBytes / MIB, unit: 'MiB' },
      {
        name: 'nodejs image unpacked / minbase+nodejs root',
        value: (100 * node.uncompressed) / minbaseBytes,
        unit: '%',
        target: 40,
      },
    );
    return figures;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
