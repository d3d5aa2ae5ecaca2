/**
 * `rampart build` against a real, signed, local APT repository (test/helpers/apt-repo.ts):
 * assembly rules, scanner metadata, lock reproducibility and the error paths, without the
 * Debian archive.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type BuildEvent, type BuildOptions, buildImage } from '../../../src/builder/pipeline.js';
import { main } from '../../../src/cli/main.js';
import { createProgressReporter } from '../../../src/cli/progress.js';
import { parseDeb822 } from '../../../src/debian/deb822.js';
import { isRampartError } from '../../../src/errors.js';
import { flattenImage, readFiles } from '../../../src/oci/fs-view.js';
import { selectImage } from '../../../src/oci/image.js';
import { openImage } from '../../../src/oci/open.js';
import { type AptRepo, createAptRepo, type DebSpec } from '../../helpers/apt-repo.js';

const CERT_A = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
const CERT_B = '-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----';

const PACKAGES: DebSpec[] = [
  {
    name: 'base-files',
    version: '13.8',
    files: {
      'usr/lib/os-release':
        'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\nVERSION_ID="13"\nID=debian\n',
      'etc/debian_version': '13.1\n',
      'usr/share/doc/base-files/copyright': 'base-files licence\n',
      'var/tmp/.keep': '',
    },
    symlinks: { bin: 'usr/bin' },
    preDepends: 'awk',
  },
  {
    name: 'ca-certificates',
    version: '20250419',
    architecture: 'all',
    depends: 'debconf (>= 0.5) | debconf-2.0, openssl',
    files: {
      'usr/share/ca-certificates/mozilla/B_Root.crt': CERT_B,
      'usr/share/ca-certificates/mozilla/A_Root.crt': CERT_A,
      'usr/share/doc/ca-certificates/copyright': 'MPL-2.0\n',
    },
  },
  { name: 'debconf', version: '1.5', architecture: 'all' },
  { name: 'mawk', version: '1.3', provides: 'awk' },
  { name: 'openssl', version: '3.5' },
  {
    name: 'libfoo1',
    version: '1.2-3',
    source: 'foo',
    multiArch: 'same',
    files: {
      'lib/x86_64-linux-gnu/libfoo.so.1': 'ELF libfoo\n',
      'usr/share/doc/libfoo1/copyright': 'foo licence\n',
      'usr/share/doc/libfoo1/changelog.Debian.gz': 'changes\n',
      'usr/share/man/man3/foo.3.gz': 'manual\n',
      'usr/share/locale/de/LC_MESSAGES/foo.mo': 'de\n',
    },
    // Never run: the build executes nothing from a package.
    controlFiles: { postinst: '#!/bin/sh\nexit 1\n' },
  },
  {
    name: 'tool',
    version: '2.0',
    depends: 'libfoo1 (>= 1.2)',
    files: { 'usr/bin/tool': '#!tool\n', 'usr/share/doc/tool/copyright': 'tool licence\n' },
  },
  { name: 'clash-a', version: '1', files: { 'usr/bin/same': 'A\n' } },
  { name: 'clash-b', version: '1', files: { 'usr/bin/same': 'B\n' } },
];

let repo: AptRepo;
let dir: string;
let cacheDir: string;

function specText(body: Record<string, string>): string {
  return [
    `name: ${body.name ?? 'demo'}`,
    'contents:',
    '  suites: [testing]',
    `  mirror: ${repo.url}`,
    `  keyring: ${repo.key.keyring}`,
    `  packages: [${body.packages ?? 'base-files, ca-certificates, tool'}]`,
    'archs: [amd64]',
    ...(body.extra ? [body.extra] : []),
    '',
  ].join('\n');
}

async function writeSpec(name: string, text: string): Promise<string> {
  const specDir = await mkdtemp(join(dir, `${name}-`));
  const path = join(specDir, `${name}.yaml`);
  await writeFile(path, text);
  return path;
}

/** `file:line:col` of the first occurrence of `needle`, computed from the text itself. */
function positionOf(file: string, text: string, needle: string): string {
  const offset = text.indexOf(needle);
  const before = text.slice(0, offset).split('\n');
  return `${file}:${before.length}:${before.at(-1)!.length + 1}`;
}

async function expectFailure(opts: BuildOptions, code: string, pattern: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await buildImage(opts);
  } catch (error) {
    caught = error;
  }
  expect(isRampartError(caught), String(caught)).toBe(true);
  expect((caught as { code: string }).code).toBe(code);
  expect((caught as Error).message).toMatch(pattern);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-build-it-'));
  cacheDir = join(dir, 'cache');
  repo = await createAptRepo([{ name: 'testing', packages: PACKAGES }], { dir });
});

afterAll(async () => {
  await repo?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('rampart build on a local archive', () => {
  let specPath: string;
  let layout: string;
  let result: Awaited<ReturnType<typeof buildImage>>;
  const events: BuildEvent[] = [];

  beforeAll(async () => {
    const extra = [
      'paths:',
      '  - {path: /data, type: directory, uid: 65532, gid: 65532, permissions: 0o700}',
      'files:',
      '  - {source: ./app, destination: /app, uid: 65532, gid: 65532}',
      'entrypoint: [/usr/bin/tool]',
    ].join('\n');
    specPath = await writeSpec('demo', specText({ extra }));
    const appDir = join(specPath, '..', 'app');
    await mkdir(join(appDir, 'lib'), { recursive: true });
    await writeFile(join(appDir, 'main.js'), 'console.log(1)\n');
    await writeFile(join(appDir, 'lib', 'util.js'), 'module.exports = 2\n');
    // copied as a link, never followed out of the source directory
    await symlink('/etc/shadow', join(appDir, 'secret'));
    layout = join(dir, 'out', 'demo');
    result = await buildImage({
      specPath,
      output: `oci:${layout}:latest`,
      cacheDir,
      sbomDir: join(dir, 'sbom'),
      onProgress: (event) => events.push(event),
    });
  });

  it('reports its phases in order, each opened and closed, with counts that match the result', () => {
    const phases = events.map((e) => e.phase).filter((p, i, all) => p !== all[i - 1]);
    expect(phases).toEqual(['resolve', 'download', 'assemble', 'layers', 'sboms', 'write']);
    for (const phase of phases) {
      const own = events.filter((e) => e.phase === phase);
      expect(own[0]?.kind, phase).toBe('start');
      expect(own.at(-1)?.kind, phase).toBe('done');
      const elapsed = (own.at(-1) as { elapsedMs: number }).elapsedMs;
      expect(Number.isInteger(elapsed) && elapsed >= 0, `${phase}: ${elapsed}`).toBe(true);
    }
    const platform = result.platforms[0]!;
    const packages = platform.packages;
    const of = <P extends BuildEvent['phase'], K extends BuildEvent['kind']>(phase: P, kind: K) =>
      events.filter(
        (e): e is Extract<BuildEvent, { phase: P; kind: K }> => e.phase === phase && e.kind === kind,
      );

    expect(of('resolve', 'index').length).toBeGreaterThan(0);
    expect(of('resolve', 'done')[0]).toMatchObject({ locked: false, packages: { amd64: packages.length } });
    const bytes = packages.reduce((n, p) => n + p.size, 0);
    expect(of('download', 'start')).toEqual([
      { phase: 'download', kind: 'start', packages: packages.length, bytes, at: expect.any(String) },
    ]);
    // Every event carries its time, in order (no job id unless the caller gave one).
    const times = events.map((e) => Date.parse(e.at ?? ''));
    expect(times.every((t, i) => Number.isFinite(t) && (i === 0 || t >= times[i - 1]!))).toBe(true);
    expect(events.some((e) => 'jobId' in e)).toBe(false);
    expect(of('download', 'bytes').reduce((n, e) => n + e.bytes, 0)).toBe(bytes);
    expect(
      of('download', 'package')
        .map((e) => e.pkg.name)
        .sort(),
    ).toEqual(packages.map((p) => p.name).sort());
    const downloaded = of('download', 'done')[0]!;
    expect(downloaded.packages).toBe(packages.length);
    expect(downloaded.fetched).toBe(of('download', 'package').filter((e) => !e.cached).length);
    expect(of('assemble', 'done')[0]).toMatchObject({ arch: 'amd64', packages: packages.length });
    expect(of('assemble', 'done')[0]!.paths).toBeGreaterThan(packages.length);
    // one event per layer, as it is built, in the image's order
    expect(of('layers', 'layer').map((e) => [e.name, e.digest, e.size, e.uncompressedSize])).toEqual(
      platform.layers.map((l) => [l.name, l.digest, l.size, l.uncompressedSize]),
    );
    expect(of('layers', 'done')[0]).toMatchObject({
      layers: platform.layers.length,
      size: platform.layers.reduce((n, l) => n + l.size, 0),
    });
    expect(of('sboms', 'done')[0]!.packages).toBeGreaterThanOrEqual(packages.length);
    expect(of('write', 'done')).toEqual([
      expect.objectContaining({ reference: result.reference, digest: result.digest }),
    ]);
  });

  it('installs the closure minus the maintainer-script-only dependencies, and says so', () => {
    expect(result.platforms[0]?.packages.map((p) => p.name)).toEqual([
      'base-files',
      'ca-certificates',
      'libfoo1',
      'tool',
    ]);
    expect(result.skipped.map((s) => s.name).sort()).toEqual(['awk', 'debconf', 'openssl']);
  });

  it('assembles the root: merged /usr, pruned docs, generated files, hardened modes', async () => {
    const image = await selectImage(await openImage(`oci:${layout}:latest`));
    const fs = await flattenImage(image);
    expect(fs.get('/usr/lib/x86_64-linux-gnu/libfoo.so.1')?.kind).toBe('file');
    expect(fs.get('/lib')).toMatchObject({ kind: 'symlink', linkTarget: 'usr/lib' });
    expect(fs.get('/bin')).toMatchObject({ kind: 'symlink', linkTarget: 'usr/bin' });
    expect(fs.has('/usr/share/doc/libfoo1/copyright')).toBe(true);
    expect(fs.has('/usr/share/doc/libfoo1/changelog.Debian.gz')).toBe(false);
    expect(fs.has('/usr/share/man')).toBe(false);
    expect(fs.has('/usr/share/locale/de')).toBe(false);
    expect(fs.get('/tmp')).toMatchObject({ kind: 'directory', mode: 0o1777, uid: 0 });
    expect(fs.get('/home/nonroot')).toMatchObject({ kind: 'directory', uid: 65532, gid: 65532 });
    expect(fs.get('/data')).toMatchObject({ kind: 'directory', mode: 0o700, uid: 65532 });
    expect(fs.get('/app/lib/util.js')).toMatchObject({ kind: 'file', uid: 65532, gid: 65532 });
    expect(fs.get('/app/secret')).toMatchObject({ kind: 'symlink', linkTarget: '/etc/shadow' });
    const worldWritable = fs
      .entries()
      .filter((n) => n.kind !== 'symlink' && n.mode & 0o002 && n.path !== '/tmp');
    expect(worldWritable.map((n) => n.path)).toEqual([]);
    // the postinst (exit 1) never ran, and no dpkg database beyond status.d exists
    expect(fs.has('/var/lib/dpkg/status')).toBe(false);

    const wanted = new Set([
      '/etc/os-release',
      '/etc/passwd',
      '/etc/ssl/certs/ca-certificates.crt',
      '/var/lib/dpkg/status.d/libfoo1.md5sums',
    ]);
    const files = new Map<string, string>();
    for await (const f of readFiles(image, fs, wanted)) files.set(f.path, f.content.toString());
    expect(files.get('/etc/os-release')).toContain('ID=debian');
    expect(files.get('/etc/passwd')).toContain('nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin');
    expect(files.get('/etc/ssl/certs/ca-certificates.crt')).toBe(`${CERT_A}${CERT_B}\n`);
    // md5sums name the files where they are in the image, and nothing that was pruned
    const md5 = files.get('/var/lib/dpkg/status.d/libfoo1.md5sums') ?? '';
    expect(md5).toContain('  usr/lib/x86_64-linux-gnu/libfoo.so.1\n');
    expect(md5).not.toContain('changelog');
    expect(md5.split('\n').filter(Boolean)).toHaveLength(2);
  });

  it('writes status.d entries that parse back into exactly the locked packages', async () => {
    const image = await selectImage(await openImage(`oci:${layout}:latest`));
    const fs = await flattenImage(image);
    const stanzas = fs
      .children('/var/lib/dpkg/status.d')
      .map((n) => n.path)
      .filter((p) => !p.endsWith('.md5sums'));
    const contents: string[] = [];
    for await (const f of readFiles(image, fs, new Set(stanzas))) contents.push(f.content.toString());
    const installed = contents
      .flatMap((text) => parseDeb822(text))
      .map((p) => `${p.get('package')}=${p.get('version')} ${p.get('status')}`)
      .sort();
    const lock = JSON.parse(await readFile(result.lock, 'utf8'));
    const locked = lock.variants.default.archs.amd64.map(
      (p: { name: string; version: string }) => `${p.name}=${p.version} install ok installed`,
    );
    expect(installed).toEqual(locked);
  });

  it('sets the image config and is accepted by skopeo', async () => {
    const image = await selectImage(await openImage(`oci:${layout}:latest`));
    expect(image.config.config?.User).toBe('65532:65532');
    expect(image.config.config?.WorkingDir).toBe('/home/nonroot');
    expect(image.config.config?.Entrypoint).toEqual(['/usr/bin/tool']);
    expect(image.config.config?.Env).toContain('SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt');
    expect(image.config.history?.map((h) => h.comment)).toEqual([
      'static: base-files ca-certificates',
      'packages: libfoo1 tool',
      'config: accounts, home directories, paths',
      'app: files from the spec',
    ]);
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${layout}:latest`]).toString());
    // skopeo reports the digest of the index it was pointed at
    expect(inspected.Digest).toBe(result.digest);
    expect(inspected.Architecture).toBe('amd64');
    expect(inspected.Labels['org.opencontainers.image.title']).toBe('demo');
    expect(existsSync(result.record)).toBe(true);
    const record = JSON.parse(await readFile(result.record, 'utf8'));
    expect(record.output.digest).toBe(result.digest);
    expect(record.releases[0].inReleaseSha256).toMatch(/^[a-f0-9]{64}$/);
  });

  it('writes a v2 build record: every .deb with its URL and sha256, InRelease URLs, invocation, file sources', async () => {
    const record = JSON.parse(await readFile(result.record, 'utf8'));
    expect(record.recordVersion).toBe(2);
    expect(record.builder.id).toMatch(/^pkg:npm\/rampart@/);
    const packages = result.platforms[0]!.packages;
    expect(record.packages.map((p: { name: string }) => p.name).sort()).toEqual(
      packages.map((p) => p.name).sort(),
    );
    for (const p of record.packages) {
      const locked = packages.find((l) => l.name === p.name)!;
      expect(p.sha256).toBe(locked.sha256);
      expect(p.url).toBe(`${repo.url}/${locked.filename}`);
      // The URL serves exactly those bytes.
      const body = Buffer.from(await (await fetch(p.url)).arrayBuffer());
      expect(createHash('sha256').update(body).digest('hex')).toBe(p.sha256);
    }
    for (const r of record.releases) {
      expect(r.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/.*InRelease$/);
      const body = Buffer.from(await (await fetch(r.url)).arrayBuffer());
      expect(createHash('sha256').update(body).digest('hex')).toBe(r.inReleaseSha256);
    }
    expect(record.invocation).toEqual({
      spec: specPath,
      archs: ['amd64'],
      output: `oci:${layout}:latest`,
      locked: false,
      sbomDir: join(dir, 'sbom'),
    });
    expect(record.files).toEqual([
      { source: './app', type: 'directory', sha256: expect.stringMatching(/^[a-f0-9]{64}$/), files: 3 },
    ]);
    expect(Date.parse(record.finishedOn)).toBeGreaterThanOrEqual(Date.parse(record.startedOn));
  });

  it('writes SPDX and CycloneDX SBOMs that list every installed package', async () => {
    expect(result.sboms.map((p) => p.slice(p.lastIndexOf('/') + 1))).toEqual([
      'demo-amd64.spdx.json',
      'demo-amd64.cdx.json',
    ]);
    const spdx = JSON.parse(await readFile(result.sboms[0]!, 'utf8'));
    const cdx = JSON.parse(await readFile(result.sboms[1]!, 'utf8'));
    const names = ['base-files', 'ca-certificates', 'libfoo1', 'tool'];
    const spdxNames = spdx.packages.map((p: { name: string }) => p.name);
    const cdxNames = cdx.components.map((c: { name: string }) => c.name);
    for (const name of names) {
      expect(spdxNames).toContain(name);
      expect(cdxNames).toContain(name);
    }
  });

  it("keeps the catalog under the image manifest digest in the build's cache dir, so scanning the built image catalogs no layer", async () => {
    const { catalogCache } = await import('../../../src/sbom/catalog-cache.js');
    const { generateSbom } = await import('../../../src/sbom/generate.js');
    const kept = await catalogCache(cacheDir).get(result.platforms[0]!.digest);
    expect(kept?.packages.map((p) => p.name)).toEqual(
      expect.arrayContaining(['base-files', 'libfoo1', 'tool']),
    );
    // What `rampart scan oci:...` catalogs: the same packages, from the kept catalog.
    const scanned = await generateSbom(
      { kind: 'image', ref: `oci:${layout}:latest` },
      { cache: catalogCache(cacheDir) },
    );
    expect(scanned.source.digest).toBe(result.platforms[0]!.digest);
    expect(scanned.packages).toEqual(kept!.packages);
  });

  it('prints the -o json shape from the CLI', async () => {
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    let printed = '';
    try {
      const out = `oci:${join(dir, 'out', 'json')}:latest`;
      const code = await main([
        'node',
        'rampart',
        'build',
        specPath,
        out,
        '--cache',
        cacheDir,
        '--locked',
        '-q',
        '-o',
        'json',
      ]);
      expect(code).toBe(0);
      printed = stdout.mock.calls.map((c) => String(c[0])).join('');
    } finally {
      stdout.mockRestore();
    }
    const json = JSON.parse(printed);
    expect(Object.keys(json).sort()).toEqual(['digest', 'hardening', 'lock', 'platforms', 'reference']);
    expect(json.hardening).toEqual([]);
    expect(json.digest).toBe(result.digest);
    expect(json.lock).toBe(result.lock);
    expect(json.platforms).toEqual([
      { architecture: 'amd64', digest: result.platforms[0]!.digest, size: result.platforms[0]!.size },
    ]);
  });

  it('writes oci-archive and single-arch docker-archive outputs that skopeo reads', async () => {
    const ociArchive = join(dir, 'out', 'demo-oci.tar');
    const viaArchive = await buildImage({
      specPath,
      output: `oci-archive:${ociArchive}`,
      cacheDir,
      locked: true,
    });
    expect(viaArchive.digest).toBe(result.digest);
    const dockerArchive = join(dir, 'out', 'demo-docker.tar');
    await buildImage({
      specPath,
      output: `docker-archive:${dockerArchive}:demo:latest`,
      cacheDir,
      locked: true,
    });
    const inspected = JSON.parse(
      execFileSync('skopeo', ['inspect', `docker-archive:${dockerArchive}`]).toString(),
    );
    expect(inspected.Architecture).toBe('amd64');
    expect(inspected.Layers).toHaveLength(result.platforms[0]!.layers.length);
    expect(
      JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${ociArchive}`]).toString()).Digest,
    ).toBe(result.digest);
  });

  it('rebuilds the lock into the same index digest, then reports a vanished package as LOCK_STALE', async () => {
    // A fresh cache: nothing unpacked or layered is reused, so equality comes from determinism.
    const again = await buildImage({
      specPath,
      output: `oci:${join(dir, 'out', 'again')}:latest`,
      cacheDir: join(dir, 'fresh-cache'),
      locked: true,
    });
    expect(again.digest).toBe(result.digest);

    const lock = JSON.parse(await readFile(result.lock, 'utf8'));
    const tool = lock.variants.default.archs.amd64.find((p: { name: string }) => p.name === 'tool');
    await rm(repo.path(tool.filename));
    await expectFailure(
      {
        specPath,
        output: `oci:${join(dir, 'out', 'stale')}:latest`,
        cacheDir: join(dir, 'empty-cache'),
        locked: true,
      },
      'LOCK_STALE',
      /no longer serves.*run without --locked/,
    );
    expect(existsSync(join(dir, 'out', 'stale'))).toBe(false);
  });
});

describe('rampart build reporting', () => {
  it('reports the modes it tightened, including the spec files, in the summary and -o json', async () => {
    const extra = [
      'paths:',
      '  - {path: /cache, type: directory, permissions: 0o777}',
      'files:',
      // /bin is base-files' symlink to usr/bin: the file must land in /usr/bin, not conflict with it
      '  - {source: ./hello, destination: /bin/hello, permissions: 0o4755}',
    ].join('\n');
    const specPath = await writeSpec('hardening', specText({ packages: 'base-files', extra }));
    await writeFile(join(specPath, '..', 'hello'), '#!hello\n');
    const layout = join(dir, 'out', 'hardening');
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    // A log, not a terminal, wherever the tests run.
    vi.stubEnv('CI', 'true');
    let printed = '';
    let progress = '';
    try {
      const args = ['node', 'rampart', 'build', specPath, `oci:${layout}:latest`, '--cache', cacheDir];
      expect(await main([...args, '-o', 'json'])).toBe(0);
      printed = stdout.mock.calls.map((c) => String(c[0])).join('');
      progress = stderr.mock.calls.map((c) => String(c[0])).join('');
      stdout.mockClear();
      stderr.mockClear();
      expect(await main([...args, '--locked', '-q'])).toBe(0);
      const summary = stdout.mock.calls.map((c) => String(c[0])).join('');
      expect(summary).toContain('/usr/bin/hello: setuid cleared (4755 -> 0755)');
      expect(summary).toContain('/cache: world-write cleared (0777 -> 0775)');
      // -q: nothing on stderr
      expect(stderr.mock.calls).toEqual([]);
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
      vi.unstubAllEnvs();
    }
    // stdout holds the JSON result alone
    expect(printed.trimEnd().split('\n')).toHaveLength(1);
    expect(JSON.parse(printed).hardening).toEqual([
      { path: '/cache', change: 'world-write cleared (0777 -> 0775)' },
      { path: '/usr/bin/hello', change: 'setuid cleared (4755 -> 0755)' },
    ]);
    // progress names the stages and counts the downloads
    expect(progress).toMatch(/rampart build: resolving 1 packages from testing for amd64\n/);
    expect(progress).toMatch(/rampart build: downloading 1 packages \(\d+(\.\d)? (B|KiB)\)\n/);
    expect(progress).toMatch(
      /rampart build: downloaded \d+ packages \(.*\), \d+ from the cache in \d+\.\ds\n/,
    );
    expect(progress).toMatch(/rampart build: wrote oci:.*hardening:latest in \d+\.\ds\n$/);
    expect(progress).not.toContain('\x1b');

    const fs = await flattenImage(await selectImage(await openImage(`oci:${layout}:latest`)));
    expect(fs.get('/usr/bin/hello')).toMatchObject({ kind: 'file', mode: 0o755 });
    expect(fs.get('/cache')).toMatchObject({ kind: 'directory', mode: 0o775 });
  });

  it('counts each package fetched from the mirror on a cold cache, in a log', async () => {
    const specPath = await writeSpec('cold', specText({ packages: 'libfoo1, clash-a' }));
    const written: string[] = [];
    const progress = createProgressReporter({
      stream: { isTTY: false, write: (chunk: string) => written.push(chunk) },
    });
    await buildImage({
      specPath,
      output: `oci:${join(dir, 'out', 'cold')}:latest`,
      cacheDir: join(dir, 'cold-cache'),
      onProgress: progress.build,
    });
    progress.stop();
    const lines = written.join('').split('\n');
    expect(lines).toContainEqual(expect.stringMatching(/^downloading 2 packages \(\d+(\.\d)? (B|KiB)\)$/));
    expect(lines.filter((l) => /^\[\d\/2\] fetched (libfoo1|clash-a) 1(\.2-3)? amd64 /.test(l))).toHaveLength(
      2,
    );
    expect(lines.some((l) => /^downloaded 2 packages \(.*\), 0 from the cache in \d+\.\ds$/.test(l))).toBe(
      true,
    );
  });

  it('prints nothing without a progress callback', async () => {
    const specPath = await writeSpec('silent', specText({ packages: 'libfoo1' }));
    const stdout = vi.spyOn(process.stdout, 'write');
    const stderr = vi.spyOn(process.stderr, 'write');
    const log = vi.spyOn(console, 'log');
    try {
      await buildImage({
        specPath,
        output: `oci:${join(dir, 'out', 'silent')}:latest`,
        cacheDir: join(dir, 'silent-cache'),
      });
      expect([...stdout.mock.calls, ...stderr.mock.calls, ...log.mock.calls]).toEqual([]);
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
      log.mockRestore();
    }
  });

  it('keeps the other architectures of the lock when re-resolving from the same archive state', async () => {
    const specPath = await writeSpec('keep', specText({ packages: 'libfoo1' }));
    const build = () => buildImage({ specPath, output: `oci:${join(dir, 'out', 'keep')}:latest`, cacheDir });
    const first = await build();
    const lock = JSON.parse(await readFile(first.lock, 'utf8'));
    // the lock holds exactly the release fields it reads back (no per-architecture index list)
    expect(Object.keys(lock.variants.default.releases[0]).sort()).toEqual(
      ['date', 'inReleaseSha256', 'suite', 'url', 'validUntil'].sort(),
    );
    // as if an earlier build of the same archive state had also resolved i386
    lock.variants.default.archs.i386 = lock.variants.default.archs.amd64;
    await writeFile(first.lock, JSON.stringify(lock));
    await build();
    const after = JSON.parse(await readFile(first.lock, 'utf8'));
    expect(Object.keys(after.variants.default.archs)).toEqual(['amd64', 'i386']);
  });
});

describe('rampart build errors', () => {
  it('points an unknown package at its spec position and leaves no output', async () => {
    const text = specText({ packages: 'base-files, no-such-pkg' });
    const specPath = await writeSpec('unknown', text);
    const out = join(dir, 'out', 'unknown');
    const where = positionOf(specPath, text, 'no-such-pkg');
    await expectFailure(
      { specPath, output: `oci:${out}:latest`, cacheDir },
      'PACKAGE_NOT_FOUND',
      new RegExp(`^${where}: .*no-such-pkg`),
    );
    expect(existsSync(out)).toBe(false);
  });

  it('names both packages of a file conflict', async () => {
    const text = specText({ packages: 'clash-a, clash-b' });
    const specPath = await writeSpec('clash', text);
    const out = join(dir, 'out', 'clash');
    const where = positionOf(specPath, text, 'clash-a');
    await expectFailure(
      { specPath, output: `oci:${out}:latest`, cacheDir },
      'FILE_CONFLICT',
      new RegExp(`^${where}: /usr/bin/same .*clash-a and clash-b`),
    );
    expect(existsSync(out)).toBe(false);
  });

  it('leaves no directory behind when it created the output parent and then failed', async () => {
    const specPath = await writeSpec('noparent', specText({ packages: 'clash-a, clash-b' }));
    const parent = join(dir, 'fresh-parent');
    await expectFailure(
      { specPath, output: `oci-archive:${join(parent, 'sub', 'x.tar')}`, cacheDir },
      'FILE_CONFLICT',
      /clash-a and clash-b/,
    );
    expect(existsSync(parent)).toBe(false);
  });

  it('points a missing files source at its spec position', async () => {
    const extra = 'files:\n  - {source: ./missing, destination: /app}';
    const text = specText({ packages: 'base-files', extra });
    const specPath = await writeSpec('nofiles', text);
    const out = join(dir, 'out', 'nofiles');
    const where = positionOf(specPath, text, './missing');
    await expectFailure(
      { specPath, output: `oci:${out}:latest`, cacheDir },
      'SPEC_INVALID',
      new RegExp(`^${where}: files\\[0\\]\\.source .*missing does not exist`),
    );
    expect(existsSync(out)).toBe(false);
  });

  it('exits 2 (SPEC_INVALID is usage-type) with one error line naming the position of an unknown spec key', async () => {
    const text = specText({ packages: 'base-files', extra: 'entrypont: [/x]' });
    const specPath = await writeSpec('badkey', text);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const code = await main([
        'node',
        'rampart',
        'build',
        specPath,
        `oci:${join(dir, 'out', 'badkey')}:latest`,
      ]);
      expect(code).toBe(2);
      const printed = stderr.mock.calls.map((c) => String(c[0])).join('');
      const where = positionOf(specPath, text, 'entrypont');
      expect(printed).toMatch(
        new RegExp(`^error: ${where}: unknown key 'entrypont' \\(did you mean entrypoint\\?\\)`, 'm'),
      );
      expect(printed.trim().split('\n')).toHaveLength(1);
    } finally {
      stderr.mockRestore();
    }
  });
});

describe('hostile specs and cancellation', () => {
  it('refuses files[].source outside the spec directory, unless the CLI allows that directory', async () => {
    const outside = await mkdtemp(join(dir, 'outside-'));
    await writeFile(join(outside, 'secret'), 'not for the image\n');
    for (const source of [
      '/etc/shadow',
      '../../../../../../../../etc/shadow',
      '/proc/self/environ',
      join(outside, 'secret'),
    ]) {
      const text = specText({
        packages: 'base-files',
        extra: `files:\n  - {source: "${source}", destination: /x}`,
      });
      const specPath = await writeSpec('hostile', text);
      const out = join(dir, 'out', 'hostile');
      const caught = await buildImage({ specPath, output: `oci:${out}:latest`, cacheDir }).catch(
        (e: unknown) => e,
      );
      expect(isRampartError(caught, 'SOURCE_OUTSIDE_CONTEXT'), `${source}: ${String(caught)}`).toBe(true);
      const where = positionOf(specPath, text, `"${source}"`);
      expect((caught as Error).message.startsWith(`${where}: `), (caught as Error).message).toBe(true);
      expect(existsSync(out)).toBe(false);
    }
    const text = specText({
      packages: 'base-files',
      extra: `files:\n  - {source: "${join(outside, 'secret')}", destination: /x}`,
    });
    const specPath = await writeSpec('allowed', text);
    const layout = join(dir, 'out', 'allowed');
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const args = [
        'node',
        'rampart',
        'build',
        specPath,
        '--output',
        `oci:${layout}:latest`,
        '--cache',
        cacheDir,
        '-q',
      ];
      expect(await main(args)).toBe(2); // SOURCE_OUTSIDE_CONTEXT: an invocation error
      expect(await main([...args, '--allow-outside-context', outside])).toBe(0);
    } finally {
      stdout.mockRestore();
    }
    const image = await selectImage(await openImage(`oci:${layout}:latest`));
    const found: string[] = [];
    for await (const f of readFiles(image, await flattenImage(image), new Set(['/x'])))
      found.push(f.content.toString());
    expect(found).toEqual(['not for the image\n']);
  });

  it('stops on its AbortSignal with CANCELLED, leaving no output and no staging', async () => {
    const specPath = await writeSpec('cancel', specText({ packages: 'base-files, tool' }));
    const parent = join(dir, 'cancel-out');
    const controller = new AbortController();
    const events: BuildEvent[] = [];
    const caught = await buildImage({
      specPath,
      output: `oci:${join(parent, 'img')}:latest`,
      cacheDir,
      jobId: 'job-42',
      signal: controller.signal,
      onProgress: (event) => {
        events.push(event);
        if (event.phase === 'assemble' && event.kind === 'start') controller.abort(new Error('user stop'));
      },
    }).catch((e: unknown) => e);
    expect(isRampartError(caught, 'CANCELLED'), String(caught)).toBe(true);
    expect(events.every((e) => e.jobId === 'job-42')).toBe(true);
    expect(events.some((e) => e.phase === 'layers')).toBe(false);
    expect(existsSync(parent)).toBe(false);
  });
  it('hands its signal to every download through the fetch options', async () => {
    const specPath = await writeSpec('cancel-fetch', specText({ packages: 'base-files, tool' }));
    const parent = join(dir, 'cancel-fetch-out');
    const controller = new AbortController();
    const signals: Array<AbortSignal | null | undefined> = [];
    const caught = await buildImage({
      specPath,
      output: `oci:${join(parent, 'img')}:latest`,
      // A fresh cache: the indexes and packages are fetched.
      cacheDir: join(dir, 'cancel-fetch-cache'),
      signal: controller.signal,
      fetch: (input, init) => {
        signals.push(init?.signal);
        if (String(input).endsWith('.deb')) controller.abort(new Error('user stop'));
        return fetch(input, init);
      },
    }).catch((e: unknown) => e);
    expect(isRampartError(caught, 'CANCELLED'), String(caught)).toBe(true);
    expect(signals.length).toBeGreaterThan(0);
    expect(signals.every((s) => s instanceof AbortSignal)).toBe(true);
    expect(signals.at(-1)?.aborted).toBe(true);
    expect(existsSync(parent)).toBe(false);
  });
});

describe('repository overrides', () => {
  it('--mirror/--keyring take the place of the spec’s contents.mirror and keyring', async () => {
    // The spec names a mirror nothing listens on and a keyring that does not exist.
    const text = specText({ packages: 'base-files' })
      .replace(`mirror: ${repo.url}`, 'mirror: http://127.0.0.1:9/nowhere')
      .replace(`keyring: ${repo.key.keyring}`, `keyring: ${join(dir, 'no-such-keyring.gpg')}`);
    const specPath = await writeSpec('override', text);
    const output = `oci:${join(dir, 'out', 'override')}:latest`;
    const base = { specPath, output, cacheDir: join(dir, 'override-cache') };
    await expect(buildImage(base)).rejects.toThrow(/no-such-keyring|127\.0\.0\.1:9/);
    const result = await buildImage({ ...base, repository: { mirror: repo.url, keyring: repo.key.keyring } });
    expect(result.platforms[0]?.packages.map((p) => p.name)).toContain('base-files');
    const image = await selectImage(await openImage(output));
    const tree = await flattenImage(image);
    expect(tree.get('/var/lib/dpkg/status.d/base-files')?.kind).toBe('file');
  });
});
