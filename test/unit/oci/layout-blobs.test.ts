import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRampartError } from '../../../src/errors.js';
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

  it('a blob that cannot be put in place fails the commit, which writes no index.json and leaves no temp file', async () => {
    const layout = join(work, 'blocked');
    await writeRandomImage(layout, 'app', [10]);
    const before = await readFile(join(layout, 'index.json'));
    const bytes = Buffer.from('{"blocked":true}');
    const descriptor: Descriptor = {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest,
      size: bytes.length,
    };
    // A non-empty directory where the blob goes: the rename into place fails (after its fsync).
    const blobs = join(layout, 'blobs', 'sha256');
    await mkdir(join(blobs, descriptor.digest.slice(7), 'in-the-way'), { recursive: true });
    const sink = await openLayoutSink(layout);
    // Written and verified: its fsync and rename may still be running when putBlob returns.
    await sink.putBlob(descriptor, Readable.from([bytes])).catch(() => undefined);
    const failure = await sink
      .putManifest(
        Buffer.from('{"schemaVersion":2}'),
        'application/vnd.oci.image.manifest.v1+json',
        'blocked',
      )
      .then(() => sink.close())
      .catch((error: unknown) => error);
    expect(isRampartError(failure) && failure.code).toBe('IO');
    await sink.abort();
    expect(await readFile(join(layout, 'index.json'))).toEqual(before);
    expect((await readdir(blobs)).filter((name) => name.startsWith('.'))).toEqual([]);
  });
});

describe('a new layout sink', () => {
  it('writes its oci-layout marker while the blobs are written, not after them; abort leaves nothing', async () => {
    const layout = join(work, 'fresh');
    const sink = await openLayoutSink(layout);
    // The staging folder beside the layout (`.fresh.tmp-…`), not yet renamed into place.
    const [staged] = (await readdir(work)).filter((name) => name.startsWith('.fresh.'));
    expect(staged).toBeDefined();
    const marker = join(work, staged as string, 'oci-layout');
    let found: string | undefined;
    for (let tries = 0; tries < 200 && found === undefined; tries++) {
      found = await readFile(marker, 'utf8').catch(() => undefined);
      if (found === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(found).toBe('{"imageLayoutVersion":"1.0.0"}');
    await sink.abort();
    expect((await readdir(work)).filter((name) => name.includes('fresh'))).toEqual([]);
  });
});
