/**
 * Each code thrown in the errors area, produced through the real function that throws it, with
 * the details a caller reads instead of the message. Codes of other areas (HTTP, OCI sources and
 * sinks, builder, tar safety) are covered by their own tests.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listArMembers } from '../../src/debian/archive-ar.js';
import { parseDuration, pruneCache } from '../../src/debian/cache-maintenance.js';
import { normaliseEntryPath, readDeb } from '../../src/debian/deb-reader.js';
import { parseDeb822 } from '../../src/debian/deb822.js';
import { findLockedInIndex } from '../../src/debian/lock.js';
import { PackageIndex, parsePackagesFile } from '../../src/debian/package-index.js';
import { parseRelations } from '../../src/debian/relations.js';
import { type ResolveRequest, resolvePackageClosure } from '../../src/debian/resolver.js';
import { parseVersion } from '../../src/debian/version.js';
import { isRampartError, type RampartError, type RampartErrorCode } from '../../src/errors.js';
import { parseDigest, verifyingStream } from '../../src/oci/digest.js';
import { parsePlatform } from '../../src/oci/platform.js';
import { parseImageReference } from '../../src/oci/reference.js';
import { ImageManifestSchema, parseJsonBytes } from '../../src/oci/types.js';
import { parseOutputSpec } from '../../src/sbom/encode/index.js';
import { generateSbom } from '../../src/sbom/generate.js';
import { readSbom } from '../../src/sbom/read/read-sbom.js';
import { decompressBuffer } from '../../src/util/decompress.js';

function thrown<C extends RampartErrorCode>(code: C, fn: () => unknown): RampartError<C> {
  try {
    fn();
  } catch (error) {
    if (isRampartError(error, code)) return error;
    throw error;
  }
  throw new Error(`expected ${code}`);
}

async function rejected<C extends RampartErrorCode>(
  code: C,
  promise: Promise<unknown>,
): Promise<RampartError<C>> {
  try {
    await promise;
  } catch (error) {
    if (isRampartError(error, code)) return error;
    throw error;
  }
  throw new Error(`expected ${code}`);
}

function stanza(name: string, fields: Record<string, string> = {}): string {
  const all: Record<string, string> = { Package: name, Version: '1.0', Architecture: 'amd64', ...fields };
  all.Filename ??= `pool/main/${name[0]}/${name}/${name}_${all.Version}_amd64.deb`;
  all.Size ??= '100';
  all.SHA256 ??= 'ab'.repeat(32);
  return Object.entries(all)
    .map(([k, v]) => `${k}: ${v}\n`)
    .join('');
}

function indexOf(...stanzas: string[]): PackageIndex {
  const index = new PackageIndex([]);
  index.add(parsePackagesFile(stanzas.join('\n'), { suite: 'trixie', component: 'main' }));
  return index;
}

const resolve = (index: PackageIndex, packages: string[], extra: Partial<ResolveRequest> = {}) =>
  resolvePackageClosure(index, { packages, architecture: 'amd64', ...extra });

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-error-details-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('MALFORMED_CONTROL', () => {
  it('deb822: the line, the field, the text', () => {
    expect(thrown('MALFORMED_CONTROL', () => parseDeb822('Package: a\nnot a field\n')).details).toEqual({
      line: 2,
      value: 'not a field',
    });
    expect(thrown('MALFORMED_CONTROL', () => parseDeb822('Package: a\nPackage: b\n')).details).toEqual({
      line: 2,
      field: 'Package',
    });
    expect(thrown('MALFORMED_CONTROL', () => parseDeb822(' continued\n')).details).toEqual({ line: 1 });
    expect(thrown('MALFORMED_CONTROL', () => parseDeb822('-Bad: x\n')).details).toEqual({
      line: 1,
      field: '-Bad',
    });
  });

  it('versions and relations: the text that does not parse', () => {
    expect(thrown('MALFORMED_CONTROL', () => parseVersion('1:')).details).toEqual({
      field: 'Version',
      value: '1:',
    });
    expect(thrown('MALFORMED_CONTROL', () => parseRelations('libc6 (>= ')).details).toEqual({
      value: 'libc6 (>=',
    });
  });

  it('Packages index: which index and which stanza, also for a parser error inside a stanza', () => {
    const missing = thrown('MALFORMED_CONTROL', () =>
      parsePackagesFile(`${stanza('a')}\nVersion: 2\n`, { suite: 'trixie', component: 'main' }),
    );
    expect(missing.details).toEqual({ document: 'Packages trixie/main', line: 8 });
    const relation = thrown('MALFORMED_CONTROL', () =>
      parsePackagesFile(`${stanza('a')}\n${stanza('b', { Depends: 'libc6 (>> ' })}`, { suite: 'trixie' }),
    );
    expect(relation.details).toEqual({ document: 'Packages trixie', line: 8, value: 'libc6 (>>' });
    expect(relation.message).toMatch(/^Packages index trixie: relation/);
    // Wrapped once: an error that already names its index is not wrapped again.
    expect(isRampartError(relation.cause, 'MALFORMED_CONTROL')).toBe(true);
    expect(isRampartError((relation.cause as Error).cause)).toBe(false);
  });
});

describe('resolver errors carry details.package', () => {
  it('PACKAGE_NOT_FOUND: the requested name, the architecture', () => {
    const index = indexOf(stanza('nodejs'));
    expect(thrown('PACKAGE_NOT_FOUND', () => resolve(index, ['nodjs'])).details).toEqual({
      package: 'nodjs',
      architecture: 'amd64',
    });
    expect(thrown('PACKAGE_NOT_FOUND', () => resolve(index, ['nodejs=9'])).details).toEqual({
      package: 'nodejs',
      architecture: 'amd64',
    });
  });

  it('UNSATISFIABLE: the requested package the chain starts at, the relation, the chain', () => {
    const index = indexOf(
      stanza('app', { Depends: 'libmid' }),
      stanza('libmid', { Depends: 'libgone (>= 2)' }),
    );
    const error = thrown('UNSATISFIABLE', () => resolve(index, ['app']));
    expect(error.details).toEqual({
      package: 'app',
      relation: 'libgone (>= 2)',
      chain: ['app', 'libmid', 'libgone'],
    });
  });

  it('UNSATISFIABLE through a virtual request: the name the user asked for', () => {
    const index = indexOf(stanza('mawk', { Provides: 'awk', Depends: 'libgone' }));
    expect(thrown('UNSATISFIABLE', () => resolve(index, ['awk'])).details.package).toBe('awk');
  });

  it('EXCLUDED_REQUIRED: the excluded package and what requires it', () => {
    const index = indexOf(stanza('app', { Depends: 'perl' }), stanza('perl'));
    expect(thrown('EXCLUDED_REQUIRED', () => resolve(index, ['app'], { exclude: ['perl'] })).details).toEqual(
      {
        package: 'perl',
        requiredBy: ['app'],
      },
    );
    expect(
      thrown('EXCLUDED_REQUIRED', () => resolve(index, ['perl'], { exclude: ['perl'] })).details,
    ).toEqual({
      package: 'perl',
    });
  });

  it('USAGE for a request that is not name[=version][:arch]', () => {
    expect(thrown('USAGE', () => resolve(indexOf(stanza('a')), ['a='])).details).toEqual({ value: 'a=' });
  });

  it('LOCK_STALE: the locked package the index no longer has', () => {
    const index = indexOf(stanza('a'));
    const [locked] = resolve(index, ['a']).packages;
    const stale = { ...locked!, sha256: 'cd'.repeat(32) };
    expect(thrown('LOCK_STALE', () => findLockedInIndex(index, [stale])).details).toEqual({ package: 'a' });
  });
});

describe('.deb files', () => {
  it('MALFORMED_DEB: the file (and member)', async () => {
    const notAr = join(work, 'not-ar.deb');
    await writeFile(notAr, 'hello, not an archive');
    expect((await rejected('MALFORMED_DEB', listArMembers(notAr))).details).toEqual({ path: notAr });
    const noControl = join(work, 'empty.deb');
    await writeFile(noControl, '!<arch>\n');
    expect((await rejected('MALFORMED_DEB', readDeb(noControl))).details).toEqual({
      path: noControl,
      member: 'control.tar.*',
    });
  });

  it('PATH_TRAVERSAL: the entry name and where it was found', () => {
    expect(
      thrown('PATH_TRAVERSAL', () => normaliseEntryPath('./usr/../../etc/x', 'a.deb:data.tar')).details,
    ).toEqual({
      path: './usr/../../etc/x',
      location: 'a.deb:data.tar',
    });
  });

  it('a .deb that is not there is NOT_FOUND, not MALFORMED_DEB', async () => {
    const path = join(work, 'absent.deb');
    expect((await rejected('NOT_FOUND', listArMembers(path))).details).toEqual({ path });
  });
});

describe('oci value parsers', () => {
  it('INVALID_REFERENCE and UNSUPPORTED_TRANSPORT: the reference', () => {
    expect(thrown('INVALID_REFERENCE', () => parseImageReference('Not/A:Reference:')).details).toEqual({
      reference: 'Not/A:Reference:',
    });
    expect(thrown('INVALID_REFERENCE', () => parseDigest('sha256:XYZ')).details).toEqual({
      reference: 'sha256:XYZ',
    });
    expect(thrown('UNSUPPORTED_TRANSPORT', () => parseImageReference('docker-daemon:nginx')).details).toEqual(
      {
        reference: 'docker-daemon:nginx',
        transport: 'docker-daemon',
      },
    );
  });

  it('USAGE: the platform text', () => {
    expect(thrown('USAGE', () => parsePlatform('linux')).details).toEqual({ value: 'linux' });
  });

  it('MALFORMED_MANIFEST: where, and the first bad field', () => {
    const bad = Buffer.from(JSON.stringify({ schemaVersion: 2, config: {}, layers: [] }));
    expect(
      thrown('MALFORMED_MANIFEST', () => parseJsonBytes(ImageManifestSchema, bad, 'manifest m')).details,
    ).toEqual({
      location: 'manifest m',
      field: 'config.mediaType',
    });
    expect(
      thrown('MALFORMED_MANIFEST', () => parseJsonBytes(ImageManifestSchema, Buffer.from('{'), 'manifest m'))
        .details,
    ).toEqual({ location: 'manifest m' });
  });

  it('SIZE_MISMATCH and DIGEST_MISMATCH from the verifying stream: expected, actual, where', async () => {
    const digest = `sha256:${'0'.repeat(64)}` as const;
    const size = await rejected(
      'SIZE_MISMATCH',
      pipeline(Readable.from([Buffer.from('abc')]), verifyingStream(digest, 5, 'blob b')),
    );
    expect(size.details).toEqual({ digest, expected: 5, actual: 3, location: 'blob b' });
    const over = await rejected(
      'SIZE_MISMATCH',
      pipeline(Readable.from([Buffer.from('abcdef')]), verifyingStream(digest, 5, 'blob b')),
    );
    expect(over.details).toEqual({ digest, expected: 5, actual: 6, location: 'blob b' });
    const mismatch = await rejected(
      'DIGEST_MISMATCH',
      pipeline(Readable.from([Buffer.from('abc')]), verifyingStream(digest, 3, 'blob b')),
    );
    expect(mismatch.details).toEqual({
      expected: digest,
      actual: 'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      location: 'blob b',
    });
  });
});

describe('sbom, util and cache', () => {
  it('SBOM_INVALID: the format found', () => {
    expect(thrown('SBOM_INVALID', () => readSbom('{')).details).toEqual({ format: 'json' });
    expect(thrown('SBOM_INVALID', () => readSbom('{"spdxVersion":"SPDX-3.0"}')).details).toEqual({
      format: 'spdx SPDX-3.0',
    });
  });

  it('USAGE for -o: the option and its value', () => {
    expect(thrown('USAGE', () => parseOutputSpec('spdx')).details).toEqual({ option: '-o', value: 'spdx' });
    expect(thrown('USAGE', () => parseOutputSpec('spdx-json=')).details).toEqual({
      option: '-o',
      value: 'spdx-json=',
    });
  });

  it('NOT_FOUND and USAGE for a directory SBOM: the path', async () => {
    const missing = join(work, 'no-root');
    expect((await rejected('NOT_FOUND', generateSbom({ kind: 'directory', path: missing }))).details).toEqual(
      {
        path: missing,
      },
    );
    const file = join(work, 'a-file');
    await writeFile(file, 'x');
    expect((await rejected('USAGE', generateSbom({ kind: 'directory', path: file }))).details).toEqual({
      value: file,
    });
  });

  it('INVALID_ENVIRONMENT: a SOURCE_DATE_EPOCH the SBOM cannot use is refused, not ignored', async () => {
    const root = join(work, 'epoch-root');
    await mkdir(root, { recursive: true });
    for (const value of ['yesterday', '-1', '1.5', '99999999999999']) {
      const error = await rejected(
        'INVALID_ENVIRONMENT',
        generateSbom({ kind: 'directory', path: root }, { env: { SOURCE_DATE_EPOCH: value } }),
      );
      expect(error.details).toEqual({ variable: 'SOURCE_DATE_EPOCH', value });
    }
    const doc = await generateSbom(
      { kind: 'directory', path: root },
      { env: { SOURCE_DATE_EPOCH: '1700000000' } },
    );
    expect(doc.source.created).toBe('2023-11-14T22:13:20.000Z');
  });

  it('MALFORMED_ARCHIVE: the compression format', async () => {
    expect(
      (await rejected('MALFORMED_ARCHIVE', decompressBuffer(Buffer.from('not gzip'), 'gz'))).details,
    ).toEqual({
      format: 'gzip',
    });
    expect(
      (await rejected('MALFORMED_ARCHIVE', decompressBuffer(Buffer.from('not xz'), 'xz'))).details,
    ).toEqual({
      format: 'xz',
    });
  });

  it('TOOL_FAILED: the tool that could not run', async () => {
    const path = process.env.PATH;
    process.env.PATH = join(work, 'no-bin');
    try {
      expect((await rejected('TOOL_FAILED', decompressBuffer(Buffer.from('x'), 'xz'))).details).toEqual({
        tool: 'xz',
      });
    } finally {
      process.env.PATH = path;
    }
  });

  it('cache: NOT_FOUND for a folder that is not a cache, USAGE for a bad duration', async () => {
    const dir = join(work, 'not-a-cache');
    await mkdir(join(dir, 'pip'), { recursive: true });
    expect((await rejected('NOT_FOUND', pruneCache(dir))).details).toEqual({ path: dir });
    expect(thrown('USAGE', () => parseDuration('3x')).details).toEqual({ value: '3x' });
    expect((await rejected('USAGE', pruneCache(dir, { olderThanMs: 5 }))).details).toEqual({
      option: 'olderThanMs',
      value: '5',
    });
  });
});
