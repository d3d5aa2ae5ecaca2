import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { openImage, writeImage } from '../../../src/oci/open.js';
import { encodeSbom } from '../../../src/sbom/encode/index.js';
import { generateSbom } from '../../../src/sbom/generate.js';
import type { SbomDocument } from '../../../src/sbom/model.js';
import { readSbom } from '../../../src/sbom/read/read-sbom.js';
import { ensureCdxgen } from '../../helpers/cdxgen.js';
import { cycloneDxValidator, spdxValidator } from '../../unit/sbom/schema-validators.js';
import { assertSbomMatchesStatus } from './assert-status.js';
import { ensureMinbaseRoot } from './minbase-root.js';

let root: string;
let work: string;
let dirDoc: SbomDocument;

beforeAll(async () => {
  root = ensureMinbaseRoot();
  work = mkdtempSync(join(tmpdir(), 'rampart-sbom-e2e-'));
  dirDoc = await generateSbom({ kind: 'directory', path: root });
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('rampart sbom on an mmdebstrap minbase trixie root', () => {
  it('finds every dpkg package with the right version, architecture, source and purl (directory source)', () => {
    assertSbomMatchesStatus(dirDoc, root);
    expect(dirDoc.distro).toMatchObject({ id: 'debian', versionId: '13' });
    expect(dirDoc.warnings).toEqual([]);
    // Built-Using sources (sqv's Static-Built-Using) have no copyright file of their own here.
    const installed = dirDoc.packages.filter((p) => p.architecture !== 'source');
    const withLicences = installed.filter((p) => p.license !== undefined).length;
    console.log(`minbase: ${installed.length} installed packages, ${withLicences} with licences`);
    expect(withLicences).toBeGreaterThan(installed.length * 0.9);
  });

  it('writes schema-valid SPDX and CycloneDX through the CLI for dir:', async () => {
    const out = join(work, 'cli');
    mkdirSync(out);
    const code = await main([
      'node',
      'rampart',
      'sbom',
      `dir:${root}`,
      '-o',
      `spdx-json=${join(out, 'a.spdx.json')}`,
      '-o',
      `cyclonedx-json=${join(out, 'a.cdx.json')}`,
      '-o',
      `json=${join(out, 'a.json')}`,
    ]);
    expect(code).toBe(0);
    const spdx = JSON.parse(readFileSync(join(out, 'a.spdx.json'), 'utf8'));
    expect(spdxValidator()(spdx)).toEqual([]);
    expect(spdxValidator()(JSON.parse(encodeSbom(dirDoc, 'spdx-json', { files: true })))).toEqual([]);
    expect(cycloneDxValidator()(JSON.parse(readFileSync(join(out, 'a.cdx.json'), 'utf8')))).toEqual([]);
    assertSbomMatchesStatus(readSbom(readFileSync(join(out, 'a.json'))), root);
    assertSbomMatchesStatus(readSbom(JSON.stringify(spdx)), root);
  });

  it('gives the same packages from an oci-archive of the root', async () => {
    const archive = join(work, 'minbase.oci.tar');
    await writeImage(`oci-archive:${archive}:latest`, await openImage(`dir:${root}`));
    const doc = await generateSbom({ kind: 'image', ref: `oci-archive:${archive}` });
    assertSbomMatchesStatus(doc, root);
    expect(doc.packages.map((p) => p.id)).toEqual(dirDoc.packages.map((p) => p.id));
    expect(doc.warnings).toEqual([]);
  });

  it('finds every deb/npm/pypi package that cdxgen -t rootfs finds', () => {
    const home = join(work, 'cdxgen-home');
    mkdirSync(home);
    const output = join(work, 'cdxgen.cdx.json');
    const cdxgen = ensureCdxgen();
    execFileSync(cdxgen, ['-t', 'rootfs', '-o', output, root], {
      env: { ...process.env, HOME: home },
      cwd: work,
      stdio: 'pipe',
      maxBuffer: 64 * 1024 * 1024,
    });
    // readSbom on another tool's CycloneDX (cdxgen writes 1.6/1.7) is exercised here too.
    const theirs = readSbom(readFileSync(output)).packages.filter((p) =>
      ['deb', 'npm', 'pypi'].includes(p.type),
    );
    expect(theirs.length).toBeGreaterThan(0);
    // cdxgen also lists each deb's source package as a deb component; rampart carries those as `source`.
    const ours = new Set<string>();
    for (const p of dirDoc.packages) {
      ours.add(`${p.type} ${p.name}@${p.version}`);
      if (p.type === 'deb' && p.source) ours.add(`deb ${p.source.name}@${p.source.version}`);
    }
    const theirKeys = new Set(theirs.map((p) => `${p.type} ${p.name}@${p.version}`));
    const missing = [...theirKeys].filter((k) => !ours.has(k)).sort();
    const extra = dirDoc.packages
      .map((p) => `${p.type} ${p.name}@${p.version}`)
      .filter((k) => !theirKeys.has(k));
    console.log(
      `cdxgen: ${theirKeys.size} deb/npm/pypi name@version (binary and source); rampart: ${dirDoc.packages.length} packages + sources; ` +
        `missing from rampart: ${JSON.stringify(missing)}; only in rampart: ${JSON.stringify(extra)}`,
    );
    expect(missing).toEqual([]);
  });
});

describe('assertSbomMatchesStatus', () => {
  it('fails when a package is missing or its version is wrong', () => {
    const dropped = { ...dirDoc, packages: dirDoc.packages.slice(1) };
    expect(() => assertSbomMatchesStatus(dropped, root)).toThrow();
    const wrong = {
      ...dirDoc,
      packages: dirDoc.packages.map((p, i) => (i === 0 ? { ...p, version: '0' } : p)),
    };
    expect(() => assertSbomMatchesStatus(wrong, root)).toThrow();
  });
});
