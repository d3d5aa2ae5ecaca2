import type { VirtualRead } from './elf.js';

/** Go module build information embedded by the Go linker (`go version -m` shows the same). */
export interface GoBuildInfo {
  goVersion: string;
  path?: string;
  main?: GoModule;
  deps: GoModule[];
}

export interface GoModule {
  path: string;
  version: string;
  sum?: string;
}

/** The 32-byte header: magic, pointer size, flags, then (before Go 1.18) two pointers. */
export const GO_BUILDINFO_MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
export const GO_BUILDINFO_HEADER_BYTES = 32;
/** The header is 16-byte aligned wherever the linker put it. */
export const GO_BUILDINFO_ALIGN = 16;
const FLAG_BIG_ENDIAN = 0x1;
const FLAG_INLINE_STRINGS = 0x2;
/** Go itself ignores longer strings; a module list is a few kilobytes. */
const MAX_GO_STRING_BYTES = 1024 * 1024;
/** runtime.modinfo is wrapped in two 16-byte sentinels. */
const SENTINEL_BYTES = 16;

export type GoBuildInfoResult =
  /** `problem`: what could not be read although the Go version could (the module list). */
  { kind: 'ok'; info: GoBuildInfo; problem?: string } | { kind: 'unsupported'; reason: string };

/** Reads the loaded image at a virtual address (readVirtual over the binary's segments). */
export type AddressReader = (address: number, length: number) => Promise<VirtualRead>;

type BuildInfoHeader =
  | { kind: 'inline'; goVersion: string; modinfo: Buffer }
  | { kind: 'pointers'; ptrSize: 4 | 8; bigEndian: boolean; version: bigint; modinfo: bigint }
  | { kind: 'unsupported'; reason: string };

/**
 * Reads the build info whose header starts `header` (the `.go.buildinfo` section). Go ≥ 1.18
 * stores the version and module strings inline after the header; older linkers store two
 * pointers to the Go string headers of `runtime.buildVersion` and `runtime.modinfo`, which are
 * followed through `memory`. Never throws on corrupt data: every bad length or pointer is a reason.
 */
export async function readGoBuildInfo(header: Buffer, memory: AddressReader): Promise<GoBuildInfoResult> {
  const parsed = parseGoBuildInfoHeader(header);
  if (parsed.kind === 'unsupported') return parsed;
  if (parsed.kind === 'inline') return { kind: 'ok', info: goBuildInfo(parsed.goVersion, parsed.modinfo) };

  const fail = (reason: string) => `pointer-format (pre-Go 1.18) header: ${reason}`;
  const version = await readGoString(parsed, parsed.version, memory);
  if (version.kind === 'error')
    return { kind: 'unsupported', reason: fail(`runtime.buildVersion: ${version.reason}`) };
  if (version.bytes.length === 0)
    return { kind: 'unsupported', reason: fail('runtime.buildVersion is empty') };
  const goVersion = version.bytes.toString('utf8');
  const modinfo = await readGoString(parsed, parsed.modinfo, memory);
  if (modinfo.kind === 'error')
    return {
      kind: 'ok',
      info: { goVersion, deps: [] },
      problem: fail(`runtime.modinfo: ${modinfo.reason}; only the Go version is reported`),
    };
  return { kind: 'ok', info: goBuildInfo(goVersion, modinfo.bytes) };
}

/** Where the header says the build info is: inline strings, or pointers into the data segment. */
export function parseGoBuildInfoHeader(section: Buffer): BuildInfoHeader {
  if (section.length < GO_BUILDINFO_MAGIC.length || !section.subarray(0, 14).equals(GO_BUILDINFO_MAGIC))
    return { kind: 'unsupported', reason: 'no Go build info magic' };
  if (section.length < GO_BUILDINFO_HEADER_BYTES)
    return { kind: 'unsupported', reason: `truncated Go build info header (${section.length} of 32 bytes)` };
  const ptrSize = section[14]!;
  const flags = section[15]!;
  if ((flags & FLAG_INLINE_STRINGS) !== 0) return parseInline(section);
  if (ptrSize !== 4 && ptrSize !== 8)
    return {
      kind: 'unsupported',
      reason: `pointer-format (pre-Go 1.18) header with pointer size ${ptrSize}`,
    };
  const bigEndian = (flags & FLAG_BIG_ENDIAN) !== 0;
  return {
    kind: 'pointers',
    ptrSize,
    bigEndian,
    version: readPointer(section, 16, ptrSize, bigEndian),
    modinfo: readPointer(section, 16 + ptrSize, ptrSize, bigEndian),
  };
}

function parseInline(section: Buffer): BuildInfoHeader {
  let offset = GO_BUILDINFO_HEADER_BYTES;
  const readBytes = (): Buffer | undefined => {
    const length = readVarint(section, offset);
    if (!length) return undefined;
    offset = length.next;
    const end = offset + length.value;
    if (end > section.length) return undefined;
    const bytes = section.subarray(offset, end);
    offset = end;
    return bytes;
  };
  const goVersion = readBytes()?.toString('utf8');
  const modinfo = readBytes();
  if (goVersion === undefined || modinfo === undefined)
    return { kind: 'unsupported', reason: 'truncated Go build info' };
  return { kind: 'inline', goVersion, modinfo };
}

function goBuildInfo(goVersion: string, modinfo: Buffer): GoBuildInfo {
  return { goVersion, ...parseModInfo(withoutSentinels(modinfo)) };
}

/** The module text sits between two 16-byte sentinels; Go ignores it unless it ends in a newline. */
function withoutSentinels(modinfo: Buffer): string {
  const end = modinfo.length - SENTINEL_BYTES;
  if (modinfo.length < 2 * SENTINEL_BYTES + 1 || modinfo[end - 1] !== 0x0a) return '';
  return modinfo.toString('utf8', SENTINEL_BYTES, end);
}

/** A Go string header (data pointer, length) at `address`, and the bytes it points to. */
async function readGoString(
  format: { ptrSize: 4 | 8; bigEndian: boolean },
  address: bigint,
  memory: AddressReader,
): Promise<VirtualRead> {
  const { ptrSize, bigEndian } = format;
  const at = toAddress(address);
  const header = at === undefined ? outside(address) : await memory(at, 2 * ptrSize);
  if (header.kind === 'error') return { kind: 'error', reason: `string header: ${header.reason}` };
  const data = readPointer(header.bytes, 0, ptrSize, bigEndian);
  const length = readPointer(header.bytes, ptrSize, ptrSize, bigEndian);
  if (length === 0n) return { kind: 'bytes', bytes: Buffer.alloc(0) };
  if (length > BigInt(MAX_GO_STRING_BYTES))
    return { kind: 'error', reason: `string length ${length} is over the ${MAX_GO_STRING_BYTES}-byte limit` };
  const dataAt = toAddress(data);
  const bytes = dataAt === undefined ? outside(data) : await memory(dataAt, Number(length));
  return bytes.kind === 'error' ? { kind: 'error', reason: `string data: ${bytes.reason}` } : bytes;
}

function readPointer(bytes: Buffer, offset: number, ptrSize: 4 | 8, bigEndian: boolean): bigint {
  if (ptrSize === 4) return BigInt(bigEndian ? bytes.readUInt32BE(offset) : bytes.readUInt32LE(offset));
  return bigEndian ? bytes.readBigUInt64BE(offset) : bytes.readBigUInt64LE(offset);
}

function toAddress(pointer: bigint): number | undefined {
  return pointer <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(pointer) : undefined;
}

function outside(pointer: bigint): VirtualRead {
  return { kind: 'error', reason: `address 0x${pointer.toString(16)} is outside every loaded segment` };
}

export function parseModInfo(text: string): Omit<GoBuildInfo, 'goVersion'> {
  const result: Omit<GoBuildInfo, 'goVersion'> = { deps: [] };
  let last: GoModule | undefined;
  for (const line of text.split('\n')) {
    const [kind, path, version, sum] = line.split('\t');
    if (kind === 'path' && path) result.path = path;
    else if ((kind === 'mod' || kind === 'dep') && path) {
      last = { path, version: version ?? '', ...(sum ? { sum } : {}) };
      if (kind === 'mod') result.main = last;
      else result.deps.push(last);
    } else if (kind === '=>' && path && last) {
      // A replace directive: the replacement is what was actually built.
      last.path = path;
      last.version = version ?? last.version;
      if (sum) last.sum = sum;
      else delete last.sum;
    }
  }
  return result;
}

function readVarint(bytes: Buffer, start: number): { value: number; next: number } | undefined {
  let value = 0;
  let shift = 0;
  for (let i = start; i < bytes.length && i < start + 5; i++) {
    const byte = bytes[i]!;
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return { value, next: i + 1 };
    shift += 7;
  }
  return undefined;
}
