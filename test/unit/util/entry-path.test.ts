import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalPath, FileTree, rootFile } from '../../../src/builder/tree.js';
import { readDebData } from '../../../src/debian/deb-reader.js';
import { isRampartError } from '../../../src/errors.js';
import { extractLayers } from '../../../src/oci/extract.js';
import { flattenLayers } from '../../../src/oci/fs-view.js';
import { checkEntryPath, MAX_PATH_BYTES, MAX_SEGMENT_BYTES } from '../../../src/util/entry-path.js';
import { rawTar } from '../../helpers/hostile-layers.js';

/** Segments an attacker would try: traversal, dots that look like dots, separators that are not, NUL, huge. */
const hostileSegment = fc.oneof(
  fc.constantFrom('..', '.', '', '...', '\u2024', '\u2024\u2024', '\uff0e\uff0e', '..\\', '\\..', 'a\\b'),
  fc.constantFrom('\0', 'a\0b', ' ', '..\u200b', '%2e%2e', 'usr', 'etc', 'passwd', '.wh.x'),
  fc.string({ minLength: 1, maxLength: 8 }),
  fc.integer({ min: 250, max: 300 }).map((n) => 'x'.repeat(n)),
);
const segmentedName = fc
  .tuple(
    fc.constantFrom('', '/', './', '//', './/'),
    fc.array(hostileSegment, { maxLength: 6 }),
    fc.constantFrom('', '/', '/.', '//'),
  )
  .map(([lead, segments, tail]) => `${lead}${segments.join('/')}${tail}`);
const overlongName = fc.integer({ min: 4000, max: 4200 }).map((n) => `a/${'b/'.repeat(n / 2)}`.slice(0, n));
const hostileName = fc.oneof(segmentedName, overlongName, fc.string({ maxLength: 30 }));

const segmentsOf = (name: string) => name.split('/').filter((s) => s !== '' && s !== '.');

/** What the rule must say about `name`, written independently of the implementation. */
function expected(name: string, rooted = false): { ok: true; path: string } | { ok: false; reason: string } {
  if (name === '') return { ok: false, reason: 'empty' };
  if (name.includes('\0')) return { ok: false, reason: 'nul' };
  if (name.startsWith('/') && !rooted) return { ok: false, reason: 'absolute' };
  if (Buffer.byteLength(name) > MAX_PATH_BYTES) return { ok: false, reason: 'too-long' };
  const segments = segmentsOf(name);
  const first = segments.findIndex((s) => s === '..' || Buffer.byteLength(s) > MAX_SEGMENT_BYTES);
  if (first !== -1) return { ok: false, reason: segments[first] === '..' ? 'dot-dot' : 'segment-too-long' };
  return { ok: true, path: segments.join('/') };
}

describe('checkEntryPath: the one archive path rule', () => {
  it('accepts exactly the names that cannot leave the root, and says why it refuses the others', () => {
    fc.assert(
      fc.property(hostileName, (name) => {
        const result = checkEntryPath(name);
        const want = expected(name);
        expect(result.ok).toBe(want.ok);
        if (result.ok && want.ok) {
          expect(result.path).toBe(want.path);
          // Normal form: no leading '/', no empty, '.' or '..' segment, and stable.
          expect(result.path.startsWith('/')).toBe(false);
          expect(
            result.path.split('/').some((s) => s === '..' || s === '.' || (s === '' && result.path !== '')),
          ).toBe(false);
          expect(checkEntryPath(result.path === '' ? '.' : result.path)).toEqual({
            ok: true,
            path: result.path,
          });
        } else if (!result.ok && !want.ok) {
          expect(result.reason).toBe(want.reason);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('treats backslashes and look-alike dots as ordinary bytes, with no Unicode normalisation', () => {
    for (const name of [
      '..\\..\\etc\\passwd',
      '\u2024\u2024/etc',
      '\uff0e\uff0e/x',
      'system-systemd\\x2dcryptsetup.slice',
    ]) {
      expect(checkEntryPath(name)).toEqual({ ok: true, path: name });
    }
    expect(checkEntryPath('./usr//bin/./ls/')).toEqual({ ok: true, path: 'usr/bin/ls' });
    for (const root of ['.', './', '/.', './/.']) {
      expect(checkEntryPath(root, { absolute: 'root' })).toEqual({ ok: true, path: '' });
    }
  });
});

/** Every name goes into the tar as a PAX `path` record, so it arrives byte for byte (a NUL too). */
const tarWith = (name: string, extra: Parameters<typeof rawTar>[0] = []) =>
  rawTar([{ name: 'placeholder', pax: { path: name }, content: 'pwned' }, ...extra]);
// tar-stream drops an empty PAX path; the empty name is covered by the function's own property.
// Overlong names are rarer here: each one makes thousands of directories on disk.
const callerName = fc
  .oneof(
    { arbitrary: segmentedName, weight: 8 },
    { arbitrary: overlongName, weight: 1 },
    { arbitrary: fc.string({ maxLength: 30 }), weight: 3 },
  )
  .filter((name) => name !== '');

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'rampart-entry-path-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the rule through each caller', () => {
  it('the layer reader (flatten and extract): the same verdict, and nothing written outside', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(callerName, async (name) => {
        const tar = await tarWith(name);
        const layer = async () => Readable.from([tar]);
        const want = expected(name);
        const flattened = await flattenLayers([layer]).catch((e: unknown) => e);
        const box = join(work, `layer-${run++}`);
        const dest = join(box, 'a', 'dest');
        mkdirSync(dest, { recursive: true });
        const extracted = await extractLayers([layer], dest).catch((e: unknown) => e);
        expect(readdirSync(box)).toEqual(['a']);
        expect(readdirSync(join(box, 'a'))).toEqual(['dest']);
        if (want.ok && Buffer.byteLength(join(dest, want.path)) >= MAX_PATH_BYTES) {
          // Valid in the layer, but too long for the kernel under this destination: a typed error.
          expect(isRampartError(flattened)).toBe(false);
          expect(isRampartError(extracted), String(extracted)).toBe(true);
        } else if (want.ok && want.path === '') {
          // A regular file as the root entry: a broken layer, refused by both.
          expect(isRampartError(flattened, 'MALFORMED_ARCHIVE'), String(flattened)).toBe(true);
          expect(isRampartError(extracted, 'MALFORMED_ARCHIVE'), String(extracted)).toBe(true);
        } else if (want.ok) {
          expect(isRampartError(flattened)).toBe(false);
          expect(extracted).toBeUndefined();
          // A `.wh.` name is a whiteout marker, not a file.
          if (!want.path.split('/').pop()?.startsWith('.wh.')) {
            expect((flattened as { get(p: string): unknown }).get(`/${want.path}`)).toMatchObject({
              kind: 'file',
            });
            expect(existsSync(join(dest, want.path))).toBe(true);
          }
        } else {
          expect(isRampartError(flattened, 'PATH_TRAVERSAL'), String(flattened)).toBe(true);
          expect(isRampartError(extracted, 'PATH_TRAVERSAL'), String(extracted)).toBe(true);
          expect(readdirSync(dest)).toEqual([]);
        }
        rmSync(box, { recursive: true, force: true });
      }),
      { numRuns: 60, endOnFailure: true },
    );
  }, 120_000);

  it('the layer reader in lenient mode (the SBOM): a refused entry is skipped and named, its neighbours kept', async () => {
    await fc.assert(
      fc.asyncProperty(callerName, async (name) => {
        const want = expected(name);
        fc.pre(!want.ok);
        const tar = await tarWith(name, [{ name: 'etc/kept', content: 'x' }]);
        const skipped: Array<{ reason: string; index: number }> = [];
        const tree = await flattenLayers([async () => Readable.from([tar])], {
          onSkippedEntry: ({ reason, index }) => skipped.push({ reason, index }),
        });
        expect(skipped).toEqual([{ reason: (want as { reason: string }).reason, index: 0 }]);
        expect(tree.get('/etc/kept')).toMatchObject({ kind: 'file' });
      }),
      { numRuns: 100 },
    );
  });

  it('the .deb reader (an ar archive made by binutils ar): the same verdict', async () => {
    const control = gzipSync(await rawTar([{ name: './control', content: 'Package: evil\nVersion: 1\n' }]));
    let run = 0;
    await fc.assert(
      fc.asyncProperty(callerName, async (name) => {
        const dir = join(work, `deb-${run++}`);
        mkdirSync(dir);
        writeFileSync(join(dir, 'debian-binary'), '2.0\n');
        writeFileSync(join(dir, 'control.tar.gz'), control);
        writeFileSync(join(dir, 'data.tar.gz'), gzipSync(await tarWith(name)));
        execFileSync('ar', ['rc', 'x.deb', 'debian-binary', 'control.tar.gz', 'data.tar.gz'], { cwd: dir });
        const want = expected(name);
        const names: string[] = [];
        const error = await (async () => {
          for await (const entry of readDebData(join(dir, 'x.deb'))) names.push(entry.header.name);
        })().catch((e: unknown) => e);
        if (want.ok) {
          expect(error).toBeUndefined();
          expect(names).toEqual(want.path === '' ? [] : [want.path]);
        } else {
          expect(isRampartError(error, 'PATH_TRAVERSAL'), String(error)).toBe(true);
        }
        rmSync(dir, { recursive: true, force: true });
      }),
      { numRuns: 40, endOnFailure: true },
    );
  }, 120_000);

  it('the rootfs tree: image paths are rooted, and an insert lands only at the checked path', () => {
    fc.assert(
      fc.property(hostileName, (name) => {
        const want = expected(name, true);
        const tree = new FileTree();
        let canonical: string | undefined;
        try {
          canonical = canonicalPath(name);
        } catch (error) {
          expect(want.ok).toBe(false);
          expect(isRampartError(error, 'PATH_TRAVERSAL')).toBe(true);
          return;
        }
        expect(want.ok).toBe(true);
        if (canonical === '') return; // the root: the tree always has it
        tree.add(canonical, rootFile('x', 'test'));
        // The insert created only the path and its parents, each a valid rule path.
        expect(checkEntryPath(canonical)).toEqual({ ok: true, path: canonical });
        for (const path of tree.nodes.keys()) expect(canonical.startsWith(path)).toBe(true);
        // canonicalPath moves merged-/usr aliases under usr/; otherwise it is the rule's path.
        const rulePath = (want as { path: string }).path;
        expect([rulePath, `usr/${rulePath}`]).toContain(canonical);
      }),
      { numRuns: 300, endOnFailure: true },
    );
  });
});
