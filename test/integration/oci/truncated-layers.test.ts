import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dpkgStatus, type LayerBlob, rawTar, writeLayeredLayout } from '../../helpers/hostile-layers.js';
import { spawnTracked } from '../../helpers/processes.js';

/**
 * Issue 10 item 4: a tar+gzip layer cut in half (digest and size made to match) made `sbom` and
 * `copy ... docker-archive:` die with an unhandled 'error' event (Z_BUF_ERROR) and a stack trace,
 * leaving staging behind. Here the real CLI (bin/rampart.js over the built dist/) is fed gzip,
 * zstd and xz layers cut at many points or corrupted, through every command that reads layers.
 */
const repo = join(import.meta.dirname, '../../..');
let work: string;
let tmp: string;
let tar: Buffer;

beforeAll(async () => {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: repo, stdio: 'pipe' });
  work = mkdtempSync(join(tmpdir(), 'rampart-truncated-'));
  tmp = join(work, 'tmp');
  mkdirSync(tmp);
  // Incompressible content, so every cut point lands inside compressed data of some entry.
  tar = await rawTar([
    { name: 'var/lib/dpkg/status', content: dpkgStatus(['libc6', 'bash']) },
    { name: 'usr/share/a.bin', content: randomBytes(48 * 1024) },
    { name: 'usr/share/b.bin', content: randomBytes(16 * 1024) },
  ]);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

type Variant = { name: string; layer: LayerBlob };

function variants(): Variant[] {
  const out: Variant[] = [];
  const xz = execFileSync('xz', ['-c', '-0'], { input: tar });
  const encoded: Array<[string, 'gzip' | 'zstd' | 'none', Buffer]> = [
    ['gzip', 'gzip', gzipSync(tar)],
    ['zstd', 'zstd', zstdCompressSync(tar)],
    // OCI has no xz layer type: xz bytes behind the gzip and plain-tar labels.
    ['xz-as-gzip', 'gzip', xz],
    ['xz-as-tar', 'none', xz],
  ];
  for (const [label, compression, blob] of encoded) {
    const n = blob.length;
    const cuts = [1, 10, Math.floor(n / 4), Math.floor(n / 2), Math.floor((3 * n) / 4), n - 9, n - 1];
    for (const cut of label.startsWith('xz') ? [n] : cuts) {
      out.push({ name: `${label}-cut-${cut}`, layer: { tar, compression, blob: blob.subarray(0, cut) } });
    }
    if (label.startsWith('xz')) continue;
    const flipped = Buffer.from(blob);
    flipped[Math.floor(n / 2)] = (flipped[Math.floor(n / 2)] ?? 0) ^ 0xff;
    out.push({ name: `${label}-flipped`, layer: { tar, compression, blob: flipped } });
    const zeroed = Buffer.from(blob);
    zeroed.fill(0, Math.floor(n / 3), Math.floor(n / 3) + 64);
    out.push({ name: `${label}-zeroed`, layer: { tar, compression, blob: zeroed } });
  }
  return out;
}

function rampart(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawnTracked(process.execPath, [join(repo, 'bin/rampart.js'), ...args], {
    env: { ...process.env, TMPDIR: tmp, NO_COLOR: '1' },
  });
  return child.exited.then(({ code }) => ({ code, stderr: child.output().stderr }));
}

const COMMANDS: Array<[string, (ref: string, out: string) => string[]]> = [
  ['inspect', (ref) => ['inspect', ref]],
  ['sbom', (ref) => ['sbom', ref, '-o', 'json']],
  ['copy oci:', (ref, out) => ['copy', ref, `oci:${join(out, 'layout')}:t`]],
  ['copy oci-archive:', (ref, out) => ['copy', ref, `oci-archive:${join(out, 'image.tar')}:t`]],
  ['copy docker-archive:', (ref, out) => ['copy', ref, `docker-archive:${join(out, 'image.tar')}:t`]],
];

describe('truncated and corrupted layers through the CLI', () => {
  it('every command fails with one clean line, a non-zero exit, no stack and no leftovers', async () => {
    const failures: string[] = [];
    const all = variants();
    for (const variant of all) {
      const ref = await writeLayeredLayout(join(work, variant.name), [variant.layer]);
      for (const [command, args] of COMMANDS) {
        const out = join(work, variant.name, `out-${command.replaceAll(/[^a-z]/g, '')}`);
        mkdirSync(out);
        const { code, stderr } = await rampart(args(ref, out));
        // With `-o json` the error line is its JSON form, `{"error":{...}}` (src/cli/print-error.ts).
        const lines = stderr
          .split('\n')
          .filter(Boolean)
          .map((l) => (l.startsWith('{"error":') ? `error: ${l}` : l));
        const what = `${variant.name} / ${command}: exit ${code}: ${stderr.slice(0, 400)}`;
        const clean = lines.length === 1 && lines[0]?.startsWith('error: ') && !/\n\s+at /.test(stderr);
        if (command === 'inspect' || command === 'copy oci:' || command === 'copy oci-archive:') {
          // These read manifests and config, and copy blobs byte for byte under their (matching)
          // digests, as skopeo does: they may succeed, but a failure must be clean and complete.
          if (code !== 0 && !clean) failures.push(what);
          if (code === 0 && command !== 'inspect' && readdirSync(out).length === 0)
            failures.push(`${what}: no output`);
          if (code === 0) rmSync(out, { recursive: true, force: true });
          if (code === 0) mkdirSync(out);
        } else if (
          code === 0 ||
          code === null ||
          lines.filter((l) => l.startsWith('error: ')).length !== 1 ||
          lines.some((l) => !l.startsWith('error: ') && !l.startsWith('warning: ')) ||
          /\n\s+at /.test(stderr)
        ) {
          failures.push(what);
        }
        const left = readdirSync(out);
        if (left.length > 0)
          failures.push(`${variant.name} / ${command}: left ${left.join(', ')} at the destination`);
        const staged = readdirSync(tmp);
        if (staged.length > 0) {
          failures.push(`${variant.name} / ${command}: left ${staged.join(', ')} in TMPDIR`);
          for (const name of staged) rmSync(join(tmp, name), { recursive: true, force: true });
        }
      }
    }
    expect(failures).toEqual([]);
    expect(all.length).toBeGreaterThanOrEqual(20);
  }, 900_000);
});
