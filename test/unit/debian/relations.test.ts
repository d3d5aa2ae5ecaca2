import { describe, expect, it } from 'vitest';
import {
  archListAllows,
  formatRelationGroup,
  parseRelations,
  type RelationGroup,
} from '../../../src/debian/relations.js';

describe('parseRelations', () => {
  it('parses an AND of OR-groups with versions, arch restrictions, profiles and qualifiers', () => {
    expect(parseRelations('a (>= 1) | b:any, c [amd64] <!nocheck>')).toEqual([
      [
        { name: 'a', version: { op: '>=', version: '1' } },
        { name: 'b', archQualifier: 'any' },
      ],
      [{ name: 'c', arches: ['amd64'], profiles: [['!nocheck']] }],
    ]);
  });

  it.each([
    ['<<', '<<'],
    ['<=', '<='],
    ['=', '='],
    ['>=', '>='],
    ['>>', '>>'],
    ['<', '<='],
    ['>', '>='],
  ])('reads operator %s as %s', (written, op) => {
    expect(parseRelations(`pkg (${written} 1:2.0-1)`)).toEqual([
      [{ name: 'pkg', version: { op, version: '1:2.0-1' } }],
    ]);
  });

  it('tolerates irregular whitespace, newlines from continuation lines and a trailing comma', () => {
    expect(parseRelations('libc6(>=2.36) ,\n  libfoo:amd64  ( << 3~ )  ,')).toEqual([
      [{ name: 'libc6', version: { op: '>=', version: '2.36' } }],
      [{ name: 'libfoo', archQualifier: 'amd64', version: { op: '<<', version: '3~' } }],
    ]);
    expect(parseRelations('')).toEqual([]);
  });

  it('parses negated arch lists and several profile formulas', () => {
    const [[rel]] = parseRelations('gcc-multilib [!arm64 !riscv64] <!cross !nocheck> <stage1>') as [
      RelationGroup,
    ];
    expect(rel).toEqual({
      name: 'gcc-multilib',
      arches: ['!arm64', '!riscv64'],
      profiles: [['!cross', '!nocheck'], ['stage1']],
    });
  });

  it('parses :native and versioned Provides entries', () => {
    expect(parseRelations('perl:native, python3-foo (= 1.2), awk')).toEqual([
      [{ name: 'perl', archQualifier: 'native' }],
      [{ name: 'python3-foo', version: { op: '=', version: '1.2' } }],
      [{ name: 'awk' }],
    ]);
  });

  it.each([
    'a | | b',
    'a |',
    '| a',
    'a (>= 1',
    'a (~~ 1)',
    'a (>= )',
    'a (>= 1 2)',
    'a [amd64',
    'a []',
    'a <nocheck',
    'a:',
    'a b',
    'a (>= 1) foo',
  ])('rejects %j with MALFORMED_CONTROL', (text) => {
    expect(() => parseRelations(text)).toThrowError(expect.objectContaining({ code: 'MALFORMED_CONTROL' }));
  });

  it('round-trips through formatRelationGroup', () => {
    const text = 'a (>= 1) | b:any [amd64 !i386] <!nocheck> <stage1 cross>';
    const groups = parseRelations(text);
    expect(groups.map(formatRelationGroup).join(', ')).toBe(text);
    expect(parseRelations(groups.map(formatRelationGroup).join(', '))).toEqual(groups);
    // Obsolete operators are written back in their modern form.
    expect(formatRelationGroup(parseRelations('x (< 2)')[0]!)).toBe('x (<= 2)');
  });
});

describe('archListAllows', () => {
  it('handles positive and negated lists', () => {
    expect(archListAllows(undefined, 'amd64')).toBe(true);
    expect(archListAllows(['amd64', 'arm64'], 'arm64')).toBe(true);
    expect(archListAllows(['amd64'], 'arm64')).toBe(false);
    expect(archListAllows(['!amd64'], 'amd64')).toBe(false);
    expect(archListAllows(['!amd64', '!i386'], 'arm64')).toBe(true);
  });
});
