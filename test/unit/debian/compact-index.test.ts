import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CompactPackages, encodeCompactPackages } from '../../../src/debian/compact-index.js';
import { type BinaryPackage, PackageIndex, parsePackagesFile } from '../../../src/debian/package-index.js';
import { isRampartError } from '../../../src/errors.js';

const ORIGIN = { suite: 'trixie', component: 'main' };

function stanza(p: {
  name: string;
  version: string;
  arch?: string;
  provides?: string;
  depends?: string;
  description?: string;
  extra?: string;
}): string {
  return [
    `Package: ${p.name}`,
    p.extra,
    `Version: ${p.version}`,
    `Architecture: ${p.arch ?? 'amd64'}`,
    'Maintainer: Someone <someone@example.org>',
    p.depends ? `Depends: ${p.depends}` : undefined,
    p.provides ? `Provides: ${p.provides}` : undefined,
    `Filename: pool/main/${p.name[0]}/${p.name}_${p.version}.deb`,
    'Size: 1234',
    'MD5sum: 00000000000000000000000000000000',
    `SHA256: ${'a'.repeat(64)}`,
    `Description: ${p.description ?? `the ${p.name} package`}`,
    ' a long description',
    ' .',
    ' with paragraphs',
    'Tag: role::program',
  ]
    .filter((line) => line !== undefined)
    .join('\n');
}

/** What the parsed index answers, in a form independent of order. */
function byName(pkgs: BinaryPackage[]): Record<string, BinaryPackage[]> {
  const sorted = (list: BinaryPackage[]) =>
    [...list].sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
  const out: Record<string, BinaryPackage[]> = {};
  for (const p of pkgs) {
    out[p.name] ??= [];
    out[p.name]?.push(p);
  }
  for (const key of Object.keys(out)) out[key] = sorted(out[key] as BinaryPackage[]);
  return out;
}

describe('compact Packages index', () => {
  const text = [
    stanza({ name: 'zlib1g', version: '1:1.3-1', provides: 'libz1 (= 1:1.3-1)' }),
    stanza({ name: 'awk-impl', version: '1', provides: 'awk' }),
    stanza({ name: 'mawk', version: '1.3.4-2', provides: 'awk', depends: 'libc6 (>= 2.38)' }),
    stanza({ name: 'libc6', version: '2.41-12', extra: 'Multi-Arch: same' }),
    stanza({ name: 'libc6', version: '2.41-12+deb13u1', extra: 'Multi-Arch: same' }),
    stanza({ name: 'libc6', version: '2.41-12', arch: 'i386' }),
    stanza({ name: 'curl', version: '8.14.1-2', depends: 'libc6 (>= 2.34),\n libcurl4t64 (= 8.14.1-2)' }),
    stanza({ name: 'unicode', version: '1', description: 'grüße — ünïcödé' }),
    stanza({ name: 'a', version: '1' }),
  ].join('\n\n');

  it('answers every name and provided name exactly as the parsed index does', () => {
    const parsed = parsePackagesFile(text, ORIGIN);
    const { bytes, count } = encodeCompactPackages(text, ORIGIN);
    expect(count).toBe(parsed.length);
    const compact = new CompactPackages(bytes, ORIGIN);
    const fromParsed = new PackageIndex(parsed);
    const fromCompact = new PackageIndex();
    fromCompact.addSource(compact);
    expect(fromCompact.size).toBe(fromParsed.size);
    expect([...fromCompact.names()].sort()).toEqual([...fromParsed.names()].sort());
    for (const name of [...fromParsed.names(), 'awk', 'libz1', 'missing', '', 'libc']) {
      expect(fromCompact.candidates(name), name).toEqual(fromParsed.candidates(name));
      expect(fromCompact.providers(name), name).toEqual(fromParsed.providers(name));
    }
    expect(fromCompact.providers('libz1')).toMatchObject([{ pkg: { name: 'zlib1g' }, version: '1:1.3-1' }]);
    // Folded Depends become one line and mean the same.
    expect(fromCompact.candidates('curl')[0]?.depends.map((g) => g[0]?.name)).toEqual([
      'libc6',
      'libcurl4t64',
    ]);
    expect(fromCompact.candidates('unicode')[0]?.description).toBe('grüße — ünïcödé');
  });

  it('keeps only the fields it reads and sorts stanzas by name', () => {
    const { bytes } = encodeCompactPackages(text, ORIGIN);
    const compact = bytes.toString('utf8');
    expect(compact).not.toContain('Maintainer:');
    expect(compact).not.toContain('MD5sum:');
    expect(compact).not.toContain('Tag:');
    expect(compact).not.toContain('with paragraphs');
    const names = [...compact.matchAll(/^Package: (.*)$/gm)].map((m) => m[1]);
    expect(names).toEqual([...names].sort());
    expect(bytes.length).toBeLessThan(Buffer.byteLength(text));
  });

  it('finds any name among many by binary search (property)', () => {
    const names = fc.uniqueArray(fc.stringMatching(/^[a-z0-9][a-z0-9+.-]{0,12}$/), {
      minLength: 1,
      maxLength: 60,
    });
    fc.assert(
      fc.property(names, fc.array(fc.nat(3), { minLength: 60, maxLength: 60 }), (list, copies) => {
        const stanzas = list.flatMap((name, i) =>
          Array.from({ length: 1 + (copies[i] ?? 0) }, (_, v) => stanza({ name, version: `${v + 1}.0` })),
        );
        const src = stanzas.join('\n\n');
        const compact = new CompactPackages(encodeCompactPackages(src, ORIGIN).bytes, ORIGIN);
        const expected = byName(parsePackagesFile(src, ORIGIN));
        for (const name of list) expect(byName(compact.candidates(name))[name]).toEqual(expected[name]);
        expect(compact.candidates(`${list[0]}~`)).toEqual([]);
      }),
      { numRuns: 60 },
    );
  });

  it('refuses a stanza without Package, Version or Architecture, and damaged compact bytes', () => {
    const error = (() => {
      try {
        encodeCompactPackages('Package: x\nArchitecture: amd64\n', ORIGIN);
      } catch (e) {
        return e;
      }
    })();
    expect(isRampartError(error, 'MALFORMED_CONTROL')).toBe(true);
    expect((error as { details: { line?: number } }).details.line).toBe(1);
    const { bytes } = encodeCompactPackages(text, ORIGIN);
    const damaged = Buffer.concat([Buffer.from('Junk: x\n\n'), bytes]);
    expect(() => new CompactPackages(damaged, ORIGIN)).toThrow(
      /compact Packages index of trixie\/main is corrupt/,
    );
  });
});
