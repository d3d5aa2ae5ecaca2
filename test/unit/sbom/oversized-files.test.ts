import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogFileSource } from '../../../src/sbom/catalog.js';
import { MAX_BINARY_BYTES } from '../../../src/sbom/catalogers/binary/cataloger.js';
import { MAX_DPKG_FILE_BYTES } from '../../../src/sbom/catalogers/dpkg/cataloger.js';
import { generateSbom, unsafeEntriesError } from '../../../src/sbom/generate.js';
import { directoryFileSource } from '../../../src/sbom/source/dir-source.js';
import type { FileSource } from '../../../src/sbom/source/file-source.js';

// Sparse files made with `truncate`: hundreds of MiB in the listing, no blocks on disk.
let root: string;
const OVER = MAX_BINARY_BYTES + 1024 * 1024;

function sparse(path: string, size: number, mode: number) {
  mkdirSync(join(root, path, '..'), { recursive: true });
  execFileSync('truncate', ['-s', String(size), join(root, path)]);
  chmodSync(join(root, path), mode);
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'rampart-sbom-oversized-'));
  sparse('usr/local/bin/huge-server', OVER, 0o755);
  sparse('usr/local/bin/exactly-limit', MAX_BINARY_BYTES, 0o755);
  // Not programs by the cataloger's rules: no exec bit, a shared library, a data tree.
  sparse('srv/data.bin', OVER, 0o644);
  sparse('usr/lib/libhuge.so.1', OVER, 0o755);
  sparse('usr/share/app/blob', OVER, 0o755);
  sparse('opt/app/lib/huge-1.0.jar', OVER, 0o644);
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('files over the size limits', () => {
  it('warns about an oversized executable and jar, naming each and its size, without reading them', async () => {
    const disk = await directoryFileSource(root, () => {});
    const touched: string[] = [];
    const watched: FileSource = {
      nodes: () => disk.nodes(),
      read(paths, onError) {
        touched.push(...paths);
        return disk.read(paths, onError);
      },
      async openRandomAccess(path) {
        touched.push(path);
        return disk.openRandomAccess!(path);
      },
    };
    const started = Date.now();
    const { warnings } = await catalogFileSource(watched);
    expect(warnings.map((w) => [w.cataloger, w.path])).toEqual([
      ['java', '/opt/app/lib/huge-1.0.jar'],
      ['binary', '/usr/local/bin/huge-server'],
    ]);
    const binary = warnings.find((w) => w.cataloger === 'binary')!;
    expect(binary.message).toContain(`${OVER} bytes (257 MiB)`);
    expect(binary.message).toContain('256 MiB limit');
    expect(warnings.find((w) => w.cataloger === 'java')!.message).toContain(`${OVER} bytes`);
    // The file at the limit is still opened (and is no ELF, so it yields nothing and no warning).
    expect(touched).toEqual(['/usr/local/bin/exactly-limit']);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('a dpkg database or os-release of hostile size (a gzip bomb in a layer)', () => {
  let bombRoot: string;
  const BOMB = 1536 * 1024 * 1024;

  beforeAll(() => {
    bombRoot = mkdtempSync(join(tmpdir(), 'rampart-sbom-bomb-'));
    for (const [path, size] of [
      ['var/lib/dpkg/status', BOMB],
      ['var/lib/dpkg/status.d/hidden', MAX_DPKG_FILE_BYTES + 1],
      ['usr/share/doc/zeros/copyright', BOMB],
      ['etc/os-release', BOMB],
    ] as const) {
      mkdirSync(join(bombRoot, path, '..'), { recursive: true });
      execFileSync('truncate', ['-s', String(size), join(bombRoot, path)]);
    }
  });

  afterAll(() => rmSync(bombRoot, { recursive: true, force: true }));

  it('reads none of them (they would be read whole) and warns about each', async () => {
    const disk = await directoryFileSource(bombRoot, () => {});
    const touched: string[] = [];
    const watched: FileSource = {
      nodes: () => disk.nodes(),
      read(paths, onError) {
        touched.push(...paths);
        return disk.read(paths, onError);
      },
    };
    const { warnings, distro } = await catalogFileSource(watched);
    expect(touched).toEqual([]);
    expect(distro).toBeUndefined();
    expect(warnings.map((w) => [w.cataloger, w.path])).toEqual([
      ['source', '/etc/os-release'],
      ['dpkg', '/usr/share/doc/zeros/copyright'],
      ['dpkg', '/var/lib/dpkg/status'],
      ['dpkg', '/var/lib/dpkg/status.d/hidden'],
    ]);
    expect(warnings.find((w) => w.path === '/var/lib/dpkg/status')!.message).toContain(
      `${BOMB} bytes is over the 16 MiB limit`,
    );
  });

  it('a package database padded past the limit cannot hide packages: the SBOM is marked partial (UNSAFE_ENTRIES)', async () => {
    const doc = await generateSbom({ kind: 'directory', path: bombRoot });
    const skipped = doc.warnings.flatMap((w) => (w.skipped ? [w.skipped] : []));
    expect(skipped).toEqual([
      { name: '/usr/share/doc/zeros/copyright', reason: 'too-large' },
      { name: '/var/lib/dpkg/status', reason: 'too-large' },
      { name: '/var/lib/dpkg/status.d/hidden', reason: 'too-large' },
    ]);
    const error = unsafeEntriesError(doc);
    expect(error?.code).toBe('UNSAFE_ENTRIES');
    expect(error?.details).toMatchObject({
      count: 3,
      entries: [{ path: '/usr/share/doc/zeros/copyright', reason: 'too-large' }, {}, {}],
    });
  });
});
