import { spdxExceptionFor, spdxForDebianName } from '../../identity/debian-license-names.js';
import {
  declaredLicense,
  type LicenseNode,
  LicenseRefs,
  licenseFromName,
  parseLicense,
  renderLicense,
} from '../../identity/license.js';
import type { DeclaredLicense } from '../../model.js';
import { parseStanzas } from './stanzas.js';

const COMMON_LICENSE_REF = /\/usr\/share\/common-licenses\/([A-Za-z0-9][A-Za-z0-9.+_-]*[A-Za-z0-9+])/g;

/**
 * The licence a Debian copyright file declares. A machine-readable (DEP-5) file gives the AND of
 * its Files paragraphs' License fields (the header's when no Files paragraph has one), each read
 * with its structure: `or` → OR, `and` → AND, `, and` / `, or` as the weakest separator, `with X
 * exception` → WITH, `+` → or-later; names through the exact DEP-5 table
 * (identity/debian-license-names.ts). What is not an SPDX id is a `LicenseRef-` whose text is the
 * file's stand-alone License paragraph for that name. A free-form file gives the common-licenses it
 * cites (`/usr/share/common-licenses/GPL-2`), ANDed.
 */
export function licenseFromCopyright(text: string): DeclaredLicense | undefined {
  const refs = new LicenseRefs();
  if (/^Format:\s*\S*copyright-format/im.test(text.slice(0, 2000))) {
    const stanzas = parseStanzas(text, () => {});
    const texts = standaloneLicenseTexts(stanzas.map((s) => s.fields));
    const fields = stanzas.map((s) => s.fields);
    let licenses = fields.filter((f) => f.has('files') && f.get('license')).map((f) => f.get('license')!);
    if (licenses.length === 0) licenses = fields.slice(0, 1).flatMap((f) => f.get('license') ?? []);
    const terms = licenses.map((field) => renderLicense(dep5License(field, texts, refs)));
    const declared = declaredLicense(terms, refs);
    if (declared) return declared;
  }
  const cited = new Set<string>();
  for (const match of text.matchAll(COMMON_LICENSE_REF)) {
    cited.add(commonLicense((match[1] ?? '').replace(/\.txt$/, ''), refs));
  }
  return declaredLicense([...cited], refs);
}

/**
 * Files in /usr/share/common-licenses whose name is not the DEP-5 name of their text: `GPL` and
 * `LGPL` are symlinks to the version 3 texts, `GFDL` to 1.3, and `BSD` is the 3-clause licence of
 * the University of California. A citation gives the text only, so the version is "only".
 */
const COMMON_LICENSE_FILES: Record<string, string> = {
  GPL: 'GPL-3.0-only',
  LGPL: 'LGPL-3.0-only',
  GFDL: 'GFDL-1.3-only',
  BSD: 'BSD-3-Clause',
};

function commonLicense(file: string, refs: LicenseRefs): string {
  return COMMON_LICENSE_FILES[file] ?? spdxForDebianName(file) ?? licenseFromName(file, refs);
}

/** Stand-alone License paragraphs (no Files field): their text by first line, in lower case. */
function standaloneLicenseTexts(paragraphs: ReadonlyArray<Map<string, string>>): Map<string, string> {
  const texts = new Map<string, string>();
  for (const fields of paragraphs) {
    const license = fields.get('license');
    if (fields.has('files') || fields.has('format') || !license) continue;
    const { synopsis, body } = splitField(license);
    if (body && !texts.has(synopsis.toLowerCase())) texts.set(synopsis.toLowerCase(), body);
  }
  return texts;
}

/** A License field's first line (whitespace collapsed) and its text (` .` lines are blank lines). */
function splitField(field: string): { synopsis: string; body: string | undefined } {
  const [first = '', ...rest] = field.split('\n');
  const body = rest
    .map((line) => (line.trim() === '.' ? '' : line))
    .join('\n')
    .trim();
  return { synopsis: first.trim().replace(/\s+/g, ' '), body: body === '' ? undefined : body };
}

/**
 * One License field as an SPDX tree. The grammar (copyright-format 1.0, 7.2): names separated by
 * `or` and `and`, `and` binding tighter unless preceded by a comma (`A or B, and C` is `(A or B)
 * and C`), each name optionally followed by `with <keyword> exception`. Parentheses, which some
 * files use, group as in SPDX. A field outside the grammar is one `LicenseRef-` for the whole line.
 */
export function dep5License(
  field: string,
  texts: ReadonlyMap<string, string>,
  refs: LicenseRefs,
): LicenseNode {
  const { synopsis, body } = splitField(field);
  const textFor = (name: string) =>
    texts.get(name.toLowerCase()) ?? (name.toLowerCase() === synopsis.toLowerCase() ? body : undefined);
  const parsed =
    synopsis.length <= MAX_SYNOPSIS
      ? new Dep5Parser(synopsis, (name) => leafForName(name, textFor, refs), textFor, refs).parse()
      : undefined;
  return parsed ?? { kind: 'leaf', term: refs.idFor(synopsis, textFor(synopsis)) };
}

function leafForName(
  name: string,
  textFor: (name: string) => string | undefined,
  refs: LicenseRefs,
): LicenseNode {
  const spdx = spdxForDebianName(name);
  if (spdx) return parseLicense(spdx) ?? { kind: 'leaf', term: spdx };
  return { kind: 'leaf', term: refs.idFor(name, textFor(name)) };
}

/**
 * A License line longer than this, or nested deeper than MAX_DEPTH, is not parsed (it becomes one
 * LicenseRef): real ones are under 200 characters and 2 levels, and the reader recurses per level.
 */
const MAX_SYNOPSIS = 4096;
const MAX_DEPTH = 16;

type Token = { kind: 'word'; text: string } | { kind: 'comma' | 'open' | 'close' };

function tokenize(line: string): Token[] {
  const tokens: Token[] = [];
  for (const match of line.matchAll(/[(),]|[^\s(),]+/g)) {
    const text = match[0];
    tokens.push(
      text === ','
        ? { kind: 'comma' }
        : text === '('
          ? { kind: 'open' }
          : text === ')'
            ? { kind: 'close' }
            : { kind: 'word', text },
    );
  }
  return tokens;
}

/** A recursive-descent reader of the grammar above; `parse()` is undefined for anything outside it. */
class Dep5Parser {
  readonly #tokens: Token[];
  #at = 0;
  #depth = 0;

  constructor(
    line: string,
    private readonly leaf: (name: string) => LicenseNode,
    private readonly textFor: (name: string) => string | undefined,
    private readonly refs: LicenseRefs,
  ) {
    this.#tokens = tokenize(line);
  }

  parse(): LicenseNode | undefined {
    const node = this.#list();
    return node && this.#at === this.#tokens.length ? node : undefined;
  }

  /** `segment (, and|or segment)*`, left to right, weaker than any and/or inside a segment. */
  #list(): LicenseNode | undefined {
    let node = this.#or();
    while (node && this.#peek()?.kind === 'comma') {
      this.#at++;
      const op = this.#operator();
      if (!op) return undefined;
      const right = this.#or();
      if (!right) return undefined;
      node = { kind: op, items: [node, right] };
    }
    return node;
  }

  #or(): LicenseNode | undefined {
    const items = [this.#and()];
    while (this.#isOperator('or')) {
      this.#at++;
      items.push(this.#and());
    }
    if (items.some((i) => i === undefined)) return undefined;
    return items.length === 1 ? items[0] : { kind: 'or', items: items as LicenseNode[] };
  }

  #and(): LicenseNode | undefined {
    const items = [this.#term()];
    while (this.#isOperator('and')) {
      this.#at++;
      items.push(this.#term());
    }
    if (items.some((i) => i === undefined)) return undefined;
    return items.length === 1 ? items[0] : { kind: 'and', items: items as LicenseNode[] };
  }

  #term(): LicenseNode | undefined {
    const token = this.#peek();
    if (token?.kind === 'open') {
      if (++this.#depth > MAX_DEPTH) return undefined;
      this.#at++;
      const inner = this.#list();
      if (this.#peek()?.kind !== 'close') return undefined;
      this.#at++;
      this.#depth--;
      return inner;
    }
    if (
      token?.kind !== 'word' ||
      this.#isOperator('or') ||
      this.#isOperator('and') ||
      this.#isOperator('with')
    )
      return undefined;
    this.#at++;
    if (!this.#isOperator('with')) return this.leaf(token.text);
    // `with <keyword…> exception`: the keyword runs to the word "exception".
    const start = this.#at + 1;
    let end = start;
    while (end < this.#tokens.length && !isWord(this.#tokens[end], 'exception')) {
      if (this.#tokens[end]?.kind !== 'word') return undefined;
      end++;
    }
    if (end === start || end >= this.#tokens.length) return undefined;
    const keyword = this.#tokens
      .slice(start, end)
      .map((t) => (t.kind === 'word' ? t.text : ''))
      .join(' ');
    this.#at = end + 1;
    const whole = `${token.text} with ${keyword} exception`;
    const licence = spdxForDebianName(token.text);
    const exception = licence && !/\s/.test(licence) ? spdxExceptionFor(keyword, licence) : undefined;
    if (licence && exception) return { kind: 'leaf', term: `${licence} WITH ${exception}` };
    return { kind: 'leaf', term: this.refs.idFor(whole, this.textFor(whole)) };
  }

  #operator(): 'and' | 'or' | undefined {
    const op = this.#isOperator('and') ? 'and' : this.#isOperator('or') ? 'or' : undefined;
    if (op) this.#at++;
    return op;
  }

  #isOperator(word: string): boolean {
    return isWord(this.#peek(), word);
  }

  #peek(): Token | undefined {
    return this.#tokens[this.#at];
  }
}

function isWord(token: Token | undefined, word: string): boolean {
  return token?.kind === 'word' && token.text.toLowerCase() === word;
}
