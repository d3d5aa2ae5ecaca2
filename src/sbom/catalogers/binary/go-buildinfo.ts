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

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const FLAG_INLINE_STRINGS = 0x2;

export type GoBuildInfoResult = { kind: 'ok'; info: GoBuildInfo } | { kind: 'unsupported'; reason: string };

/**
 * Parses the `.go.buildinfo` section. Go ≥ 1.18 stores the version and module strings inline
 * (varint-prefixed); older binaries store pointers into the data segment, which we report
 * instead of chasing through the virtual address space.
 */
export function parseGoBuildInfo(section: Buffer): GoBuildInfoResult {
  if (section.length < 32 || !section.subarray(0, 14).equals(MAGIC))
    return { kind: 'unsupported', reason: 'no Go build info magic' };
  const flags = section[15]!;
  if ((flags & FLAG_INLINE_STRINGS) === 0)
    return { kind: 'unsupported', reason: 'pre-Go 1.18 pointer-format build info is not read' };
  let offset = 32;
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
  // The module text sits between two 16-byte sentinels.
  const text = modinfo.length >= 33 ? modinfo.subarray(16, modinfo.length - 16).toString('utf8') : '';
  return { kind: 'ok', info: { goVersion, ...parseModInfo(text) } };
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
