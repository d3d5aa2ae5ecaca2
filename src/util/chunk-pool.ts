import type { Readable } from 'node:stream';

/**
 * Reused read buffers for bulk downloads (a registry blob read straight from its socket, see
 * http/bulk-get.ts). Memory fresh from the system costs a page fault per 4 KiB the first time it
 * is written, and chunks freed only by garbage collection are rarely handed back warm: a 200 MB
 * pull through fresh buffers took ~3× the CPU of one through a few reused ones (50,000 page
 * faults against 12,000, measured for bench/registry.bench.ts). A slab is reused only once every
 * chunk cut from it has been released by the one consumer that holds it last (the atomic file
 * writer, after its write: util/atomic-file.ts); a chunk never released only keeps its slab from
 * being reused, and the pool then allocates ordinary small buffers, as node:http would.
 *
 * The contract, for a stream marked `markRecyclable`: it has one consumer, which may call
 * `releaseChunks` for the chunks it got once it no longer needs their bytes; every other listener
 * reads a chunk synchronously in its 'data' handler and keeps no reference to it.
 */

/** A slab: one buffer that successive socket reads fill, cut into the chunks handed out. */
interface Slab {
  /** The reader it is lent to. */
  pool: ChunkPool | undefined;
  readonly buffer: Buffer;
  /** Chunks cut from it and not yet released. */
  outstanding: number;
  /** The reader has moved on to another slab: it is free again once `outstanding` is 0. */
  retired: boolean;
}

/** The slab of a chunk's memory, for pooled chunks only. */
const slabOf = new WeakMap<ArrayBufferLike, Slab>();
/** Chunks handed out and not yet released (each counts once, however often it is released). */
const handedOut = new WeakSet<Buffer>();

/** Pooled slab size: the most one socket read takes. */
export const SLAB_BYTES = 1024 * 1024;
/**
 * Free slabs kept between readers (the next blob of a pull reads into memory already mapped):
 * enough for four downloads at once. At most this many MiB stay allocated after a pull.
 */
const MAX_SPARE_SLABS = 16;
const spare: Slab[] = [];
/** A read smaller than this starts a fresh slab. */
const MIN_READ_BYTES = 128 * 1024;
/** Unpooled reads, once the pool is all held by a consumer that does not release (node:http's size). */
const FALLBACK_BYTES = 64 * 1024;

/**
 * The buffers one reader (one response body) reads into: `space()` before each read, `take(n)`
 * after it, for the chunk of the `n` bytes read. At most `maxSlabs` slabs are lent to it at once,
 * and no more than two until its consumer has released a chunk: one that never does (a registry
 * upload of what is read) holds little more than node:http's own buffers would.
 */
export class ChunkPool {
  /** Slabs lent to this reader and not yet given back. */
  private slabs = 0;
  private current: Slab | Buffer | undefined;
  private fill = 0;
  private closed = false;
  /** Whether a chunk of this reader has been released: its consumer gives memory back. */
  releasing = false;

  constructor(private readonly maxSlabs = 4) {}

  /** Where the next read goes. */
  space(): Buffer {
    // Node asks once more after the read that ended the body: no slab for a read never made.
    if (this.closed) return Buffer.allocUnsafe(FALLBACK_BYTES);
    const buffer = this.currentBuffer();
    if (buffer && buffer.byteLength - this.fill >= Math.min(MIN_READ_BYTES, buffer.byteLength))
      return buffer.subarray(this.fill);
    this.retire();
    this.fill = 0;
    if (this.slabs < (this.releasing ? this.maxSlabs : 2)) {
      this.slabs++;
      let slab = spare.pop();
      if (slab) {
        slab.retired = false;
        slab.pool = this;
      } else {
        slab = { pool: this, buffer: Buffer.allocUnsafeSlow(SLAB_BYTES), outstanding: 0, retired: false };
        slabOf.set(slab.buffer.buffer, slab);
      }
      this.current = slab;
    } else {
      this.current = Buffer.allocUnsafe(FALLBACK_BYTES);
    }
    return (this.currentBuffer() as Buffer).subarray(0);
  }

  /** The `length` bytes just read into `space()`, left there (for a look before `take`/`skip`). */
  peek(length: number): Buffer {
    return (this.currentBuffer() as Buffer).subarray(this.fill, this.fill + length);
  }

  /** Passes over `length` bytes read (copied by the reader, not handed out). */
  skip(length: number): void {
    this.fill += length;
  }

  /** The chunk of the `length` bytes just read into `space()`, handed out (to be released). */
  take(length: number): Buffer {
    const buffer = this.currentBuffer() as Buffer;
    const chunk = buffer.subarray(this.fill, this.fill + length);
    this.fill += length;
    if (this.current && !Buffer.isBuffer(this.current)) {
      this.current.outstanding++;
      handedOut.add(chunk);
    }
    return chunk;
  }

  /** Gives back the slab being filled (once its chunks are released, as the others). */
  close(): void {
    this.closed = true;
    this.retire();
    this.current = undefined;
  }

  private currentBuffer(): Buffer | undefined {
    const current = this.current;
    return current === undefined || Buffer.isBuffer(current) ? current : current.buffer;
  }

  private retire(): void {
    const current = this.current;
    if (current === undefined || Buffer.isBuffer(current)) return;
    this.current = undefined;
    current.retired = true;
    if (current.outstanding === 0) this.giveBack(current);
  }

  /** A retired slab none of whose chunks is held any more: free for any reader. */
  giveBack(slab: Slab): void {
    this.slabs--;
    slab.pool = undefined;
    if (spare.length < MAX_SPARE_SLABS) spare.push(slab);
  }
}

/** The consumer is done with these chunks' bytes: their slabs may be read into again. */
export function releaseChunks(chunks: readonly Buffer[]): void {
  for (const chunk of chunks) {
    if (!handedOut.delete(chunk)) continue;
    const slab = slabOf.get(chunk.buffer);
    if (!slab) continue;
    slab.outstanding--;
    if (slab.pool) slab.pool.releasing = true;
    if (slab.outstanding === 0 && slab.retired) slab.pool?.giveBack(slab);
  }
}

const recyclable = new WeakSet<Readable>();

/** Marks `stream` as following the contract above (its consumer may release its chunks). */
export function markRecyclable<T extends Readable>(stream: T): T {
  recyclable.add(stream);
  return stream;
}

/** Whether the consumer of `stream` may release the chunks it reads (see `releaseChunks`). */
export function isRecyclable(stream: Readable): boolean {
  return recyclable.has(stream);
}

/** Carries the mark of `from` to `to`: for a pass-through that forwards `from`'s chunks as they are. */
export function forwardRecyclable<T extends Readable>(from: Readable, to: T): T {
  if (recyclable.has(from)) recyclable.add(to);
  return to;
}
