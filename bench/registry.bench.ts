/**
 * Registry push and pull (issue 12): a ~200 MB multi-layer image of random data (generated here,
 * gzip layers so that neither tool recompresses) is pushed to a fresh local `docker-registry` and
 * pulled back into an OCI layout, by rampart and by `skopeo copy`, in the same run. Prints the
 * throughput of each, rampart's time as a fraction of skopeo's (target: rampart ≥ 1.2× skopeo's
 * throughput, i.e. ≤ 0.83 of its time, both ways), rampart's peak RSS per direction (target
 * ≤ 150 MiB: blobs are streamed, never held in memory), the CPU seconds (user+sys) of each tool,
 * which load distorts less than wall time, and the load average before and after.
 *
 * Runs interleave the tools (rampart push, pull, then skopeo push, pull; the order flips every
 * run) and the figures are medians over the runs: the ratio is the median of each run's own
 * ratio, so that a burst of load from other jobs hits both sides of a pair. The default is 3 runs;
 * `RAMPART_BENCH_REGISTRY_RUNS=N` asks for more (on a shared machine 7 or more). Run with
 * `npm run bench -- registry` (it builds first: it runs bin/rampart.js).
 *
 * Figures (2 cores shared with six other developers' jobs: wall time is noisy, CPU seconds and
 * RSS less so). Five interleaved runs of d525d68, this transport and skopeo, medians; ratio = median
 * of each run's rampart wall time ÷ skopeo's (load average 7.9-10.3):
 *
 * | build | push ratio | pull ratio | CPU push / pull | peak RSS push / pull (median, max) |
 * | --- | --- | --- | --- | --- |
 * | d525d68 (fetch) | 1.98 × | 3.96 × | 2.54 / 3.14 s | 177, 185 / 176, 200 MiB |
 * | node:http transport | 1.26 × | 2.49 × | 1.98 / 2.36 s | 145, 146 / 142, 156 MiB |
 * | skopeo | 1 | 1 | 0.99 / 1.01 s | 22 / 21 MiB |
 *
 * Issue 12 follow-up (branch regfast), five interleaved runs per direction against the same
 * skopeo, load average 3.3-4.9, medians (ratio: median of each run's own):
 *
 * | build | push ratio | pull ratio | CPU push / pull | peak RSS push / pull (max) |
 * | --- | --- | --- | --- | --- |
 * | 99ec549 | 1.18 × | 1.95 × | 1.36 / 1.66 s | 155 / 135 MiB |
 * | young generation capped, fewer stream hops | 1.01 × | 1.49 × | 1.04 / 1.26 s | 122 / 125 MiB |
 * | skopeo | 1 | 1 | 0.79 / 0.82 s | 22 / 22 MiB |
 *
 * (The same commands as this bench, timed by a script that also ran the 99ec549 build. At load
 * 2.0-2.3 the same script gave push 1.09 → 0.97 ×, pull 2.0 → 1.59 ×, CPU 1.30 → 1.00 / 1.58 →
 * 1.13 s, peak RSS 147 → 119 / 164 → 129 MiB. This bench itself, 7 runs at load 2.1-2.8: push
 * 0.95 × (161 vs 158 MB/s), pull 1.69 × (184 vs 303 MB/s), CPU 1.01 / 1.28 s against skopeo's
 * 0.80 / 0.75 s, peak RSS 126 / 138 MiB; at load 6-8.7: push 0.89-1.05 ×, pull 1.46-1.93 ×.)
 *
 * Where the CPU went (`perf record`, `node --cpu-prof`, `--trace-gc`): a quarter of a pull's CPU
 * was V8's concurrent marking: the 16-64 KiB chunks (bytes outside the heap) were freed only by
 * full collections, 15-20 per pull, because the young generation had grown to 32 MB while modules
 * loaded; bin/rampart.js now caps it (1 full collection, ~30 scavenges). The download went through
 * an async generator, `Readable.from` and a verifying Transform, and copy's progress counter was a
 * Transform too: now one Readable verifies as it forwards (`BlobCheck`) and progress is a listener.
 * No blob is hashed twice (checked: 200 MB hashed per 200 MB copied, both ways).
 *
 * Peak RSS is ~85 MiB of Node and rampart's modules plus the bytes in flight per job (`--jobs 2`
 * peaks ~25 MiB lower than the default 4).
 *
 * Issue 12, 2026-12-06 (session s12). The registry's own ceiling is now measured in the same run:
 * `curl`, one process per blob, all at once, no digest check, no fsync (CURL_PUSH/CURL_PULL). On a
 * quiet machine (load 0.8 → 2.7, 7 runs) curl takes 0.75 × skopeo's time to push and 0.53 × to
 * pull: the 0.83 × target is within what docker-registry serves here, though by little on push.
 * (An earlier note here said curl pushed no faster than either tool: that was at load 6-7.)
 * - Pull, where the CPU went (`perf`, `--cpu-prof`, `strace -c`): ~13 % of all samples were page
 *   faults. node:http reads each 64 KiB into fresh memory and its parser copies every body chunk
 *   into fresh memory again; 3,200 reads and 27 k minor faults per pull. A blob's fsync (0.1-0.15 s
 *   for the 64 MB one) held its download slot. Now blobs of 1 MiB or more from a loopback
 *   registry are read by http/bulk-get.ts straight from the socket into reused 1 MiB slabs
 *   (util/chunk-pool.ts; ~800 reads, ~14 k faults), and a blob's fsync and rename overlap the
 *   next blob's download (oci/layout-write.ts). Remote registries keep node:http's pool: the bulk
 *   reader's connection per blob would cost them round trips.
 * - Start-up, every command: a relaxed loopback registry that answers a TLS ClientHello in plain
 *   HTTP is no longer probed over https first (node:tls not loaded, ~35 ms); dist imports zod's
 *   bundle directly; rarely used built-ins load on use. A 1 KB image's pull: 0.30 → 0.27 s.
 *
 * | c2d4d01 → this (same machine, quiet; medians) | push ratio | pull ratio | CPU push / pull | RSS push / pull |
 * | --- | --- | --- | --- | --- |
 * | c2d4d01 (3 runs, load 0.9-1.6) | 0.99 × | 1.52 × | 1.01 / 1.12 s | 120 / 128 MiB |
 * | this (7 runs, load 0.8-2.7) | 0.94 × | 1.25 × | 0.84 / 0.84 s | 123 / 100 MiB |
 * | skopeo (same runs) | 1 | 1 | 0.74 / 0.69 s | 22 / 22 MiB |
 * | curl, the ceiling (same runs) | 0.75 × | 0.53 × | — | — |
 *
 * Still short of the time targets. What is left in a pull: Node's start and module loading
 * (~0.25 s of 0.77 s; skopeo starts in ~0.02 s), sha256 on the main thread (~0.17 s with SHA-NI),
 * which skopeo spreads over goroutines. Next: hashing off the main thread over the shared slabs,
 * kept-alive bulk connections (then remote registries too). Push: rampart and skopeo do the same
 * requests; a monolithic PUT for the large blobs (instead of 32 MiB PATCH chunks) measured ~5 %
 * faster here, not taken: chunked PATCHes for large blobs are what issue 12 asks for (front
 * proxies and registries that cap one request's body), and 5 % does not reach the target.
 *
 * Session s13 (2026-12-06): a file's writeback starts every 8 MiB written (an fdatasync not waited
 * for, util/atomic-file.ts), so the last blob's fsync no longer waits for all of it (0.05-0.14 s
 * at the end of a pull → 0.01-0.03 s); the config is fetched once per pull, not three times; a new
 * layout's oci-layout marker is written (and fsynced) when the sink opens; every command loads less
 * zod. 7 runs, load 1.8 → 2.0: push 0.93 × (179 vs 164 MB/s), pull 1.11 × (274 vs 303 MB/s); CPU
 * 0.90 / 0.77 s (skopeo 0.77 / 0.77 s); peak RSS 115 / 99 MiB; curl 0.78 × / 0.54 ×. Tried and
 * dropped (measured under load 5-9): hashing in a worker thread (its start cost ~80 ms of CPU; a
 * zero-copy version over the shared slabs added ~0.3 s), 2/4/6 blobs at once, more slabs.
 *
 * Session s14 (2026-12-06): each run also copies a 1 KB image with both tools, which sets apart
 * what a command costs beyond its bytes. 7 runs, load 1.4 → 2.2: a 1 KB push takes rampart 0.30 s
 * and skopeo 0.11 s, a 1 KB pull 0.27 vs 0.06 s (Node's start and module loading; sign.bench.ts
 * measures Node's own floor). Less that cost, rampart's time is 0.71 × skopeo's to push and
 * 0.70 × to pull (1.40 × and 1.43 × its throughput); whole commands 0.885 × and 1.10 ×. The gap
 * to the 0.83 × target is the fixed cost, not the transfer. (Schemas on zod/mini, ~20 ms less per
 * command, did not move these figures beyond the noise.)
 *
 * Session s15 (2026-12-06): 7 runs, load 0.6 → 2.5: push 0.925 ×, pull 1.13 ×; a 1 KB copy takes
 * rampart 0.28 / 0.26 s and skopeo 0.10 / 0.07 s; less that, 0.76 × / 0.78 ×; curl 0.77 × / 0.56 ×.
 * New figure: Node's start (`node -e 0`) plus rampart's transfer (its time less its 1 KB copy), the
 * time rampart would take if its fixed cost were Node's bare start: 0.73 × push, 0.77 × pull (7 runs,
 * load 0.8 → 2.3, push 0.887 ×, pull 1.10 × in the same run). The targets are within that bound only
 * if the fixed cost, 0.27-0.28 s, came down to ~0.19 s (push) and ~0.11 s (pull; Node's own start
 * is 0.07 s). What the fixed cost is made of
 * (1 KB pull, `--cpu-prof` and diagnostics_channel timings): Node's own start ~85 ms (`node
 * --version`, the exec alone, 28 ms), the CLI and the command's modules ~70 ms (compile cache on),
 * built-in modules ~30 ms, the TLS question and node:http ~35 ms, requests and fsyncs ~30 ms.
 * Tried, 15 interleaved 1 KB pulls each, against 267-288 ms as it is: one esbuild ESM bundle of the
 * CLI 384 ms; esbuild with code splitting 293 ms; a V8 startup snapshot of a CJS bundle with the
 * copy, sign, verify and inspect modules already evaluated (`node --snapshot-blob`) 349 ms: the
 * snapshot keeps no compiled code and the compile cache no longer applies. During a 200 MB pull
 * the registry used 0.16-0.20 s of CPU and each client ~0.74 s: the two cores are ~2/3 busy, and
 * rampart's main thread ~85 % (sha256 ~0.2 s of it), so what is left is serial work in one thread.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeRandomImage } from '../test/helpers/random-image.js';
import { startRegistry, type TestRegistry } from '../test/helpers/registry.js';
import type { BenchFigure } from './run.js';

const REPO = resolve(import.meta.dirname, '..');
const MB = 1000 * 1000;
/** Layer sizes (uncompressed, random so gzip keeps them): ~200 MB in all. */
const LAYER_MB = [64, 48, 32, 24, 16, 8, 4, 4] as const;
const RUNS = Math.max(1, Number(process.env.RAMPART_BENCH_REGISTRY_RUNS ?? 3) || 3);
const TAG = 'bench';

interface Timed {
  seconds: number;
  peakMiB: number;
  /** User + system CPU seconds. */
  cpu: number;
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
  const user = /User time \(seconds\): ([\d.]+)/.exec(stderr);
  const system = /System time \(seconds\): ([\d.]+)/.exec(stderr);
  if (!rss || !wall || !user || !system) throw new Error('could not read /usr/bin/time -v output');
  return {
    peakMiB: Number(rss[1]) / 1024,
    seconds: Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]),
    cpu: Number(user[1]) + Number(system[1]),
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

const rampartCopy = (src: string, dst: string) =>
  // --insecure last: an optional-value flag before the images would take the source as its host.
  timed(process.execPath, [join(REPO, 'bin/rampart.js'), 'copy', src, dst, '--insecure']);
const skopeoPush = (src: string, dst: string) =>
  timed('skopeo', ['copy', '-q', '--dest-tls-verify=false', src, dst]);
const skopeoPull = (src: string, dst: string) =>
  timed('skopeo', ['copy', '-q', '--src-tls-verify=false', src, dst]);

/**
 * The registry's own ceiling, measured with the least work a client can do: `curl` moving every
 * blob at once, one process per blob, streamed, with no digest check and no fsync. Push: POST an
 * upload, PUT the blob monolithically (`-T`), then PUT the manifest. Pull: GET the manifest and
 * every blob into files. No real client can beat it by much: it is what docker-registry serves on
 * this machine, and the target (0.83 of skopeo's time) is judged against it in the output.
 */
const CURL_PUSH = `set -eu
R="http://$1"; repo="$2"; dir="$3"; tag="$4"; manifest="$5"; shift 5
pids=""
for digest in "$@"; do
  (
    location=$(curl -fsS -o /dev/null -D - -X POST "$R/v2/$repo/blobs/uploads/" | tr -d '\\r' | awk 'tolower($1) == "location:" { print $2 }')
    case "$location" in http*) ;; *) location="$R$location" ;; esac
    case "$location" in *'?'*) sep='&' ;; *) sep='?' ;; esac
    curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' -T "$dir/blobs/sha256/\${digest#sha256:}" "$location\${sep}digest=$digest"
  ) &
  pids="$pids $!"
done
for pid in $pids; do wait "$pid"; done
curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$dir/blobs/sha256/\${manifest#sha256:}" "$R/v2/$repo/manifests/$tag"
`;
const CURL_PULL = `set -eu
R="http://$1"; repo="$2"; out="$3"; tag="$4"; shift 4
mkdir -p "$out"
curl -fsS -o "$out/manifest.json" -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$R/v2/$repo/manifests/$tag"
pids=""
for digest in "$@"; do
  curl -fsS -o "$out/\${digest#sha256:}" "$R/v2/$repo/blobs/$digest" &
  pids="$pids $!"
done
for pid in $pids; do wait "$pid"; done
`;
const curlPush = (host: string, repo: string, layout: string, manifest: string, blobs: readonly string[]) =>
  timed('sh', ['-c', CURL_PUSH, 'curl-push', host, repo, layout, TAG, manifest, ...blobs]);
const curlPull = (host: string, repo: string, out: string, blobs: readonly string[]) =>
  timed('sh', ['-c', CURL_PULL, 'curl-pull', host, repo, out, TAG, ...blobs]);

type Tool = 'rampart' | 'skopeo' | 'curl';
type Direction = 'push' | 'pull';

export default async function registryBench(): Promise<BenchFigure[]> {
  const work = await mkdtemp(join(tmpdir(), 'rampart-bench-registry-'));
  const registries: TestRegistry[] = [];
  // A fresh registry per push, so that no blob is already there (or mountable) for either tool.
  const fresh = async () => {
    const r = await startRegistry();
    registries.push(r);
    return r;
  };
  const loadBefore = loadavg()[0] as number;
  try {
    const source = join(work, 'source');
    const image = await writeRandomImage(
      source,
      TAG,
      LAYER_MB.map((mb) => mb * MB),
    );
    const { bytes } = image;
    const blobs = [image.config.digest, ...image.layers.map((layer) => layer.digest)];
    const runs: Array<Record<`${Tool} ${Direction}`, Timed>> = [];
    const pullFrom = await fresh();
    await skopeoPush(`oci:${source}:${TAG}`, `docker://${pullFrom.host}/bench/image:${TAG}`);
    // The same copies of a 1 KB image: what a command costs each tool apart from the bytes it moves
    // (process start, module loading, the manifest's requests).
    const tinySource = join(work, 'tiny');
    await writeRandomImage(tinySource, TAG, [1000]);
    await skopeoPush(`oci:${tinySource}:${TAG}`, `docker://${pullFrom.host}/bench/tiny:${TAG}`);
    const tiny: Array<Record<`${'rampart' | 'skopeo'} ${Direction}`, number>> = [];
    // What Node.js itself costs to start a process, timed the same way (`node -e 0`).
    const nodeStart: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      // Rotate who goes first, so that none always meets a warmer page cache.
      const tools: Tool[] = ['rampart', 'skopeo', 'curl'];
      const order = tools.map((_, i) => tools[(run + i) % tools.length] as Tool);
      const results: Partial<Record<`${Tool} ${Direction}`, Timed>> = {};
      for (const tool of order) {
        const registry = await fresh();
        const dst = `docker://${registry.host}/bench/${tool}:${TAG}`;
        results[`${tool} push`] =
          tool === 'rampart'
            ? await rampartCopy(`oci:${source}:${TAG}`, dst)
            : tool === 'skopeo'
              ? await skopeoPush(`oci:${source}:${TAG}`, dst)
              : await curlPush(registry.host, `bench/${tool}`, source, image.digest, blobs);
        const out = join(work, `pull-${tool}-${run}`);
        const src = `docker://${pullFrom.host}/bench/image:${TAG}`;
        results[`${tool} pull`] =
          tool === 'rampart'
            ? await rampartCopy(src, `oci:${out}:${TAG}`)
            : tool === 'skopeo'
              ? await skopeoPull(src, `oci:${out}:${TAG}`)
              : await curlPull(pullFrom.host, 'bench/image', out, blobs);
        await rm(out, { recursive: true, force: true });
        await registry.stop();
        registries.splice(registries.indexOf(registry), 1);
      }
      runs.push(results as Record<`${Tool} ${Direction}`, Timed>);
      const small: Partial<Record<`${'rampart' | 'skopeo'} ${Direction}`, number>> = {};
      for (const tool of run % 2 ? (['skopeo', 'rampart'] as const) : (['rampart', 'skopeo'] as const)) {
        const registry = await fresh();
        const dst = `docker://${registry.host}/bench/${tool}:${TAG}`;
        const copy = tool === 'rampart' ? rampartCopy : skopeoPush;
        small[`${tool} push`] = (await copy(`oci:${tinySource}:${TAG}`, dst)).seconds;
        const out = join(work, `tiny-${tool}-${run}`);
        const src = `docker://${pullFrom.host}/bench/tiny:${TAG}`;
        small[`${tool} pull`] = (
          await (tool === 'rampart' ? rampartCopy : skopeoPull)(src, `oci:${out}:${TAG}`)
        ).seconds;
        await rm(out, { recursive: true, force: true });
        await registry.stop();
        registries.splice(registries.indexOf(registry), 1);
      }
      tiny.push(small as Record<`${'rampart' | 'skopeo'} ${Direction}`, number>);
      nodeStart.push((await timed(process.execPath, ['-e', '0'])).seconds);
    }
    const loadAfter = loadavg()[0] as number;
    const of = (key: `${Tool} ${Direction}`, field: keyof Timed) => median(runs.map((r) => r[key][field]));
    const ratio = (direction: Direction, tool: Tool = 'rampart') =>
      median(runs.map((r) => r[`${tool} ${direction}`].seconds / r[`skopeo ${direction}`].seconds));
    const peak = (direction: Direction) => Math.max(...runs.map((r) => r[`rampart ${direction}`].peakMiB));
    const mbps = (seconds: number) => bytes / MB / seconds;
    const size = `${(bytes / MB).toFixed(0)} MB in ${LAYER_MB.length + 1} blobs, median of ${RUNS} interleaved runs`;
    const load = `load average ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after`;
    const figures: BenchFigure[] = [];
    for (const direction of ['push', 'pull'] as const) {
      const arrow = direction === 'push' ? 'oci: → docker://' : 'docker:// → oci:';
      figures.push(
        {
          name: `registry ${direction}: rampart copy ${arrow}`,
          value: mbps(of(`rampart ${direction}`, 'seconds')),
          unit: 'MB/s',
          ...(direction === 'push' ? { note: size } : {}),
        },
        {
          name: `registry ${direction}: skopeo copy ${arrow}`,
          value: mbps(of(`skopeo ${direction}`, 'seconds')),
          unit: 'MB/s',
        },
        {
          name: `registry ${direction}: rampart time ÷ skopeo time`,
          value: ratio(direction),
          unit: '×',
          target: 0.83,
          note: `target: rampart ≥ 1.2× skopeo throughput; ${load}`,
        },
        {
          name: `registry ${direction}: CPU (user+sys) rampart`,
          value: of(`rampart ${direction}`, 'cpu'),
          unit: 's',
        },
        {
          name: `registry ${direction}: CPU (user+sys) skopeo`,
          value: of(`skopeo ${direction}`, 'cpu'),
          unit: 's',
        },
        {
          name: `registry ${direction}: a 1 KB image's copy, rampart / skopeo`,
          value: median(tiny.map((t) => t[`rampart ${direction}`])),
          unit: 's',
          note: `skopeo ${median(tiny.map((t) => t[`skopeo ${direction}`])).toFixed(3)} s: the cost of a command apart from its bytes`,
        },
        {
          name: `registry ${direction}: rampart time ÷ skopeo time, each less its 1 KB copy`,
          value: median(
            runs.map(
              (r, i) =>
                (r[`rampart ${direction}`].seconds -
                  (tiny[i] as (typeof tiny)[number])[`rampart ${direction}`]) /
                (r[`skopeo ${direction}`].seconds -
                  (tiny[i] as (typeof tiny)[number])[`skopeo ${direction}`]),
            ),
          ),
          unit: '×',
          note: 'the bytes alone: what the transfer costs each tool once its fixed cost (process start, module loading, manifest requests) is set apart',
        },
        {
          // rampart's transfer with no fixed cost but Node's own start: how close any Node.js
          // program moving the bytes as rampart does could come (a lower bound, not a measurement).
          name: `registry ${direction}: Node.js start + rampart's transfer ÷ skopeo time (lower bound)`,
          value: median(
            runs.map(
              (r, i) =>
                ((nodeStart[i] as number) +
                  r[`rampart ${direction}`].seconds -
                  (tiny[i] as (typeof tiny)[number])[`rampart ${direction}`]) /
                r[`skopeo ${direction}`].seconds,
            ),
          ),
          unit: '×',
          note: `node -e 0 ${median(nodeStart).toFixed(3)} s + (rampart's time − its 1 KB copy): rampart's fixed cost cut to Node's bare start`,
        },
        {
          name: `registry ${direction}: curl, every blob at once (the registry's ceiling)`,
          value: mbps(of(`curl ${direction}`, 'seconds')),
          unit: 'MB/s',
          note: `no digest check, no fsync; curl time ÷ skopeo time ${ratio(direction, 'curl').toFixed(2)} × (the target asks rampart for 0.83 ×)`,
        },
        {
          name: `registry ${direction}: peak RSS of rampart (highest run)`,
          value: peak(direction),
          unit: 'MiB',
          target: 150,
        },
      );
    }
    return figures;
  } finally {
    for (const r of registries) await r.stop();
    await rm(work, { recursive: true, force: true });
  }
}
