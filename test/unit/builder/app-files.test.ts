/**
 * `files[].source` containment (issue 10 item 1): sources stay inside the spec's directory (or a
 * directory the user allowed), symlinks are resolved and checked, /proc, /sys and /dev are never
 * read, only regular files and directories are, and a file swapped for a link while the tree is
 * read is not followed.
 */
import { execFileSync } from 'node:child_process';
import { link, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAppFiles } from '../../../src/builder/app-files.js';
import { ContentStore, isContentRef, readContent } from '../../../src/builder/content.js';
import { parseImageSpec } from '../../../src/builder/spec.js';
import { FileTree } from '../../../src/builder/tree.js';
import { isRampartError } from '../../../src/errors.js';

let root: string;
let context: string;
let outside: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'rampart-app-files-'));
  context = join(root, 'ctx');
  outside = join(root, 'outside');
  await mkdir(join(context, 'app', 'lib'), { recursive: true });
  await mkdir(outside);
  await writeFile(join(context, 'app', 'main.js'), 'main\n');
  await writeFile(join(context, 'app', 'lib', 'util.js'), 'util\n');
  await writeFile(join(outside, 'secret'), 'host secret\n');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A spec text with one `files:` entry, parsed as the build would (positions included). */
function specWith(source: string, file = join(context, 'image.yaml')) {
  const text = [
    'name: demo',
    'contents: {suites: [trixie], packages: [base-files]}',
    'archs: [amd64]',
    'files:',
    `  - source: ${JSON.stringify(source)}`,
    '    destination: /app',
    '',
  ].join('\n');
  const { spec, locate } = parseImageSpec(text, file, context);
  return { spec, locate, where: `${file}:5:13` };
}

async function copy(source: string, opts: { allow?: string[]; store?: ContentStore } = {}) {
  const { spec, locate } = specWith(source);
  const tree = new FileTree();
  const records = await addAppFiles(tree, spec.files, spec.baseDir, {
    locate,
    ...(opts.allow ? { allowOutsideContext: opts.allow } : {}),
    ...(opts.store ? { store: opts.store } : {}),
  });
  return { tree, records };
}

async function refusal(source: string, opts: { allow?: string[] } = {}): Promise<unknown> {
  return copy(source, opts).then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('files[].source containment', () => {
  it.each([
    ['an absolute host path', '/etc/shadow'],
    ['a relative path climbing out', '../../../../etc/shadow'],
    ['a sibling directory of the context', '../outside/secret'],
  ])('refuses %s with SOURCE_OUTSIDE_CONTEXT and the spec position', async (_what, source) => {
    const error = await refusal(source);
    expect(isRampartError(error, 'SOURCE_OUTSIDE_CONTEXT'), String(error)).toBe(true);
    const { where } = specWith(source);
    expect((error as Error).message.startsWith(`${where}: files[0].source`)).toBe(true);
    expect((error as { details: { position: unknown; context: string } }).details).toMatchObject({
      position: { file: join(context, 'image.yaml'), line: 5, column: 13 },
      context,
    });
  });

  it.each(['/proc/self/environ', '/sys/kernel/hostname', '/dev/zero', '/proc/self/root/etc/passwd'])(
    'never reads %s, even with / allowed',
    async (source) => {
      const error = await refusal(source, { allow: ['/'] });
      expect(isRampartError(error, 'SOURCE_OUTSIDE_CONTEXT'), String(error)).toBe(true);
    },
  );

  it('refuses a link in the context that resolves outside it, file or directory', async () => {
    await symlink(join(outside, 'secret'), join(context, 'link-to-secret'));
    await symlink(outside, join(context, 'link-to-dir'));
    await symlink('/proc/self/environ', join(context, 'link-to-environ'));
    for (const source of ['link-to-secret', 'link-to-dir', 'link-to-dir/secret', 'link-to-environ']) {
      const error = await refusal(source);
      expect(isRampartError(error, 'SOURCE_OUTSIDE_CONTEXT'), `${source}: ${String(error)}`).toBe(true);
      expect((error as { details: { path: string } }).details.path.startsWith(context)).toBe(false);
    }
  });

  it('reads outside the context only from a directory the user allowed', async () => {
    const { tree, records } = await copy(join(outside, 'secret'), { allow: [outside] });
    expect(tree.get('app')?.content?.toString()).toBe('host secret\n');
    expect(records).toEqual([
      expect.objectContaining({ type: 'file', path: join(outside, 'secret'), files: 1 }),
    ]);
    expect(records[0]!.sha256).toBe(
      execFileSync('sha256sum', [join(outside, 'secret')])
        .toString()
        .split(' ')[0],
    );
  });

  it('follows a link that stays inside the context', async () => {
    await symlink('app/main.js', join(context, 'inside-link'));
    const { tree } = await copy('inside-link');
    expect(tree.get('app')?.type).toBe('file');
    expect(tree.get('app')?.content?.toString()).toBe('main\n');
  });

  it('refuses a FIFO, as the source or inside a directory, without hanging', async () => {
    execFileSync('mkfifo', [join(context, 'fifo')]);
    const direct = await refusal('fifo');
    expect(isRampartError(direct, 'SPEC_INVALID'), String(direct)).toBe(true);
    await mkdir(join(context, 'with-fifo'));
    execFileSync('mkfifo', [join(context, 'with-fifo', 'pipe')]);
    const nested = await refusal('with-fifo');
    expect(isRampartError(nested, 'SPEC_INVALID'), String(nested)).toBe(true);
    expect((nested as Error).message).toMatch(/pipe is not a regular file or directory/);
  });

  it('copies a directory, keeping inner links as links, and records a tree digest', async () => {
    await mkdir(join(context, 'tree'));
    await writeFile(join(context, 'tree', 'a.txt'), 'a\n');
    await symlink('/etc/shadow', join(context, 'tree', 'shadow'));
    const store = new ContentStore(join(root, 'store-1'));
    const { tree, records } = await copy('tree', { store });
    expect(tree.get('app/shadow')).toMatchObject({ type: 'symlink', target: '/etc/shadow' });
    const a = tree.get('app/a.txt')!;
    expect(isContentRef(a.content)).toBe(true);
    expect((await readContent(a.content)).toString()).toBe('a\n');
    expect(records[0]).toMatchObject({ type: 'directory', files: 2 });
    expect(records[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    // The digest changes with a file's bytes.
    await writeFile(join(context, 'tree', 'a.txt'), 'A\n');
    const again = await copy('tree', { store });
    expect(again.records[0]!.sha256).not.toBe(records[0]!.sha256);
  });

  it('does not follow a file swapped for a link to a host file while the directory is read', async () => {
    const dir = join(context, 'race');
    await mkdir(dir);
    await writeFile(join(dir, 'a.txt'), 'first\n');
    await writeFile(join(dir, 'b.txt'), 'harmless\n');
    // The store is where a.txt's bytes go: swap b.txt for a link to a host file right then,
    // after the directory was listed and before b.txt is opened.
    class SwappingStore extends ContentStore {
      override async putStream(source: Readable) {
        const ref = await super.putStream(source);
        if (ref.size === 'first\n'.length) {
          await rename(join(dir, 'b.txt'), join(dir, 'b.moved'));
          await symlink(join(outside, 'secret'), join(dir, 'b.txt'));
        }
        return ref;
      }
    }
    const store = new SwappingStore(join(root, 'store-2'));
    const { tree } = await copy('race', { store });
    const b = tree.get('app/b.txt')!;
    expect(b.type).toBe('symlink');
    for (const node of tree.nodes.values()) {
      if (node.type === 'file')
        expect((await readContent(node.content)).toString()).not.toContain('host secret');
    }
  });

  it('spools a file through its checked descriptor into the store, so the tree holds no bytes', async () => {
    const store = new ContentStore(join(root, 'store-3'));
    const { tree } = await copy('app/main.js', { store });
    const node = tree.get('app')!;
    expect(isContentRef(node.content)).toBe(true);
    // The spooled copy is what the layer reads: the original may change afterwards.
    await writeFile(join(context, 'app', 'main.js'), 'changed\n');
    expect((await readContent(node.content)).toString()).toBe('main\n');
    expect(await readFile(join(context, 'app', 'main.js'), 'utf8')).toBe('changed\n');
  });
});

describe('files[].source hard links and entry types (review finding 1)', () => {
  it('refuses a file with more than one hard link, as the source or inside a directory', async () => {
    await mkdir(join(context, 'hl'));
    await link(join(outside, 'secret'), join(context, 'hl', 'secret'));
    for (const source of ['hl/secret', 'hl']) {
      const error = await refusal(source);
      expect(isRampartError(error, 'SOURCE_OUTSIDE_CONTEXT'), `${source}: ${String(error)}`).toBe(true);
      expect((error as Error).message).toContain('2 hard links');
      expect((error as { details: { path: string; context: string } }).details).toMatchObject({
        path: join(context, 'hl', 'secret'),
        context,
        position: { line: 5, column: 13 },
      });
    }
  });

  it('copies a hard-linked file under a directory the user allowed', async () => {
    const allowed = join(root, 'allowed');
    await mkdir(allowed);
    await writeFile(join(allowed, 'a'), 'allowed\n');
    await link(join(allowed, 'a'), join(allowed, 'b'));
    const { tree } = await copy(join(allowed, 'b'), { allow: [allowed] });
    expect(tree.get('app')?.content?.toString()).toBe('allowed\n');
  });

  it('refuses a socket inside a directory from lstat, without opening it', async () => {
    const dir = join(context, 'with-socket');
    await mkdir(dir);
    const server = createServer();
    await new Promise<void>((done) => server.listen(join(dir, 'sock'), done));
    try {
      // Opening a socket fails with ENXIO (an IO error); the type check before the open says why.
      for (const source of ['with-socket', 'with-socket/sock']) {
        const error = await refusal(source);
        expect(isRampartError(error, 'SPEC_INVALID'), `${source}: ${String(error)}`).toBe(true);
      }
    } finally {
      await new Promise((done) => server.close(done));
    }
  });
});
