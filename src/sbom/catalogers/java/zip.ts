import { inflateRawSync } from 'node:zlib';
import type { ByteReader } from '../../source/file-source.js';

/**
 * A small read-only zip reader (central directory + stored/deflated entries), enough for jars.
 * Hand-written rather than a dependency: jars need ~100 lines of the format, node:zlib does the
 * inflating, and the available zip libraries are either large or unmaintained.
 *
 * It works on positional reads, so a large jar on disk costs its central directory and the few
 * entries asked for, not its whole size in memory.
 */
export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const EOCD_LENGTH = 22;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const ZIP64_MARKER = 0xffffffff;

export async function listZipEntries(read: ByteReader, size: number): Promise<ZipEntry[]> {
  // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
  const tailLength = Math.min(size, EOCD_LENGTH + 0xffff);
  const tail = await read(size - tailLength, tailLength);
  let eocd = -1;
  for (let i = tail.length - EOCD_LENGTH; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD_SIGNATURE) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip file (no end of central directory)');
  const count = tail.readUInt16LE(eocd + 10);
  const directorySize = tail.readUInt32LE(eocd + 12);
  const directoryOffset = tail.readUInt32LE(eocd + 16);
  if (directoryOffset === ZIP64_MARKER) throw new Error('zip64 archives are not supported');
  // Executable jars carry a launch script in front; their offsets count from the zip, not the file.
  const directoryStart = size - tailLength + eocd - directorySize;
  const base = directoryStart - directoryOffset;
  if (directoryStart < 0 || base < 0) throw new Error('corrupt zip central directory');
  const directory = await read(directoryStart, directorySize);
  const entries: ZipEntry[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    if (offset + 46 > directory.length || directory.readUInt32LE(offset) !== CENTRAL_SIGNATURE)
      throw new Error('corrupt zip central directory');
    const nameLength = directory.readUInt16LE(offset + 28);
    const extraLength = directory.readUInt16LE(offset + 30);
    const commentLength = directory.readUInt16LE(offset + 32);
    entries.push({
      method: directory.readUInt16LE(offset + 10),
      compressedSize: directory.readUInt32LE(offset + 20),
      size: directory.readUInt32LE(offset + 24),
      name: directory.toString('utf8', offset + 46, offset + 46 + nameLength),
      localHeaderOffset: base + directory.readUInt32LE(offset + 42),
    });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

export async function readZipEntry(
  read: ByteReader,
  size: number,
  entry: ZipEntry,
  maxBytes: number,
): Promise<Buffer> {
  if (entry.size > maxBytes) throw new Error(`${entry.name} is larger than ${maxBytes} bytes`);
  const at = entry.localHeaderOffset;
  const header = await read(at, 30);
  if (header.length < 30 || header.readUInt32LE(0) !== LOCAL_SIGNATURE)
    throw new Error(`corrupt zip entry ${entry.name}`);
  const start = at + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
  if (start + entry.compressedSize > size) throw new Error(`zip entry ${entry.name} is truncated`);
  const data = await read(start, entry.compressedSize);
  if (entry.method === 0) return data;
  if (entry.method === 8) return inflateRawSync(data, { maxOutputLength: maxBytes });
  throw new Error(`${entry.name}: unsupported zip compression method ${entry.method}`);
}
