import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import { writeStreamAtomic } from '../util/atomic-file.js';

export interface PackEntry {
  readonly name: string;
  readonly type?: 'file' | 'directory';
  readonly size?: number;
  readonly open?: () => Promise<Readable | Buffer>;
}

/**
 * Writes entries, in the given order, as an uncompressed tar to `target` atomically (temp file +
 * rename). Headers are fixed (root-owned, 0644/0755, mtime 0) so equal inputs give equal archives.
 */
export async function writeTarAtomic(target: string, entries: readonly PackEntry[]): Promise<void> {
  const tar = pack();
  const feeding = feed(tar, entries).catch((error: unknown) => {
    tar.destroy(error as Error);
  });
  try {
    await writeStreamAtomic(target, tar as unknown as Readable);
  } catch (error) {
    // The temp file may have failed to open before anything read the tar: stop the feed, which
    // destroys the entry being copied and so closes its source.
    tar.destroy();
    await feeding;
    throw error;
  }
  await feeding;
}

async function feed(tar: ReturnType<typeof pack>, entries: readonly PackEntry[]): Promise<void> {
  for (const entry of entries) {
    const header = { name: entry.name, uid: 0, gid: 0, uname: '', gname: '', mtime: new Date(0) };
    if (entry.type === 'directory') {
      tar.entry({ ...header, type: 'directory', mode: 0o755 });
      continue;
    }
    const content = entry.open ? await entry.open() : Buffer.alloc(0);
    if (Buffer.isBuffer(content)) {
      await new Promise<void>((resolve, reject) =>
        tar.entry({ ...header, type: 'file', mode: 0o644, size: content.length }, content, (error) =>
          error ? reject(error) : resolve(),
        ),
      );
      continue;
    }
    const sink = tar.entry({ ...header, type: 'file', mode: 0o644, size: entry.size });
    await pipeline(content, sink);
  }
  tar.finalize();
}
