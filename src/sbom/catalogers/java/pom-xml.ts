/**
 * Reads the `<licenses>` of a Maven pom.xml with a tiny tag reader instead of an XML library: only
 * `project/licenses/license/{name,url}` matter, and a reader that never expands entities beyond
 * the five predefined ones and character references cannot be made to fetch or blow up anything.
 * It still checks that tags nest, so a damaged file is reported (thrown) rather than half-read.
 */
export interface PomLicense {
  name?: string;
  url?: string;
}

const LICENSE_FIELD = /^project\/licenses\/license\/(name|url)$/;

export function parsePomLicenses(bytes: Buffer): PomLicense[] {
  const text = decodePom(bytes);
  const stack: string[] = [];
  const licenses: PomLicense[] = [];
  let field: { key: 'name' | 'url'; text: string } | undefined;
  let sawRoot = false;
  let at = 0;
  while (at < text.length) {
    const open = text.indexOf('<', at);
    const chunk = text.slice(at, open < 0 ? text.length : open);
    if (field) field.text += decodeText(chunk);
    else if (stack.length === 0 && chunk.trim() !== '') throw new Error('text outside the root element');
    if (open < 0) break;
    if (text.startsWith('<!--', open)) at = skipPast(text, open, '-->');
    else if (text.startsWith('<![CDATA[', open)) {
      const end = skipPast(text, open, ']]>');
      if (field) field.text += text.slice(open + 9, end - 3);
      at = end;
    } else if (text.startsWith('<?', open)) at = skipPast(text, open, '?>');
    else if (text.startsWith('<!', open)) {
      // A DOCTYPE could declare entities; POMs never have one, so any internal subset is refused.
      const end = skipPast(text, open, '>');
      if (text.slice(open, end).includes('[')) throw new Error('DOCTYPE with an internal subset');
      at = end;
    } else {
      const end = tagEnd(text, open);
      const tag = text.slice(open + 1, end - 1);
      const name = /^\/?\s*([^\s/>]+)/.exec(tag)?.[1];
      if (!name) throw new Error(`empty tag at offset ${open}`);
      const local = name.slice(name.indexOf(':') + 1);
      if (tag.startsWith('/')) {
        const expected = stack.pop();
        if (expected !== local) throw new Error(`</${local}> closes <${expected ?? 'nothing'}>`);
        if (field && stack.length === 3) {
          const value = field.text.trim();
          const license = licenses.at(-1);
          if (license && value) license[field.key] = value;
          field = undefined;
        }
      } else {
        if (stack.length === 0 && sawRoot) throw new Error(`a second root element <${local}>`);
        sawRoot = true;
        if (!tag.endsWith('/')) {
          stack.push(local);
          // Only the first four levels matter; joining a deep stack per tag would be quadratic.
          const path = stack.length <= 4 ? stack.join('/') : '';
          if (path === 'project/licenses/license') licenses.push({});
          const key = LICENSE_FIELD.exec(path)?.[1] as 'name' | 'url' | undefined;
          if (key) field = { key, text: '' };
        }
      }
      at = end;
    }
  }
  if (!sawRoot) throw new Error('no root element');
  if (stack.length > 0) throw new Error(`<${stack.at(-1)}> is never closed`);
  return licenses.filter((l) => l.name !== undefined || l.url !== undefined);
}

/** UTF-8 unless the declaration says Latin-1 (older POMs do). */
function decodePom(bytes: Buffer): string {
  const head = bytes.subarray(0, 200).toString('latin1');
  const encoding = /^\s*<\?xml[^>]*encoding\s*=\s*["']([^"']+)["']/.exec(head)?.[1]?.toLowerCase();
  const text = bytes.toString(encoding === 'iso-8859-1' || encoding === 'latin1' ? 'latin1' : 'utf8');
  return text.startsWith('\uFEFF') ? text.slice(1) : text;
}

function skipPast(text: string, from: number, terminator: string): number {
  const end = text.indexOf(terminator, from);
  if (end < 0) throw new Error(`unterminated markup at offset ${from}`);
  return end + terminator.length;
}

/** The end of a start or end tag; a `>` inside a quoted attribute value does not end it. */
function tagEnd(text: string, from: number): number {
  let quote: string | undefined;
  for (let i = from + 1; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '>') return i + 1;
    else if (c === '<') break;
  }
  throw new Error(`unterminated tag at offset ${from}`);
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeText(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ref: string) => {
    if (ref.startsWith('#')) {
      const code =
        ref[1] === 'x' || ref[1] === 'X' ? Number.parseInt(ref.slice(2), 16) : Number(ref.slice(1));
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    // Any other entity would need a DTD; it is kept as written.
    return PREDEFINED[ref] ?? whole;
  });
}
