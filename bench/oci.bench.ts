/**
 * Issue 10 item 6: peak RSS of `openImage` when a descriptor says a few hundred bytes (or more
 * than 4 MiB) and the stored blob is a 5 GiB sparse file. Sizes are checked before reading, so
 * memory stays at Node's baseline. Each case runs in a child process under /usr/bin/time -v.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchFigure } from './run.js';

const FIVE_GIB = 5 * 1024 * 1024 * 1024;
const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** A one-image layout with no layers; `sparseConfig` or `sparseManifest` replaces that blob with 5 GiB of holes. */
function layout(dir: string, which: 'config' | 'manifest'): void {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: [],
    }),
  );
  const put = (bytes: Buffer, sparse: boolean) => {
    const path = join(blobs, sha256(bytes).slice(7));
    writeFileSync(path, sparse ? '' : bytes);
    if (sparse) truncateSync(path, FIVE_GIB);
  };
  put(config, which === 'config');
  put(manifest, which === 'manifest');
  const entry = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: sha256(manifest),
    size: which === 'manifest' ? FIVE_GIB : manifest.length,
    annotations: { 'org.opencontainers.image.ref.name': 't' },
  };
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [entry] }));
}

function peakRssMiB(dir: string): { mib: number; code: string } {
  const script = `import('./src/oci/open.ts').then((m) => m.openImage(${JSON.stringify(`oci:${dir}:t`)})).then(() => console.log('OPENED'), (e) => console.log(e.code));`;
  const result = spawnSync('/usr/bin/time', ['-v', process.execPath, '--import', 'tsx', '-e', script], {
    encoding: 'utf8',
  });
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(result.stderr);
  if (!rss) throw new Error(`could not measure: ${result.stderr.slice(-500)}`);
  return { mib: Number(rss[1]) / 1024, code: result.stdout.trim() };
}

export default async function benchOci(): Promise<BenchFigure[]> {
  const work = mkdtempSync(join(tmpdir(), 'rampart-bench-oci-'));
  try {
    const figures: BenchFigure[] = [];
    for (const which of ['config', 'manifest'] as const) {
      const dir = join(work, which);
      layout(dir, which);
      const { mib, code } = peakRssMiB(dir);
      figures.push({
        name: `openImage, 5 GiB sparse ${which} blob behind a ${which === 'config' ? 'small' : '5 GiB'} descriptor: peak RSS`,
        value: mib,
        unit: 'MiB',
        target: 200,
        note: code,
      });
    }
    return figures;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
