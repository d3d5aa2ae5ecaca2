/**
 * Without /proc/self/fd the path of an opened source cannot be checked again after the open:
 * `files:` sources are then refused, not read unchecked (review finding 1).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { addAppFiles } from '../../../src/builder/app-files.js';
import { parseImageSpec } from '../../../src/builder/spec.js';
import { FileTree } from '../../../src/builder/tree.js';
import { isRampartError } from '../../../src/errors.js';

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...actual,
    readlink: async (path: string) => {
      if (String(path).startsWith('/proc/self/fd/')) {
        throw Object.assign(new Error(`ENOENT: no such file or directory, readlink '${path}'`), {
          code: 'ENOENT',
        });
      }
      return actual.readlink(path);
    },
  };
});

let context: string;

beforeAll(async () => {
  context = await mkdtemp(join(tmpdir(), 'rampart-app-files-procfd-'));
  await mkdir(join(context, 'app'));
  await writeFile(join(context, 'app', 'main.js'), 'main\n');
});

afterAll(async () => {
  await rm(context, { recursive: true, force: true });
});

describe('files[].source without /proc/self/fd', () => {
  it.each(['app/main.js', 'app'])('refuses %s with IO instead of skipping the re-check', async (source) => {
    const text = [
      'name: demo',
      'contents: {suites: [trixie], packages: [base-files]}',
      'archs: [amd64]',
      'files:',
      `  - source: ${JSON.stringify(source)}`,
      '    destination: /app',
      '',
    ].join('\n');
    const { spec, locate } = parseImageSpec(text, join(context, 'image.yaml'), context);
    const error = await addAppFiles(new FileTree(), spec.files, spec.baseDir, { locate }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isRampartError(error, 'IO'), String(error)).toBe(true);
    expect((error as { details: { syscall: string } }).details.syscall).toBe('readlink');
  });
});
