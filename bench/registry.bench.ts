/**
 * Registry push and pull (issue 12): a ~200 MB multi-layer image of random data (generated here,
 * gzip layers so that neither tool recompresses) is pushed to a fresh local `docker-registry` and
 * pulled back into an OCI layout, by rampart and by `skopeo copy`, in the same run. Prints the
 * throughput of each, rampart's time as a fraction of skopeo's (target: rampart ≥ 1.2× skopeo's
 * throughput, i.e. ≤ 0.83 of its time, both ways) and rampart's peak RSS (target ≤ 150 MiB:
 * blobs are streamed, never held in memory). Each transfer runs twice; the faster run counts.
 * Run with `npm run bench -- registry` (after `npm run build`: it runs bin/rampart.js).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';
import { startRegistry, type TestRegistry } from '../test/helpers/registry.js';
import type { BenchFigure } from './run.js';

const REPO = resolve(import.meta.dirname, '..');
const MB = 1000 * 1000;
/** Layer sizes (uncompressed, random so gzip keeps them): ~200 MB in all. */
const LAYER_MB = [64, 48, 32, 24, 16, 8, 4, 4] as const;
const RUNS = 2;
const TAG = 'bench';

interface Timed {
  seconds: number;
  peakMiB: number;
}

/** Runs a command under /usr/bin/time -v (asynchronously: the registries are our children). */
async function timed(command: string, args: readonly string[]): Promise<Timed> {
  const child = spawn('/usr/bin/time', ['-v', command, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-64 * 1024);
  });
  const [status] = (await once(child, 'close')) as [number | null];
  if (status !== 0)
    throw new Error(`${command} ${args.join(' ')} failed (${status}): ${stderr.slice(-2000)}`);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(stderr);
  if (!rss || !wall) throw new Error('could not read /usr/bin/time -v output');
  return {
    peakMiB: Number(rss[1]) / 1024,
    seconds: Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]),
  };
}

/** Counts and hashes what passes through. */
function digester(): Transform & { digest(): string; size(): number } {
  const hash = createHash('sha256');
  let size = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  }) as Transform & { digest(): string; size(): number };
  let hex: string | undefined;
  t.digest = () => {
    hex ??= hash.digest('hex');
    return `sha256:${hex}`;
  };
  t.size = () => size;
  return t;
}

/** One tar+gzip layer holding one file of random bytes, written into the layout's blobs. */
async function writeLayer(layout: string, index: number, bytes: number) {
  const tar = pack();
  const diff = digester();
  const blob = digester();
  const temp = join(layout, 'blobs/sha256', `.layer-${index}`);
  const done = pipeline(tar, diff, createGzip({ level: 1 }), blob, createWriteStream(temp));
  const entry = tar.entry({ name: `data/layer-${index}.bin`, size: bytes, mode: 0o644, mtime: new Date(0) });
  const chunk = 1024 * 1024;
  let written = 0;
  for (; written + chunk < bytes; written += chunk) {
    if (!entry.write(randomBytes(chunk))) await once(entry, 'drain');
  }
  entry.end(randomBytes(bytes - written));
  tar.finalize();
  await done;
  const digest = blob.digest();
  await rename(temp, join(layout, 'blobs/sha256', digest.slice(7)));
  return { digest, size: blob.size(), diffId: diff.digest() };
}

async function writeJsonBlob(layout: string, value: unknown) {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await writeFile(join(layout, 'blobs/sha256', digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

/** An OCI layout `layout:bench` with the layers of LAYER_MB; returns the bytes of its blobs. */
export async function writeRandomImage(layout: string): Promise<number> {
  await mkdir(join(layout, 'blobs/sha256'), { recursive: true });
  await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const layers = [];
  for (const [i, mb] of LAYER_MB.entries()) layers.push(await writeLayer(layout, i, mb * MB));
  const config = await writeJsonBlob(layout, {
    architecture: 'amd64',
    os: 'linux',
    config: {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  });
  const manifest = await writeJsonBlob(layout, {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: layers.map((l) => ({
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: l.digest,
      size: l.size,
    })),
  });
  await writeFile(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': TAG },
        },
      ],
    }),
  );
  return layers.reduce((sum, l) => sum + l.size, config.size + manifest.size);
}

const rampartCopy = (src: string, dst: string) =>
  timed(process.execPath, [join(REPO, 'bin/rampart.js'), 'copy', '--insecure', '-q', src, dst]);
const skopeoPush = (src: string, dst: string) =>
  timed('skopeo', ['copy', '-q', '--dest-tls-verify=false', src, dst]);
const skopeoPull = (src: string, dst: string) =>
  timed('skopeo', ['copy', '-q', '--src-tls-verify=false', src, dst]);

export default async function registryBench(): Promise<BenchFigure[]> {
  const work = await mkdtemp(join(tmpdir(), 'rampart-bench-registry-'));
  const registries: TestRegistry[] = [];
  // A fresh registry per push, so that no blob is already there (or mountable) for either tool.
  const fresh = async () => {
    const r = await startRegistry();
    registries.push(r);
    return r;
  };
  try {
    const source = join(work, 'source');
    const bytes = await writeRandomImage(source);
    const best = { rampartPush: Infinity, skopeoPush: Infinity, rampartPull: Infinity, skopeoPull: Infinity };
    let peak = 0;
    const pullFrom = await fresh();
    await skopeoPush(`oci:${source}:${TAG}`, `docker://${pullFrom.host}/bench/image:${TAG}`);
    for (let run = 0; run < RUNS; run++) {
      // Alternate who goes first, so that neither always meets a warmer page cache.
      const order = run % 2 === 0 ? (['rampart', 'skopeo'] as const) : (['skopeo', 'rampart'] as const);
      for (const tool of order) {
        const registry = await fresh();
        const dst = `docker://${registry.host}/bench/${tool}:${TAG}`;
        const push =
          tool === 'rampart'
            ? await rampartCopy(`oci:${source}:${TAG}`, dst)
            : await skopeoPush(`oci:${source}:${TAG}`, dst);
        const out = join(work, `pull-${tool}-${run}`);
        const src = `docker://${pullFrom.host}/bench/image:${TAG}`;
        const pull =
          tool === 'rampart'
            ? await rampartCopy(src, `oci:${out}:${TAG}`)
            : await skopeoPull(src, `oci:${out}:${TAG}`);
        await rm(out, { recursive: true, force: true });
        if (tool === 'rampart') {
          best.rampartPush = Math.min(best.rampartPush, push.seconds);
          best.rampartPull = Math.min(best.rampartPull, pull.seconds);
          peak = Math.max(peak, push.peakMiB, pull.peakMiB);
        } else {
          best.skopeoPush = Math.min(best.skopeoPush, push.seconds);
          best.skopeoPull = Math.min(best.skopeoPull, pull.seconds);
        }
        await registry.stop();
        registries.splice(registries.indexOf(registry), 1);
      }
    }
    const mbps = (seconds: number) => bytes / MB / seconds;
    const size = `${(bytes / MB).toFixed(0)} MB in ${LAYER_MB.length + 1} blobs, best of ${RUNS}`;
    return [
      {
        name: 'registry push: rampart copy oci: → docker://',
        value: mbps(best.rampartPush),
        unit: 'MB/s',
        note: size,
      },
      { name: 'registry push: skopeo copy oci: → docker://', value: mbps(best.skopeoPush), unit: 'MB/s' },
      {
        name: 'registry push: rampart time ÷ skopeo time',
        value: best.rampartPush / best.skopeoPush,
        unit: '×',
        target: 1 / 1.2,
        note: 'target: rampart ≥ 1.2× skopeo throughput',
      },
      { name: 'registry pull: rampart copy docker:// → oci:', value: mbps(best.rampartPull), unit: 'MB/s' },
      { name: 'registry pull: skopeo copy docker:// → oci:', value: mbps(best.skopeoPull), unit: 'MB/s' },
      {
        name: 'registry pull: rampart time ÷ skopeo time',
        value: best.rampartPull / best.skopeoPull,
        unit: '×',
        target: 1 / 1.2,
        note: 'target: rampart ≥ 1.2× skopeo throughput',
      },
      { name: 'peak RSS: rampart push/pull of the ~200 MB image', value: peak, unit: 'MiB', target: 150 },
    ];
  } finally {
    for (const r of registries) await r.stop();
    await rm(work, { recursive: true, force: true });
  }
}
