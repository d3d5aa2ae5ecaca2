import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { RampartError } from '../errors.js';
import { safeEntryPath } from '../util/entry-path.js';

export interface TarEntry {
  readonly name: string;
  readonly type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';
  readonly offset: number;
  readonly size: number;
  readonly linkname?: string;
}

/**
 * A random-access view of an uncompressed tar file: headers are read once, and entry contents are
 * streamed straight from their byte range, so archives are never extracted to disk.
 */
export class TarIndex {
  private constructor(
    readonly file: string,
    private readonly entries: Map<string, TarEntry>,
  ) {}

  static async open(file: string): Promise<TarIndex> {
    return new TarIndex(file, await readTarHeaders(file));
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** Finds an entry, resolving symlinks/hardlinks that stay inside the archive. */
  find(name: string): TarEntry | undefined {
    let entry = this.entries.get(normalizeName(name));
    for (let hops = 0; entry && (entry.type === 'symlink' || entry.type === 'hardlink') && hops < 8; hops++) {
      const target =
        entry.type === 'symlink'
          ? posix.join(posix.dirname(entry.name), entry.linkname ?? '')
          : normalizeName(entry.linkname ?? '');
      if (target === '..' || target.startsWith('../') || posix.isAbsolute(target)) {
        throw new RampartError('UNSAFE_LINK', `${this.file}: link ${entry.name} points outside the archive`);
      }
      entry = this.entries.get(target);
    }
    return entry?.type === 'file' ? entry : undefined;
  }

  /** The first `length` bytes of an entry (for sniffing compression magic). */
  async peek(entry: TarEntry, length: number): Promise<Buffer> {
    const handle = await open(this.file, 'r');
    try {
      const buffer = Buffer.alloc(Math.min(length, entry.size));
      await handle.read(buffer, 0, buffer.length, entry.offset);
      return buffer;
    } finally {
      await handle.close();
    }
  }

  openEntry(entry: TarEntry): Readable {
    // createReadStream has no empty byte range (start > end throws), and empty blobs are legal.
    if (entry.size === 0) return Readable.from([]);
    return createReadStream(this.file, { start: entry.offset, end: entry.offset + entry.size - 1 });
  }
}

function normalizeName(name: string): string {
  return posix.normalize(name.replace(/^(\.\/)+/, '')).replace(/\/$/, '');
}

const BLOCK = 512;

async function readTarHeaders(file: string): Promise<Map<string, TarEntry>> {
  const handle = await open(file, 'r').catch((error: NodeJS.ErrnoException) => {
    throw new RampartError(
      error.code === 'ENOENT' ? 'NOT_FOUND' : 'IO',
      `cannot open archive ${file}: ${error.message}`,
      { cause: error },
    );
  });
  const entries = new Map<string, TarEntry>();
  try {
    const { size: fileSize } = await handle.stat();
    const header = Buffer.alloc(BLOCK);
    let offset = 0;
    let pendingName: string | undefined;
    let pendingLink: string | undefined;
    // Go's archive/tar (skopeo, docker) stores sizes of 8 GiB and more as a PAX record.
    let pendingSize: number | undefined;
    while (offset + BLOCK <= fileSize) {
      await handle.read(header, 0, BLOCK, offset);
      if (header.every((byte) => byte === 0)) break;
      if (!checksumOk(header)) throw malformed(file, `bad tar header checksum at byte ${offset}`);
      const typeflag = String.fromCharCode(header[156] ?? 0);
      const isMeta = typeflag === 'x' || typeflag === 'L' || typeflag === 'K';
      const size = (isMeta ? undefined : pendingSize) ?? parseNumber(header.subarray(124, 136));
      const dataOffset = offset + BLOCK;
      if (dataOffset + size > fileSize) throw malformed(file, `entry at byte ${offset} is truncated`);
      const next = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
      if (isMeta) {
        const data = Buffer.alloc(size);
        await handle.read(data, 0, size, dataOffset);
        if (typeflag === 'x') {
          const pax = parsePax(data);
          pendingName = pax.path ?? pendingName;
          pendingLink = pax.linkpath ?? pendingLink;
          if (pax.size !== undefined) {
            pendingSize = Number(pax.size);
            if (!Number.isSafeInteger(pendingSize) || pendingSize < 0)
              throw malformed(file, `bad PAX size '${pax.size}' at byte ${offset}`);
          }
        } else if (typeflag === 'L') pendingName = cString(data);
        else pendingLink = cString(data);
        offset = next;
        continue;
      }
      const prefix = header.subarray(257, 263).toString('latin1').startsWith('ustar')
        ? cString(header.subarray(345, 500))
        : '';
      const rawName =
        pendingName ??
        (prefix ? `${prefix}/${cString(header.subarray(0, 100))}` : cString(header.subarray(0, 100)));
      const linkname = pendingLink ?? cString(header.subarray(157, 257));
      pendingName = undefined;
      pendingLink = undefined;
      pendingSize = undefined;
      const name = safeEntryPath(rawName, file);
      entries.set(name, { name, type: entryType(typeflag), offset: dataOffset, size, linkname });
      offset = next;
    }
  } finally {
    await handle.close();
  }
  return entries;
}

function entryType(flag: string): TarEntry['type'] {
  if (flag === '0' || flag === '\0' || flag === '7') return 'file';
  if (flag === '5') return 'directory';
  if (flag === '2') return 'symlink';
  if (flag === '1') return 'hardlink';
  return 'other';
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end === -1 ? bytes.length : end).toString('utf8');
}

function parseNumber(field: Buffer): number {
  // GNU base-256 encoding for sizes over 8 GiB.
  if ((field[0] ?? 0) & 0x80) {
    let value = 0;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] ?? 0);
    return value;
  }
  const text = cString(field).trim();
  return text ? Number.parseInt(text, 8) : 0;
}

function checksumOk(header: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (header[i] ?? 0);
  return sum === parseNumber(header.subarray(148, 156));
}

function parsePax(data: Buffer): Record<string, string> {
  const result: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) break;
    const length = Number.parseInt(data.subarray(pos, space).toString('ascii'), 10);
    if (!Number.isFinite(length) || length <= 0) break;
    const record = data.subarray(space + 1, pos + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) result[record.slice(0, eq)] = record.slice(eq + 1);
    pos += length;
  }
  return result;
}

function malformed(file: string, detail: string): RampartError {
  return new RampartError('MALFORMED_ARCHIVE', `${file}: ${detail}; is it an uncompressed tar archive?`);
}
