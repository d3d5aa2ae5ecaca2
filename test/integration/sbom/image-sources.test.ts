import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { isRampartError } from '../../../src/errors.js';
import { openImage, writeImage } from '../../../src/oci/open.js';
import { generateSbom } from '../../../src/sbom/generate.js';
import { readSbom } from '../../../src/sbom/read/read-sbom.js';
import { cycloneDxValidator, spdxValidator } from '../../unit/sbom/schema-validators.js';

let work: string;
let root: string;

const STATUS = `Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.41-12
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.37-2+b10
Depends: libc6 (>= 2.38)
`;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'rampart-sbom-img-'));
  root = join(work, 'rootfs');
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'usr/lib/node_modules/left-pad'), { recursive: true });
  mkdirSync(join(root, 'var/lib/dpkg/info'), { recursive: true });
  writeFileSync(join(root, 'usr/lib/os-release'), 'ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n');
  symlinkSync('../usr/lib/os-release', join(root, 'etc/os-release'));
  writeFileSync(join(root, 'var/lib/dpkg/status'), STATUS);
  writeFileSync(
    join(root, 'var/lib/dpkg/info/bash.md5sums'),
    `${'0'.repeat(32)}  usr/share/doc/bash/README\n${'1'.repeat(32)}  usr/bin/bash\n${'2'.repeat(32)}  usr/bin/bashbug\n`,
  );
  // Two of bash's three listed files exist (their SHA-1s go into SPDX); bashbug was removed.
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  mkdirSync(join(root, 'usr/share/doc/bash'), { recursive: true });
  writeFileSync(join(root, 'usr/bin/bash'), 'not really bash\n');
  writeFileSync(join(root, 'usr/share/doc/bash/README'), 'read me\n');
  writeFileSync(
    join(root, 'usr/lib/node_modules/left-pad/package.json'),
    '{"name":"left-pad","version":"1.3.0"}',
  );
  const image = await openImage(`dir:${root}`);
  await writeImage(`oci:${join(work, 'layout')}:v1`, image);
  await writeImage(`oci-archive:${join(work, 'image.oci.tar')}:v1`, image);
  await writeImage(`docker-archive:${join(work, 'image.docker.tar')}:v1`, image);
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

const summary = (packages: Array<{ purl: string; dependsOn: string[] }>) =>
  packages.map((p) => ({ purl: p.purl, dependsOn: p.dependsOn }));

describe('rampart sbom on every transport', () => {
  it.each([
    ['oci', () => `oci:${join(work, 'layout')}:v1`],
    ['oci-archive', () => `oci-archive:${join(work, 'image.oci.tar')}`],
    ['docker-archive', () => `docker-archive:${join(work, 'image.docker.tar')}`],
  ])('%s gives the same packages as the root directory, in all formats at once', async (_name, ref) => {
    const dirDoc = await generateSbom({ kind: 'directory', path: root });
    expect(dirDoc.packages.map((p) => p.purl)).toEqual([
      'pkg:deb/debian/bash@5.2.37-2%2Bb10?arch=amd64&distro=debian-13',
      'pkg:deb/debian/libc6@2.41-12?arch=amd64&distro=debian-13&upstream=glibc',
      'pkg:npm/left-pad@1.3.0',
    ]);
    const out = mkdtempSync(join(work, 'out-'));
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    let code: number;
    let printed = '';
    try {
      code = await main([
        'node',
        'rampart',
        'sbom',
        ref(),
        '-o',
        `json=${join(out, 'sbom.json')}`,
        '-o',
        `spdx-json=${join(out, 'sbom.spdx.json')}`,
        '-o',
        `cyclonedx-json=${join(out, 'sbom.cdx.json')}`,
        '-o',
        'table',
        '--files',
      ]);
      printed = stdout.mock.calls.map((c) => String(c[0])).join('');
    } finally {
      stdout.mockRestore();
    }
    expect(code).toBe(0);
    expect(printed).toMatch(/^NAME\s+VERSION\s+TYPE\nbash\s+5\.2\.37-2\+b10\s+deb/);
    const doc = readSbom(readFileSync(join(out, 'sbom.json')));
    expect(summary(doc.packages)).toEqual(summary(dirDoc.packages));
    expect(doc.source.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(doc.source.platform).toMatch(/^linux\//);
    expect(doc.warnings).toEqual([]);
    const spdx = JSON.parse(readFileSync(join(out, 'sbom.spdx.json'), 'utf8'));
    const cdx = JSON.parse(readFileSync(join(out, 'sbom.cdx.json'), 'utf8'));
    expect(spdxValidator()(spdx)).toEqual([]);
    expect(cycloneDxValidator()(cdx)).toEqual([]);
    expect(summary(readSbom(JSON.stringify(spdx)).packages)).toEqual(summary(dirDoc.packages));
    expect(summary(readSbom(JSON.stringify(cdx)).packages)).toEqual(summary(dirDoc.packages));
    // --files: the dpkg package's file components are exactly the paths its md5sums lists.
    const md5sums = readFileSync(join(root, 'var/lib/dpkg/info/bash.md5sums'), 'utf8');
    expect(
      cdx.components
        .find((c: { name: string }) => c.name === 'bash')
        .components.map((f: { type: string; name: string }) => `${f.type} ${f.name}`),
    ).toEqual(
      md5sums
        .split('\n')
        .filter(Boolean)
        .map((line) => `file /${line.split(/\s+/)[1]}`)
        .sort(),
    );
    // --files through the CLI hashes the files read from the image's layers: each SPDX file's
    // SHA-1 is that of the same file in the root the image was made from.
    expect(spdx.files.map((f: { fileName: string }) => f.fileName).sort()).toEqual([
      './usr/bin/bash',
      './usr/share/doc/bash/README',
    ]);
    for (const file of spdx.files as Array<{ fileName: string; checksums: Array<Record<string, string>> }>) {
      const sha1 = file.checksums.find((c) => c.algorithm === 'SHA1')?.checksumValue;
      expect(sha1, file.fileName).toBe(
        createHash('sha1')
          .update(readFileSync(join(root, file.fileName)))
          .digest('hex'),
      );
    }
  });
});

describe('generateSbom for the builder', () => {
  it('accepts an already opened image and writes both SBOMs atomically beside it', async () => {
    const { selectImage } = await import('../../../src/oci/image.js');
    const { writeSbomFiles } = await import('../../../src/sbom/write.js');
    const image = await selectImage(await openImage(`oci:${join(work, 'layout')}:v1`));
    const doc = await generateSbom({ kind: 'image-object', ref: 'oci:out/sample:v1', image });
    expect(doc.source).toMatchObject({ kind: 'image', ref: 'oci:out/sample:v1', digest: image.digest });
    const out = mkdtempSync(join(work, 'beside-'));
    await writeSbomFiles(doc, [
      { format: 'spdx-json', path: join(out, 'sample.spdx.json') },
      { format: 'cyclonedx-json', path: join(out, 'sample.cdx.json') },
    ]);
    expect(execFileSync('ls', ['-A', out], { encoding: 'utf8' }).split('\n').filter(Boolean)).toEqual([
      'sample.cdx.json',
      'sample.spdx.json',
    ]);
    expect(summary(readSbom(readFileSync(join(out, 'sample.spdx.json'))).packages)).toEqual(
      summary(doc.packages),
    );
  });
});

describe('damaged images', () => {
  it('a bad manifest is a clear RampartError, and the CLI exits 1 with one line', async () => {
    const layout = join(work, 'bad-layout');
    execFileSync('cp', ['-r', join(work, 'layout'), layout]);
    writeFileSync(join(layout, 'index.json'), '{"schemaVersion": 2, "manifests": "nope"}');
    const error = await generateSbom({ kind: 'image', ref: `oci:${layout}:v1` }).catch((e: unknown) => e);
    expect(isRampartError(error)).toBe(true);
    expect((error as Error).message).toContain(layout);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    let printed = '';
    try {
      expect(await main(['node', 'rampart', 'sbom', `oci:${layout}:v1`])).toBe(1);
      printed = stderr.mock.calls.map((c) => String(c[0])).join('');
    } finally {
      stderr.mockRestore();
    }
    expect(printed).toMatch(/^error: .+\n$/);
  });

  it('a truncated layer becomes a warning and the other layers still give their packages', () => {
    // A two-layer image made by umoci: dpkg status in layer 0, an npm package in layer 1.
    const dir = join(work, 'umoci');
    const run = (...args: string[]) => execFileSync('umoci', args, { cwd: dir, stdio: 'pipe' });
    mkdirSync(dir);
    run('init', '--layout', 'L');
    run('new', '--image', 'L:t');
    run('unpack', '--rootless', '--image', 'L:t', 'B');
    mkdirSync(join(dir, 'B/rootfs/var/lib/dpkg'), { recursive: true });
    writeFileSync(join(dir, 'B/rootfs/var/lib/dpkg/status'), STATUS);
    run('repack', '--image', 'L:t', 'B');
    rmSync(join(dir, 'B'), { recursive: true });
    run('unpack', '--rootless', '--image', 'L:t', 'B');
    mkdirSync(join(dir, 'B/rootfs/usr/lib/node_modules/left-pad'), { recursive: true });
    writeFileSync(
      join(dir, 'B/rootfs/usr/lib/node_modules/left-pad/package.json'),
      '{"name":"left-pad","version":"1.3.0"}',
    );
    run('repack', '--image', 'L:t', 'B');
    const index = JSON.parse(readFileSync(join(dir, 'L/index.json'), 'utf8'));
    const blob = (digest: string) => join(dir, 'L/blobs/sha256', digest.replace('sha256:', ''));
    const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), 'utf8'));
    expect(manifest.layers).toHaveLength(2);
    const npmLayer = blob(manifest.layers[1].digest);
    truncateSync(npmLayer, Math.floor(readFileSync(npmLayer).length / 2));
    return generateSbom({ kind: 'image', ref: `oci:${join(dir, 'L')}:t` }).then((doc) => {
      expect(doc.packages.map((p) => p.name)).toEqual(['bash', 'libc6']);
      expect(doc.warnings).toEqual([expect.objectContaining({ cataloger: 'source', path: '(layer 1)' })]);
    });
  });
});
