import { lstat, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { RampartError } from '../errors.js';
import { tempPathFor, writeFileAtomic, writeStreamAtomic } from '../util/atomic-file.js';
import { digestHex, sha256Digest } from './digest.js';
import type { OciObject } from './image.js';
import { openRegularFile } from './layout.js';
import { verifiedBlobFiles } from './layout-write.js';
import type { ImageSink } from './sink.js';
import { isSkopeoDir } from './skopeo-dir-detect.js';
import type { BlobSource } from './source.js';
import { MAX_MANIFEST_SIZE, manifestFromRaw, resolveIfImage } from './source.js';

/**
 * skopeo's `dir:` format (containers/image directory transport): a `version` file, the top manifest
 * as `manifest.json`, blobs named by their hex digest, and (for an index) each child manifest as
 * `<hex>.manifest.json`. A plain directory is a root filesystem instead; `isSkopeoDir` tells which.
 */
export const SKOPEO_DIR_VERSION = 'Directory Transport Version: 1.1\n';

async function readSmallFile(path: string): Promise<Buffer> {
  const { handle, size } = await openRegularFile(path, 'file');
  try {
    if (size > MAX_MANIFEST_SIZE) {
      throw new RampartError('TOO_LARGE', `${path} is ${size} bytes; at most ${MAX_MANIFEST_SIZE} are read`, {
        details: { limit: MAX_MANIFEST_SIZE, path },
      });
    }
    const buffer = Buffer.alloc(size);
    const { bytesRead } = await handle.read(buffer, 0, size, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** Opens a skopeo `dir:` directory as the image, artifact or index it holds. */
export async function openSkopeoDir(dir: string): Promise<OciObject> {
  const location = `skopeo dir ${dir}`;
  const source: BlobSource = {
    location,
    async openBlob(digest) {
      // A child manifest has its own name; everything else is the bare hex digest.
      for (const name of [digestHex(digest), `${digestHex(digest)}.manifest.json`]) {
        const path = join(dir, name);
        try {
          const { handle, size } = await openRegularFile(path, 'blob');
          return { stream: handle.createReadStream(), size };
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        }
      }
      throw new RampartError('BLOB_NOT_FOUND', `blob ${digest} is missing from ${location}`, {
        details: { digest, location },
      });
    },
  };
  return resolveIfImage(manifestFromRaw(source, await readSmallFile(join(dir, 'manifest.json'))));
}

/**
 * A skopeo `dir:` directory as a sink: written beside its path and renamed into place on close. An
 * existing skopeo directory is replaced (as skopeo does); any other existing path is refused.
 */
export async function openSkopeoDirSink(dir: string): Promise<ImageSink> {
  const existing = await lstat(dir).catch(() => undefined);
  if (existing && !(await isSkopeoDir(dir))) {
    throw new RampartError(
      'USAGE',
      `${dir} exists and is not a skopeo dir: directory; remove it or choose another path`,
      { details: { value: dir } },
    );
  }
  await mkdir(dirname(resolve(dir)), { recursive: true });
  const staging = tempPathFor(dir);
  await mkdir(staging);
  const location = `skopeo dir ${dir}`;
  let rootWritten = false;
  const blobs = verifiedBlobFiles(staging, location);
  return {
    location,
    storesIndex: true,
    wantsOciMediaTypes: false,
    hasBlob: blobs.hasBlob,
    putBlob: blobs.putBlob,
    async putManifest(raw, _mediaType, _tag, options = {}) {
      const digest = sha256Digest(raw);
      const name = options.child ? `${digestHex(digest)}.manifest.json` : 'manifest.json';
      await writeStreamAtomic(join(staging, name), Readable.from([raw]));
      if (!options.child) rootWritten = true;
      return digest;
    },
    async close() {
      try {
        if (!rootWritten) {
          throw new RampartError('USAGE', `nothing was written to ${location}`, { details: { value: dir } });
        }
        await writeFileAtomic(join(staging, 'version'), SKOPEO_DIR_VERSION);
        if (existing) {
          const old = tempPathFor(dir);
          await rename(dir, old);
          await rename(staging, dir);
          await rm(old, { recursive: true, force: true });
        } else await rename(staging, dir);
      } catch (error) {
        await rm(staging, { recursive: true, force: true });
        throw error;
      }
    },
    async abort() {
      await rm(staging, { recursive: true, force: true });
    },
  };
}
