/**
 * The image catalog built from the real Debian archive (mirror from the host's apt sources),
 * then run with umoci + runc. Each image is built once, in beforeAll, with the shared download
 * cache; the specs are copied to a temp dir so their locks do not land in images/.
 */
import { execFileSync } from 'node:child_process';
import {
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PackageURL } from 'packageurl-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { type BuildResult, buildImage } from '../../../src/builder/pipeline.js';
import { defaultCacheDir } from '../../../src/debian/cache.js';
import type { FsTree } from '../../../src/oci/fs-tree.js';
import { flattenImage, readFiles } from '../../../src/oci/fs-view.js';
import { selectImage } from '../../../src/oci/image.js';
import { openImage } from '../../../src/oci/open.js';
import { parsePlatform } from '../../../src/oci/platform.js';
import { generateSbom } from '../../../src/sbom/generate.js';
import type { SbomDocument } from '../../../src/sbom/model.js';
import { lintImage } from '../../../src/surface/lint/run.js';
import { measureImage } from '../../../src/surface/metrics.js';
import { openSubject } from '../../../src/surface/open.js';
import { runCommand } from '../../helpers/processes.js';
import { runArm64Image } from '../../helpers/qemu.js';
import { runOciImage } from '../../helpers/runc.js';

const IMAGES = resolve(import.meta.dirname, '../../../images');
let work: string;
const built = new Map<string, { result: BuildResult; layout: string; tag: string; spec: string }>();

async function build(
  name: string,
  opts: { variant?: string; archs?: string[]; extra?: string; key?: string; addPackages?: string[] } = {},
) {
  const specDir = join(work, 'specs', opts.key ?? name);
  await mkdir(specDir, { recursive: true });
  const spec = join(specDir, `${name}.yaml`);
  await copyFile(join(IMAGES, `${name}.yaml`), spec);
  if (opts.extra) await writeFile(spec, `${await readFile(spec, 'utf8')}${opts.extra}`);
  if (opts.addPackages) {
    const doc = parseDocument(await readFile(spec, 'utf8'));
    for (const name of opts.addPackages) doc.addIn(['contents', 'packages'], name);
    await writeFile(spec, doc.toString());
  }
  const layout = join(work, 'out', opts.key ?? name);
  const tag = opts.variant ? `latest-${opts.variant}` : 'latest';
  const result = await buildImage({
    specPath: spec,
    output: `oci:${layout}:${tag}`,
    archs: opts.archs ?? ['amd64'],
    ...(opts.variant ? { variant: opts.variant } : {}),
  });
  built.set(opts.key ?? name, { result, layout, tag, spec });
  return result;
}

async function flattened(key: string, platform = 'linux/amd64'): Promise<FsTree> {
  const b = built.get(key)!;
  const [os, architecture] = platform.split('/') as [string, string];
  const image = await selectImage(await openImage(`oci:${b.layout}:${b.tag}`), { os, architecture });
  return flattenImage(image);
}

async function run(key: string, args: string[]) {
  const b = built.get(key)!;
  return runOciImage(b.layout, b.tag, { args });
}

beforeAll(async () => {
  // Lowercase on purpose: podman names an oci: image after its path and refuses uppercase.
  work = join(tmpdir(), `rampart-e2e-build-${process.pid}-${Date.now().toString(36)}`);
  await mkdir(work, { recursive: true });
  // A static test program for the `static` image, built here with the host's gcc.
  const src = join(work, 'hello.c');
  await writeFile(
    src,
    '#include <stdio.h>\n#include <unistd.h>\nint main(void){printf("static ok uid=%d\\n", getuid());return 0;}\n',
  );
  await mkdir(join(work, 'specs', 'static'), { recursive: true });
  execFileSync('gcc', ['-static', '-O2', '-o', join(work, 'specs', 'static', 'hello'), src]);
  await build('static', {
    extra:
      'files:\n  - {source: ./hello, destination: /usr/local/bin/hello, permissions: 0o755}\nentrypoint: [/usr/local/bin/hello]\n',
  });
  await build('base', { archs: ['amd64', 'arm64'] });
  await build('base', { variant: 'dev', key: 'base-dev' });
  await build('cc');
  await build('nodejs');
  // Cross-architecture: nothing from the packages runs, so arm64 builds on this amd64 host.
  await build('nodejs', { key: 'nodejs-arm64', archs: ['arm64'] });
  await build('python3');
  await build('python3', { key: 'python3-arm64', archs: ['arm64'] });
  // python3 itself ships no Python distributions (no *.dist-info); python3-six adds a real one
  // for the SBOM's Python cataloger to find.
  await build('python3', { key: 'python3-six', addPackages: ['python3-six'] });
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('catalog images from the Debian archive', () => {
  it('nodejs runs as 65532 and finds a parseable CA bundle', async () => {
    const uid = await run('nodejs', ['/usr/bin/node', '-e', 'console.log(process.getuid())']);
    expect(uid.stderr).toBe('');
    expect(uid.stdout.trim()).toBe('65532');
    const script = [
      "const fs = require('fs'), crypto = require('crypto'), tls = require('tls');",
      "const pem = fs.readFileSync(process.env.SSL_CERT_FILE, 'utf8');",
      "const certs = pem.split('-----END CERTIFICATE-----').filter((c) => c.includes('BEGIN')).map((c) => new crypto.X509Certificate(c + '-----END CERTIFICATE-----'));",
      'tls.createSecureContext();',
      'console.log(certs.length, certs.every((c) => c.ca));',
    ].join('\n');
    const ca = await run('nodejs', ['/usr/bin/node', '--use-openssl-ca', '-e', script]);
    expect(ca.exitCode, ca.stderr).toBe(0);
    const [count, allCa] = ca.stdout.trim().split(' ');
    expect(Number(count)).toBeGreaterThan(100);
    expect(allCa).toBe('true');
  });

  it('/etc/ssl/certs carries the CApath hash links `openssl rehash` makes for the same certificates', async () => {
    const b = built.get('nodejs')!;
    const image = await selectImage(await openImage(`oci:${b.layout}:${b.tag}`));
    const tree = await flattenImage(image);
    const inCerts = tree
      .entries()
      .filter((n) => n.path.startsWith('/etc/ssl/certs/') && n.kind === 'symlink');
    const pemLinks = inCerts.filter((n) => n.path.endsWith('.pem'));
    const hashLinks = new Map(
      inCerts
        .filter((n) => /\/[0-9a-f]{8}\.\d+$/.test(n.path))
        .map((n) => [n.path.slice('/etc/ssl/certs/'.length), n.linkTarget]),
    );
    expect(pemLinks.length).toBeGreaterThan(100);
    // The certificates the .pem links point at, read from the image into a plain directory...
    const nameByTarget = new Map(
      pemLinks.map((n) => [n.linkTarget!, n.path.slice('/etc/ssl/certs/'.length)]),
    );
    const dir = await mkdtemp(join(work, 'capath-'));
    for await (const { path, content } of readFiles(image, tree, new Set(nameByTarget.keys()))) {
      await writeFile(join(dir, nameByTarget.get(path)!), content);
    }
    // ...then hashed by OpenSSL itself: its links must be exactly the image's.
    execFileSync('openssl', ['rehash', dir], { stdio: 'ignore' });
    const expected = new Map<string, string>();
    for (const entry of await readdir(dir)) {
      if (/^[0-9a-f]{8}\.\d+$/.test(entry)) expected.set(entry, await readlink(join(dir, entry)));
    }
    expect(expected.size).toBe(pemLinks.length);
    expect(Object.fromEntries([...hashLinks].sort())).toEqual(Object.fromEntries([...expected].sort()));
  });

  it('python3 finds its OpenSSL CA file', async () => {
    const out = await run('python3', [
      '/usr/bin/python3',
      '-c',
      'import os, ssl; p = ssl.get_default_verify_paths().openssl_cafile; print(p, os.path.isfile(p))',
    ]);
    expect(out.exitCode, out.stderr).toBe(0);
    expect(out.stdout.trim()).toBe('/usr/lib/ssl/cert.pem True');
  });

  describe('arm64 images run under qemu-user (qemu-aarch64-static -L ROOTFS)', () => {
    // The same checks as on amd64: the image user, the CA bundle, the interpreter starts.
    const NODE_CA = [
      "const fs = require('fs'), crypto = require('crypto'), tls = require('tls');",
      "const pem = fs.readFileSync(process.env.SSL_CERT_FILE, 'utf8');",
      "const certs = pem.split('-----END CERTIFICATE-----').filter((c) => c.includes('BEGIN')).map((c) => new crypto.X509Certificate(c + '-----END CERTIFICATE-----'));",
      'tls.createSecureContext();',
      'console.log(process.arch, process.getuid(), certs.length, certs.every((c) => c.ca));',
    ].join('\n');

    it('base: the arm64 dynamic loader of the image runs, as 65532', async () => {
      const b = built.get('base')!;
      const out = await runArm64Image(b.layout, b.tag, [
        '/usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1',
        '--version',
      ]);
      expect(out.exitCode, out.stderr).toBe(0);
      expect(out.stdout).toMatch(/GLIBC/);
      const image = await selectImage(await openImage(`oci:${b.layout}:${b.tag}`), {
        os: 'linux',
        architecture: 'arm64',
      });
      expect(image.config.config?.User).toBe('65532:65532');
    });

    it('nodejs: node starts as arm64, runs as 65532 and parses the CA bundle', async () => {
      const b = built.get('nodejs-arm64')!;
      const out = await runArm64Image(b.layout, b.tag, ['/usr/bin/node', '--use-openssl-ca', '-e', NODE_CA]);
      expect(out.exitCode, out.stderr).toBe(0);
      const [arch, uid, count, allCa] = out.stdout.trim().split(' ');
      expect(arch).toBe('arm64');
      expect(uid).toBe('65532');
      expect(Number(count)).toBeGreaterThan(100);
      expect(allCa).toBe('true');
    });

    it('python3: the interpreter starts as aarch64, runs as 65532 and loads its CA file', async () => {
      const b = built.get('python3-arm64')!;
      const out = await runArm64Image(b.layout, b.tag, [
        '/usr/bin/python3',
        '-c',
        'import os, platform, ssl; p = ssl.get_default_verify_paths().openssl_cafile; ' +
          'n = ssl.create_default_context().cert_store_stats()["x509_ca"]; ' +
          'print(platform.machine(), os.getuid(), p, os.path.isfile(p), n > 100)',
      ]);
      expect(out.exitCode, out.stderr).toBe(0);
      expect(out.stdout.trim()).toBe('aarch64 65532 /usr/lib/ssl/cert.pem True True');
    });
  });

  it('static runs a static binary added through files:', async () => {
    const b = built.get('static')!;
    const out = await runOciImage(b.layout, b.tag);
    expect(out.exitCode, out.stderr).toBe(0);
    expect(out.stdout.trim()).toBe('static ok uid=65532');
    const bytes = b.result.platforms[0]!.size;
    expect(bytes).toBeLessThan(3 * 1024 * 1024);
  });

  it('the dev variant of base has a busybox shell and runs as root', async () => {
    const out = await run('base-dev', ['sh', '-c', 'id -u']);
    expect(out.exitCode, out.stderr).toBe(0);
    expect(out.stdout.trim()).toBe('0');
  });

  it('runtime images carry no shell, package manager, setuid/setgid or world-writable files', async () => {
    const forbidden = new Set(['sh', 'bash', 'dash', 'apt', 'apt-get', 'dpkg', 'busybox']);
    for (const key of ['static', 'base', 'cc', 'nodejs', 'python3', 'nodejs-arm64']) {
      const fs = await flattened(key, key.endsWith('-arm64') ? 'linux/arm64' : 'linux/amd64');
      const bad = fs
        .entries()
        .filter((n) => forbidden.has(n.path.slice(n.path.lastIndexOf('/') + 1)) && n.kind !== 'directory')
        .map((n) => n.path);
      expect(bad, key).toEqual([]);
      const special = fs.entries().filter((n) => n.kind === 'file' && n.mode & 0o6000);
      expect(
        special.map((n) => n.path),
        key,
      ).toEqual([]);
      const writable = fs
        .entries()
        .filter((n) => n.kind !== 'symlink' && n.mode & 0o002 && n.path !== '/tmp');
      expect(
        writable.map((n) => n.path),
        key,
      ).toEqual([]);
      expect(fs.get('/tmp')?.mode, key).toBe(0o1777);
      // what was tightened is reported: base-files ships /var/tmp 1777
      expect(built.get(key)!.result.platforms[0]!.hardening, key).toContainEqual({
        path: '/var/tmp',
        change: 'world-write cleared (1777 -> 1775)',
      });
    }
  });

  it('rampart lint: runtime images have no finding at warning or above; the dev variant has its shell and root user', async () => {
    const lintOf = async (key: string, platform: string) => {
      const b = built.get(key)!;
      const ref = `oci:${b.layout}:${b.tag}`;
      const { image } = await openSubject(ref, { platform: parsePlatform(platform) });
      return lintImage(ref, image, { measure: (img, reference) => measureImage(img, { reference }) });
    };
    for (const key of ['static', 'base', 'cc', 'nodejs', 'python3', 'nodejs-arm64']) {
      const result = await lintOf(key, key.endsWith('-arm64') ? 'linux/arm64' : 'linux/amd64');
      expect(
        result.findings.filter((f) => f.severity !== 'info'),
        key,
      ).toEqual([]);
      // Checks that need what this call does not give: attachments, a configured archive, a registry.
      expect(
        result.skipped.map((s) => s.check),
        key,
      ).toEqual(['no-signature', 'no-sbom', 'no-provenance', 'outdated-package', 'latest-only-tag']);
    }
    const dev = await lintOf('base-dev', 'linux/amd64');
    const serious = dev.findings.filter((f) => f.severity !== 'info').map((f) => f.check);
    expect(new Set(serious)).toEqual(new Set(['root-user', 'shell-present']));
  });

  it('builds one index with a manifest per architecture', async () => {
    const b = built.get('base')!;
    const index = await openImage(`oci:${b.layout}:${b.tag}`);
    expect(index.kind).toBe('index');
    const platforms = index.kind === 'index' ? index.manifest.manifests.map((m) => m.platform) : [];
    expect(platforms).toEqual([
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ]);
    const arm = await flattened('base', 'linux/arm64');
    expect(arm.resolve('/lib/ld-linux-aarch64.so.1')).toBeDefined();
    const amd = await flattened('base');
    expect(amd.resolve('/lib64/ld-linux-x86-64.so.2')).toBeDefined();
    // The ELF header's e_machine says which packages went in: 183 is AArch64, 62 is x86-64.
    const machineOf = async (platform: string, path: string) => {
      const b = built.get('base')!;
      const [os, architecture] = platform.split('/') as [string, string];
      const image = await selectImage(await openImage(`oci:${b.layout}:${b.tag}`), { os, architecture });
      const tree = await flattenImage(image);
      for await (const { content } of readFiles(image, tree, new Set([path])))
        return content.readUInt16LE(18);
      return undefined;
    };
    expect(await machineOf('linux/arm64', '/usr/lib/aarch64-linux-gnu/libc.so.6')).toBe(183);
    expect(await machineOf('linux/amd64', '/usr/lib/x86_64-linux-gnu/libc.so.6')).toBe(62);
  });

  it('builds nodejs for arm64: AArch64 binaries, the arm64 lock in status.d and its SBOM', async () => {
    const b = built.get('nodejs-arm64')!;
    const image = await selectImage(await openImage(`oci:${b.layout}:${b.tag}`), {
      os: 'linux',
      architecture: 'arm64',
    });
    expect(image.config.architecture).toBe('arm64');
    const tree = await flattenImage(image);
    const node = tree.resolve('/usr/bin/node');
    expect(node).toBeDefined();
    const headers = new Map<string, number>();
    for await (const { path, content } of readFiles(image, tree, new Set([node!]))) {
      headers.set(path, content.readUInt16LE(18));
    }
    expect([...headers.values()]).toEqual([183]); // EM_AARCH64
    expect(tree.resolve('/lib/ld-linux-aarch64.so.1')).toBeDefined();
    const lock = JSON.parse(await readFile(b.result.lock, 'utf8'));
    const locked = lock.variants.default.archs.arm64 as Array<Record<string, string>>;
    expect(locked.length).toBeGreaterThan(20);
    const doc = await generateSbom({
      kind: 'image',
      ref: `oci:${b.layout}:${b.tag}`,
      platform: 'linux/arm64',
    });
    const debs = doc.packages.filter((p) => p.type === 'deb');
    expect(debs.map((p) => `${p.name} ${p.version} ${p.architecture}`).sort()).toEqual(
      locked.map((p) => `${p.name} ${p.version} ${p.architecture}`).sort(),
    );
    expect(debs.some((p) => p.architecture === 'arm64')).toBe(true);
  });

  it('shares the static tier layer between images built from the same archive state', () => {
    const first = (key: string) => built.get(key)!.result.platforms[0]!.layers[0]!;
    expect(first('static').name).toBe('static');
    for (const key of ['base', 'nodejs', 'python3'])
      expect(first(key).digest, key).toBe(first('static').digest);
    const libc = (key: string) => built.get(key)!.result.platforms[0]!.layers.find((l) => l.name === 'libc');
    for (const key of ['cc', 'nodejs', 'python3']) expect(libc(key)?.digest, key).toBe(libc('base')?.digest);
    const cc = (key: string) => built.get(key)!.result.platforms[0]!.layers.find((l) => l.name === 'cc');
    expect(cc('nodejs')?.digest).toBe(cc('cc')?.digest);
  });

  it('rebuilds nodejs from its lock into the same index digest', async () => {
    const b = built.get('nodejs')!;
    // Share the downloaded .debs but none of the build caches (unpacked packages, layer blobs),
    // so the second build really unpacks and compresses again.
    const cacheDir = join(work, 'fresh-cache');
    await mkdir(cacheDir, { recursive: true });
    await symlink(join(defaultCacheDir(), 'blobs'), join(cacheDir, 'blobs'));
    const again = await buildImage({
      specPath: b.spec,
      output: `oci:${join(work, 'again')}:latest`,
      archs: ['amd64'],
      locked: true,
      cacheDir,
    });
    expect(again.digest).toBe(b.result.digest);
  });

  it('skopeo and podman (runc) accept the output', async () => {
    const b = built.get('static')!;
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${b.layout}:${b.tag}`]).toString());
    expect(inspected.Digest).toBe(b.result.digest);
    // podman wants a short runroot; vfs storage leaves no overlay mounts behind.
    const root = await mkdtemp('/tmp/rampart-podman-');
    let out: Awaited<ReturnType<typeof runCommand>>;
    try {
      out = await runCommand(
        'podman',
        [
          '--root',
          join(root, 'r'),
          '--runroot',
          join(root, 'rr'),
          '--runtime',
          'runc',
          '--cgroup-manager',
          'cgroupfs',
          '--storage-driver',
          'vfs',
          'run',
          '--rm',
          '--network=none',
          '--ulimit',
          'nofile=1024:1024',
          '--ulimit',
          'nproc=1024:1024',
          `oci:${b.layout}:${b.tag}`,
        ],
        { timeoutMs: 300_000 },
      );
    } finally {
      // podman's cleanup may still be removing its storage when it exits.
      await rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 500 });
    }
    expect(out.exitCode, out.stderr).toBe(0);
    expect(out.stdout.trim()).toBe('static ok uid=65532');
  });

  describe('SBOM of the built images', () => {
    async function sbomOf(key: string): Promise<SbomDocument> {
      const b = built.get(key)!;
      return generateSbom({ kind: 'image', ref: `oci:${b.layout}:${b.tag}`, platform: 'linux/amd64' });
    }

    /** Every locked package is in the SBOM, with the same version, architecture, source and a matching purl. */
    async function expectDebsMatchLock(key: string, doc: SbomDocument): Promise<void> {
      const b = built.get(key)!;
      const lock = JSON.parse(await readFile(b.result.lock, 'utf8'));
      const locked = lock.variants.default.archs.amd64 as Array<Record<string, string>>;
      const debs = doc.packages.filter((p) => p.type === 'deb');
      expect(debs.map((p) => p.name).sort(), key).toEqual(locked.map((p) => p.name).sort());
      for (const want of locked) {
        const got = debs.find((p) => p.name === want.name)!;
        expect(
          { version: got.version, architecture: got.architecture, source: got.source },
          want.name,
        ).toEqual({
          version: want.version,
          architecture: want.architecture,
          source: { name: want.source, version: want.sourceVersion },
        });
        const purl = PackageURL.fromString(got.purl!);
        expect(
          [
            purl.type,
            purl.namespace,
            purl.name,
            purl.version,
            purl.qualifiers?.arch,
            purl.qualifiers?.distro,
          ],
          want.name,
        ).toEqual(['deb', 'debian', want.name, want.version, want.architecture, 'debian-13']);
      }
    }

    it('nodejs: every locked deb and every npm module Debian ships under /usr/share/nodejs', async () => {
      const doc = await sbomOf('nodejs');
      await expectDebsMatchLock('nodejs', doc);
      // The modules, read independently from the image: each /usr/share/nodejs/[@scope/]name/package.json.
      const b = built.get('nodejs')!;
      const image = await selectImage(await openImage(`oci:${b.layout}:${b.tag}`));
      const tree = await flattenImage(image);
      const manifests = tree
        .entries()
        .filter((n) => /^\/usr\/share\/nodejs\/(@[^/]+\/)?[^/@]+\/package\.json$/.test(n.path))
        .map((n) => n.path);
      expect(manifests.length).toBeGreaterThan(5);
      const expected: string[] = [];
      for await (const { content } of readFiles(image, tree, new Set(manifests))) {
        const json = JSON.parse(content.toString('utf8')) as { name?: string; version?: string };
        if (json.name && json.version) expected.push(`${json.name}@${json.version}`);
      }
      const found = new Set(
        doc.packages.filter((p) => p.type === 'npm').map((p) => `${p.name}@${p.version}`),
      );
      expect(expected.filter((m) => !found.has(m))).toEqual([]);
    });

    it('python3: every locked deb and the Python distributions in dist-packages', async () => {
      const doc = await sbomOf('python3-six');
      await expectDebsMatchLock('python3-six', doc);
      const six = doc.packages.find((p) => p.type === 'pypi' && p.name === 'six');
      const deb = doc.packages.find((p) => p.type === 'deb' && p.name === 'python3-six')!;
      // Debian's python3-six 1.17.0-1 ships six 1.17.0: the upstream part of the deb version.
      expect(six?.version).toBe(deb.version.replace(/^\d+:/, '').replace(/-[^-]+$/, ''));
      expect(six?.purl).toBe(`pkg:pypi/six@${six?.version}`);
    });
  });
});
