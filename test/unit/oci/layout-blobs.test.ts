import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../../src/oci/digest.js';
import { openLayoutSink } from '../../../src/oci/layout-write.js';
import type { Descriptor } from '../../../src/oci/types.js';
import { writeRandomImage } from '../../helpers/random-image.js';

// An OCI layout sink's putBlob keeps a blob already stored (hashed to its digest) and says so;
// one that is damaged is written again.
let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-layout-blobs-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('layout sink putBlob', () => {
  it('keeps a stored blob (exists), rewrites a damaged one', async () => {
    const layout = join(work, 'layout');
    await writeRandomImage(layout, 'app', [10]);
    const bytes = Buffer.from('{"a":1}');
    const descriptor: Descriptor = {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest,
      size: bytes.length,
    };
    const path = join(layout, 'blobs', 'sha256', descriptor.digest.slice(7));
    const first = await openLayoutSink(layout);
    expect(await first.putBlob(descriptor, Readable.from([bytes]))).toBeUndefined();
    await first.close();

    const stored = await stat(path);
    const again = await openLayoutSink(layout);
    const unread = Readable.from([bytes]);
    expect(await again.putBlob(descriptor, unread)).toBe('exists');
    expect(unread.destroyed).toBe(true);
    expect((await stat(path)).ino).toBe(stored.ino);

    // Same size, other bytes: not the blob, so it is written again.
    await writeFile(path, Buffer.from('{"a":2}'));
    expect(await again.putBlob(descriptor, Readable.from([bytes]))).toBeUndefined();
    // In place once committed (its fsync and rename may run while the next blob is written).
    await again.close();
    expect(await readFile(path)).toEqual(bytes);
  });
});
