/**
 * Splits a stream holding one big JSON object into its top-level members, each parsed on its own:
 * the Debian tracker dump (~70 MB, one member per source package) is read with the memory of its
 * largest package, never the whole document.
 *
 * Hand-written rather than a streaming JSON library: those (stream-json, @streamparser/json)
 * tokenise every character in JavaScript and rebuild objects from token events, several times
 * slower than this scan, which only tracks strings, escapes and nesting depth to find where a
 * member ends and hands its bytes to the native `JSON.parse`. Everything below depth 1 is left to
 * JSON.parse, so a malformed member is reported by it (and skipped by the caller) while the split
 * itself only needs balanced brackets outside strings.
 */
import { RampartError } from '../../errors.js';

export type JsonMember =
  | { ok: true; key: string; value: unknown; bytes: number }
  | { ok: false; key?: string; reason: string; bytes: number };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

export interface SplitOptions {
  /** The document, for errors. */
  location: string;
  source: string;
  /** A member larger than this is skipped (reported, not parsed). Default 256 MiB. */
  maxMemberBytes?: number;
}

/**
 * Yields each top-level member of the object the stream holds. A document that is not one JSON
 * object, or ends before it closes (a truncated download), is FEED_INVALID: importing what came
 * before the cut would silently drop the rest.
 */
export async function* splitTopLevelObject(
  chunks: AsyncIterable<Uint8Array>,
  options: SplitOptions,
): AsyncGenerator<JsonMember> {
  const maxMemberBytes = options.maxMemberBytes ?? 256 * 1024 * 1024;
  const fail = (reason: string) =>
    new RampartError('FEED_INVALID', `${options.location} is not a JSON object document: ${reason}`, {
      details: { source: options.source, path: options.location, format: options.source },
    });
  let started = false;
  let closed = false;
  let depth = 0;
  let inString = false;
  let escaped = false;
  /** The parts of the member being read (from its key's opening quote). */
  let parts: Uint8Array[] = [];
  let memberBytes = 0;
  let oversized = false;
  let inMember = false;

  /** `whole`: the member lies within one chunk (most do), decoded from it without copying. */
  const finishMember = (whole?: Uint8Array): JsonMember => {
    const bytes = whole ? whole.length : memberBytes;
    const text = whole
      ? Buffer.from(whole.buffer, whole.byteOffset, whole.length).toString('utf8')
      : oversized
        ? ''
        : Buffer.concat(parts).toString('utf8');
    parts = [];
    memberBytes = 0;
    inMember = false;
    if (oversized) {
      oversized = false;
      return { ok: false, reason: `member larger than ${maxMemberBytes} bytes`, bytes };
    }
    try {
      const parsed = JSON.parse(`{${text}}`) as Record<string, unknown>;
      const keys = Object.keys(parsed);
      if (keys.length !== 1) return { ok: false, reason: 'not one member', bytes };
      return { ok: true, key: keys[0]!, value: parsed[keys[0]!], bytes };
    } catch (error) {
      const key = /^\s*"((?:[^"\\]|\\.){0,200})"/.exec(text)?.[1];
      return { ok: false, ...(key !== undefined ? { key } : {}), reason: (error as Error).message, bytes };
    }
  };

  for await (const chunk of chunks) {
    const buffer = chunk;
    let memberStart = inMember ? 0 : -1;
    for (let i = 0; i < buffer.length; i++) {
      const byte = buffer[i]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (byte === BACKSLASH) escaped = true;
        else if (byte === QUOTE) inString = false;
        continue;
      }
      if (closed) {
        if (!isSpace(byte)) throw fail('data after the closing brace');
        continue;
      }
      if (!started) {
        if (isSpace(byte) || byte === 0xef || byte === 0xbb || byte === 0xbf) continue;
        if (byte !== OPEN_BRACE) throw fail('it does not start with "{"');
        started = true;
        depth = 1;
        continue;
      }
      if (depth === 1 && !inMember) {
        if (isSpace(byte) || byte === COMMA) continue;
        if (byte === CLOSE_BRACE) {
          depth = 0;
          closed = true;
          continue;
        }
        if (byte !== QUOTE) throw fail(`unexpected "${String.fromCharCode(byte)}" between members`);
        inMember = true;
        memberStart = i;
        inString = true;
        continue;
      }
      if (byte === QUOTE) inString = true;
      else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
      else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) {
          // The top-level object closes right after a member.
          yield endMember(buffer, memberStart, i);
          closed = true;
          memberStart = -1;
        }
      } else if (byte === COMMA && depth === 1) {
        yield endMember(buffer, memberStart, i);
        memberStart = -1;
      }
    }
    if (inMember && memberStart >= 0) appendPart(buffer.subarray(memberStart));
  }
  if (!started) throw fail('it is empty');
  if (!closed) throw fail('it ends before the top-level object closes (truncated?)');

  /** The member that ends at `end` of `buffer` (having started at `start`, or in an earlier chunk). */
  function endMember(buffer: Uint8Array, start: number, end: number): JsonMember {
    const part = buffer.subarray(start, end);
    if (parts.length === 0 && !oversized && part.length <= maxMemberBytes) return finishMember(part);
    appendPart(part);
    return finishMember();
  }

  function appendPart(part: Uint8Array): void {
    memberBytes += part.length;
    if (oversized) return;
    if (memberBytes > maxMemberBytes) {
      oversized = true;
      parts = [];
      return;
    }
    // Copy: the stream may reuse its chunk buffers.
    parts.push(Buffer.from(part));
  }
}
