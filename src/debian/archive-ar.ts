import { open } from 'node:fs/promises';
import { fromSystemError, RampartError } from '../errors.js';

/** One member of a Unix `ar` archive: where its data starts in the file, and its size. */
export interface ArMember {
  name: string;
  offset: number;
  size: number;
}

const AR_MAGIC = '!<arch>\n';
const HEADER_SIZE = 60;

/**
 * Lists the members of an `ar` archive by reading only the 60-byte headers, so member data
 * can then be streamed from the file without loading the archive (a .deb) into memory.
 */
export async function listArMembers(file: string): Promise<ArMember[]> {
  const handle = await open(file, 'r').catch((error: unknown) => {
    throw fromSystemError(error, { path: file, operation: 'open' });
  });
  try {
    const { size: fileSize } = await handle.stat();
    const magic = Buffer.alloc(8);
    await handle.read(magic, 0, 8, 0);
    if (magic.toString('latin1') !== AR_MAGIC) {
      throw new RampartError('MALFORMED_DEB', `${file} is not an ar archive (bad magic); is it a .deb?`, {
        details: { path: file },
      });
    }
    const members: ArMember[] = [];
    const header = Buffer.alloc(HEADER_SIZE);
    let position = 8;
    while (position + HEADER_SIZE <= fileSize) {
      const { bytesRead } = await handle.read(header, 0, HEADER_SIZE, position);
      if (bytesRead < HEADER_SIZE) break;
      if (header.toString('latin1', 58, 60) !== '`\n') {
        throw new RampartError('MALFORMED_DEB', `${file}: bad ar member header at offset ${position}`, {
          details: { path: file },
        });
      }
      // GNU ar terminates names with '/'; dpkg writes plain names padded with spaces.
      const name = header.toString('latin1', 0, 16).trimEnd().replace(/\/$/, '');
      const sizeText = header.toString('latin1', 48, 58).trim();
      if (!/^\d+$/.test(sizeText)) {
        throw new RampartError(
          'MALFORMED_DEB',
          `${file}: bad size in ar member header at offset ${position}`,
          { details: { path: file, member: name } },
        );
      }
      const size = Number(sizeText);
      const offset = position + HEADER_SIZE;
      if (offset + size > fileSize) {
        throw new RampartError('MALFORMED_DEB', `${file}: ar member ${name} is truncated`, {
          details: { path: file, member: name },
        });
      }
      members.push({ name, offset, size });
      position = offset + size + (size % 2); // members are 2-byte aligned
    }
    return members;
  } finally {
    await handle.close();
  }
}
