import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { Duplex, PassThrough, Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import { RampartError } from '../errors.js';

export type Compression = 'xz' | 'gz' | 'zst' | 'none';

/** The compression implied by a file name (`data.tar.xz`, `Packages.gz`, ...). */
export function compressionOf(name: string): Compression | undefined {
  if (name.endsWith('.xz')) return 'xz';
  if (name.endsWith('.gz')) return 'gz';
  if (name.endsWith('.zst')) return 'zst';
  if (name.endsWith('.tar') || !/\.[a-z0-9]+$/.test(name)) return 'none';
  return undefined;
}

/**
 * xz runs as a `xz -dc` child process. On trixie's 9.7 MB Packages.xz (56.6 MB out), best of
 * several runs on a shared 2-core machine: xz -dc 730-940 ms, @napi-rs/lzma 1.4 855-1045 ms
 * (buffer only, no streaming), lzma-native 1080-1395 ms. xz streams, decompresses on another
 * core while JS parses, and needs no native addon; the other two were uninstalled.
 */
class XzProcess extends Duplex {
  private readonly child: ChildProcessWithoutNullStreams;
  private exitCode: number | null | undefined;
  private stdoutEnded = false;
  private stderr = '';

  constructor() {
    super();
    this.child = spawn('xz', ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) this.child.stdout.pause();
    });
    this.child.stdout.on('end', () => {
      this.stdoutEnded = true;
      this.settle();
    });
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.child.stdin.on('error', () => undefined); // EPIPE when xz exits early; reported via exit code
    this.child.on('error', (error) =>
      this.destroy(new RampartError('TOOL_FAILED', `cannot run xz (install xz-utils): ${error.message}`)),
    );
    this.child.on('close', (code) => {
      this.exitCode = code;
      this.settle();
    });
  }

  private settle(): void {
    if (this.exitCode === undefined || !this.stdoutEnded) return;
    if (this.exitCode === 0) this.push(null);
    else {
      const reason = this.stderr.trim() || `exit ${this.exitCode}`;
      this.destroy(new RampartError('MALFORMED_ARCHIVE', `xz -dc failed: ${reason}`));
    }
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.child.stdin.write(chunk)) callback();
    else this.child.stdin.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.child.stdin.end(callback);
  }

  // A consumer that stops early (or fails) must not leave xz running.
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.exitCode === undefined) this.child.kill();
    callback(error);
  }
}

function zstdDecompressor(): Transform {
  let transform: Transform;
  const decoder = new ZstdDecompress((chunk) => {
    transform.push(Buffer.from(chunk));
  });
  transform = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      try {
        decoder.push(chunk);
        callback();
      } catch (error) {
        callback(new RampartError('MALFORMED_ARCHIVE', `zstd: ${(error as Error).message}`));
      }
    },
    flush(callback) {
      try {
        decoder.push(new Uint8Array(0), true);
        callback();
      } catch (error) {
        callback(new RampartError('MALFORMED_ARCHIVE', `zstd: ${(error as Error).message}`));
      }
    },
  });
  return transform;
}

/** A duplex stream that decompresses `compression`. */
export function createDecompressor(compression: Compression): Duplex {
  switch (compression) {
    case 'xz':
      return new XzProcess();
    case 'gz':
      return createGunzip();
    case 'zst':
      return zstdDecompressor();
    case 'none':
      return new PassThrough();
  }
}

/** `xz -dc` on a whole buffer, without the stream plumbing (Packages.xz: ~10 MB in, ~57 MB out). */
function xzBuffer(data: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('xz', ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdin.on('error', () => undefined);
    child.on('error', (error) =>
      reject(new RampartError('TOOL_FAILED', `cannot run xz (install xz-utils): ${error.message}`)),
    );
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(chunks));
      else reject(new RampartError('MALFORMED_ARCHIVE', `xz -dc failed: ${stderr.trim() || `exit ${code}`}`));
    });
    child.stdin.end(data);
  });
}

/** Decompresses a whole buffer (indexes are tens of MB at most). */
export async function decompressBuffer(data: Uint8Array, compression: Compression): Promise<Buffer> {
  if (compression === 'none') return Buffer.from(data);
  if (compression === 'xz') return xzBuffer(data);
  const stream = createDecompressor(compression);
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', resolve);
    stream.on('error', (error) =>
      reject(
        error instanceof RampartError
          ? error
          : new RampartError('MALFORMED_ARCHIVE', `${compression}: ${error.message}`, { cause: error }),
      ),
    );
  });
  stream.end(data);
  await done;
  return Buffer.concat(chunks);
}
