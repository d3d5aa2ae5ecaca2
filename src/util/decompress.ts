import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { Duplex, PassThrough, pipeline, type Readable } from 'node:stream';
import { RampartError } from '../errors.js';

// node:zlib and node:child_process are loaded when a layer is first decompressed: every command
// that opens an image loads this module, and most (verify, inspect, a registry manifest read)
// never decompress; the two cost ~25 ms of a command's start (compiled on first load).
const zlib = () => process.getBuiltinModule('node:zlib');
const spawnXz = (): ChildProcessWithoutNullStreams =>
  process.getBuiltinModule('node:child_process').spawn('xz', ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });

/**
 * The one home of decompression for .deb members, APT indexes and OCI layers. gzip and zstd are
 * Node's own (`node:zlib`, zstd since 22.15); xz has no built-in decoder (see XzProcess).
 */
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
    this.child = spawnXz();
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
      this.destroy(
        new RampartError('TOOL_FAILED', `cannot run xz (install xz-utils): ${error.message}`, {
          cause: error,
          details: { tool: 'xz' },
        }),
      ),
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
      this.destroy(
        new RampartError('MALFORMED_ARCHIVE', `xz -dc failed: ${reason}`, { details: { format: 'xz' } }),
      );
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

/**
 * zlib reports corrupt input as a bare Error ("incorrect header check", "Dictionary mismatch");
 * every stream.destroy(error) goes through `_destroy`, so translating there gives every reader a
 * MALFORMED_ARCHIVE, whichever way it listens.
 */
function withArchiveErrors<T extends Duplex>(stream: T, format: string): T {
  const destroy = stream._destroy.bind(stream);
  stream._destroy = (error, callback) => {
    const translated =
      error && !(error instanceof RampartError)
        ? new RampartError('MALFORMED_ARCHIVE', `${format} data is corrupt: ${error.message}`, {
            cause: error,
            details: { format },
          })
        : error;
    destroy(translated, callback);
  };
  return stream;
}

/**
 * Output chunk of the gzip and zstd decoders. zlib's default (16 KiB) cuts a 120 MB layer into
 * ~7,500 buffers, each a trip through every stream stage after it (digest, tar parser, a reader's
 * loop) and a small external allocation for the GC: measured on the nodejs image's layers
 * (`compare --against`, warm), 256 KiB takes the process from ~1.7 to ~1.0 s of CPU.
 */
const DECODER_CHUNK_BYTES = 256 * 1024;

/** A duplex stream that decompresses `compression`. */
export function createDecompressor(compression: Compression): Duplex {
  switch (compression) {
    case 'xz':
      return new XzProcess();
    case 'gz':
      return withArchiveErrors(zlib().createGunzip({ chunkSize: DECODER_CHUNK_BYTES }), 'gzip');
    case 'zst':
      return withArchiveErrors(zlib().createZstdDecompress({ chunkSize: DECODER_CHUNK_BYTES }), 'zstd');
    case 'none':
      return new PassThrough();
  }
}

/** `xz -dc` on a whole buffer, without the stream plumbing (Packages.xz: ~10 MB in, ~57 MB out). */
function xzBuffer(data: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawnXz();
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdin.on('error', () => undefined);
    child.on('error', (error) =>
      reject(
        new RampartError('TOOL_FAILED', `cannot run xz (install xz-utils): ${error.message}`, {
          cause: error,
          details: { tool: 'xz' },
        }),
      ),
    );
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(chunks));
      else {
        reject(
          new RampartError('MALFORMED_ARCHIVE', `xz -dc failed: ${stderr.trim() || `exit ${code}`}`, {
            details: { format: 'xz' },
          }),
        );
      }
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
          : new RampartError('MALFORMED_ARCHIVE', `${compression}: ${error.message}`, {
              cause: error,
              details: { format: compression },
            }),
      ),
    );
  });
  stream.end(data);
  await done;
  return Buffer.concat(chunks);
}

const FORMAT_NAMES = { gz: 'gzip', zst: 'zstd', xz: 'xz' } as const;

/**
 * Decompresses `input` and reports every failure, named by `what`, through `onError` (once per
 * error; the caller keeps the first). Why one function: pipeline() stops listening to the decoder
 * once its writable side has finished, but zlib reports a truncated stream ("unexpected end of
 * file") only after that, while flushing, and an 'error' nobody hears kills the process.
 */
export function decompressStream(
  input: Readable,
  compression: Exclude<Compression, 'none'>,
  what: { label: string; digest?: string },
  onError: (error: RampartError) => void,
): Readable {
  const decoder = createDecompressor(compression);
  const format = FORMAT_NAMES[compression];
  const fail = (error: Error): void => {
    onError(
      error instanceof RampartError && error.code !== 'MALFORMED_ARCHIVE'
        ? error
        : new RampartError(
            'MALFORMED_ARCHIVE',
            `${what.label}: cannot decompress ${format} data (${error.message}); the blob is corrupt`,
            {
              cause: error,
              details: { ...(what.digest ? { digest: what.digest } : {}), format },
            },
          ),
    );
  };
  decoder.on('error', fail);
  return pipeline(input, decoder, (error) => {
    if (error) fail(error);
  });
}
