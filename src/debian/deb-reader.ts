import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { fromSystemError, isRampartError, isSystemError, RampartError } from '../errors.js';
import { compressionOf, createDecompressor } from '../util/decompress.js';
import { safeEntryPath } from '../util/entry-path.js';
import { type ArMember, listArMembers } from './archive-ar.js';
import { type Paragraph, parseDeb822 } from './deb822.js';

export type DebEntryType =
  | 'file'
  | 'directory'
  | 'symlink'
  | 'link'
  | 'character-device'
  | 'block-device'
  | 'fifo';

export interface DebEntryHeader {
  /** Normalised relative path: no leading './' or '/', no trailing '/', no '..'. */
  name: string;
  type: DebEntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Symlink target as written (may be absolute), or the normalised path a hard link points to. */
  linkname?: string;
  mtime?: Date;
  uname?: string;
  gname?: string;
  devmajor?: number;
  devminor?: number;
}

export interface DebEntry {
  header: DebEntryHeader;
  /** The whole file's bytes, for `type: 'file'` only. */
  content?: Buffer;
}

export interface DebControl {
  control: Paragraph;
  /** Path (relative, as in data.tar, without './') → md5 hex. */
  md5sums: Map<string, string>;
  /** Absolute paths of conffiles. */
  conffiles: string[];
  /** Every file of control.tar by name (`control`, `md5sums`, `postinst`, ...). */
  controlFiles: Map<string, Buffer>;
}

/**
 * A .deb is untrusted input that will be unpacked into an image root: its names go through the
 * one archive path rule (src/util/entry-path.ts). Returns '' for the archive root ('./').
 */
export function normaliseEntryPath(name: string, where: string): string {
  return safeEntryPath(name, where);
}

function findMember(members: ArMember[], prefix: string, file: string): ArMember {
  const member = members.find((m) => m.name === prefix || m.name.startsWith(`${prefix}.`));
  if (!member) {
    throw new RampartError('MALFORMED_DEB', `${file} has no ${prefix}.* member; is it a .deb?`, {
      details: { path: file, member: `${prefix}.*` },
    });
  }
  return member;
}

async function* iterateTarMember(file: string, member: ArMember): AsyncGenerator<DebEntry> {
  const compression = compressionOf(member.name);
  if (!compression) {
    throw new RampartError('MALFORMED_DEB', `${file}: unsupported compression of ${member.name}`, {
      details: { path: file, member: member.name },
    });
  }
  const where = `${file}:${member.name}`;
  const source = createReadStream(file, { start: member.offset, end: member.offset + member.size - 1 });
  const decompressor = createDecompressor(compression);
  const extract = tar.extract();
  let pipeError: unknown;
  const piped = pipeline(source, decompressor, extract).catch((error: unknown) => {
    pipeError = error;
  });
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const name = normaliseEntryPath(h.name, where);
      const type = h.type === 'contiguous-file' ? 'file' : h.type;
      if (
        type !== 'file' &&
        type !== 'directory' &&
        type !== 'symlink' &&
        type !== 'link' &&
        type !== 'character-device' &&
        type !== 'block-device' &&
        type !== 'fifo'
      ) {
        throw new RampartError(
          'MALFORMED_DEB',
          `${where}: unsupported tar entry type ${h.type} for ${h.name}`,
          { details: { path: file, member: member.name } },
        );
      }
      let content: Buffer | undefined;
      if (type === 'file') {
        const chunks: Buffer[] = [];
        for await (const chunk of entry) chunks.push(chunk as Buffer);
        content = Buffer.concat(chunks);
      } else {
        entry.resume();
      }
      if (name === '') continue; // the archive root; the caller owns '/'
      let linkname = h.linkname ?? undefined;
      if (type === 'link' && linkname !== undefined) linkname = normaliseEntryPath(linkname, where);
      const header: DebEntryHeader = {
        name,
        type,
        mode: h.mode ?? 0,
        uid: h.uid ?? 0,
        gid: h.gid ?? 0,
        size: type === 'file' ? (content?.length ?? 0) : 0,
        ...(linkname !== undefined && (type === 'symlink' || type === 'link') ? { linkname } : {}),
        ...(h.mtime ? { mtime: h.mtime } : {}),
        ...(h.uname ? { uname: h.uname } : {}),
        ...(h.gname ? { gname: h.gname } : {}),
        ...(type === 'character-device' || type === 'block-device'
          ? { devmajor: h.devmajor ?? 0, devminor: h.devminor ?? 0 }
          : {}),
      };
      yield content ? { header, content } : { header };
    }
  } finally {
    source.destroy();
    decompressor.destroy();
    extract.destroy();
  }
  await piped;
  if (pipeError) {
    if (pipeError instanceof RampartError) throw pipeError;
    // The file itself could not be read (removed, unreadable): not a malformed .deb.
    if (isSystemError(pipeError)) throw fromSystemError(pipeError, { path: file, operation: 'read' });
    throw new RampartError('MALFORMED_DEB', `${where}: ${(pipeError as Error).message}`, {
      cause: pipeError,
      details: { path: file, member: member.name },
    });
  }
}

/** Reads the control archive of a .deb: control fields, md5sums, conffiles and all control files. */
export async function readDeb(file: string): Promise<DebControl> {
  const members = await listArMembers(file);
  const controlFiles = new Map<string, Buffer>();
  for await (const entry of iterateTarMember(file, findMember(members, 'control.tar', file))) {
    if (entry.content) controlFiles.set(entry.header.name, entry.content);
  }
  const controlText = controlFiles.get('control');
  if (!controlText) {
    throw new RampartError('MALFORMED_DEB', `${file}: control.tar has no control file`, {
      details: { path: file, member: 'control' },
    });
  }
  const control = parseControlFile(controlText.toString('utf8'), file)[0];
  if (!control) {
    throw new RampartError('MALFORMED_DEB', `${file}: empty control file`, {
      details: { path: file, member: 'control' },
    });
  }
  const md5sums = new Map<string, string>();
  for (const line of (controlFiles.get('md5sums')?.toString('utf8') ?? '').split('\n')) {
    const match = /^([0-9a-f]{32})\s+(.+)$/.exec(line.trim());
    if (match) md5sums.set(normaliseEntryPath(match[2] as string, `${file}:md5sums`), match[1] as string);
  }
  const conffiles: string[] = [];
  for (const line of (controlFiles.get('conffiles')?.toString('utf8') ?? '').split('\n')) {
    // dpkg >= 1.20.1 allows flags before the path (`remove-on-upgrade /etc/x`).
    const path = line
      .trim()
      .split(/\s+/)
      .find((w) => w.startsWith('/'));
    if (path) conffiles.push(path);
  }
  return { control, md5sums, conffiles, controlFiles };
}

/**
 * Streams the entries of a .deb's data archive in order. File contents come as one Buffer
 * per file (the builder needs every file's bytes anyway); the archive itself is streamed.
 * Device nodes and fifos are reported with their type so callers can refuse or record them.
 * The root entry ('./') is not yielded.
 */
export async function* readDebData(file: string): AsyncGenerator<DebEntry> {
  const members = await listArMembers(file);
  yield* iterateTarMember(file, findMember(members, 'data.tar', file));
}

/** The control file's paragraphs; a parse error names the .deb it came from. */
function parseControlFile(text: string, file: string): Paragraph[] {
  try {
    return parseDeb822(text);
  } catch (error) {
    if (!isRampartError(error, 'MALFORMED_CONTROL')) throw error;
    throw new RampartError('MALFORMED_CONTROL', `${file}: control file: ${error.message}`, {
      cause: error,
      details: { ...error.details, path: file, document: 'control' },
    });
  }
}
