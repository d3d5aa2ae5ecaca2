import {
  createReadStream,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tarStream from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRampartError } from '../../../src/errors.js';
import { extractLayers } from '../../../src/oci/extract.js';
import type { FsTree } from '../../../src/oci/fs-tree.js';
import { flattenLayers, readFiles } from '../../../src/oci/fs-view.js';
import { buildLayer, type LayerEntry } from '../../../src/oci/layer-writer.js';

type LayerSource = () => Promise<Readable>;

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-fsv-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const r = { uid: 0, gid: 0 };
const file = (path: string, content: string, mode = 0o644): LayerEntry => ({
  path,
  type: 'file',
  mode,
  ...r,
  content: Buffer.from(content),
});

/** Builds a gzip layer with the layer writer and returns an uncompressed-stream factory for it. */
async function writtenLayer(entries: LayerEntry[]): Promise<LayerSource> {
  const layer = await buildLayer(entries, { dir: tempDir() });
  return async () => {
    const blob = createReadStream(layer.path);
    const gunzip = createGunzip();
    blob.once('error', (error) => gunzip.destroy(error));
    return blob.pipe(gunzip);
  };
}

/** A hand-made tar for inputs the layer writer refuses to produce (implicit parents, hostile names). */
async function rawLayer(
  entries: Array<{
    name: string;
    type?: 'file' | 'directory' | 'symlink' | 'link';
    linkname?: string;
    content?: string;
  }>,
): Promise<LayerSource> {
  const pack = tarStream.pack();
  for (const entry of entries) {
    const body = Buffer.from(entry.content ?? '');
    pack.entry(
      {
        name: entry.name,
        type: entry.type ?? 'file',
        mode: entry.type === 'directory' ? 0o755 : 0o644,
        ...(entry.linkname ? { linkname: entry.linkname } : {}),
        mtime: new Date(0),
      },
      body,
    );
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  const tar = Buffer.concat(chunks);
  return async () => Readable.from([tar]);
}

function describeTree(tree: FsTree): string[] {
  return tree.entries().map((node) => {
    const link = node.linkTarget === undefined ? '' : ` -> ${node.linkTarget}`;
    return `${node.kind} ${node.path}${link}`;
  });
}

async function contents(
  layers: LayerSource[],
  tree: FsTree,
  wanted: string[],
): Promise<Record<string, string>> {
  const image = { layers: layers.map((open) => ({ uncompressed: open })) };
  const found: Record<string, string> = {};
  for await (const { path, content } of readFiles(image, tree, new Set(wanted)))
    found[path] = content.toString();
  return found;
}

/**
 * Three layers exercising every rule: whiteout of a file and of a directory, an opaque directory,
 * hardlinks to an earlier layer's file (and to a hardlink), a symlink replacing a file, a
 * directory replaced by a file, and a file replaced after being hardlinked.
 */
async function threeLayerImage(): Promise<LayerSource[]> {
  const base = await writtenLayer([
    file('etc/passwd', 'root:x:0:0::/root:/bin/sh\n'),
    file('etc/os-release', 'ID=old\n'),
    file('usr/bin/tool', 'TOOL v1', 0o755),
    file('usr/share/doc/a/copyright', 'A'),
    file('usr/share/doc/b/copyright', 'B'),
    file('var/cache/x/junk', 'junk'),
    file('opt/old', 'old'),
    { path: 'bin', type: 'symlink', mode: 0o777, ...r, target: 'usr/bin' },
  ]);
  const middle = await writtenLayer([
    file('opt/.wh.old', ''),
    file('usr/share/doc/.wh..wh..opq', ''),
    file('usr/share/doc/c/copyright', 'C'),
    { path: 'usr/bin/tool2', type: 'hardlink', mode: 0o755, ...r, target: 'usr/bin/tool' },
    { path: 'etc/os-release', type: 'symlink', mode: 0o777, ...r, target: '../usr/lib/os-release' },
    file('usr/lib/os-release', 'ID=rampart\n'),
    file('var/cache/x', 'now a file'),
  ]);
  const top = await writtenLayer([
    file('etc/passwd', 'root:x:0:0::/root:/sbin/nologin\n'),
    file('usr/share/doc/.wh.c', ''),
    { path: 'usr/bin/tool3', type: 'hardlink', mode: 0o755, ...r, target: 'usr/bin/tool2' },
    file('usr/bin/tool', 'TOOL v2', 0o755),
  ]);
  return [base, middle, top];
}

const EXPECTED_TREE = [
  'directory /',
  'symlink /bin -> usr/bin',
  'directory /etc',
  'symlink /etc/os-release -> ../usr/lib/os-release',
  'file /etc/passwd',
  'directory /opt',
  'directory /usr',
  'directory /usr/bin',
  'file /usr/bin/tool',
  'hardlink /usr/bin/tool2 -> /usr/bin/tool',
  'hardlink /usr/bin/tool3 -> /usr/bin/tool2',
  'directory /usr/lib',
  'file /usr/lib/os-release',
  'directory /usr/share',
  'directory /usr/share/doc',
  'directory /var',
  'directory /var/cache',
  'file /var/cache/x',
];

describe('flattenLayers', () => {
  let layers: LayerSource[];
  let tree: FsTree;
  beforeAll(async () => {
    layers = await threeLayerImage();
    tree = await flattenLayers(layers);
  });

  it('applies whiteouts, opaque dirs, hardlinks, symlinks and replacements in order', () => {
    expect(describeTree(tree)).toEqual(EXPECTED_TREE);
    expect(tree.size).toBe(EXPECTED_TREE.length);
    expect(tree.get('/usr/bin/tool')).toMatchObject({ mode: 0o755, uid: 0, gid: 0, size: 7, layer: 2 });
    expect(tree.get('/usr/bin/tool2')).toMatchObject({ size: 7, layer: 1 });
    expect(tree.get('/var/cache/x')).toMatchObject({ kind: 'file', size: 10, layer: 1 });
    expect(tree.children('/usr/share/doc')).toEqual([]);
    expect(tree.children('/usr/bin').map((n) => n.path)).toEqual([
      '/usr/bin/tool',
      '/usr/bin/tool2',
      '/usr/bin/tool3',
    ]);
  });

  it('reads the final content of wanted files, following symlinks and hardlinks', async () => {
    const found = await contents(layers, tree, [
      '/etc/passwd',
      '/etc/os-release',
      '/bin/tool',
      '/usr/bin/tool',
      '/usr/bin/tool2',
      '/usr/bin/tool3',
      '/usr/share/doc/a/copyright',
      '/usr/share',
      '/missing',
    ]);
    expect(found).toEqual({
      '/etc/passwd': 'root:x:0:0::/root:/sbin/nologin\n',
      '/etc/os-release': 'ID=rampart\n',
      '/bin/tool': 'TOOL v2',
      '/usr/bin/tool': 'TOOL v2',
      // linked while tool was v1; replacing tool later does not change the shared inode
      '/usr/bin/tool2': 'TOOL v1',
      '/usr/bin/tool3': 'TOOL v1',
    });
  });

  it('resolves symlinks inside the root only', async () => {
    expect(tree.resolve('/bin/tool')).toBe('/usr/bin/tool');
    expect(tree.resolve('/bin/../lib/os-release')).toBe('/usr/lib/os-release');
    expect(tree.resolve('/../../etc/passwd')).toBe('/etc/passwd');
    expect(tree.resolve('/etc/passwd/x')).toBeUndefined();
    expect(tree.resolve('/nope')).toBeUndefined();
    const loops = await flattenLayers([
      await writtenLayer([
        { path: 'a', type: 'symlink', mode: 0o777, ...r, target: 'b' },
        { path: 'b', type: 'symlink', mode: 0o777, ...r, target: '/a' },
        { path: 'up', type: 'symlink', mode: 0o777, ...r, target: '../../../../etc' },
        file('etc/hosts', 'h'),
      ]),
    ]);
    expect(loops.resolve('/a')).toBeUndefined();
    expect(loops.resolve('/up/hosts')).toBe('/etc/hosts');
  });

  it('creates implicit parents as 0755 root directories', async () => {
    const implicit = await flattenLayers([await rawLayer([{ name: 'srv/data/file', content: 'x' }])]);
    expect(describeTree(implicit)).toEqual([
      'directory /',
      'directory /srv',
      'directory /srv/data',
      'file /srv/data/file',
    ]);
    expect(implicit.get('/srv/data')).toMatchObject({ mode: 0o755, uid: 0, gid: 0, layer: 0 });
  });
});

describe('extractLayers', () => {
  it('produces on disk the same tree the flattener computes', async () => {
    const layers = await threeLayerImage();
    const dest = tempDir();
    await extractLayers(layers, dest);
    const onDisk: string[] = ['directory /'];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir).sort()) {
        const full = join(dir, name);
        const path = `/${relative(dest, full)}`;
        const stat = lstatSync(full);
        if (stat.isSymbolicLink()) onDisk.push(`symlink ${path} -> ${readlinkSync(full)}`);
        else if (stat.isDirectory()) {
          onDisk.push(`directory ${path}`);
          walk(full);
        } else onDisk.push(`file ${path}`);
      }
    };
    walk(dest);
    // on disk a hardlink is just another name for the inode, so compare kinds without that distinction
    expect(onDisk.sort()).toEqual(
      EXPECTED_TREE.map((line) => line.replace(/^hardlink (\S+) -> \S+$/, 'file $1')).sort(),
    );
    expect(readFileSync(join(dest, 'usr/bin/tool3'), 'utf8')).toBe('TOOL v1');
    expect(lstatSync(join(dest, 'usr/bin/tool3')).ino).toBe(lstatSync(join(dest, 'usr/bin/tool2')).ino);
    expect(readFileSync(join(dest, 'usr/bin/tool'), 'utf8')).toBe('TOOL v2');
    expect(lstatSync(join(dest, 'usr/bin/tool')).mode & 0o7777).toBe(0o755);
  });
});

describe('hostile layers', () => {
  /** dest lives two levels below a sandbox, so '../../x' from dest lands in the sandbox, never in /. */
  function sandbox(): { outer: string; dest: string; outside: string } {
    const outer = tempDir();
    const dest = join(outer, 'a', 'dest');
    const outside = join(outer, 'outside');
    mkdirSync(dest, { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(outside, 'victim'), 'keep me');
    return { outer, dest, outside };
  }

  async function expectRefused(
    layers: LayerSource[],
    code: string,
  ): Promise<{ outside: string; outer: string }> {
    const flattenError = await flattenLayers(layers).catch((e: unknown) => e);
    expect(isRampartError(flattenError), String(flattenError)).toBe(true);
    expect((flattenError as { code: string }).code).toBe(code);
    const box = sandbox();
    const extractError = await extractLayers(layers, box.dest).catch((e: unknown) => e);
    expect(isRampartError(extractError), String(extractError)).toBe(true);
    expect((extractError as { code: string }).code).toBe(code);
    expect(readdirSync(box.outside)).toEqual(['victim']);
    expect(readFileSync(join(box.outside, 'victim'), 'utf8')).toBe('keep me');
    expect(readdirSync(box.outer).sort()).toEqual(['a', 'outside']);
    expect(readdirSync(join(box.outer, 'a'))).toEqual(['dest']);
    return box;
  }

  it('refuses ../ and absolute entry names', async () => {
    await expectRefused([await rawLayer([{ name: '../../etc/passwd', content: 'pwned' }])], 'PATH_TRAVERSAL');
    await expectRefused([await rawLayer([{ name: '/etc/passwd', content: 'pwned' }])], 'PATH_TRAVERSAL');
  });

  it('refuses hardlinks that point outside the root', async () => {
    await expectRefused(
      [await rawLayer([{ name: 'link', type: 'link', linkname: '../../outside/victim' }])],
      'UNSAFE_LINK',
    );
    await expectRefused(
      [await rawLayer([{ name: 'link', type: 'link', linkname: '/etc/passwd' }])],
      'UNSAFE_LINK',
    );
  });

  it('refuses to write or delete through a symlink, even one from an earlier layer', async () => {
    const probe = sandbox();
    const evil = (name: string) =>
      rawLayer([{ name: 'evil', type: 'symlink', linkname: probe.outside }, { name }]);
    await expectRefused([await evil('evil/pwned')], 'UNSAFE_LINK');
    await expectRefused(
      [
        await rawLayer([{ name: 'evil', type: 'symlink', linkname: probe.outside }]),
        await rawLayer([{ name: 'evil/.wh.victim' }]),
      ],
      'UNSAFE_LINK',
    );
    await expectRefused(
      [
        await rawLayer([{ name: 'evil', type: 'symlink', linkname: probe.outside }]),
        await rawLayer([{ name: 'evil/pwned', content: 'x' }]),
      ],
      'UNSAFE_LINK',
    );
    expect(existsSync(join(probe.outside, 'pwned'))).toBe(false);
  });
});
