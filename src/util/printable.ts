/** C0 controls, DEL, C1 controls, and the bidirectional overrides and isolates (U+202A-E, U+2066-9). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
/** The same, less line feed and tab: what a multi-line text may hold. */
const CONTROL_IN_TEXT = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const escaped = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * A value read from an image, a registry, an advisory feed or a signed document, made safe to print
 * on one line of text output: control characters (line feeds and carriage returns too), DEL and
 * bidirectional overrides shown as `\u001b`-style escapes. No value can then move the cursor, set
 * the terminal's title, hide or reorder text, or start a line of its own that looks like rampart's.
 */
export function printable(value: string): string {
  return value.replace(CONTROL, escaped);
}

/** A multi-line text with `printable`'s escapes, line feeds and tabs kept. */
export function printableText(text: string): string {
  return text.replace(CONTROL_IN_TEXT, escaped);
}
