/** Issue 11 item 1: an SBOM that found nothing says so, and `--fail-empty` makes it fail. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateSbom } from '../../../src/sbom/generate.js';
import { rampart as cli } from '../../helpers/run-cli.js';

const root = mkdtempSync(join(tmpdir(), 'rampart-sbom-empty-'));
writeFileSync(join(root, 'README'), 'no packages here\n');
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('an SBOM with no package', () => {
  it('carries a warning in the document and on stderr; --fail-empty exits 1 with SBOM_EMPTY', async () => {
    const doc = await generateSbom({ kind: 'directory', path: root });
    expect(doc.packages).toEqual([]);
    expect(doc.warnings.map((w) => w.message).join('\n')).toMatch(/no package of any ecosystem found/);
    const plain = await cli('sbom', `dir:${root}`, '-o', 'json');
    expect(plain.code).toBe(0);
    expect(plain.stderr).toMatch(/warning: source: no package of any ecosystem found/);
    const failing = await cli('sbom', `dir:${root}`, '-o', 'json', '--fail-empty');
    expect(failing.code).toBe(1);
    expect(JSON.parse(failing.stderr.trim().split('\n').at(-1) as string).error).toMatchObject({
      code: 'SBOM_EMPTY',
      details: { reference: `dir:${root}` },
    });
  });
});
