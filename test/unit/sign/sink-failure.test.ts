import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType } from '../../../src/oci/media-types.js';
import { openAttachmentStore, openSink } from '../../../src/oci/open.js';
import type { ImageSink } from '../../../src/oci/sink.js';
import type { Descriptor } from '../../../src/oci/types.js';
import { putBundleReferrer, writeLegacyLayer } from '../../../src/sign/sign.js';
import { writeRandomImage } from '../../helpers/random-image.js';

// A signature's two blobs are stored at once; when one fails, the caller aborts the sink (removing
// a new layout's staging, or leaving a registry upload). That must wait for the other put to end.
let work: string;
let layout: string;
let subject: Descriptor;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-sign-sink-failure-'));
  layout = join(work, 'layout');
  await writeRandomImage(layout, 'app', [200]);
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
  subject = index.manifests[0];
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/**
 * A real layout sink (a new layout: its staging is what abort removes) whose first blob put fails
 * once the second has started, and whose second put is held until `release`. `events` records the
 * order of what happened.
 */
function racingSink(real: ImageSink) {
  const events: string[] = [];
  let puts = 0;
  let secondStarted!: () => void;
  const started = new Promise<void>((resolve) => {
    secondStarted = resolve;
  });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let firstFailed!: () => void;
  const failed = new Promise<void>((resolve) => {
    firstFailed = resolve;
  });
  const sink: ImageSink = {
    location: real.location,
    storesIndex: real.storesIndex,
    wantsOciMediaTypes: real.wantsOciMediaTypes,
    hasBlob: (descriptor) => real.hasBlob(descriptor),
    async putBlob(descriptor: Descriptor, stream: Readable, reopen?: () => Promise<Readable>) {
      const nth = ++puts;
      if (nth === 1) {
        await started;
        events.push('first failed');
        firstFailed();
        throw Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
      }
      events.push('second started');
      secondStarted();
      await gate;
      const outcome = await real.putBlob(descriptor, stream, reopen);
      events.push('second stored');
      return outcome;
    },
    putManifest: (raw, mediaType, tag, options) => real.putManifest(raw, mediaType, tag, options),
    close: () => real.close(),
    async abort() {
      events.push('aborted');
      await real.abort();
    },
  };
  return { sink, events, failed, release };
}

/** Lets every reaction already queued run (a rejection of Promise.all takes a few microtasks). */
const drain = () => new Promise((resolve) => setImmediate(resolve));

describe('a failed blob put of a signature', () => {
  it('bundle referrer: rejects only after the other put has ended; the abort follows it', async () => {
    const target = join(work, 'new-bundle');
    const racing = racingSink(await openSink(`oci:${target}`));
    const put = putBundleReferrer(
      racing.sink,
      subject,
      Buffer.from('{"bundle":1}'),
      'https://example.com/predicate',
      new Date(0),
    ).then(
      () => racing.events.push('stored'),
      async (error: unknown) => {
        racing.events.push('rejected');
        await racing.sink.abort();
        return error;
      },
    );
    await racing.failed;
    await drain();
    racing.release();
    const error = await put;
    expect(error).toMatchObject({ code: 'ECONNRESET' });
    expect(racing.events).toEqual(['second started', 'first failed', 'second stored', 'rejected', 'aborted']);
    // The abort removed the staging the second put wrote into: nothing is left beside the layout.
    expect((await readdir(work)).sort()).toEqual(['layout']);
  });

  it('legacy .sig layer: the sink is aborted only after the other put has ended', async () => {
    const target = join(work, 'new-legacy');
    const racing = racingSink(await openSink(`oci:${target}`));
    const store = await openAttachmentStore(`oci:${layout}:app`);
    const written = writeLegacyLayer(
      store,
      async () => racing.sink,
      subject.digest,
      'sig',
      { mediaType: MediaType.CosignSimpleSigning, bytes: Buffer.from('{"payload":1}'), annotations: {} },
      undefined,
    ).catch((error: unknown) => {
      racing.events.push('rejected');
      return error;
    });
    await racing.failed;
    await drain();
    racing.release();
    expect(await written).toMatchObject({ code: 'ECONNRESET' });
    expect(racing.events).toEqual(['second started', 'first failed', 'second stored', 'aborted', 'rejected']);
    expect((await readdir(work)).sort()).toEqual(['layout']);
  });
});
