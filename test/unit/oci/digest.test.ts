import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { digestStream, parseDigest, sha256Digest, verifyingStream } from '../../../src/oci/digest.js';

// Published sha256 test vectors (FIPS 180-2 / the well-known empty-string digest).
const EMPTY = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const ABC = 'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

async function drain(stream: Readable, transform: NodeJS.ReadWriteStream): Promise<void> {
  const sink = new PassThrough();
  sink.resume();
  await pipeline(stream, transform, sink);
}

describe('digests', () => {
  it('hashes bytes and strings with sha256', () => {
    expect(sha256Digest('')).toBe(EMPTY);
    expect(sha256Digest(Buffer.from('abc'))).toBe(ABC);
    expect(sha256Digest('{}')).toBe(
      'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
    );
  });

  it('parses only sha256 with 64 lowercase hex', () => {
    expect(parseDigest(ABC)).toBe(ABC);
    for (const bad of ['sha256:abc', ABC.toUpperCase(), `sha512:${'a'.repeat(64)}`, 'abc', `${ABC}0`]) {
      expect(() => parseDigest(bad)).toThrow(expect.objectContaining({ code: 'INVALID_REFERENCE' }));
    }
  });

  it('digestStream hashes a multi-chunk stream', async () => {
    expect(await digestStream(Readable.from([Buffer.from('a'), Buffer.from('bc')]))).toEqual({
      digest: ABC,
      size: 3,
    });
  });

  it('verifyingStream passes matching content through', async () => {
    await expect(
      drain(Readable.from([Buffer.from('ab'), Buffer.from('c')]), verifyingStream(ABC, 3)),
    ).resolves.toBeUndefined();
  });

  it('verifyingStream fails on wrong digest, short and long content', async () => {
    await expect(
      drain(Readable.from([Buffer.from('abd')]), verifyingStream(ABC, 3, 'blob x')),
    ).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
      message: expect.stringContaining('blob x'),
    });
    await expect(drain(Readable.from([Buffer.from('ab')]), verifyingStream(ABC, 3))).rejects.toMatchObject({
      code: 'SIZE_MISMATCH',
    });
    await expect(drain(Readable.from([Buffer.from('abcd')]), verifyingStream(ABC, 3))).rejects.toMatchObject({
      code: 'SIZE_MISMATCH',
    });
  });
});
