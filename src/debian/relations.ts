import { RampartError } from '../errors.js';
import type { VersionOp } from './version.js';

/** One alternative of a dependency field (Debian Policy §7.1, build profiles §7.1/BuildProfileSpec). */
export interface Relation {
  name: string;
  /** 'any' | 'native' | an architecture name. */
  archQualifier?: string;
  version?: { op: VersionOp; version: string };
  /** Architecture restriction list, e.g. ['amd64', 'arm64'] or ['!i386']. */
  arches?: string[];
  /** Restriction formulas: the outer list is OR, each inner list is AND, e.g. [['!nocheck']]. */
  profiles?: string[][];
}

/** Alternatives separated by '|': any one satisfies the group. */
export type RelationGroup = Relation[];

const OPS: Record<string, VersionOp> = {
  '<<': '<<',
  '<=': '<=',
  '=': '=',
  '>=': '>=',
  '>>': '>>',
  // Obsolete forms: dpkg still reads '<' as '<=' and '>' as '>='.
  '<': '<=',
  '>': '>=',
};

function malformed(text: string, why: string): RampartError {
  return new RampartError('MALFORMED_CONTROL', `relation ${JSON.stringify(text.trim())}: ${why}`, {
    details: { value: text.trim() },
  });
}

const C_SPACE = 0x20;
const C_TAB = 0x09;
const C_LF = 0x0a;
const C_CR = 0x0d;
const C_COMMA = 0x2c;
const C_PIPE = 0x7c;
const C_COLON = 0x3a;
const C_LPAREN = 0x28;
const C_LBRACKET = 0x5b;
const C_LT = 0x3c;
const C_GT = 0x3e;
const C_EQ = 0x3d;

function isSpace(c: number): boolean {
  return c === C_SPACE || c === C_TAB || c === C_LF || c === C_CR;
}

function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w !== '');
}

/**
 * Parse a relationship field (Depends, Pre-Depends, Build-Depends, Provides, ...) into an
 * AND of OR-groups. Empty entries between commas are ignored (dpkg tolerates a trailing comma).
 * Throws RampartError 'MALFORMED_CONTROL' on malformed text.
 *
 * A hand-written scanner: a full Packages index holds ~80k relation fields and this runs
 * for each of them, so it avoids split/regex per alternative.
 */
export function parseRelations(field: string): RelationGroup[] {
  const groups: RelationGroup[] = [];
  const s = field;
  const n = s.length;
  let i = 0;
  let group: RelationGroup = [];
  const skipSpace = () => {
    while (i < n && isSpace(s.charCodeAt(i))) i++;
  };
  for (;;) {
    skipSpace();
    if (i >= n || s.charCodeAt(i) === C_COMMA) {
      // Empty entry: allowed between commas and at the end, but not as an alternative.
      if (group.length > 0) throw malformed(field, 'empty alternative after "|"');
      if (i >= n) break;
      i++;
      continue;
    }
    const nameStart = i;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (
        isSpace(c) ||
        c === C_LPAREN ||
        c === C_LBRACKET ||
        c === C_LT ||
        c === C_COLON ||
        c === C_COMMA ||
        c === C_PIPE
      )
        break;
    }
    if (i === nameStart)
      throw malformed(field, `missing package name at ${JSON.stringify(s.slice(i, i + 20))}`);
    const rel: Relation = { name: s.slice(nameStart, i) };
    if (s.charCodeAt(i) === C_COLON) {
      const qStart = ++i;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (isSpace(c) || c === C_LPAREN || c === C_LBRACKET || c === C_LT || c === C_COMMA || c === C_PIPE)
          break;
      }
      if (i === qStart) throw malformed(field, `empty architecture qualifier after ${rel.name}`);
      rel.archQualifier = s.slice(qStart, i);
    }
    skipSpace();
    if (s.charCodeAt(i) === C_LPAREN) {
      const close = s.indexOf(')', i);
      if (close === -1) throw malformed(field, 'unclosed "("');
      i++;
      skipSpace();
      const opStart = i;
      while (i < close) {
        const c = s.charCodeAt(i);
        if (c !== C_LT && c !== C_GT && c !== C_EQ) break;
        i++;
      }
      const opText = s.slice(opStart, i);
      const op = OPS[opText];
      if (op === undefined) throw malformed(field, `unknown version operator ${JSON.stringify(opText)}`);
      const version = s.slice(i, close).trim();
      if (version === '' || /\s/.test(version))
        throw malformed(field, `bad version ${JSON.stringify(version)}`);
      rel.version = { op, version };
      i = close + 1;
      skipSpace();
    }
    if (s.charCodeAt(i) === C_LBRACKET) {
      const close = s.indexOf(']', i);
      if (close === -1) throw malformed(field, 'unclosed "["');
      const arches = words(s.slice(i + 1, close));
      if (arches.length === 0) throw malformed(field, 'empty architecture list');
      rel.arches = arches;
      i = close + 1;
      skipSpace();
    }
    while (s.charCodeAt(i) === C_LT) {
      const close = s.indexOf('>', i);
      if (close === -1) throw malformed(field, 'unclosed "<"');
      const terms = words(s.slice(i + 1, close));
      if (terms.length === 0) throw malformed(field, 'empty build profile list');
      rel.profiles ??= [];
      rel.profiles.push(terms);
      i = close + 1;
      skipSpace();
    }
    group.push(rel);
    const c = s.charCodeAt(i);
    if (i >= n || c === C_COMMA) {
      groups.push(group);
      group = [];
      if (i >= n) break;
      i++;
    } else if (c === C_PIPE) {
      i++;
    } else {
      throw malformed(field, `unexpected ${JSON.stringify(s.slice(i, i + 20))} after ${rel.name}`);
    }
  }
  return groups;
}

export function formatRelation(r: Relation): string {
  let out = r.archQualifier === undefined ? r.name : `${r.name}:${r.archQualifier}`;
  if (r.version) out += ` (${r.version.op} ${r.version.version})`;
  if (r.arches) out += ` [${r.arches.join(' ')}]`;
  for (const p of r.profiles ?? []) out += ` <${p.join(' ')}>`;
  return out;
}

/** Canonical text of an OR-group, e.g. `a (>= 1) | b:any [amd64] <!nocheck>`. */
export function formatRelationGroup(g: RelationGroup): string {
  return g.map(formatRelation).join(' | ');
}

/**
 * Whether an architecture restriction list admits `arch`. Lists are all positive or all
 * negated (Policy §7.1); plain names only (no wildcards like `linux-any`).
 */
export function archListAllows(arches: string[] | undefined, arch: string): boolean {
  if (arches === undefined || arches.length === 0) return true;
  const negated = arches.every((a) => a.startsWith('!'));
  if (negated) return !arches.some((a) => a.slice(1) === arch || a.slice(1) === 'any');
  return arches.some((a) => a === arch || a === 'any');
}
