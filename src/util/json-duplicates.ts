/**
 * The first object key that appears twice in one object of a JSON text, or undefined. JSON.parse
 * keeps the last of them; other parsers keep the first or refuse. A signed document that two
 * verifiers read differently is refused instead (containers/image refuses duplicate keys in a
 * simple-signing payload). Keys are compared decoded: `"a"` and `"\u0061"` are the same key.
 *
 * Written here because no JSON parser in Node reports duplicates, and a scan is cheap next to the
 * hash a signature check takes. Call it on text JSON.parse has accepted: it assumes valid JSON.
 */
export function duplicateJsonKey(text: string): string | undefined {
  // Per open container: the keys seen (an object) or null (an array).
  const stack: Array<Set<string> | null> = [];
  let expectingKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const end = stringEnd(text, i);
      const top = stack[stack.length - 1];
      if (top && expectingKey) {
        const raw = text.slice(i + 1, end);
        const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
        if (top.has(key)) return key;
        top.add(key);
        expectingKey = false;
      }
      i = end;
    } else if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectingKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      expectingKey = stack[stack.length - 1] != null;
    }
  }
  return undefined;
}

/** The index of the quote closing the string that opens at `start`. */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const quote = text.indexOf('"', i);
    if (quote < 0) return text.length - 1;
    // Escaped when preceded by an odd number of backslashes.
    let slashes = 0;
    for (let j = quote - 1; text.charCodeAt(j) === 0x5c; j--) slashes++;
    if (slashes % 2 === 0) return quote;
    i = quote + 1;
  }
}
