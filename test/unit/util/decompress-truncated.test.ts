import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDebData } from '../../../src/debian/deb-reader.js';
import { isRampartError } from '../../../src/errors.js';
import { type Compression, createDecompressor, decompressBuffer } from '../../../src/util/decompress.js';
import { rawTar } from '../../helpers/hostile-layers.js';

/**
 * Issue 10 item 4, at the decompressor: every truncated or corrupted gzip, zstd and xz input is a
 * rejected promise (MALFORMED_ARCHIVE, or MALFORMED_DEB from the .deb reader), never an unhandled
 * 'error' event (vitest fails the run on one).
 */
let work: string;
let tar: Buffer;
const encoded = new Map<Exclude<Compression, 'none'>, Buffer>();

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'rampart-decompress-'));
  tar = await rawTar([
    { name: './usr/', type: 'directory' },
    { name: './usr/a.bin', content: randomBytes(40 * 1024) },
  ]);
  encoded.set('gz', gzipSync(tar));
  encoded.set('zst', zstdCompressSync(tar));
  encoded.set('xz', execFileSync('xz', ['-c', '-0'], { input: tar }));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function damaged(blob: Buffer, checksummed: boolean): Array<[string, Buffer]> {
  const n = blob.length;
  const out: Array<[string, Buffer]> = [1, 6, Math.floor(n / 3), Math.floor(n / 2), n - 9, n - 1].map(
    (cut) => [`cut at ${cut}`, blob.subarray(0, cut)],
  );
  // A zstd frame without a content checksum (Node's default) decodes a flipped literal byte
  // "successfully"; for layers the diff_id check catches it, so only gzip (CRC32) and xz (CRC64) here.
  if (!checksummed) return out;
  const flipped = Buffer.from(blob);
  flipped[Math.floor(n / 2)] = (flipped[Math.floor(n / 2)] ?? 0) ^ 0xff;
  out.push(['a flipped byte', flipped]);
  return out;
}

async function streamThrough(compression: Compression, input: Buffer): Promise<number> {
  const stream = createDecompressor(compression);
  stream.end(input);
  let length = 0;
  for await (const chunk of stream) length += (chunk as Buffer).length;
  return length;
}

describe('damaged compressed input is an error the caller receives', () => {
  for (const compression of ['gz', 'zst', 'xz'] as const) {
    it(`${compression}: as a stream, as a buffer and as a .deb data member`, async () => {
      for (const [label, input] of damaged(encoded.get(compression) as Buffer, compression !== 'zst')) {
        const streamed = await streamThrough(compression, input).catch((e: unknown) => e);
        expect(isRampartError(streamed, 'MALFORMED_ARCHIVE'), `${label} stream: ${String(streamed)}`).toBe(
          true,
        );
        const buffered = await decompressBuffer(input, compression).catch((e: unknown) => e);
        expect(isRampartError(buffered, 'MALFORMED_ARCHIVE'), `${label} buffer: ${String(buffered)}`).toBe(
          true,
        );

        const dir = join(work, `${compression}-${label.replaceAll(' ', '-')}`);
        mkdirSync(dir);
        writeFileSync(join(dir, 'debian-binary'), '2.0\n');
        writeFileSync(
          join(dir, 'control.tar.gz'),
          gzipSync(await rawTar([{ name: './control', content: 'Package: x\n' }])),
        );
        writeFileSync(join(dir, `data.tar.${compression}`), input);
        execFileSync('ar', ['rc', 'x.deb', 'debian-binary', 'control.tar.gz', `data.tar.${compression}`], {
          cwd: dir,
        });
        const read = await (async () => {
          for await (const _ of readDebData(join(dir, 'x.deb'))) {
            // drain
          }
        })().catch((e: unknown) => e);
        expect(isRampartError(read), `${label} .deb: ${String(read)}`).toBe(true);
      }
    });
  }
});
