import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isRampartError } from '../../../src/errors.js';
import { generateSbom } from '../../../src/sbom/generate.js';

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
});
