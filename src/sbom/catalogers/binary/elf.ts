import type { ByteReader } from '../../source/file-source.js';

/** Just enough ELF to find named sections: header, section table, section-name string table. */
export interface ElfSection {
  name: string;
  offset: number;
  size: number;
}

export const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const SHT_NOBITS = 8;
/** Real binaries have well under this many sections; more means a corrupt header. */
const MAX_SECTIONS = 4096;

/**
 * Lists the sections of an ELF file with three small reads (header, section table, name table),
 * so a 50 MB binary costs a few kilobytes. Throws on a malformed header.
 */
export async function readElfSections(read: ByteReader, fileSize: number): Promise<ElfSection[]> {
  const header = await read(0, 64);
  if (header.length < 52 || !header.subarray(0, 4).equals(ELF_MAGIC)) throw new Error('not an ELF file');
  const is64 = header[4] === 2;
  const le = header[5] === 1;
  const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const word = (b: Buffer, o: number) =>
    is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o);
  if (is64 && header.length < 64) throw new Error('truncated ELF header');
  const shoff = word(header, is64 ? 0x28 : 0x20);
  const shentsize = u16(header, is64 ? 0x3a : 0x2e);
  const shnum = u16(header, is64 ? 0x3c : 0x30);
  const shstrndx = u16(header, is64 ? 0x3e : 0x32);
  if (shoff === 0 || shnum === 0) return [];
  if (shnum > MAX_SECTIONS || shentsize < (is64 ? 64 : 40) || shoff + shnum * shentsize > fileSize)
    throw new Error('section table lies beyond the end of the file');
  const table = await read(shoff, shnum * shentsize);
  const raw = Array.from({ length: shnum }, (_, i) => {
    const base = i * shentsize;
    return {
      nameOffset: u32(table, base),
      type: u32(table, base + 4),
      offset: word(table, is64 ? base + 0x18 : base + 0x10),
      size: word(table, is64 ? base + 0x20 : base + 0x14),
    };
  });
  const names = raw[shstrndx];
  if (!names || names.offset + names.size > fileSize) throw new Error('section name table is missing');
  const nameTable = await read(names.offset, names.size);
  const sections: ElfSection[] = [];
  for (const s of raw) {
    const end = nameTable.indexOf(0, s.nameOffset);
    const name =
      s.nameOffset < nameTable.length
        ? nameTable.toString('latin1', s.nameOffset, end < 0 ? nameTable.length : end)
        : '';
    const size = s.type === SHT_NOBITS ? 0 : s.size;
    if (s.offset + size > fileSize) continue;
    sections.push({ name, offset: s.offset, size });
  }
  return sections;
}
