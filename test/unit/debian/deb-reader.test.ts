import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listArMembers } from '../../../src/debian/archive-ar.js';
import { type DebEntry, normaliseEntryPath, readDeb, readDebData } from '../../../src/debian/deb-reader.js';
import { field } from '../../../src/debian/deb822.js';
import { isRampartError } from '../../../src/errors.js';
import { buildDeb } from '../../helpers/apt-repo.js';

let dir: string;
const md5 = (s: string | Buffer) => createHash('md5').update(s).digest('hex');

async function collect(file: string): Promise<DebEntry[]> {
  const entries: DebEntry[] = [];
  for await (const entry of readDebData(file)) entries.push(entry);
  return entries;
}

/** `dpkg-deb -c` as the independent listing: names without './', trailing '/' stripped. */
function dpkgListing(file: string): string[] {
  return execFileSync('dpkg-deb', ['-c', file])
    .toString()
    .trim()
    .split('\n')
    .map((line) =>
      line.split(/\s+/).slice(5).join(' ').split(' -> ')[0]!.replace(/^\.\//, '').replace(/\/$/, ''),
    )
    .filter((name) => name !== '' && name !== '.');
}

async function tarOf(
  entries: Array<{ header: Partial<tar.Header> & { name: string }; content?: string }>,
): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) pack.entry(e.header as tar.Header, e.content ?? '');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A hand-made .deb (ar archive), for inputs dpkg-deb refuses to build. */
function arOf(members: Array<[string, Buffer]>): Buffer {
  const parts: Buffer[] = [Buffer.from('!<arch>\n')];
  for (const [name, data] of members) {
    const header =
      name.padEnd(16) +
      '0'.padEnd(12) +
      '0'.padEnd(6) +
      '0'.padEnd(6) +
      '100644'.padEnd(8) +
      String(data.length).padEnd(10) +
      '`\n';
    parts.push(Buffer.from(header, 'latin1'), data);
    if (data.length % 2) parts.push(Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

async function craftedDeb(
  name: string,
  dataEntries: Array<{ header: Partial<tar.Header> & { name: string }; content?: string }>,
): Promise<string> {
  const control = await tarOf([
    { header: { name: './control' }, content: 'Package: evil\nVersion: 1\nArchitecture: all\n' },
  ]);
  const data = await tarOf(dataEntries);
  const file = join(dir, name);
  await writeFile(
    file,
    arOf([
      ['debian-binary', Buffer.from('2.0\n')],
      ['control.tar.gz', gzipSync(control)],
      ['data.tar.gz', gzipSync(data)],
    ]),
  );
  return file;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-deb-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readDeb / readDebData on packages built by dpkg-deb', () => {
  for (const compression of ['xz', 'gzip', 'zstd', 'none'] as const) {
    it(`reads control and data (${compression})`, async () => {
      const files = {
        'etc/demo/demo.conf': 'key=value\n',
        'usr/bin/demo': '#!/bin/sh\necho demo\n',
        'usr/share/doc/demo/README': `compressed with ${compression}\n`,
      };
      const deb = await buildDeb(await mkdtemp(join(dir, `${compression}-`)), {
        name: 'demo',
        version: '1:2.0-3',
        depends: 'libc6 (>= 2.36), foo | bar',
        files,
        symlinks: { 'usr/bin/demo-link': 'demo', 'usr/lib/abs-link': '/usr/bin/demo' },
        controlFiles: {
          conffiles: '/etc/demo/demo.conf\nremove-on-upgrade /etc/demo/old.conf\n',
          postinst: '#!/bin/sh\n',
        },
        compression,
      });
      const members = await listArMembers(deb);
      expect(members.map((m) => m.name)[0]).toBe('debian-binary');

      const info = await readDeb(deb);
      expect(field(info.control, 'package')).toBe('demo');
      expect(field(info.control, 'version')).toBe('1:2.0-3');
      expect(field(info.control, 'depends')).toBe('libc6 (>= 2.36), foo | bar');
      expect(info.conffiles).toEqual(['/etc/demo/demo.conf', '/etc/demo/old.conf']);
      expect([...info.controlFiles.keys()].sort()).toEqual(['conffiles', 'control', 'md5sums', 'postinst']);
      expect(Object.fromEntries(info.md5sums)).toEqual(
        Object.fromEntries(Object.entries(files).map(([p, c]) => [p, md5(c)])),
      );

      const entries = await collect(deb);
      expect(entries.map((e) => e.header.name)).toEqual(dpkgListing(deb));
      for (const [path, content] of Object.entries(files)) {
        const entry = entries.find((e) => e.header.name === path);
        expect(entry?.header.type).toBe('file');
        expect(entry?.content?.toString()).toBe(content);
        expect(entry?.header.size).toBe(content.length);
        expect(entry?.header.uid).toBe(0);
      }
      expect(entries.find((e) => e.header.name === 'usr/bin/demo-link')?.header).toMatchObject({
        type: 'symlink',
        linkname: 'demo',
      });
      expect(entries.find((e) => e.header.name === 'usr/lib/abs-link')?.header.linkname).toBe(
        '/usr/bin/demo',
      );
      expect(entries.find((e) => e.header.name === 'usr/bin')?.header.type).toBe('directory');
    });
  }
});

describe('early exit', () => {
  it('stops the xz child process when the caller stops reading', async () => {
    const files = Object.fromEntries(
      Array.from({ length: 200 }, (_, i) => [`usr/share/x/${i}`, `${i}`.repeat(5000)]),
    );
    const deb = await buildDeb(await mkdtemp(join(dir, 'early-')), { name: 'early', version: '1', files });
    for await (const entry of readDebData(deb)) if (entry.header.name.startsWith('usr/share/x/')) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
    const children = execFileSync('ps', ['--ppid', String(process.pid), '-o', 'args=']).toString();
    expect(children.split('\n').filter((line) => line.startsWith('xz '))).toEqual([]);
  });
});

describe('hostile .deb input', () => {
  it('refuses entries that climb out with ..', async () => {
    const deb = await craftedDeb('dotdot.deb', [
      { header: { name: './usr/', type: 'directory' } },
      { header: { name: './usr/../../etc/passwd' }, content: 'root::0:0::/:/bin/sh\n' },
    ]);
    const error = await collect(deb).catch((e: unknown) => e);
    expect(isRampartError(error, 'PATH_TRAVERSAL')).toBe(true);
    expect((error as Error).message).toContain('dotdot.deb');
  });

  it('refuses absolute entry names and hard links that escape', async () => {
    const abs = await craftedDeb('abs.deb', [{ header: { name: '/etc/shadow' }, content: 'x' }]);
    expect(isRampartError(await collect(abs).catch((e: unknown) => e), 'PATH_TRAVERSAL')).toBe(true);
    const link = await craftedDeb('link.deb', [
      { header: { name: './x', type: 'link', linkname: '../../etc/shadow' } },
    ]);
    expect(isRampartError(await collect(link).catch((e: unknown) => e), 'PATH_TRAVERSAL')).toBe(true);
  });

  it('reports device nodes and fifos with their numbers', async () => {
    const deb = await craftedDeb('dev.deb', [
      { header: { name: './dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 } },
      { header: { name: './dev/sda', type: 'block-device', devmajor: 8, devminor: 0 } },
      { header: { name: './run/fifo', type: 'fifo' } },
    ]);
    const headers = (await collect(deb)).map((e) => e.header);
    expect(headers.map((h) => [h.name, h.type])).toEqual([
      ['dev/null', 'character-device'],
      ['dev/sda', 'block-device'],
      ['run/fifo', 'fifo'],
    ]);
    expect(headers[0]).toMatchObject({ devmajor: 1, devminor: 3, mode: 0o666 });
  });

  it('refuses files that are not ar archives and truncated members', async () => {
    const notDeb = join(dir, 'not.deb');
    await writeFile(notDeb, 'hello world, not an archive');
    expect(isRampartError(await readDeb(notDeb).catch((e: unknown) => e), 'MALFORMED_DEB')).toBe(true);
    const good = await craftedDeb('trunc.deb', [{ header: { name: './a' }, content: 'a' }]);
    const bytes = execFileSync('head', ['-c', '150', good]);
    const truncated = join(dir, 'truncated.deb');
    await writeFile(truncated, bytes);
    expect(isRampartError(await readDeb(truncated).catch((e: unknown) => e), 'MALFORMED_DEB')).toBe(true);
  });

  it('normalises entry paths', () => {
    expect(normaliseEntryPath('./usr//bin/./x/', 'f')).toBe('usr/bin/x');
    expect(normaliseEntryPath('./', 'f')).toBe('');
    expect(() => normaliseEntryPath('a/../../b', 'f')).toThrowError(
      expect.objectContaining({
        code: 'PATH_TRAVERSAL',
        details: { path: 'a/../../b', location: 'f' },
      }) as unknown as Error,
    );
  });
});
