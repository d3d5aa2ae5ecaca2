import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../../src/builder/pipeline.js';
import { compareAgainst } from '../../../src/surface/compare.js';
import { rampart } from '../../helpers/run-cli.js';

/**
 * `compare --against debian:trixie` on the catalog's nodejs image, from the real archive: the
 * standard root is built by rampart's resolver and downloader, then reused from the cache.
 */
const IMAGES = resolve(import.meta.dirname, '../../../images');
let work: string;
let layout: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-surface-against-'));
  const spec = join(work, 'nodejs.yaml');
  await copyFile(join(IMAGES, 'nodejs.yaml'), spec); // the lock lands beside the copy, not in images/
  layout = `oci:${join(work, 'out')}:latest`;
  await buildImage({ specPath: spec, output: layout, archs: ['amd64'] });
});

afterAll(() => rm(work, { recursive: true, force: true }));

describe('rampart compare --against debian:trixie', () => {
  it('measures nodejs against minbase + its main packages and meets the issue targets', async () => {
    const result = await compareAgainst(layout, 'debian:trixie');
    expect(result.standardRoot.packages).toEqual(expect.arrayContaining(['nodejs']));
    expect(result.a.subject.reference).toMatch(/^debian:trixie minbase \+ .*nodejs/);
    // The standard root holds what dpkg unpacks: shells, apt/dpkg, setuid programs.
    expect(result.a.shells.paths).toEqual(expect.arrayContaining(['/usr/bin/bash', '/usr/bin/dash']));
    expect(result.a.packageManagers.paths).toEqual(expect.arrayContaining(['/usr/bin/apt', '/usr/bin/dpkg']));
    expect(result.a.setuid.total).toBeGreaterThan(0);
    expect(result.a.packages.total).toBeGreaterThan(result.b.packages.total);
    expect(result.reduction.executables).toBeGreaterThanOrEqual(85);
    // The package figure is distribution packages (dpkg), as the acceptance defines it.
    expect(result.reduction.packages).toBeGreaterThanOrEqual(70);
    expect(result.a.packages.language).toBe(result.b.packages.language);
    expect(result.b.shells.total).toBe(0);
    expect(result.b.packageManagers.total).toBe(0);
    expect(result.b.setuid.total).toBe(0);
    expect(result.b.user.root).toBe(false);
    console.log('nodejs vs standard root: reduction', result.reduction);
  });

  it('-o json through the CLI is CompareResult exactly, the root coming from the cache', async () => {
    const out = join(work, 'c.json');
    const { code } = await rampart('compare', layout, '--against', 'debian:trixie', '-o', `json=${out}`);
    expect(code).toBe(0);
    const { readFile } = await import('node:fs/promises');
    const json = JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual(['a', 'b', 'reduction']);
  });
});
