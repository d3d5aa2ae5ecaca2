import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directoryFileSource } from '../../../src/sbom/source/dir-source.js';

let root: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'rampart-sbom-dir-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('directoryFileSource', () => {
  it('reports a file replaced by a FIFO after the walk instead of blocking on it', async () => {
    writeFileSync(join(root, 'status'), 'Package: a\n');
    writeFileSync(join(root, 'other'), 'kept\n');
    const source = await directoryFileSource(root, () => {});
    unlinkSync(join(root, 'status'));
    execFileSync('mkfifo', [join(root, 'status')]);

    const errors: string[] = [];
    const read: string[] = [];
    for await (const file of source.read(new Set(['/status', '/other']), (path) => errors.push(path)))
      read.push(file.path);
    expect(read).toEqual(['/other']);
    expect(errors).toEqual(['/status']);
    await expect(source.openRandomAccess!('/status')).rejects.toThrow(/no longer a regular file/);
  }, 10_000);
});
