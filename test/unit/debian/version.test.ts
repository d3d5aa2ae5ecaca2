import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareVersions, parseVersion, satisfiesConstraint } from '../../../src/debian/version.js';
import { isRampartError } from '../../../src/errors.js';

/**
 * The independent oracle: dpkg itself. Returns -1, 0 or 1, 'error' when dpkg rejects a version,
 * or 'untestable' when both start with '-' (dpkg's command line would take them for options;
 * one such version is compared by passing it second and flipping the result).
 */
function dpkgCompare(a: string, b: string): -1 | 0 | 1 | 'error' | 'untestable' {
  if (a.startsWith('-')) {
    if (b.startsWith('-')) return 'untestable';
    const flipped = dpkgCompare(b, a);
    return typeof flipped === 'number' ? ((-flipped || 0) as -1 | 0 | 1) : flipped;
  }
  const run = (op: string) =>
    spawnSync('dpkg', ['--compare-versions', a, op, b], { encoding: 'utf8' }).status;
  const lt = run('lt');
  if (lt === 2) return 'error';
  if (lt === 0) return -1;
  return run('eq') === 0 ? 0 : 1;
}

const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);

// Tricky pairs; the expected order is never written here: dpkg decides.
const PAIRS: Array<[string, string]> = [
  ['1.0~rc1', '1.0'],
  ['1.0~~', '1.0~~a'],
  ['1.0~~a', '1.0~'],
  ['1.0~', '1.0'],
  ['1.0', '1.0a'],
  ['~~', '~~a'],
  ['~~a', '~'],
  ['~', '0'],
  ['1:1.0', '2.0'],
  ['1:0.9', '2.0'],
  ['0:1.0', '1.0'],
  ['1.0-1', '1.0'],
  ['1.0', '1.0-0'],
  ['1.0a', '1.0+'],
  ['1.2a', '1.2+'],
  ['1.0.0', '1.0'],
  ['1.001', '1.1'],
  ['1.01', '1.1'],
  ['0.10', '0.9'],
  ['3.0.11-1~deb12u2', '3.0.11-1'],
  ['3.0.11-1~deb12u2', '3.0.11-1~deb12u10'],
  ['1.0-1', '1.0-1+deb12u1'],
  ['1.0-1+b1', '1.0-1'],
  ['1.0-1+b1', '1.0-1.1'],
  ['2.36-9+deb12u4', '2.36-9+deb12u10'],
  ['2.36-9+deb12u4', '2.36-9'],
  ['2.36-9+deb12u4', '2.36-10'],
  ['1.0+dfsg-1', '1.0-1'],
  ['1.2-3-4', '1.2-3'],
  ['1.0-1.1', '1.0-1+b1'],
  ['2:1.0', '1:9.9'],
  ['10', '9'],
  ['1.0a', '1.0b'],
  ['1.0A', '1.0a'],
  ['1.0.', '1.0'],
  ['1.0-1ubuntu1', '1.0-1'],
  ['1.0+git20240101', '1.0'],
  ['1.0~git20240101', '1.0'],
  ['0.0001', '0.1'],
  ['18446744073709551616', '18446744073709551615'],
  ['1.0-0', '1.0-00'],
  ['1:2:3', '1:2'],
  ['7.88.1-10+deb12u5', '7.88.1-10+deb12u12'],
];

describe('compareVersions against dpkg --compare-versions', () => {
  it.each(PAIRS)('%s vs %s', (a, b) => {
    const expected = dpkgCompare(a, b);
    expect(expected).not.toBe('error');
    expect(sign(compareVersions(a, b))).toBe(expected);
    expect(sign(compareVersions(b, a))).toBe(-(expected as number) || 0);
  });

  it('agrees with dpkg on random versions, including which ones dpkg rejects', () => {
    const version = fc
      .array(fc.constantFrom(...'0019.~+-:ab'.split('')), { minLength: 1, maxLength: 7 })
      .map((cs) => cs.join(''));
    fc.assert(
      fc.property(version, version, (a, b) => {
        const expected = dpkgCompare(a, b);
        const parses = (v: string) => {
          try {
            parseVersion(v);
            return true;
          } catch (err) {
            expect(isRampartError(err, 'MALFORMED_CONTROL')).toBe(true);
            return false;
          }
        };
        if (expected === 'untestable') return;
        if (expected === 'error') {
          expect(parses(a) && parses(b)).toBe(false);
        } else {
          expect(sign(compareVersions(a, b))).toBe(expected);
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('compareVersions properties', () => {
  // Valid versions: optional epoch, upstream starting with a digit, optional revision.
  const part = (chars: string, min: number) =>
    fc.array(fc.constantFrom(...chars.split('')), { minLength: min, maxLength: 6 }).map((cs) => cs.join(''));
  const versionArb = fc
    .tuple(
      fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
      fc.constantFrom('0', '1', '2', '9'),
      part('0123456789.+~-:abz', 0),
      fc.option(part('0123456789.+~bz', 1), { nil: undefined }),
    )
    .map(([epoch, head, rest, revision]) => {
      const upstream = `${head}${rest}`;
      return `${epoch === undefined ? '' : `${epoch}:`}${upstream}${revision === undefined ? '' : `-${revision}`}`;
    })
    // A ':' in upstream needs an explicit epoch, otherwise it would be read as one.
    .filter((v) => {
      try {
        parseVersion(v);
        return true;
      } catch {
        return false;
      }
    });

  it('is reflexive', () => {
    fc.assert(fc.property(versionArb, (a) => compareVersions(a, a) === 0));
  });

  it('is antisymmetric', () => {
    fc.assert(
      fc.property(
        versionArb,
        versionArb,
        (a, b) => sign(compareVersions(a, b)) === -sign(compareVersions(b, a)) || compareVersions(a, b) === 0,
      ),
    );
  });

  it('is transitive', () => {
    fc.assert(
      fc.property(versionArb, versionArb, versionArb, (a, b, c) => {
        const [x, y, z] = [a, b, c].sort(compareVersions) as [string, string, string];
        expect(compareVersions(x, y)).toBeLessThanOrEqual(0);
        expect(compareVersions(y, z)).toBeLessThanOrEqual(0);
        expect(compareVersions(x, z)).toBeLessThanOrEqual(0);
      }),
    );
  });

  it('treats versions with equal parsed parts as equal, and differing epochs decide first', () => {
    fc.assert(
      fc.property(versionArb, versionArb, (a, b) => {
        const pa = parseVersion(a);
        const pb = parseVersion(b);
        if (pa.epoch === pb.epoch && pa.upstream === pb.upstream && pa.revision === pb.revision) {
          expect(compareVersions(a, b)).toBe(0);
        }
        if (pa.epoch !== pb.epoch) expect(sign(compareVersions(a, b))).toBe(sign(pa.epoch - pb.epoch));
        // An explicit zero epoch never changes the order.
        if (!a.includes(':')) expect(compareVersions(a, `0:${a}`)).toBe(0);
      }),
    );
  });
});

describe('parseVersion', () => {
  it('splits epoch at the first colon and revision at the last hyphen', () => {
    expect(parseVersion('1:2.36-9+deb12u4')).toEqual({ epoch: 1, upstream: '2.36', revision: '9+deb12u4' });
    expect(parseVersion('1.2-3-4')).toEqual({ epoch: 0, upstream: '1.2-3', revision: '4' });
    expect(parseVersion('2:1:3')).toEqual({ epoch: 2, upstream: '1:3', revision: '' });
    expect(parseVersion(' 1.0 ')).toEqual({ epoch: 0, upstream: '1.0', revision: '' });
  });

  it('is lenient like dpkg about an upstream that does not start with a digit', () => {
    expect(parseVersion('~rc1')).toEqual({ epoch: 0, upstream: '~rc1', revision: '' });
  });

  it.each(['', '   ', '1.0-', ':1', 'a:1', '1:', '-1', '1.0 beta', '-1:2'])(
    'rejects %j with MALFORMED_CONTROL, as dpkg does',
    (v) => {
      expect(() => parseVersion(v)).toThrowError(expect.objectContaining({ code: 'MALFORMED_CONTROL' }));
      if (v.trim() !== '') expect(dpkgCompare(v, '1')).toBe('error');
    },
  );
});

describe('satisfiesConstraint', () => {
  it.each([
    ['1.0', '<<', '1.1', true],
    ['1.1', '<<', '1.1', false],
    ['1.1', '<=', '1.1', true],
    ['1.01', '=', '1.1', true],
    ['1.0-1', '=', '1.0', false],
    ['1.0~rc1', '>=', '1.0', false],
    ['1.0+b1', '>=', '1.0', true],
    ['2.0', '>>', '2.0', false],
    ['1:0.1', '>>', '9.9', true],
  ] as const)('%s %s %s is %s', (version, op, target, expected) => {
    expect(satisfiesConstraint(version, op, target)).toBe(expected);
    const dpkgOp = { '<<': 'lt', '<=': 'le', '=': 'eq', '>=': 'ge', '>>': 'gt' }[op];
    const status = spawnSync('dpkg', ['--compare-versions', version, dpkgOp, target]).status;
    expect(status === 0).toBe(expected);
  });
});
