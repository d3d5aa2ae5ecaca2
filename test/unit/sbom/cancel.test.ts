import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isRampartError } from '../../../src/errors.js';
import { catalogFileSource } from '../../../src/sbom/catalog.js';
import type { Cataloger } from '../../../src/sbom/cataloger.js';
import { generateSbom } from '../../../src/sbom/generate.js';
import { memoryFileSource } from '../../../src/sbom/source/file-source.js';

const root = mkdtempSync(join(tmpdir(), 'rampart-sbom-cancel-'));
mkdirSync(join(root, 'var/lib/dpkg'), { recursive: true });
writeFileSync(
  join(root, 'var/lib/dpkg/status'),
  'Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n\n',
);

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('generateSbom and an AbortSignal', () => {
  it('stops with CANCELLED when the signal has fired, and catalogs as usual without one', async () => {
    const controller = new AbortController();
    controller.abort(new Error('user pressed Ctrl-C'));
    const error = await generateSbom({ kind: 'directory', path: root }, { signal: controller.signal }).catch(
      (e: unknown) => e,
    );
    expect(isRampartError(error, 'CANCELLED')).toBe(true);
    expect((error as { details: { operation?: string } }).details.operation).toBe('sbom');
    const doc = await generateSbom(
      { kind: 'directory', path: root },
      { signal: new AbortController().signal },
    );
    expect(doc.packages.map((p) => p.name)).toEqual(['a']);
  });

  it('stops starting binary inspections once the signal fires, and is CANCELLED', async () => {
    const files = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`/bin/tool${i}`, 'x']));
    const memory = memoryFileSource(files);
    const controller = new AbortController();
    let opened = 0;
    const source = {
      ...memory,
      openRandomAccess: async (path: string) => {
        opened++;
        controller.abort(new Error('user pressed Ctrl-C')); // while the first file is inspected
        const content = Buffer.from(files[path] as string);
        return {
          size: content.length,
          read: async (offset: number, length: number) => content.subarray(offset, offset + length),
          sha256: async () => '',
          close: async () => undefined,
        };
      },
    };
    const inspecting: Cataloger = {
      name: 'inspecting',
      matches: (node) => node.kind === 'file',
      start: () => ({ accept: () => undefined, inspect: async () => undefined, finish: () => [] }),
    };
    const error = await catalogFileSource(source, [inspecting], controller.signal).catch((e: unknown) => e);
    expect(isRampartError(error, 'CANCELLED')).toBe(true);
    // The inspection pool is 8 wide: at most the files already started, never all 40.
    expect(opened).toBeLessThanOrEqual(8);
  });
});
