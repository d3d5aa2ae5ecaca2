import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { isRampartError } from '../../../src/errors.js';
import { buildLayer, type LayerEntry, safeEntryPath } from '../../../src/oci/layer-writer.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-lw-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const root = { uid: 0, gid: 0 };
function sampleEntries(): LayerEntry[] {
  return [
    {
      path: 'usr/bin/tool',
      type: 'file',
      mode: 0o4755,
      ...root,
      content: Buffer.from('#!/bin/sh\necho tool\n'),
    },
    // sorts before its target: the writer must swap so the tar carries content at 'usr/bin/alias'
    { path: 'usr/bin/alias', type: 'hardlink', mode: 0o755, ...root, target: 'usr/bin/tool' },
    { path: 'etc/secret', type: 'file', mode: 0, uid: 1000, gid: 1001, content: Buffer.from('s3cret') },
    {
      path: 'etc/streamed',
      type: 'file',
      mode: 0o640,
      uid: 65532,
      gid: 65532,
      content: () => Readable.from([Buffer.from('part one, '), Buffer.from('part two')]),
      size: 18,
    },
    { path: 'etc/localtime', type: 'symlink', mode: 0o777, ...root, target: '/usr/share/zoneinfo/UTC' },
    { path: 'home/nonroot', type: 'directory', mode: 0o700, uid: 65532, gid: 65532 },
    { path: 'tmp', type: 'directory', mode: 0o1777, ...root },
  ];
}

function tarList(blob: string, extra: string[] = []): string[] {
  return execFileSync('tar', ['-tvzf', blob, '--numeric-owner', '--full-time', ...extra], {
    env: { ...process.env, TZ: 'UTC' },
  })
    .toString()
    .trim()
    .split('\n');
}

/** Splits a raw tar into its 512-byte headers (skipping content blocks), for byte-level checks. */
function rawHeaders(tar: Buffer): Buffer[] {
  const headers: Buffer[] = [];
  let offset = 0;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    headers.push(header);
    const size = Number.parseInt(
      header.subarray(124, 136).toString('latin1').replace(/\0.*$/, '').trim() || '0',
      8,
    );
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return headers;
}

describe('buildLayer', () => {
  it('is byte-identical for the same entries, whatever their order or output dir', async () => {
    const first = await buildLayer(sampleEntries(), { dir: tempDir() });
    const second = await buildLayer(sampleEntries().reverse(), { dir: tempDir() });
    const firstBytes = readFileSync(first.path);
    expect(readFileSync(second.path).equals(firstBytes)).toBe(true);
    expect(second.descriptor).toEqual(first.descriptor);
    expect(second.diffID).toBe(first.diffID);
    // digest, size and diff_id checked against independent hashing of the stored bytes
    expect(first.descriptor.digest).toBe(`sha256:${createHash('sha256').update(firstBytes).digest('hex')}`);
    expect(first.path.endsWith(first.descriptor.digest.slice('sha256:'.length))).toBe(true);
    expect(first.descriptor.size).toBe(firstBytes.length);
    const tar = gunzipSync(firstBytes);
    expect(first.diffID).toBe(`sha256:${createHash('sha256').update(tar).digest('hex')}`);
    expect(first.uncompressedSize).toBe(tar.length);
  });

  it('writes a fixed gzip header: no name, mtime 0, OS byte 3', async () => {
    const layer = await buildLayer(sampleEntries(), { dir: tempDir() });
    const head = readFileSync(layer.path).subarray(0, 10);
    expect([...head.subarray(0, 3)]).toEqual([0x1f, 0x8b, 8]);
    expect(head[3]).toBe(0); // FLG: no FNAME, FCOMMENT, FEXTRA
    expect(head.readUInt32LE(4)).toBe(0);
    expect(head[9]).toBe(3);
  });

  it('lists in GNU tar with sorted paths, parents, numeric owners, modes and the fixed mtime', async () => {
    const layer = await buildLayer(sampleEntries(), { dir: tempDir(), sourceDateEpoch: 1_700_000_000 });
    const lines = tarList(layer.path);
    const rows = lines.map((line) => {
      const [perm, owner, , , , ...rest] = line.split(/\s+/);
      return { perm, owner, name: rest.join(' ') };
    });
    expect(rows).toEqual([
      { perm: 'drwxr-xr-x', owner: '0/0', name: 'etc/' },
      { perm: 'lrwxrwxrwx', owner: '0/0', name: 'etc/localtime -> /usr/share/zoneinfo/UTC' },
      { perm: '----------', owner: '1000/1001', name: 'etc/secret' },
      { perm: '-rw-r-----', owner: '65532/65532', name: 'etc/streamed' },
      { perm: 'drwxr-xr-x', owner: '0/0', name: 'home/' },
      { perm: 'drwx------', owner: '65532/65532', name: 'home/nonroot/' },
      { perm: 'drwxrwxrwt', owner: '0/0', name: 'tmp/' },
      { perm: 'drwxr-xr-x', owner: '0/0', name: 'usr/' },
      { perm: 'drwxr-xr-x', owner: '0/0', name: 'usr/bin/' },
      { perm: '-rwsr-xr-x', owner: '0/0', name: 'usr/bin/alias' },
      { perm: 'hrwsr-xr-x', owner: '0/0', name: 'usr/bin/tool link to usr/bin/alias' },
    ]);
    for (const line of lines) expect(line).toContain('2023-11-14 22:13:20');
  });

  it('extracts with GNU tar to the same content, modes and links', async () => {
    const layer = await buildLayer(sampleEntries(), { dir: tempDir() });
    const out = tempDir();
    execFileSync('tar', ['-xzf', layer.path, '-C', out, '--numeric-owner', '--same-permissions']);
    expect(readFileSync(join(out, 'usr/bin/tool'), 'utf8')).toBe('#!/bin/sh\necho tool\n');
    expect(statSync(join(out, 'usr/bin/tool')).ino).toBe(statSync(join(out, 'usr/bin/alias')).ino);
    expect(statSync(join(out, 'usr/bin/tool')).mode & 0o7777).toBe(0o4755);
    expect(readFileSync(join(out, 'etc/streamed'), 'utf8')).toBe('part one, part two');
    expect(statSync(join(out, 'etc/streamed')).uid).toBe(65532);
    expect(statSync(join(out, 'etc/secret')).mode & 0o7777).toBe(0);
    expect(readlinkSync(join(out, 'etc/localtime'))).toBe('/usr/share/zoneinfo/UTC');
    expect(lstatSync(join(out, 'tmp')).mode & 0o7777).toBe(0o1777);
  });

  it('leaves uname/gname empty and uses PAX only when needed', async () => {
    const plain = await buildLayer(sampleEntries(), { dir: tempDir() });
    const headers = rawHeaders(gunzipSync(readFileSync(plain.path)));
    expect(headers).toHaveLength(11);
    for (const header of headers) {
      expect(header.subarray(265, 329).every((b) => b === 0)).toBe(true); // uname + gname
      expect(String.fromCharCode(header[156] ?? 0)).not.toBe('x');
    }

    // the 121-byte directory name still fits ustar's prefix+name split; the 110-byte file name does not
    const longName = `${'d'.repeat(120)}/${'f'.repeat(110)}`;
    const needsPax = await buildLayer(
      [
        { path: longName, type: 'file', mode: 0o644, ...root, content: Buffer.from('x') },
        { path: 'big-ids', type: 'file', mode: 0o644, uid: 300_000, gid: 400_000, content: Buffer.from('y') },
        {
          path: 'capped',
          type: 'file',
          mode: 0o755,
          ...root,
          content: Buffer.from('z'),
          xattrs: { 'user.note': 'hi' },
        },
      ],
      { dir: tempDir() },
    );
    const tar = gunzipSync(readFileSync(needsPax.path));
    const paxHeaders = rawHeaders(tar).filter((h) => String.fromCharCode(h[156] ?? 0) === 'x');
    expect(paxHeaders).toHaveLength(3);
    expect(tar.toString('latin1')).toContain('SCHILY.xattr.user.note=hi');
    const listing = tarList(needsPax.path);
    expect(listing.some((l) => l.includes(' 300000/400000 ') && l.endsWith(' big-ids'))).toBe(true);
    expect(listing.some((l) => l.endsWith(` ${longName}`))).toBe(true);
  });

  it('refuses a stream that is shorter or longer than its size and leaves no file behind', async () => {
    for (const size of [5, 50]) {
      const dir = tempDir();
      const error = await buildLayer(
        [
          {
            path: 'a',
            type: 'file',
            mode: 0o644,
            ...root,
            content: () => Readable.from([Buffer.from('0123456789')]),
            size,
          },
        ],
        { dir },
      ).catch((e: unknown) => e);
      expect(isRampartError(error, 'SIZE_MISMATCH')).toBe(true);
      expect(readdirSync(dir)).toEqual([]);
    }
  });

  it('fails cleanly when a content stream errors or the output dir is unusable', async () => {
    const dir = tempDir();
    const failing = () =>
      new Readable({
        read() {
          this.destroy(new Error('source disk gone'));
        },
      });
    const error = await buildLayer(
      [{ path: 'a', type: 'file', mode: 0o644, ...root, content: failing, size: 10 }],
      {
        dir,
      },
    ).catch((e: unknown) => e);
    expect(isRampartError(error, 'IO')).toBe(true);
    expect(String(error)).toContain('source disk gone');
    expect(readdirSync(dir)).toEqual([]);
    writeFileSync(join(dir, 'not-a-dir'), '');
    const badDir = await buildLayer(sampleEntries(), { dir: join(dir, 'not-a-dir', 'blobs') }).catch(
      (e: unknown) => e,
    );
    expect(isRampartError(badDir, 'IO')).toBe(true);
  });

  it('rejects unsafe or inconsistent entries', async () => {
    const cases: Array<[LayerEntry[], string]> = [
      [[{ path: '../../etc/passwd', type: 'file', mode: 0o644, ...root }], 'PATH_TRAVERSAL'],
      [[{ path: '/etc/passwd', type: 'file', mode: 0o644, ...root }], 'PATH_TRAVERSAL'],
      [[{ path: 'a', type: 'hardlink', mode: 0o644, ...root, target: '../../etc/passwd' }], 'PATH_TRAVERSAL'],
      [
        [
          { path: 'a', type: 'file', mode: 0o644, ...root },
          { path: './a', type: 'file', mode: 0o644, ...root },
        ],
        'INVALID_LAYER_ENTRY',
      ],
      [
        [
          { path: 'a', type: 'file', mode: 0o644, ...root },
          { path: 'a/b', type: 'file', mode: 0o644, ...root },
        ],
        'INVALID_LAYER_ENTRY',
      ],
      [
        [
          { path: 'd', type: 'directory', mode: 0o755, ...root },
          { path: 'l', type: 'hardlink', mode: 0o644, ...root, target: 'd' },
        ],
        'INVALID_LAYER_ENTRY',
      ],
    ];
    for (const [entries, code] of cases) {
      const error = await buildLayer(entries, { dir: tempDir() }).catch((e: unknown) => e);
      expect(isRampartError(error), String(error)).toBe(true);
      expect((error as { code: string }).code).toBe(code);
    }
  });
});

describe('safeEntryPath', () => {
  it('normalises harmless spellings', () => {
    expect(safeEntryPath('./usr//bin/./ls')).toBe('usr/bin/ls');
    expect(safeEntryPath('usr/share/')).toBe('usr/share');
    expect(safeEntryPath('./')).toBe('');
  });

  it('refuses traversal and absolute names', () => {
    for (const name of ['../../etc/passwd', 'a/../../b', 'a/..', '/etc/passwd', '//x']) {
      expect(() => safeEntryPath(name), name).toThrowError(
        expect.objectContaining({ code: 'PATH_TRAVERSAL' }) as unknown as Error,
      );
    }
  });
});
