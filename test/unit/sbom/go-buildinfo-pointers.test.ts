import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { catalogFileSource } from '../../../src/sbom/catalog.js';
import { binaryCataloger, packagesFromElf } from '../../../src/sbom/catalogers/binary/cataloger.js';
import { readElfLayout } from '../../../src/sbom/catalogers/binary/elf.js';
import { bufferReader, type FileSource } from '../../../src/sbom/source/file-source.js';
import { buildElf, type ElfSpec, writePointer } from './elf-builder.js';

// Go binaries linked before Go 1.18: `.go.buildinfo` holds a 32-byte header whose two pointers
// lead to the Go string headers (data pointer, length) of runtime.buildVersion and runtime.modinfo.

const PF_R = 4;
const PF_W = 2;
const PF_X = 1;
const GO_VERSION = 'go1.15.9';

interface Module {
  kind: 'mod' | 'dep';
  path: string;
  version: string;
  replacedBy?: { path: string; version: string };
}
const MODULES: Module[] = [
  { kind: 'mod', path: 'example.com/legacy', version: 'v0.9.1' },
  { kind: 'dep', path: 'golang.org/x/sys', version: 'v0.0.0-20200930185726-fdedc70b468f' },
  {
    kind: 'dep',
    path: 'github.com/old/fork',
    version: 'v1.0.0',
    replacedBy: { path: 'github.com/new/fork', version: 'v1.2.0' },
  },
];
const MODINFO = [
  'path\texample.com/legacy/cmd/tool',
  ...MODULES.flatMap((m) => [
    `${m.kind}\t${m.path}\t${m.version}\th1:${m.path.length}=`,
    ...(m.replacedBy ? [`=>\t${m.replacedBy.path}\t${m.replacedBy.version}\th1:x=`] : []),
  ]),
  '',
].join('\n');
/** What `go version -m` would list: each module as built (after replacement), then the toolchain. */
const EXPECTED_PURLS = [
  ...MODULES.map((m) => `pkg:golang/${m.replacedBy?.path ?? m.path}@${m.replacedBy?.version ?? m.version}`),
  `pkg:golang/stdlib@${GO_VERSION}`,
].sort();

// Go's sentinels are fixed 16-byte strings; any 16 bytes do for the reader.
const SENTINEL_START = Buffer.from(
  '30 77 af 0c 92 74 08 02 41 e1 c1 07 e6 d6 18 e6'.replaceAll(' ', ''),
  'hex',
);
const SENTINEL_END = Buffer.from(
  'f9 32 43 31 86 18 20 72 00 82 42 10 41 16 d8 f2'.replaceAll(' ', ''),
  'hex',
);

interface Arch {
  label: string;
  is64: boolean;
  bigEndian: boolean;
  ptrSize: 4 | 8;
}
const ARCHES: Arch[] = [
  { label: '64-bit little-endian', is64: true, bigEndian: false, ptrSize: 8 },
  { label: '32-bit big-endian', is64: false, bigEndian: true, ptrSize: 4 },
];

const TEXT_ADDRESS = 0x400000;
const DATA_ADDRESS = 0x500000;

/**
 * The data segment of an old Go binary: the build info header at its start (as `.go.buildinfo`),
 * the two string headers, then the string bytes. `at` gives each part's offset in the segment.
 */
function oldFormatData(arch: Arch, goVersion = GO_VERSION, modinfo = MODINFO) {
  const p = arch.ptrSize;
  const version = Buffer.from(goVersion);
  const mod = Buffer.concat([SENTINEL_START, Buffer.from(modinfo), SENTINEL_END]);
  const at = {
    versionPtr: 16,
    modPtr: 16 + p,
    versionHeader: 32,
    modHeader: 32 + 2 * p,
    version: 32 + 4 * p,
  };
  const modAt = at.version + version.length;
  const data = Buffer.alloc(modAt + mod.length);
  Buffer.from('\xff Go buildinf:', 'latin1').copy(data);
  data[14] = p;
  data[15] = arch.bigEndian ? 1 : 0;
  const ptr = (offset: number, value: number | bigint) =>
    writePointer(data, offset, BigInt(value), p, arch.bigEndian);
  ptr(at.versionPtr, DATA_ADDRESS + at.versionHeader);
  ptr(at.modPtr, DATA_ADDRESS + at.modHeader);
  ptr(at.versionHeader, DATA_ADDRESS + at.version);
  ptr(at.versionHeader + p, version.length);
  ptr(at.modHeader, DATA_ADDRESS + modAt);
  ptr(at.modHeader + p, mod.length);
  version.copy(data, at.version);
  mod.copy(data, modAt);
  return { data, at: { ...at, mod: modAt }, ptr };
}

function goElf(arch: Arch, data: Buffer, opts: { sections?: boolean; buildInfoBytes?: number } = {}): Buffer {
  const spec: ElfSpec = {
    is64: arch.is64,
    bigEndian: arch.bigEndian,
    segments: [
      { address: TEXT_ADDRESS, data: Buffer.alloc(64, 0xcc), flags: PF_R | PF_X },
      { address: DATA_ADDRESS, data, flags: PF_R | PF_W },
    ],
    ...(opts.sections === false
      ? {}
      : {
          sections: [
            { name: '.text', segment: 0, start: 0, size: 64 },
            { name: '.go.buildinfo', segment: 1, start: 0, size: opts.buildInfoBytes ?? 32 },
            { name: '.data', segment: 1, start: 32, size: data.length - 32 },
          ],
        }),
  };
  return buildElf(spec);
}

/** A file source of executables, as an image root would list them. */
function executables(files: Record<string, Buffer>): FileSource {
  return {
    nodes: () =>
      Object.entries(files).map(([path, data]) => ({
        path,
        kind: 'file' as const,
        size: data.length,
        mode: 0o755,
      })),
    async *read(paths) {
      for (const path of [...paths].sort()) {
        const content = files[path];
        if (content) yield { path, content };
      }
    },
  };
}

async function catalog(files: Record<string, Buffer>) {
  return catalogFileSource(executables(files), [binaryCataloger]);
}

describe.each(ARCHES)('pre-Go 1.18 build info, $label', (arch) => {
  it.each([
    ['with a section table', true],
    ['with no section table (header found by scanning the data segment)', false],
  ])('reads the module list %s', async (_label, sections) => {
    const elf = goElf(arch, oldFormatData(arch).data, { sections });
    const { packages, warnings } = await catalog({ '/usr/bin/tool': elf });
    expect(warnings).toEqual([]);
    expect(packages.map((p) => p.purl).sort()).toEqual(EXPECTED_PURLS);
    for (const p of packages) expect(p.locations).toEqual(['/usr/bin/tool']);
    const main = packages.find((p) => p.name === 'example.com/legacy')!;
    expect(main.sha256).toBe(createHash('sha256').update(elf).digest('hex'));
    expect([...(main.dependsOn ?? [])].sort()).toEqual(EXPECTED_PURLS.filter((purl) => purl !== main.purl));
  });

  it('reports only the Go version when runtime.modinfo is an empty string in .bss (GOPATH builds)', async () => {
    // As Debian's Go 1.15 programs are laid out: the strings in a read-only segment, and the
    // never-initialised modinfo string header in the zero-filled tail of the data segment.
    const p = arch.ptrSize;
    const rodataAddress = 0x480000;
    const rodata = Buffer.from(`xx${GO_VERSION}yy`);
    const data = Buffer.alloc(32 + 2 * p);
    Buffer.from('\xff Go buildinf:', 'latin1').copy(data);
    data[14] = p;
    data[15] = arch.bigEndian ? 1 : 0;
    const ptr = (at: number, v: number) => writePointer(data, at, BigInt(v), p, arch.bigEndian);
    ptr(16, DATA_ADDRESS + 32);
    ptr(16 + p, DATA_ADDRESS + 0x800); // in .bss: memory only
    ptr(32, rodataAddress + 2);
    ptr(32 + p, GO_VERSION.length);
    const elf = buildElf({
      is64: arch.is64,
      bigEndian: arch.bigEndian,
      segments: [
        { address: rodataAddress, data: rodata, flags: PF_R },
        { address: DATA_ADDRESS, data, memorySize: 0x1000, flags: PF_R | PF_W },
      ],
      sections: [
        { name: '.rodata', segment: 0, start: 0, size: rodata.length },
        { name: '.go.buildinfo', segment: 1, start: 0, size: 32 },
        { name: '.bss', segment: 1, start: data.length, size: 0x1000 - data.length, nobits: true },
      ],
    });
    const { packages, warnings } = await catalog({ '/usr/bin/gopath-tool': elf });
    expect(warnings).toEqual([]);
    expect(packages.map((p) => p.purl)).toEqual([`pkg:golang/stdlib@${GO_VERSION}`]);
  });

  describe('corrupt build info is a warning naming the file, never a throw', () => {
    const cases: Array<[string, (d: ReturnType<typeof oldFormatData>) => void, RegExp, string[]]> = [
      [
        'runtime.buildVersion pointer outside every segment',
        (d) => d.ptr(d.at.versionPtr, 0x10),
        /runtime\.buildVersion: string header: address 0x10 is outside every loaded segment/,
        [],
      ],
      [
        'runtime.modinfo data pointer outside every segment',
        (d) => d.ptr(d.at.modHeader, 0x7000_0000),
        /runtime\.modinfo: string data: address 0x70000000 is outside every loaded segment/,
        [`pkg:golang/stdlib@${GO_VERSION}`],
      ],
      [
        'runtime.modinfo length past the end of its segment',
        (d) => d.ptr(d.at.modHeader + arch.ptrSize, d.data.length - d.at.mod + 1),
        /runtime\.modinfo: string data: \d+ bytes at 0x[0-9a-f]+ run past the end of their segment/,
        [`pkg:golang/stdlib@${GO_VERSION}`],
      ],
      [
        'runtime.buildVersion length of 4 GiB - 1',
        (d) => d.ptr(d.at.versionHeader + arch.ptrSize, 0xffff_ffff),
        /runtime\.buildVersion: string length 4294967295 is over the \d+-byte limit/,
        [],
      ],
      [
        'a string header that straddles the end of the segment',
        (d) => d.ptr(d.at.modPtr, DATA_ADDRESS + d.data.length - arch.ptrSize),
        /runtime\.modinfo: string header: .* run past the end of their segment/,
        [`pkg:golang/stdlib@${GO_VERSION}`],
      ],
      [
        'an unknown pointer size',
        (d) => {
          d.data[14] = 3;
        },
        /pointer size 3/,
        [],
      ],
    ];
    it.each(cases)('%s', async (_label, corrupt, message, purls) => {
      const image = oldFormatData(arch);
      corrupt(image);
      const { packages, warnings } = await catalog({ '/opt/bin/broken': goElf(arch, image.data) });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ cataloger: 'binary', path: '/opt/bin/broken' });
      expect(warnings[0]!.message).toMatch(message);
      expect(packages.map((p) => p.purl)).toEqual(purls);
    });

    it('a truncated header', async () => {
      const elf = goElf(arch, oldFormatData(arch).data, { buildInfoBytes: 20 });
      const { packages, warnings } = await catalog({ '/opt/bin/short': elf });
      expect(warnings.map((w) => [w.path, w.message])).toEqual([
        ['/opt/bin/short', 'Go build info: truncated Go build info header (20 of 32 bytes)'],
      ]);
      expect(packages).toEqual([]);
    });

    it('strings cut off by the end of the file', async () => {
      // The segment claims its bytes, but the file ends inside the module text.
      const full = goElf(arch, oldFormatData(arch).data);
      const cut = full.subarray(0, full.length - 40);
      const { packages, warnings } = await catalog({ '/opt/bin/cut': cut });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.path).toBe('/opt/bin/cut');
      expect(warnings[0]!.message).toMatch(/runtime\.modinfo: string data: .* beyond the end of the file/);
      expect(packages.map((p) => p.purl)).toEqual([`pkg:golang/stdlib@${GO_VERSION}`]);
    });
  });

  it('never throws or over-allocates, whatever the bytes after the tables', async () => {
    const image = oldFormatData(arch);
    const elf = goElf(arch, image.data);
    const dataStart = elf.length - image.data.length;
    const ctx = { warn: () => {}, resolve: () => undefined };
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(image.at.mod + 8), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 8,
        }),
        async (edits) => {
          const mutated = Buffer.from(elf);
          for (const [at, byte] of edits) mutated[dataStart + at] = byte;
          const before = process.memoryUsage().arrayBuffers;
          await packagesFromElf('/x', bufferReader(mutated), mutated.length, async () => '', ctx);
          expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 * 1024 * 1024);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('ELF layout bounds', () => {
  it('refuses an implausibly large section name table instead of reading it', async () => {
    // A real binary, padded with 3 MiB, whose .shstrtab header claims 2 MiB of the padding.
    const ls = readFileSync('/bin/true');
    const elf = Buffer.concat([ls, Buffer.alloc(3 << 20)]);
    const shoff = Number(elf.readBigUInt64LE(0x28));
    const shentsize = elf.readUInt16LE(0x3a);
    const shstrndx = elf.readUInt16LE(0x3e);
    const entry = shoff + shstrndx * shentsize;
    elf.writeBigUInt64LE(BigInt(ls.length), entry + 0x18); // offset: the padding
    elf.writeBigUInt64LE(BigInt(2 << 20), entry + 0x20); // size: 2 MiB
    let largest = 0;
    const read = async (offset: number, length: number) => {
      largest = Math.max(largest, length);
      return elf.subarray(offset, offset + length);
    };
    await expect(readElfLayout(read, elf.length)).rejects.toThrow(/section name table of 2097152 bytes/);
    expect(largest).toBeLessThan(1 << 20);
  });
});
