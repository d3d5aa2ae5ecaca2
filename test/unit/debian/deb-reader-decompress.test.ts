import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { isRampartError } from '../../../src/errors.js';
import { compressionOf, createDecompressor, decompressBuffer } from '../../../src/util/decompress.js';

// Reference compressors are the real tools; the decompressors under test must undo them.
const payload = Buffer.concat([Buffer.from('Package: x\n'.repeat(20_000)), randomBytes(100_000)]);
const viaTool = (tool: string, args: string[]) =>
  execFileSync(tool, args, { input: payload, maxBuffer: 64 << 20 });

async function drain(stream: NodeJS.ReadWriteStream, input: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  // Feed in pieces to exercise streaming.
  for (let i = 0; i < input.length; i += 4096) stream.write(input.subarray(i, i + 4096));
  stream.end();
  await done;
  return Buffer.concat(chunks);
}

describe('decompressors', () => {
  it('maps names to compressions', () => {
    expect(
      ['data.tar.xz', 'data.tar.gz', 'control.tar.zst', 'data.tar', 'Packages', 'x.bz2'].map(compressionOf),
    ).toEqual(['xz', 'gz', 'zst', 'none', 'none', undefined]);
  });

  it('undoes xz, gzip and zstd as streams and as buffers', async () => {
    const inputs = {
      xz: viaTool('xz', ['-c']),
      gz: gzipSync(payload),
      zst: viaTool('zstd', ['-c', '-q']),
    } as const;
    for (const [kind, data] of Object.entries(inputs) as Array<['xz' | 'gz' | 'zst', Buffer]>) {
      expect((await drain(createDecompressor(kind), data)).equals(payload), `${kind} stream`).toBe(true);
      expect((await decompressBuffer(data, kind)).equals(payload), `${kind} buffer`).toBe(true);
    }
  });

  it('reports corrupt input as MALFORMED_ARCHIVE', async () => {
    const corrupt = Buffer.from(viaTool('xz', ['-c']));
    corrupt.fill(0x41, 100, 200);
    const error = await decompressBuffer(corrupt, 'xz').catch((e: unknown) => e);
    expect(isRampartError(error, 'MALFORMED_ARCHIVE')).toBe(true);
    const streamError = await drain(createDecompressor('xz'), corrupt).catch((e: unknown) => e);
    expect(isRampartError(streamError, 'MALFORMED_ARCHIVE')).toBe(true);
    const zstError = await drain(createDecompressor('zst'), Buffer.from('not zstd at all')).catch(
      (e: unknown) => e,
    );
    expect(isRampartError(zstError, 'MALFORMED_ARCHIVE')).toBe(true);
    const gzError = await decompressBuffer(Buffer.from('not gzip at all'), 'gz').catch((e: unknown) => e);
    expect(isRampartError(gzError, 'MALFORMED_ARCHIVE')).toBe(true);
  });
});
