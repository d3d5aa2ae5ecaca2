import { createHash } from 'node:crypto';
import spdxCorrect from 'spdx-correct';
import spdxParse from 'spdx-expression-parse';
import type { DeclaredLicense, LicenseRef } from '../model.js';
import { spdxLicenseIdFor } from './spdx-ids.js';

/**
 * The `LicenseRef-` ids of one package, each standing for a licence name (and the text the package
 * gives for it) that SPDX does not list. Ids are the sanitised name (`idstring` allows only
 * `[A-Za-z0-9.-]`; `+` reads as `-or-later`); a second name that sanitises to a taken id gets `-2`, `-3`.
 */
export class LicenseRefs {
  readonly #byId = new Map<string, LicenseRef>();
  readonly #byName = new Map<string, string>();
  // The next suffix per sanitised id: thousands of names that sanitise alike (`a!`, `a!!`, …) stay linear.
  readonly #nextSuffix = new Map<string, number>();

  idFor(name: string, text?: string): string {
    const known = this.#byName.get(name);
    if (known) {
      const ref = this.#byId.get(known)!;
      if (ref.text === undefined && text !== undefined) ref.text = text;
      return known;
    }
    const base = licenseRefId(name);
    let id = base;
    for (let n = this.#nextSuffix.get(base) ?? 2; this.#byId.has(id); n++) {
      id = `${base}-${n}`;
      this.#nextSuffix.set(base, n + 1);
    }
    this.#byId.set(id, { id, name, ...(text !== undefined ? { text } : {}) });
    this.#byName.set(name, id);
    return id;
  }

  /** The refs an expression uses, in id order. */
  usedBy(expression: string): LicenseRef[] {
    const used = new Set(expression.match(LICENSE_REF_TOKEN) ?? []);
    return [...this.#byId.values()]
      .filter((r) => used.has(r.id))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}

export const LICENSE_REF_TOKEN = /LicenseRef-[A-Za-z0-9.-]+/g;

const MAX_REF_ID = 64;

/** `LicenseRef-<name>` with the name made an SPDX idstring; a long name keeps a prefix and a hash. */
export function licenseRefId(name: string): string {
  let sanitised = name
    .trim()
    .replace(/\+/g, '-or-later')
    .replace(/[^A-Za-z0-9.-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
  if (sanitised.length > MAX_REF_ID) {
    const hash = createHash('sha256').update(name.trim()).digest('hex').slice(0, 8);
    sanitised = `${sanitised.slice(0, MAX_REF_ID - 9).replace(/-+$/, '')}-${hash}`;
  }
  return `LicenseRef-${sanitised || 'unknown'}`;
}

/** A licence expression as a tree: leaves are single SPDX terms (`MIT`, `Apache-2.0+`, `X WITH Y`, `LicenseRef-z`). */
export type LicenseNode = { kind: 'leaf'; term: string } | { kind: 'and' | 'or'; items: LicenseNode[] };

/** Renders a tree as an SPDX expression: AND and OR flattened, repeats dropped, parentheses only where needed. */
export function renderLicense(node: LicenseNode): string {
  const flat = flatten(node);
  if (flat.kind === 'leaf') return flat.term;
  return flat.items
    .map((item) =>
      item.kind === 'or' && flat.kind === 'and' ? `(${renderLicense(item)})` : renderLicense(item),
    )
    .join(flat.kind === 'and' ? ' AND ' : ' OR ');
}

function flatten(node: LicenseNode): LicenseNode {
  if (node.kind === 'leaf') return node;
  const items: LicenseNode[] = [];
  const seen = new Set<string>();
  for (const child of node.items.map(flatten)) {
    for (const item of child.kind === node.kind ? child.items : [child]) {
      const key = renderLicense(item);
      if (!seen.has(key)) {
        seen.add(key);
        items.push(item);
      }
    }
  }
  return items.length === 1 ? items[0]! : { kind: node.kind, items };
}

/** The tree of a valid SPDX expression (spdx-expression-parse's grammar); undefined when it is not one. */
export function parseLicense(expression: string): LicenseNode | undefined {
  let tree: unknown;
  try {
    tree = spdxParse(expression);
  } catch {
    return undefined;
  }
  return fromParsed(tree as ParsedExpression);
}

type ParsedExpression =
  | { license: string; plus?: boolean; exception?: string }
  | { left: ParsedExpression; conjunction: 'and' | 'or'; right: ParsedExpression };

function fromParsed(tree: ParsedExpression): LicenseNode {
  if ('license' in tree)
    return {
      kind: 'leaf',
      term: `${tree.license}${tree.plus ? '+' : ''}${tree.exception ? ` WITH ${tree.exception}` : ''}`,
    };
  return { kind: tree.conjunction, items: [fromParsed(tree.left), fromParsed(tree.right)] };
}

/**
 * A package's declared licence from its licence statements (each a valid SPDX expression): all of
 * them apply (`and`, the default) or any one does (`or`); flattened, without repeats, in the order
 * given; undefined when there are none.
 */
export function declaredLicense(
  terms: readonly (string | undefined)[],
  refs: LicenseRefs,
  kind: 'and' | 'or' = 'and',
): DeclaredLicense | undefined {
  const nodes = terms.flatMap((t) => {
    const node = t === undefined ? undefined : parseLicense(t);
    return node ? [node] : [];
  });
  if (nodes.length === 0) return undefined;
  const expression = renderLicense({ kind, items: nodes });
  const used = refs.usedBy(expression);
  return { expression, ...(used.length > 0 ? { refs: used } : {}) };
}

/**
 * One licence statement from package metadata (npm `license`, PyPI `License-Expression` or
 * `License`, a POM licence name): a valid SPDX expression is kept whole; anything else is one name.
 */
export function licenseFromStatement(statement: string, refs: LicenseRefs): string | undefined {
  const text = (statement.split('\n')[0] ?? '').trim();
  if (text === '') return undefined;
  if (isSpdxExpression(text)) return text;
  return licenseFromName(text, refs);
}

/**
 * One licence name from package metadata → an SPDX id, or a `LicenseRef-` that keeps the name.
 * Exact ids first (case-insensitive, `2.0` = `2`); then spdx-correct, but only when its answer has
 * the same words and numbers as the name, apart from filler ("license", "version", "the", …):
 * `Apache License, Version 2.0` → Apache-2.0 passes; `BSD-4-clause-POWERDOG` → BSD-2-Clause,
 * `DONT-CHANGE-THE-GPL` → GPL-3.0-or-later, `GPLv3` → GPL-3.0-or-later, `Apache` → Apache-2.0 and
 * `GPL-2+ or Artistic` → Artistic-2.0 do not.
 */
export function licenseFromName(name: string, refs: LicenseRefs): string {
  const trimmed = name.trim();
  if (trimmed.startsWith('LicenseRef-') && isSpdxExpression(trimmed)) return trimmed;
  const exact = exactSpdxId(trimmed);
  if (exact) return exact;
  const corrected = safeCorrect(trimmed);
  if (
    corrected &&
    /^[A-Za-z0-9.+-]+$/.test(corrected) &&
    isSpdxExpression(corrected) &&
    saysNoMore(corrected, trimmed)
  )
    return corrected;
  return refs.idFor(trimmed);
}

/** An exact SPDX licence id up to case and trailing dot-zeroes, with SPDX's own `+`. */
export function exactSpdxId(name: string): string | undefined {
  const plus = name.endsWith('+');
  const id = spdxLicenseIdFor(plus ? name.slice(0, -1) : name);
  if (!id) return undefined;
  if (!plus) return id;
  return /-(?:only|or-later)$/.test(id) ? undefined : `${id}+`;
}

/** Words that add nothing to a licence's identity (`-only` is what SPDX reads a bare GPL version as). */
const NEUTRAL_WORDS = new Set(['license', 'licence', 'version', 'v', 'only', 'the', 'clause', 'software']);

function saysNoMore(id: string, name: string): boolean {
  const significant = (text: string) =>
    [...words(text)]
      .filter((w) => !NEUTRAL_WORDS.has(w))
      .sort()
      .join(' ');
  return significant(id) === significant(name);
}

function words(text: string): Set<string> {
  const normalised = text
    .toLowerCase()
    .replace(/\+/g, ' or later ')
    .replace(/([a-z])v(?=\d)/g, '$1 ')
    .replace(/(\d+)(?:\.0)+(?![\d.])/g, '$1');
  return new Set(normalised.match(/[a-z]+|\d+(?:\.\d+)*/g) ?? []);
}

function safeCorrect(name: string): string | undefined {
  if (name === '') return undefined;
  try {
    return spdxCorrect(name, { upgrade: true }) ?? undefined;
  } catch {
    return undefined;
  }
}

const parsedExpressions = new Map<string, boolean>();

export function isSpdxExpression(text: string): boolean {
  let valid = parsedExpressions.get(text);
  if (valid === undefined) {
    try {
      spdxParse(text);
      valid = true;
    } catch {
      valid = false;
    }
    // The same few dozen statements recur across packages; the cache is bounded by what a root holds.
    if (parsedExpressions.size < 100_000) parsedExpressions.set(text, valid);
  }
  return valid;
}

/**
 * Licence URLs that name exactly one SPDX licence, keyed without scheme, `www.`, file extension or
 * trailing slash, lower case. Maven POMs and OSGi `Bundle-License` often give only a URL, or a
 * free-text name that spdx-correct guesses wrong (it reads "Eclipse Public License - v 2.0" as
 * EPL-1.0). The GNU URLs are left out on purpose: they do not say "only" or "or later".
 */
const LICENSE_URLS: Record<string, string> = {
  'apache.org/licenses/license-2.0': 'Apache-2.0',
  'apache.org/licenses/license-1.1': 'Apache-1.1',
  'opensource.org/licenses/apache2.0': 'Apache-2.0',
  'opensource.org/licenses/mit-license': 'MIT',
  'mit-license.org': 'MIT',
  'eclipse.org/legal/epl-v10': 'EPL-1.0',
  'eclipse.org/legal/epl-2.0': 'EPL-2.0',
  'eclipse.org/legal/epl-v20': 'EPL-2.0',
  // The Eclipse Distribution License 1.0 is the 3-clause BSD licence (SPDX lists its URL there).
  'eclipse.org/org/documents/edl-v10': 'BSD-3-Clause',
  'mozilla.org/mpl/2.0': 'MPL-2.0',
  'mozilla.org/mpl/mpl-1.1': 'MPL-1.1',
  'creativecommons.org/publicdomain/zero/1.0': 'CC0-1.0',
  'creativecommons.org/publicdomain/zero/1.0/legalcode': 'CC0-1.0',
  'unlicense.org': 'Unlicense',
  'openjdk.java.net/legal/gplv2+ce': 'GPL-2.0-only WITH Classpath-exception-2.0',
  'openjdk.org/legal/gplv2+ce': 'GPL-2.0-only WITH Classpath-exception-2.0',
};

/** `spdx.org/licenses/<id>` and `opensource.org/license(s)/<id>` carry the SPDX id in the path. */
const ID_IN_URL = /^(?:spdx\.org\/licenses|opensource\.org\/licenses?)\/([A-Za-z0-9.+-]+)$/;

/**
 * Maps a well-known licence URL to its SPDX id, or undefined when the URL does not name one
 * licence unambiguously. Offline; nothing is fetched.
 */
export function licenseIdFromUrl(url: string): string | undefined {
  const key = url
    .trim()
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/^www\./i, '')
    .replace(/[?#].*$/, '')
    .replace(/\/+$/, '')
    .replace(/\.(?:txt|html?|php|md)$/i, '');
  const known = LICENSE_URLS[key.toLowerCase()];
  if (known) return known;
  const tail = ID_IN_URL.exec(key)?.[1];
  if (!tail) return undefined;
  // Only an id that is exact up to case: spdx-correct's fuzzier guesses are not evidence here.
  const id = safeCorrect(tail);
  return id !== undefined && id.toLowerCase() === tail.toLowerCase() && isSpdxExpression(id) ? id : undefined;
}
