/**
 * Writes small ELF executables for the binary cataloger's tests: an ELF header, PT_LOAD program
 * headers, optional sections (with a name table), and each segment's bytes. Written from the ELF
 * specification (System V gABI), independently of src/sbom/catalogers/binary/elf.ts.
 */

export interface SegmentSpec {
  address: number;
  data: Buffer;
  /** Memory size; beyond `data.length` the loader fills zeros (.bss). Default: the data's length. */
  memorySize?: number;
  /** PF_X 1, PF_W 2, PF_R 4. */
  flags: number;
}

export interface SectionSpec {
  name: string;
  /** Index into the segments; the section covers `size` bytes from `start` within that segment. */
  segment: number;
  start: number;
  size: number;
  /** NOBITS (.bss-like): occupies memory only. */
  nobits?: boolean;
}

export interface ElfSpec {
  is64: boolean;
  bigEndian: boolean;
  segments: SegmentSpec[];
  /** Omit for a file with no section table at all. */
  sections?: SectionSpec[];
}

const PT_LOAD = 1;
const SHT_PROGBITS = 1;
const SHT_STRTAB = 3;
const SHT_NOBITS = 8;
const SHF_WRITE = 1;
const SHF_ALLOC = 2;

export function buildElf(spec: ElfSpec): Buffer {
  const { is64, bigEndian } = spec;
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const shentsize = is64 ? 64 : 40;
  const align16 = (n: number) => Math.ceil(n / 16) * 16;

  // File order: header, program headers, [names, section headers], segment bytes. Segment bytes
  // come last so a test can cut the file short inside them without losing the tables.
  const sections = spec.sections;
  const names = sections ? nameTable(['', ...sections.map((s) => s.name), '.shstrtab']) : undefined;
  const phoff = ehsize;
  let cursor = phoff + spec.segments.length * phentsize;
  const namesOffset = cursor;
  if (names) cursor += names.bytes.length;
  const shoff = align16(cursor);
  const shnum = sections ? sections.length + 2 : 0;
  if (sections) cursor = shoff + shnum * shentsize;
  const segmentOffsets = spec.segments.map((segment) => {
    const offset = align16(cursor);
    cursor = offset + segment.data.length;
    return offset;
  });
  const file = Buffer.alloc(cursor);
  const w = writer(file, is64, bigEndian);

  file.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, bigEndian ? 2 : 1, 1], 0);
  w.u16(16, 2); // ET_EXEC
  w.u16(18, is64 ? 62 : 8); // x86-64, or MIPS for a 32-bit big-endian machine
  w.u32(20, 1);
  w.word(24, spec.segments[0]?.address ?? 0); // entry
  w.word(is64 ? 32 : 28, phoff);
  w.word(is64 ? 40 : 32, sections ? shoff : 0);
  w.u16(is64 ? 52 : 40, ehsize);
  w.u16(is64 ? 54 : 42, phentsize);
  w.u16(is64 ? 56 : 44, spec.segments.length);
  w.u16(is64 ? 58 : 46, sections ? shentsize : 0);
  w.u16(is64 ? 60 : 48, shnum);
  w.u16(is64 ? 62 : 50, sections ? shnum - 1 : 0);

  spec.segments.forEach((segment, i) => {
    const at = phoff + i * phentsize;
    const offset = segmentOffsets[i]!;
    const memorySize = segment.memorySize ?? segment.data.length;
    w.u32(at, PT_LOAD);
    if (is64) {
      w.u32(at + 4, segment.flags);
      w.word(at + 8, offset);
      w.word(at + 16, segment.address);
      w.word(at + 24, segment.address);
      w.word(at + 32, segment.data.length);
      w.word(at + 40, memorySize);
      w.word(at + 48, 16);
    } else {
      w.u32(at + 4, offset);
      w.u32(at + 8, segment.address);
      w.u32(at + 12, segment.address);
      w.u32(at + 16, segment.data.length);
      w.u32(at + 20, memorySize);
      w.u32(at + 24, segment.flags);
      w.u32(at + 28, 16);
    }
    segment.data.copy(file, offset);
  });

  if (sections && names) {
    names.bytes.copy(file, namesOffset);
    const header = (
      index: number,
      name: number,
      type: number,
      flags: number,
      address: number,
      offset: number,
      size: number,
    ) => {
      const at = shoff + index * shentsize;
      w.u32(at, name);
      w.u32(at + 4, type);
      w.word(at + 8, flags);
      w.word(at + (is64 ? 16 : 12), address);
      w.word(at + (is64 ? 24 : 16), offset);
      w.word(at + (is64 ? 32 : 20), size);
    };
    sections.forEach((s, i) => {
      const segment = spec.segments[s.segment]!;
      header(
        i + 1,
        names.offsets[i + 1]!,
        s.nobits ? SHT_NOBITS : SHT_PROGBITS,
        SHF_ALLOC | SHF_WRITE,
        segment.address + s.start,
        segmentOffsets[s.segment]! + s.start,
        s.size,
      );
    });
    header(shnum - 1, names.offsets.at(-1)!, SHT_STRTAB, 0, 0, namesOffset, names.bytes.length);
  }
  return file;
}

function nameTable(names: string[]): { bytes: Buffer; offsets: number[] } {
  const offsets: number[] = [];
  let size = 0;
  for (const name of names) {
    offsets.push(size);
    size += Buffer.byteLength(name) + 1;
  }
  return { bytes: Buffer.from(names.map((n) => `${n}\0`).join('')), offsets };
}

function writer(file: Buffer, is64: boolean, bigEndian: boolean) {
  const u32 = (at: number, v: number) => (bigEndian ? file.writeUInt32BE(v, at) : file.writeUInt32LE(v, at));
  return {
    u16: (at: number, v: number) => (bigEndian ? file.writeUInt16BE(v, at) : file.writeUInt16LE(v, at)),
    u32,
    word: (at: number, v: number) => {
      if (!is64) return u32(at, v);
      return bigEndian ? file.writeBigUInt64BE(BigInt(v), at) : file.writeBigUInt64LE(BigInt(v), at);
    },
  };
}

/** Writes a pointer-sized value in the given byte order. */
export function writePointer(
  buf: Buffer,
  at: number,
  value: bigint,
  ptrSize: 4 | 8,
  bigEndian: boolean,
): void {
  if (ptrSize === 4) {
    if (bigEndian) buf.writeUInt32BE(Number(value), at);
    else buf.writeUInt32LE(Number(value), at);
  } else if (bigEndian) buf.writeBigUInt64BE(value, at);
  else buf.writeBigUInt64LE(value, at);
}
