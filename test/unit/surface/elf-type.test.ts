import { describe, expect, it } from 'vitest';
import { readElfFileType } from '../../../src/sbom/catalogers/binary/elf.js';
import { bufferReader } from '../../../src/sbom/source/file-source.js';
import { elf } from '../../helpers/surface-fixtures.js';

const typeOf = (bytes: Buffer, size = bytes.length) => readElfFileType(bufferReader(bytes), size);

describe('readElfFileType', () => {
  it('tells executables (ET_EXEC, PIE with PT_INTERP) from shared libraries', async () => {
    expect(await typeOf(elf('exec'))).toBe('executable');
    expect(await typeOf(elf('pie'))).toBe('executable');
    expect(await typeOf(elf('lib'))).toBe('shared-library');
  });

  it('is undefined for anything that is not ELF, or a truncated header', async () => {
    expect(await typeOf(Buffer.from('#!/bin/sh\n'))).toBeUndefined();
    expect(await typeOf(elf('exec').subarray(0, 40))).toBeUndefined();
    expect(await typeOf(Buffer.alloc(0))).toBeUndefined();
  });

  it('treats a hostile program header table as no interpreter, without reading it', async () => {
    const huge = elf('pie');
    huge.writeUInt16LE(0xffff, 0x38); // e_phnum far past the file
    expect(await typeOf(huge)).toBe('shared-library');
    const far = elf('pie');
    far.writeBigUInt64LE(0xffffffffffffff00n, 0x20); // e_phoff beyond 2^53
    expect(await typeOf(far)).toBe('shared-library');
    const small = elf('pie');
    small.writeUInt16LE(8, 0x36); // e_phentsize too small for a 64-bit header
    expect(await typeOf(small)).toBe('shared-library');
  });

  it('reads big-endian and 32-bit headers', async () => {
    const be = Buffer.alloc(64);
    be.set([0x7f, 0x45, 0x4c, 0x46, 1, 2, 1], 0);
    be.writeUInt16BE(2, 0x10);
    expect(await typeOf(be)).toBe('executable');
    be.writeUInt16BE(1, 0x10);
    expect(await typeOf(be)).toBe('relocatable');
  });
});
