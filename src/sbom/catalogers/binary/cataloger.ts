import { createHash } from 'node:crypto';
import type { CatalogContext, Cataloger, RawPackage } from '../../cataloger.js';
import { type ByteReader, bufferReader, type FileNode } from '../../source/file-source.js';
import { parseCargoAuditable } from './cargo-auditable.js';
import { ELF_MAGIC, type ElfLayout, PF_W, PF_X, readElfLayout, readVirtual } from './elf.js';
import { GO_BUILDINFO_ALIGN, GO_BUILDINFO_MAGIC, type GoBuildInfo, readGoBuildInfo } from './go-buildinfo.js';

/** Binaries larger than this are not read (see isCandidateBinary); each one left out is a warning. */
export const MAX_BINARY_BYTES = 256 * 1024 * 1024;

/**
 * Which files are worth opening for embedded build metadata. Go and Rust programs are
 * installed executable, so the rule is: a regular file with an exec bit, not a shared
 * library, outside the data trees. The ELF magic is checked after reading. This keeps the
 * read set to the programs in bin/sbin/libexec/opt (a few hundred files in a Debian root)
 * instead of every file in the image.
 */
export function isCandidateBinary(node: FileNode): boolean {
  return isProgram(node) && node.size >= 64 && node.size <= MAX_BINARY_BYTES;
}

/** The warning for an executable over the size limit: it is listed, never read, so say so. */
export function oversizedBinaryReason(node: FileNode): string | undefined {
  if (node.size <= MAX_BINARY_BYTES || !isProgram(node)) return undefined;
  const mib = (bytes: number) => `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MiB`;
  return `executable of ${node.size} bytes (${mib(node.size)}) is over the ${mib(MAX_BINARY_BYTES)} limit; not inspected for Go or Rust build metadata`;
}

function isProgram(node: FileNode): boolean {
  if (node.kind !== 'file' && node.kind !== 'hardlink') return false;
  if ((node.mode & 0o111) === 0) return false;
  if (/\.so(\.\d+)*$/.test(node.path)) return false;
  return !/^\/(proc|sys|dev|usr\/share|usr\/include|var\/lib\/dpkg|etc)\//.test(node.path);
}

/** Embedded build metadata is small; a larger section is corrupt or hostile. */
const MAX_SECTION_BYTES = 16 * 1024 * 1024;
/** How far into the data segment Go's own reader looks for the header when there is no section table. */
const GO_HEADER_SCAN_BYTES = 64 * 1024;

/** Go build info and cargo-auditable dependency data from ELF executables. */
export const binaryCataloger: Cataloger = {
  name: 'binary',
  matches: isCandidateBinary,
  skipReason: oversizedBinaryReason,
  start() {
    const packages: RawPackage[] = [];
    return {
      async accept({ path, content }, ctx) {
        // Larger files never get here: `matches` (isCandidateBinary) leaves them unread.
        if (content.length < 4 || !content.subarray(0, 4).equals(ELF_MAGIC)) return;
        const sha256 = async () => createHash('sha256').update(content).digest('hex');
        packages.push(...(await packagesFromElf(path, bufferReader(content), content.length, sha256, ctx)));
      },
      async inspect(path, file, ctx) {
        if (file.size < 4 || !(await file.read(0, 4)).equals(ELF_MAGIC)) return;
        packages.push(
          ...(await packagesFromElf(
            path,
            (o, n) => file.read(o, n),
            file.size,
            () => file.sha256(),
            ctx,
          )),
        );
      },
      finish: () => packages,
    };
  },
};

export async function packagesFromElf(
  path: string,
  read: ByteReader,
  size: number,
  sha256: () => Promise<string>,
  ctx: CatalogContext,
): Promise<RawPackage[]> {
  const layout = await readElfLayout(read, size);
  const sectionBytes = async (name: string) => {
    const section = layout.sections.find((s) => s.name === name);
    if (!section) return undefined;
    if (section.size > MAX_SECTION_BYTES) throw new Error(`${name} section is implausibly large`);
    return read(section.offset, section.size);
  };
  const out: RawPackage[] = [];
  // Without a section table (stripped by sstrip and the like) the header is found as Go finds it.
  const goHeader =
    layout.sections.length > 0 ? await sectionBytes('.go.buildinfo') : await scanForGoHeader(layout, read);
  const cargoSection = await sectionBytes('.dep-v0');
  if (!goHeader && !cargoSection) return out;
  const digest = await sha256();
  if (goHeader) {
    const result = await readGoBuildInfo(goHeader, (address, length) =>
      readVirtual(layout, read, address, length),
    );
    if (result.kind === 'unsupported') ctx.warn(path, `Go build info: ${result.reason}`);
    else {
      if (result.problem) ctx.warn(path, `Go build info: ${result.problem}`);
      out.push(...goPackages(path, result.info, digest));
    }
  }
  if (cargoSection) {
    try {
      const crates = parseCargoAuditable(cargoSection);
      for (const crate of crates) {
        out.push({
          type: 'cargo',
          name: crate.name,
          version: crate.version,
          locations: [path],
          ...(crate.root ? { sha256: digest } : {}),
          depends: crate.dependencies.flatMap((i) => {
            const dep = crates[i];
            return dep ? [[{ name: dep.name, version: dep.version }]] : [];
          }),
        });
      }
    } catch (error) {
      ctx.warn(path, `cargo-auditable data: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return out;
}

/**
 * The build info header at a 16-byte boundary near the start of the first writable, non-executable
 * segment, where the Go linker puts it; the bytes from there to the end of the scanned window.
 */
async function scanForGoHeader(layout: ElfLayout, read: ByteReader): Promise<Buffer | undefined> {
  const data = layout.segments.find((s) => (s.flags & (PF_W | PF_X)) === PF_W);
  if (!data || data.offset >= layout.fileSize) return undefined;
  const window = await read(
    data.offset,
    Math.min(data.fileSize, GO_HEADER_SCAN_BYTES, layout.fileSize - data.offset),
  );
  for (
    let at = window.indexOf(GO_BUILDINFO_MAGIC);
    at >= 0;
    at = window.indexOf(GO_BUILDINFO_MAGIC, at + 1)
  ) {
    if (at % GO_BUILDINFO_ALIGN === 0) return window.subarray(at);
  }
  return undefined;
}

/**
 * `(devel)` is what `go build` records for a main module built from a working tree: no version at
 * all, so the package gets none (its purl has no `@version`, SPDX no versionInfo) rather than a
 * version string that no advisory or other tool would match.
 */
function goModuleVersion(version: string): string {
  return version === '(devel)' ? '' : version;
}

function goPackages(path: string, info: GoBuildInfo, sha256: string): RawPackage[] {
  const deps = info.deps.map(
    (m): RawPackage => ({
      type: 'golang',
      name: m.path,
      version: m.version,
      locations: [path],
    }),
  );
  const stdlib: RawPackage = {
    type: 'golang',
    name: 'stdlib',
    version: info.goVersion.split(' ')[0] ?? info.goVersion,
    license: { expression: 'BSD-3-Clause' },
    locations: [path],
  };
  const main: RawPackage[] = info.main
    ? [
        {
          type: 'golang',
          name: info.main.path,
          version: goModuleVersion(info.main.version),
          locations: [path],
          sha256,
          depends: [...deps, stdlib].map((d) => [{ name: d.name, version: d.version }]),
        },
      ]
    : [];
  return [...main, ...deps, stdlib];
}
