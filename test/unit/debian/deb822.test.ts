import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { field, originalFieldName, parseDeb822, scanDeb822 } from '../../../src/debian/deb822.js';

describe('parseDeb822', () => {
  it('parses multi-paragraph Packages text with continuation lines and " ." blank lines', () => {
    const text = [
      'Package: hello',
      'Version: 2.10-3',
      'Description: example package based on GNU hello',
      ' The GNU hello program produces a familiar, friendly greeting.',
      ' .',
      ' Seriously, you can use it.',
      '',
      '',
      'Package: libc6',
      'Depends: libgcc-s1,',
      '  libc-bin',
      '',
    ].join('\n');
    const paragraphs = parseDeb822(text);
    expect(paragraphs).toHaveLength(2);
    const [hello, libc] = paragraphs as [Map<string, string>, Map<string, string>];
    expect(hello.get('description')).toBe(
      'example package based on GNU hello\nThe GNU hello program produces a familiar, friendly greeting.\n.\nSeriously, you can use it.',
    );
    // Only the single leading space of a continuation line is stripped.
    expect(libc.get('depends')).toBe('libgcc-s1,\n libc-bin');
  });

  it('keeps an empty first line, as in Release checksum fields', () => {
    const text =
      'Origin: Debian\nSHA256:\n 0123 1234 main/binary-amd64/Packages\n 4567 99 main/binary-amd64/Release\n';
    const [release] = parseDeb822(text);
    expect(release?.get('sha256')).toBe(
      '\n0123 1234 main/binary-amd64/Packages\n4567 99 main/binary-amd64/Release',
    );
    expect(release?.get('origin')).toBe('Debian');
  });

  it('looks fields up case-insensitively and remembers the original spelling', () => {
    const [p] = parseDeb822('Package: x\nMulti-Arch: same\nX-Custom-Field:  spaced value  \n');
    expect(p).toBeDefined();
    expect(field(p!, 'multi-arch')).toBe('same');
    expect(field(p!, 'MULTI-ARCH')).toBe('same');
    expect(field(p!, 'x-custom-field')).toBe('spaced value');
    expect(field(p!, 'missing')).toBeUndefined();
    expect(originalFieldName(p!, 'multi-arch')).toBe('Multi-Arch');
  });

  it('accepts CRLF line endings, a BOM and whitespace-only separator lines', () => {
    const paragraphs = parseDeb822('\ufeffA: 1\r\nB: 2\r\n \t \r\nA: 3\r\n');
    expect(paragraphs.map((p) => Object.fromEntries(p))).toEqual([{ a: '1', b: '2' }, { a: '3' }]);
  });

  it('skips # comments only when allowed (control files)', () => {
    const text =
      '# leading comment\nSource: foo\n# inside\nBuild-Depends: a,\n# between continuation lines\n b\n';
    const [p] = parseDeb822(text, { allowComments: true });
    expect(p?.get('build-depends')).toBe('a,\nb');
    expect(() => parseDeb822(text)).toThrowError(expect.objectContaining({ code: 'MALFORMED_CONTROL' }));
  });

  it.each([
    ['a continuation line before any field', ' orphan\nPackage: x\n', 'line 1'],
    ['a line without a colon', 'Package: x\ngarbage here\n', 'line 2'],
    ['an empty field name', 'Package: x\n: value\n', 'line 2'],
    ['a duplicate field (case-insensitive)', 'Package: x\nversion: 1\nVersion: 2\n', 'line 3'],
    ['a field name with a space', 'Package: x\nBad Name: 1\n', 'line 2'],
  ])('rejects %s with the line number', (_what, text, line) => {
    expect(() => parseDeb822(text)).toThrowError(
      expect.objectContaining({ code: 'MALFORMED_CONTROL', message: expect.stringContaining(line) }),
    );
  });

  it('returns no paragraphs for empty input', () => {
    expect(parseDeb822('')).toEqual([]);
    expect(parseDeb822('\n\n  \n')).toEqual([]);
  });

  it('parses values containing colons and keeps dpkg status fields', () => {
    const status = [
      'Package: libc6',
      'Status: install ok installed',
      'Architecture: amd64',
      'Version: 2.36-9+deb12u4',
      'Conffiles:',
      ' /etc/ld.so.conf.d/x86_64-linux-gnu.conf d4e7a7b88a71b5ffd9e2644e71a0cfab',
      'Homepage: https://www.gnu.org/software/libc/libc.html',
    ].join('\n');
    const [p] = parseDeb822(status);
    expect(p?.get('homepage')).toBe('https://www.gnu.org/software/libc/libc.html');
    expect(p?.get('conffiles')?.split('\n')).toHaveLength(2);
  });
});

describe('scanDeb822', () => {
  it('lets a visitor skip fields or take only their first line, without mis-reading skipped continuations', () => {
    const seen: string[] = [];
    let paragraphs = 0;
    scanDeb822('Package: a\nDescription: short\n long one\n .\nTag: x,\n y\n\nPackage: b\n', {
      accept: (name) => (name === 'Tag' ? false : name === 'Description' ? 'first-line' : true),
      field: (name, value) => seen.push(`${name}=${value}`),
      endParagraph: () => paragraphs++,
    });
    expect(seen).toEqual(['Package=a', 'Description=short', 'Package=b']);
    expect(paragraphs).toBe(2);
  });
});

describe('parseDeb822 on the host dpkg database', () => {
  const statusFile = '/var/lib/dpkg/status';
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own ${Field} format, not JS
  const format = '-f=${Package}:${Architecture} ${Version} ${Status}\n';
  const dpkgQuery = spawnSync('dpkg-query', ['-W', format], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });

  it.skipIf(!existsSync(statusFile) || dpkgQuery.status !== 0)(
    'reads the same packages dpkg-query reports',
    () => {
      const ours = parseDeb822(readFileSync(statusFile, 'utf8'))
        .map(
          (p) =>
            `${field(p, 'Package')}:${field(p, 'Architecture')} ${field(p, 'Version') ?? ''} ${field(p, 'Status')}`,
        )
        .sort();
      const theirs = dpkgQuery.stdout
        .split('\n')
        .filter((line) => line !== '')
        .sort();
      expect(ours.length).toBeGreaterThan(10);
      expect(ours).toEqual(theirs);
    },
  );
});
