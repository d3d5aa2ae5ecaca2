import { createHash } from 'node:crypto';
import { chmod, link, mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import type { Digest } from '../../src/oci/digest.js';
import type { Image } from '../../src/oci/image.js';
import { layerFromFile, newImage } from '../../src/oci/in-memory.js';

/**
 * Hand-made ELF files (64-bit little-endian): a header and, when asked, one PT_INTERP program
 * header. Enough for anything that reads the ELF type (rampart, `file`), independent of the host.
 */
export function elf(kind: 'exec' | 'pie' | 'lib', padding = 0): Buffer {
  const phnum = kind === 'pie' ? 1 : 0;
  const bytes = Buffer.alloc(64 + phnum * 56 + padding);
  bytes.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  bytes.writeUInt16LE(kind === 'exec' ? 2 : 3, 0x10); // e_type
  bytes.writeUInt16LE(0x3e, 0x12); // x86-64
  bytes.writeUInt32LE(1, 0x14);
  bytes.writeBigUInt64LE(phnum ? 64n : 0n, 0x20); // e_phoff
  bytes.writeUInt16LE(64, 0x34);
  bytes.writeUInt16LE(56, 0x36);
  bytes.writeUInt16LE(phnum, 0x38);
  if (phnum) bytes.writeUInt32LE(3, 64); // PT_INTERP
  return bytes;
}

export type FixtureEntry =
  | { path: string; type?: 'file'; mode?: number; content: string | Buffer; xattrs?: Record<string, string> }
  | { path: string; type: 'directory'; mode: number }
  | { path: string; type: 'symlink'; target: string }
  | { path: string; type: 'hardlink'; target: string }
  | { path: string; type: 'whiteout' };

const STATUS = `Package: dash
Status: install ok installed
Architecture: amd64
Version: 0.5.12-12

Package: libfoo1
Status: install ok installed
Architecture: amd64
Version: 1.0-1
`;

/**
 * A small image's layers with every kind of thing the metrics count, and what they must find.
 * Layer 2 removes /usr/bin/perl with a whiteout: a measurement of layers, not of the merged
 * view, would count it.
 */
export const SURFACE_LAYERS: FixtureEntry[][] = [
  [
    {
      path: 'etc/passwd',
      content: 'root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n',
    },
    { path: 'var/lib/dpkg/status', content: STATUS },
    { path: 'usr/bin/dash', mode: 0o755, content: elf('pie') },
    { path: 'usr/bin/sh', type: 'symlink', target: 'dash' },
    { path: 'usr/bin/apt', mode: 0o755, content: '#!/bin/sh\necho apt\n' },
    { path: 'usr/bin/python3.13', mode: 0o755, content: elf('exec') },
    { path: 'usr/bin/su', mode: 0o4755, content: elf('pie') },
    { path: 'usr/bin/wall', mode: 0o2755, content: elf('pie') },
    { path: 'usr/bin/perl', mode: 0o755, content: elf('pie') },
    { path: 'usr/lib/libfoo.so.1', mode: 0o644, content: elf('lib', 4000) },
    { path: 'usr/share/doc/readme', mode: 0o644, content: 'not an executable\n' },
    { path: 'var/tmp', type: 'directory', mode: 0o1777 },
    { path: 'data', type: 'directory', mode: 0o777 },
    { path: 'etc/writable', mode: 0o666, content: 'x' },
  ],
  [
    { path: 'usr/bin/perl', type: 'whiteout' },
    {
      path: 'usr/bin/ping',
      mode: 0o755,
      content: elf('pie'),
      xattrs: { 'security.capability': '\u0001\u0000\u0000\u0002\u0000\u0020\u0000\u0000' },
    },
  ],
];

/** What measureSurface must report for SURFACE_LAYERS (capabilities: images only). */
export const SURFACE_EXPECTED = {
  packages: 2,
  shells: ['/usr/bin/dash', '/usr/bin/sh'],
  packageManagers: ['/usr/bin/apt'],
  interpreters: ['/usr/bin/python3.13'],
  setuid: ['/usr/bin/su'],
  setgid: ['/usr/bin/wall'],
  worldWritable: ['/data', '/etc/writable'],
  capabilities: ['/usr/bin/ping'],
  executablesOnPath: [
    '/usr/bin/apt',
    '/usr/bin/dash',
    '/usr/bin/ping',
    '/usr/bin/python3.13',
    '/usr/bin/su',
    '/usr/bin/wall',
  ],
  /** python3.13 (ET_EXEC) and the PIE programs dash, su, wall, ping */
  elfExecutables: 5,
  elfSharedLibraries: 1,
};

async function tarOf(entries: FixtureEntry[]): Promise<Buffer> {
  const tar = pack();
  for (const e of entries) {
    const base = { name: e.path, mtime: new Date(0), uid: 0, gid: 0 };
    if (e.type === 'directory') tar.entry({ ...base, type: 'directory', mode: e.mode });
    else if (e.type === 'symlink') tar.entry({ ...base, type: 'symlink', linkname: e.target, mode: 0o777 });
    else if (e.type === 'hardlink') tar.entry({ ...base, type: 'link', linkname: e.target, mode: 0o644 });
    else if (e.type === 'whiteout') {
      const slash = e.path.lastIndexOf('/');
      tar.entry(
        { ...base, name: `${e.path.slice(0, slash + 1)}.wh.${e.path.slice(slash + 1)}`, mode: 0o644 },
        '',
      );
    } else {
      const pax = e.xattrs
        ? Object.fromEntries(Object.entries(e.xattrs).map(([k, v]) => [`SCHILY.xattr.${k}`, v]))
        : undefined;
      tar.entry({ ...base, mode: e.mode ?? 0o644, ...(pax ? { pax } : {}) }, e.content);
    }
  }
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const digestOf = (bytes: Buffer): Digest => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** The fixture as an image (gzip layers in `dir`), user `nonroot`, port 8080/tcp exposed. */
export async function surfaceImage(dir: string, layers = SURFACE_LAYERS, user = 'nonroot'): Promise<Image> {
  const built = [];
  for (const entries of layers) {
    const tar = await tarOf(entries);
    const blob = gzipSync(tar);
    const path = join(dir, `layer-${digestOf(blob).slice(7, 19)}.tar.gz`);
    await writeFile(path, blob);
    built.push(
      layerFromFile(
        path,
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: digestOf(blob),
          size: blob.length,
        },
        digestOf(tar),
      ),
    );
  }
  return newImage({
    config: {
      architecture: 'amd64',
      os: 'linux',
      config: { User: user, ExposedPorts: { '8080/tcp': {} } },
      rootfs: { type: 'layers', diff_ids: [] },
    },
    layers: built,
  });
}

/** The same fixture merged onto disk as a root directory (xattrs are not written). */
export async function surfaceRoot(root: string, layers = SURFACE_LAYERS): Promise<void> {
  const { rm } = await import('node:fs/promises');
  for (const entries of layers) {
    for (const e of entries) {
      const path = join(root, e.path);
      await mkdir(dirname(path), { recursive: true });
      if (e.type === 'whiteout') await rm(path, { recursive: true, force: true });
      else if (e.type === 'directory') {
        await mkdir(path, { recursive: true });
        await chmod(path, e.mode);
      } else if (e.type === 'symlink') await symlink(e.target, path);
      else if (e.type === 'hardlink') await link(join(root, e.target), path);
      else {
        await writeFile(path, e.content);
        await chmod(path, e.mode ?? 0o644);
      }
    }
  }
}
