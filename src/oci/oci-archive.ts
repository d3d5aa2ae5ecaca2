import { open, rename, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import { RampartError } from '../errors.js';
import { tempPathFor } from '../util/atomic-file.js';
import { digestHex, sha256Digest, verifyingStream } from './digest.js';
import type { OciObject } from './image.js';
import type { LayoutSelector } from './layout.js';
import { archivedLayout, openLayout } from './layout.js';
import { indexJson, OCI_LAYOUT_FILE, rootDescriptor, updateIndex } from './layout-write.js';
import type { ImageSink } from './sink.js';
import { TarIndex } from './tar-index.js';
import type { Descriptor, IndexManifest } from './types.js';

/** Reads an image from a tar of an OCI layout without extracting it. */
export async function openOciArchive(file: string, selector: LayoutSelector): Promise<OciObject> {
  return openLayout(archivedLayout(await TarIndex.open(file)), selector);
}

/** Fixed headers (root-owned, 0644/0755, mtime 0), so equal inputs give equal archives. */
function header(name: string, type: 'file' | 'directory', size?: number) {
  return {
    name,
    type,
    mode: type === 'directory' ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    mtime: new Date(0),
    ...(size !== undefined ? { size } : {}),
  };
}

/**
 * A fresh oci-archive as a sink (an existing archive at `file` is replaced on close, as skopeo does).
 * Blobs are streamed straight into the tar, each checked against its descriptor on the way; the tar
 * goes to a temp file beside `file` and is renamed over it on close.
 */
export async function openOciArchiveSink(file: string): Promise<ImageSink> {
  const tar = pack();
  // The temp file is opened and the pipe set up before anything can fail or abort, so every tar
  // error or destroy reaches the file writer (and a pack destroyed early cannot hang it).
  const temp = tempPathFor(file);
  const handle = await open(temp, 'wx');
  const writing = pipeline(tar as unknown as Readable, handle.createWriteStream());
  writing.catch(() => undefined);
  const discard = async (): Promise<void> => {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
  };
  const location = `OCI archive ${file}`;
  const written = new Set<string>();
  const roots: Array<{ entry: Descriptor; tag: string | undefined }> = [];
  tar.entry(header('blobs/', 'directory'));
  tar.entry(header('blobs/sha256/', 'directory'));

  const addFile = (name: string, bytes: Buffer): Promise<void> =>
    new Promise((resolve, reject) =>
      tar.entry(header(name, 'file', bytes.length), bytes, (error) => (error ? reject(error) : resolve())),
    );

  return {
    location,
    storesIndex: true,
    wantsOciMediaTypes: true,
    async hasBlob(descriptor) {
      return written.has(descriptor.digest);
    },
    async putBlob(descriptor, stream) {
      written.add(descriptor.digest);
      const entry = tar.entry(
        header(`blobs/sha256/${digestHex(descriptor.digest)}`, 'file', descriptor.size),
      );
      await pipeline(
        stream,
        verifyingStream(descriptor.digest, descriptor.size, `blob ${descriptor.digest} for ${location}`),
        entry,
      );
    },
    async putManifest(raw, mediaType, tag, options = {}) {
      const digest = sha256Digest(raw);
      if (!written.has(digest)) {
        written.add(digest);
        await addFile(`blobs/sha256/${digestHex(digest)}`, raw);
      }
      if (!options.child) roots.push({ entry: rootDescriptor(raw, mediaType, tag, options), tag });
      return digest;
    },
    async close() {
      let index: IndexManifest | undefined;
      for (const { entry, tag } of roots) index = updateIndex(index, entry, tag);
      if (!index) {
        throw new RampartError('USAGE', `nothing was written to ${location}`, { details: { value: file } });
      }
      await addFile('index.json', Buffer.from(indexJson(index)));
      await addFile('oci-layout', Buffer.from(OCI_LAYOUT_FILE));
      tar.finalize();
      try {
        await writing; // the write stream closes the handle at the end
        const written = await open(temp, 'r');
        await written.sync();
        await written.close();
        await rename(temp, file);
      } catch (error) {
        await discard();
        throw error;
      }
    },
    async abort() {
      // With an error: a tar-stream pack destroyed without one may never end the file pipeline.
      tar.destroy(
        new RampartError('CANCELLED', `writing ${location} was abandoned`, {
          details: { operation: 'copy' },
        }),
      );
      await writing.catch(() => undefined);
      await discard();
    },
  };
}
