/**
 * Issue 10 acceptance: rampart's memory and time under hostile input stay bounded. Each CLI run
 * is its own process (measureCli from measure-cli.ts); the hostile servers run in this process
 * on 127.0.0.1 and every file is generated in a temp dir that is removed afterwards.
 *
 * - an endless InRelease body: `apt resolve` must stop at its InRelease size limit (TOO_LARGE);
 * - a gzip bomb layer (one 1.5 GiB file of zeros, a few MiB compressed, digest and diff_id
 *   correct): `inspect` and `sbom` must stream it, not hold it, also when the file is one that a
 *   cataloger reads whole (/var/lib/dpkg/status: 4.7 GB before the dpkg size limit);
 * - a drip server (one InRelease byte every few seconds, under the idle timeout): `apt resolve`
 *   must give up at the client's default deadline for InRelease.
 * The 5 GiB blob behind a small descriptor is measured by oci.bench.ts.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { createGpgKey, disposeGpgKey } from '../test/helpers/apt-repo.js';
import { measureCli } from './measure-cli.js';
import type { BenchFigure } from './run.js';

const MiB = 1024 * 1024;
const BOMB_BYTES = 1536 * MiB;
/** Below the client's 60 s idle timeout, so that only the overall deadline can end the transfer. */
const DRIP_INTERVAL_MS = 5_000;
/**
 * The InRelease deadline with the client's defaults (src/http/client.ts): minDeadlineMs (60 s)
 * plus the 1 MiB that repository.ts says to expect at 32 KiB/s.
 */
const INRELEASE_DEADLINE_S = 60 + MiB / (32 * 1024);

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

async function serve(handler: Handler): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/debian` };
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Only InRelease exists: an endless 200 body, written as fast as the client reads. */
const endlessInRelease: Handler = (request, response) => {
  if (!request.url?.endsWith('/InRelease')) {
    response.writeHead(404).end();
    return;
  }
  response.writeHead(200, { 'content-type': 'text/plain' });
  const chunk = Buffer.alloc(64 * 1024, 'A');
  const pump = () => {
    while (!response.destroyed && response.write(chunk)) {}
  };
  response.on('drain', pump);
  pump();
};

/** Only InRelease exists: a 200 whose body arrives one byte every DRIP_INTERVAL_MS, forever. */
const dripInRelease: Handler = (request, response) => {
  if (!request.url?.endsWith('/InRelease')) {
    response.writeHead(404).end();
    return;
  }
  response.writeHead(200, { 'content-type': 'text/plain' });
  response.write('-');
  const timer = setInterval(() => response.write('-'), DRIP_INTERVAL_MS);
  response.on('close', () => clearInterval(timer));
};

const sha256Hex = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

/** Counts and hashes the bytes passing through. */
function hashing(): Transform & { hex: () => string } {
  const hash = createHash('sha256');
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  }) as Transform & { hex: () => string };
  stream.hex = () => hash.digest('hex');
  return stream;
}

/**
 * An OCI layout whose one layer is a tar+gzip holding a 1.5 GiB file of zeros, streamed to disk
 * (never in memory here either); the layer digest and diff_id are the real ones.
 */
export async function gzipBombLayout(dir: string, entryName = 'zeros'): Promise<{ layerBytes: number }> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const pack = tar.pack();
  const entry = pack.entry({ name: entryName, size: BOMB_BYTES, mode: 0o644, mtime: new Date(0) });
  const writeZeros = (async () => {
    const zeros = Buffer.alloc(MiB);
    for (let written = zeros.length; written < BOMB_BYTES; written += zeros.length) {
      if (!entry.write(zeros)) await once(entry, 'drain');
    }
    entry.end(zeros);
    pack.finalize();
  })();
  const diff = hashing();
  const compressed = hashing();
  const staging = join(blobs, 'layer.partial');
  const out = createWriteStream(staging);
  await Promise.all([
    writeZeros,
    pipeline(pack, diff, createGzip({ level: constants.Z_BEST_SPEED }), compressed, out),
  ]);
  const layerDigest = compressed.hex();
  const diffId = diff.hex();
  await rename(staging, join(blobs, layerDigest));
  const layerBytes = out.bytesWritten;
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
  });
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: `sha256:${sha256Hex(config)}`,
      size: Buffer.byteLength(config),
    },
    layers: [
      {
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: `sha256:${layerDigest}`,
        size: layerBytes,
      },
    ],
  });
  await writeFile(join(blobs, sha256Hex(config)), config);
  await writeFile(join(blobs, sha256Hex(manifest)), manifest);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: `sha256:${sha256Hex(manifest)}`,
          size: Buffer.byteLength(manifest),
          annotations: { 'org.opencontainers.image.ref.name': 'bomb' },
        },
      ],
    }),
  );
  return { layerBytes };
}

/** The error line the CLI printed (or the exit status), for the note beside a figure. */
function outcome(run: { status: number | null; stderr: string }): string {
  const line = run.stderr.split('\n').find((l) => l.startsWith('error:'));
  return `exit ${run.status}${line ? `: ${line.slice(0, 160)}` : ''}`;
}

export default async function securityBench(): Promise<BenchFigure[]> {
  const work = await mkdtemp(join(tmpdir(), 'rampart-bench-security-'));
  const key = await createGpgKey(work);
  const figures: BenchFigure[] = [];
  try {
    const aptArgs = (url: string, cache: string) => [
      'apt',
      'resolve',
      'hello',
      '--mirror',
      url,
      '--keyring',
      key.keyring,
      '--cache',
      join(work, cache),
      '--no-updates',
    ];

    const endless = await serve(endlessInRelease);
    try {
      const run = await measureCli(aptArgs(endless.url, 'cache-endless'));
      figures.push({
        name: 'endless InRelease: apt resolve peak RSS',
        value: run.peakMiB,
        unit: 'MiB',
        target: 200,
        note: `InRelease limit 8 MiB; ${outcome(run)}`,
      });
    } finally {
      await close(endless.server);
    }

    // As a plain file the zeros are only streamed; as the dpkg status file a cataloger reads them.
    for (const entryName of ['zeros', 'var/lib/dpkg/status']) {
      const layout = join(work, 'bomb');
      const { layerBytes } = await gzipBombLayout(layout, entryName);
      const commands =
        entryName === 'zeros'
          ? [
              ['inspect', `oci:${layout}:bomb`],
              ['sbom', `oci:${layout}:bomb`],
            ]
          : [['sbom', `oci:${layout}:bomb`]];
      for (const command of commands) {
        const run = await measureCli([
          ...command,
          ...(command[0] === 'sbom' ? ['-o', 'json=/dev/null'] : []),
        ]);
        figures.push({
          name: `gzip bomb: /${entryName}, 1.5 GiB of zeros in ${(layerBytes / MiB).toFixed(1)} MiB: ${command[0]} peak RSS`,
          value: run.peakMiB,
          unit: 'MiB',
          target: 200,
          note: `${(run.elapsedMs / 1000).toFixed(1)} s; ${command[0] === 'inspect' ? 'reads manifest and config only; ' : ''}${outcome(run)}`,
        });
      }
      await rm(layout, { recursive: true, force: true });
    }

    const drip = await serve(dripInRelease);
    try {
      const run = await measureCli(aptArgs(drip.url, 'cache-drip'));
      figures.push({
        name: `drip InRelease (1 byte / ${DRIP_INTERVAL_MS / 1000} s): apt resolve gives up after`,
        value: run.elapsedMs / 1000,
        unit: 's',
        // The deadline plus a little for process start-up.
        target: INRELEASE_DEADLINE_S + 5,
        note: `default InRelease deadline ${INRELEASE_DEADLINE_S} s; ${outcome(run)}`,
      });
    } finally {
      await close(drip.server);
    }
    return figures;
  } finally {
    disposeGpgKey(key);
    await rm(work, { recursive: true, force: true });
  }
}
