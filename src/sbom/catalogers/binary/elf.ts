import type { ByteReader } from '../../source/file-source.js';

/**
 * Just enough ELF to find named sections and to map virtual addresses to file offsets: the
 * header, the program headers (PT_LOAD), the section table and the section-name string table.
 */
export interface ElfSection {
  name: string;
  offset: number;
  size: number;
  /** Virtual address when loaded; 0 for sections that are not loaded. */
  address: number;
}

/** A range of the loaded image: `fileSize` bytes from the file at `offset`, then zeros up to `memorySize`. */
export interface ElfSegment {
  address: number;
  offset: number;
  fileSize: number;
  memorySize: number;
  /** PF_X = 1, PF_W = 2, PF_R = 4. */
  flags: number;
}

export interface ElfLayout {
  is64: boolean;
  bigEndian: boolean;
  fileSize: number;
  sections: ElfSection[];
  /** PT_LOAD segments; without program headers, the allocated sections stand in for them. */
  segments: ElfSegment[];
}

export const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
export const PF_X = 1;
export const PF_W = 2;
const PF_R = 4;
const PT_LOAD = 1;
const SHT_NOBITS = 8;
const SHF_WRITE = 1;
const SHF_ALLOC = 2;
const SHF_EXECINSTR = 4;
/** Real binaries have well under this many sections or segments; more means a corrupt header. */
const MAX_TABLE_ENTRIES = 4096;
const MAX_NAME_TABLE_BYTES = 1 << 20;

/**
 * Reads the layout of an ELF file with a few small reads (header, program headers, section
 * table, name table), so a 50 MB binary costs a few kilobytes. Throws on a malformed header.
 */
export async function readElfLayout(read: ByteReader, fileSize: number): Promise<ElfLayout> {
  const header = await read(0, 64);
  if (header.length < 52 || !header.subarray(0, 4).equals(ELF_MAGIC)) throw new Error('not an ELF file');
  const is64 = header[4] === 2;
  if (is64 && header.length < 64) throw new Error('truncated ELF header');
  const fields = fieldReader(is64, header[5] !== 1);
  const segments = await readLoadSegments(read, fileSize, header, fields);
  const sections = await readSections(read, fileSize, header, fields);
  return {
    is64,
    bigEndian: header[5] !== 1,
    fileSize,
    sections: sections.map(({ name, offset, size, address }) => ({ name, offset, size, address })),
    segments: segments.length > 0 ? segments : sectionsAsSegments(sections),
  };
}

export type VirtualRead = { kind: 'bytes'; bytes: Buffer } | { kind: 'error'; reason: string };

/**
 * Reads `length` bytes of the loaded image at virtual `address`, as the program would see them:
 * from the file inside a segment's file image, zeros in the rest of its memory image (.bss).
 * The range must lie inside one segment and the file; anything else is an error, not a throw,
 * so a corrupt pointer in a binary is reported rather than followed. Callers bound `length`.
 */
export async function readVirtual(
  layout: ElfLayout,
  read: ByteReader,
  address: number,
  length: number,
): Promise<VirtualRead> {
  const hex = `0x${address.toString(16)}`;
  const segment = layout.segments.find((s) => address >= s.address && address < s.address + s.memorySize);
  if (!segment) return { kind: 'error', reason: `address ${hex} is outside every loaded segment` };
  const start = address - segment.address;
  if (start + length > segment.memorySize)
    return { kind: 'error', reason: `${length} bytes at ${hex} run past the end of their segment` };
  const fromFile = Math.max(0, Math.min(length, segment.fileSize - start));
  if (fromFile > 0 && segment.offset + start + fromFile > layout.fileSize)
    return { kind: 'error', reason: `${length} bytes at ${hex} lie beyond the end of the file` };
  const bytes = Buffer.alloc(length);
  if (fromFile > 0) {
    const got = await read(segment.offset + start, fromFile);
    if (got.length < fromFile)
      return { kind: 'error', reason: `${length} bytes at ${hex} lie beyond the end of the file` };
    got.copy(bytes, 0, 0, fromFile);
  }
  return { kind: 'bytes', bytes };
}

interface FieldReader {
  u16(b: Buffer, o: number): number;
  u32(b: Buffer, o: number): number;
  /** A pointer-sized field; above 2^53 it is returned as Infinity so no arithmetic goes wrong silently. */
  word(b: Buffer, o: number): number;
}

function fieldReader(is64: boolean, bigEndian: boolean): FieldReader {
  const u32 = (b: Buffer, o: number) => (bigEndian ? b.readUInt32BE(o) : b.readUInt32LE(o));
  return {
    u16: (b, o) => (bigEndian ? b.readUInt16BE(o) : b.readUInt16LE(o)),
    u32,
    word: (b, o) => {
      if (!is64) return u32(b, o);
      const value = bigEndian ? b.readBigUInt64BE(o) : b.readBigUInt64LE(o);
      return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.POSITIVE_INFINITY : Number(value);
    },
  };
}

async function readLoadSegments(
  read: ByteReader,
  fileSize: number,
  header: Buffer,
  { u16, u32, word }: FieldReader,
): Promise<ElfSegment[]> {
  const is64 = header[4] === 2;
  const phoff = word(header, is64 ? 0x20 : 0x1c);
  const phentsize = u16(header, is64 ? 0x36 : 0x2a);
  const phnum = u16(header, is64 ? 0x38 : 0x2c);
  // Only old Go build info needs the segments, and the sections stand in for them: a damaged
  // program header table must not stop the section-based readers, so it is ignored, not fatal.
  if (phoff === 0 || phnum === 0) return [];
  if (phnum > MAX_TABLE_ENTRIES || phentsize < (is64 ? 56 : 32) || phoff + phnum * phentsize > fileSize)
    return [];
  const table = await read(phoff, phnum * phentsize);
  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const base = i * phentsize;
    if (u32(table, base) !== PT_LOAD) continue;
    const segment = is64
      ? {
          flags: u32(table, base + 4),
          offset: word(table, base + 8),
          address: word(table, base + 16),
          fileSize: word(table, base + 32),
          memorySize: word(table, base + 40),
        }
      : {
          offset: u32(table, base + 4),
          address: u32(table, base + 8),
          fileSize: u32(table, base + 16),
          memorySize: u32(table, base + 20),
          flags: u32(table, base + 24),
        };
    // A segment whose end cannot be computed exactly maps nothing.
    if (Number.isSafeInteger(segment.address + Math.max(segment.memorySize, segment.fileSize)))
      segments.push({ ...segment, memorySize: Math.max(segment.memorySize, segment.fileSize) });
  }
  return segments;
}

interface RawSection extends ElfSection {
  type: number;
  flags: number;
  /** Size in memory: a NOBITS section (.bss) occupies memory but no file bytes. */
  memorySize: number;
}

async function readSections(
  read: ByteReader,
  fileSize: number,
  header: Buffer,
  { u16, u32, word }: FieldReader,
): Promise<RawSection[]> {
  const is64 = header[4] === 2;
  const shoff = word(header, is64 ? 0x28 : 0x20);
  const shentsize = u16(header, is64 ? 0x3a : 0x2e);
  const shnum = u16(header, is64 ? 0x3c : 0x30);
  const shstrndx = u16(header, is64 ? 0x3e : 0x32);
  if (shoff === 0 || shnum === 0) return [];
  if (shnum > MAX_TABLE_ENTRIES || shentsize < (is64 ? 64 : 40) || shoff + shnum * shentsize > fileSize)
    throw new Error('section table lies beyond the end of the file');
  const table = await read(shoff, shnum * shentsize);
  const raw = Array.from({ length: shnum }, (_, i) => {
    const base = i * shentsize;
    return {
      nameOffset: u32(table, base),
      type: u32(table, base + 4),
      flags: is64 ? word(table, base + 8) : u32(table, base + 8),
      address: word(table, is64 ? base + 0x10 : base + 0x0c),
      offset: word(table, is64 ? base + 0x18 : base + 0x10),
      size: word(table, is64 ? base + 0x20 : base + 0x14),
    };
  });
  const names = raw[shstrndx];
  if (!names || names.offset + names.size > fileSize) throw new Error('section name table is missing');
  // Real ones hold a few hundred bytes; a hostile size must not make us read the whole binary.
  if (names.size > MAX_NAME_TABLE_BYTES)
    throw new Error(`section name table of ${names.size} bytes is implausible`);
  const nameTable = await read(names.offset, names.size);
  const sections: RawSection[] = [];
  for (const s of raw) {
    const end = nameTable.indexOf(0, s.nameOffset);
    const name =
      s.nameOffset < nameTable.length
        ? nameTable.toString('latin1', s.nameOffset, end < 0 ? nameTable.length : end)
        : '';
    const size = s.type === SHT_NOBITS ? 0 : s.size;
    if (s.offset + size > fileSize) continue;
    sections.push({
      name,
      offset: s.offset,
      size,
      address: s.address,
      type: s.type,
      flags: s.flags,
      memorySize: s.size,
    });
  }
  return sections;
}

/** Without program headers (an object file, or a stripped oddity), allocated sections give the address map. */
function sectionsAsSegments(sections: RawSection[]): ElfSegment[] {
  return sections
    .filter(
      (s) => (s.flags & SHF_ALLOC) !== 0 && s.address > 0 && Number.isSafeInteger(s.address + s.memorySize),
    )
    .map((s) => ({
      address: s.address,
      offset: s.offset,
      fileSize: s.size,
      memorySize: s.memorySize,
      flags: PF_R | ((s.flags & SHF_WRITE) !== 0 ? PF_W : 0) | ((s.flags & SHF_EXECINSTR) !== 0 ? PF_X : 0),
    }));
}

/** What an ELF file is, for attack-surface metrics (src/surface): see `readElfFileType`. */
export type ElfFileType = 'executable' | 'shared-library' | 'relocatable' | 'core' | 'other';

const ET_REL = 1;
const ET_EXEC = 2;
const ET_DYN = 3;
const ET_CORE = 4;
const PT_INTERP = 3;

/**
 * The type of an ELF file from its header and program headers only (a few hundred bytes), or
 * undefined when it is not ELF. ET_EXEC is an executable; ET_DYN is one when it asks for a
 * program interpreter (PT_INTERP: a PIE program, and glibc's libc.so.6, which runs), otherwise a
 * shared library. A damaged program header table makes an ET_DYN a shared library, never a throw.
 */
export async function readElfFileType(read: ByteReader, fileSize: number): Promise<ElfFileType | undefined> {
  const header = await read(0, 64);
  if (header.length < 52 || !header.subarray(0, 4).equals(ELF_MAGIC)) return undefined;
  const is64 = header[4] === 2;
  if (is64 && header.length < 64) return undefined;
  const { u16, u32, word } = fieldReader(is64, header[5] !== 1);
  const type = u16(header, 0x10);
  if (type === ET_EXEC) return 'executable';
  if (type === ET_REL) return 'relocatable';
  if (type === ET_CORE) return 'core';
  if (type !== ET_DYN) return 'other';
  const phoff = word(header, is64 ? 0x20 : 0x1c);
  const phentsize = u16(header, is64 ? 0x36 : 0x2a);
  const phnum = u16(header, is64 ? 0x38 : 0x2c);
  if (
    phoff === 0 ||
    phnum === 0 ||
    phnum > MAX_TABLE_ENTRIES ||
    phentsize < (is64 ? 56 : 32) ||
    phoff + phnum * phentsize > fileSize
  )
    return 'shared-library';
  const table = await read(phoff, phnum * phentsize);
  for (let i = 0; i < phnum && (i + 1) * phentsize <= table.length; i++)
    if (u32(table, i * phentsize) === PT_INTERP) return 'executable';
  return 'shared-library';
}
