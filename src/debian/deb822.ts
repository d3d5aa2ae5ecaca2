import { RampartError } from '../errors.js';

/**
 * One deb822 paragraph. Keys are lower-cased field names (deb822 field names are
 * case-insensitive); values are the raw field value: the first line trimmed, continuation
 * lines joined with '\n' after stripping their single leading space or tab.
 */
export type Paragraph = Map<string, string>;

export interface Deb822Options {
  /** Accept `#` comment lines (dpkg allows them in debian/control, not in Packages or status). */
  allowComments?: boolean;
}

/** Receives fields as they are scanned; lets hot paths (Packages files) skip building Maps. */
export interface Deb822Visitor {
  /** `name` is as written in the file; `value` follows the Paragraph value rules. */
  field(name: string, value: string, line: number): void;
  endParagraph(): void;
  /**
   * Optional filter, called with the field name as written: false skips the field, 'first-line'
   * delivers only its first line. Saves building values nobody reads (long Descriptions).
   */
  accept?(name: string): boolean | 'first-line';
}

// The original spelling of field names, for callers that re-emit a paragraph.
const originalNames = new WeakMap<Paragraph, Map<string, string>>();

const SPACE = 0x20;
const TAB = 0x09;
const HASH = 0x23;
const CR = 0x0d;

function isBlank(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c !== SPACE && c !== TAB && c !== CR) return false;
  }
  return true;
}

function hasSpace(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === SPACE || c === TAB) return true;
  }
  return false;
}

// One slice instead of slice + trim: this runs for every field of a 60 MB index.
function sliceTrimmed(text: string, start: number, end: number): string {
  while (start < end && (text.charCodeAt(start) === SPACE || text.charCodeAt(start) === TAB)) start++;
  while (end > start && (text.charCodeAt(end - 1) === SPACE || text.charCodeAt(end - 1) === TAB)) end--;
  return text.slice(start, end);
}

/**
 * Single pass over deb822 text without splitting it into an array of lines (Packages files
 * are ~60 MB). Calls the visitor per field and at the end of every non-empty paragraph.
 */
export function scanDeb822(text: string, visitor: Deb822Visitor, opts: Deb822Options = {}): void {
  const allowComments = opts.allowComments ?? false;
  const length = text.length;
  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let lineNo = 0;
  let name: string | undefined;
  let nameLine = 0;
  let value = '';
  let inParagraph = false;
  // Whether continuation lines of the current field are appended to its value.
  let collect = true;
  let skipping = false;
  const accept = visitor.accept?.bind(visitor);

  const flush = () => {
    if (name !== undefined) visitor.field(name, value, nameLine);
    name = undefined;
  };

  while (pos < length) {
    let end = text.indexOf('\n', pos);
    if (end === -1) end = length;
    const next = end + 1;
    lineNo++;
    let lineEnd = end;
    if (lineEnd > pos && text.charCodeAt(lineEnd - 1) === CR) lineEnd--;
    const first = text.charCodeAt(pos);

    if (lineEnd === pos || ((first === SPACE || first === TAB) && isBlank(text, pos, lineEnd))) {
      // Blank (or whitespace-only) line: paragraph separator.
      if (inParagraph) {
        flush();
        visitor.endParagraph();
        inParagraph = false;
      }
      skipping = false;
    } else if (first === HASH && allowComments) {
      // Comment: ignored, and does not end a field's continuation lines.
    } else if (first === SPACE || first === TAB) {
      if (name === undefined && !skipping) {
        throw new RampartError(
          'MALFORMED_CONTROL',
          `deb822 line ${lineNo}: continuation line without a field before it; fix the control data`,
          { details: { line: lineNo } },
        );
      }
      if (collect) value += `\n${text.slice(pos + 1, lineEnd).trimEnd()}`;
    } else {
      const colon = text.indexOf(':', pos);
      if (colon === -1 || colon >= lineEnd || colon === pos) {
        throw new RampartError(
          'MALFORMED_CONTROL',
          `deb822 line ${lineNo}: expected "Field: value", got ${JSON.stringify(text.slice(pos, Math.min(lineEnd, pos + 60)))}`,
          { details: { line: lineNo, value: text.slice(pos, Math.min(lineEnd, pos + 60)) } },
        );
      }
      flush();
      const fieldName = text.slice(pos, colon);
      if (first === 0x2d /* - */ || hasSpace(text, pos, colon)) {
        throw new RampartError(
          'MALFORMED_CONTROL',
          `deb822 line ${lineNo}: invalid field name ${JSON.stringify(fieldName)}`,
          { details: { line: lineNo, field: fieldName.slice(0, 60) } },
        );
      }
      inParagraph = true;
      const wanted = accept === undefined ? true : accept(fieldName);
      if (wanted === false) {
        // Still a field: its continuation lines must not be taken as errors.
        name = undefined;
        collect = false;
        skipping = true;
      } else {
        name = fieldName;
        nameLine = lineNo;
        value = sliceTrimmed(text, colon + 1, lineEnd);
        collect = wanted === true;
        skipping = false;
      }
    }
    pos = next;
  }
  if (inParagraph) {
    flush();
    visitor.endParagraph();
  }
}

/**
 * Parse Packages, Release (cleartext body), control and status files into paragraphs.
 * Throws RampartError 'MALFORMED_CONTROL' naming the line on malformed input or a duplicate field.
 */
export function parseDeb822(text: string, opts?: Deb822Options): Paragraph[] {
  const paragraphs: Paragraph[] = [];
  let current: Paragraph = new Map();
  let names = new Map<string, string>();
  scanDeb822(
    text,
    {
      field(name, value, line) {
        const key = name.toLowerCase();
        if (current.has(key)) {
          throw new RampartError(
            'MALFORMED_CONTROL',
            `deb822 line ${line}: duplicate field ${JSON.stringify(name)}`,
            { details: { line, field: name } },
          );
        }
        current.set(key, value);
        names.set(key, name);
      },
      endParagraph() {
        originalNames.set(current, names);
        paragraphs.push(current);
        current = new Map();
        names = new Map();
      },
    },
    opts,
  );
  return paragraphs;
}

/** Case-insensitive field lookup. */
export function field(p: Paragraph, name: string): string | undefined {
  return p.get(name.toLowerCase());
}

/** The field name as spelled in the source text (falls back to the lower-cased key). */
export function originalFieldName(p: Paragraph, name: string): string {
  const key = name.toLowerCase();
  return originalNames.get(p)?.get(key) ?? key;
}
