import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { SbomDocument } from '../../../src/sbom/model.js';

export interface StatusEntry {
  name: string;
  version: string;
  architecture: string;
  sourceName: string;
  sourceVersion: string;
}

/** The packages dpkg itself lists as present in a root (config-files leftovers excluded). */
export function dpkgQueryPackages(root: string): StatusEntry[] {
  const out = execFileSync(
    'dpkg-query',
    [
      `--admindir=${join(root, 'var/lib/dpkg')}`,
      '-W',
      '-f',
      // dpkg-query's own ${field} syntax, not a JavaScript template.
      // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query format string
      '${db:Status-Status} ${Package} ${Version} ${Architecture} ${source:Package} ${source:Version}\n',
    ],
    { encoding: 'utf8' },
  );
  return out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => line.split(' '))
    .filter(([status]) => status !== 'not-installed' && status !== 'config-files')
    .map(([, name, version, architecture, sourceName, sourceVersion]) => ({
      name: name!,
      version: version!,
      architecture: architecture!,
      sourceName: sourceName!,
      sourceVersion: sourceVersion!,
    }));
}

/**
 * Checks that an SBOM lists exactly the dpkg packages of `root` with the right version,
 * architecture, source and purl. The expected purl is rebuilt here with encodeURIComponent,
 * independently of packageurl-js, leaving `:` literal as the purl spec's test suite does
 * (`pkg:deb/debian/attr@1:2.4.47-2%2Bb1`). Reusable by the image builder's tests.
 */
export function assertSbomMatchesStatus(doc: SbomDocument, root: string): void {
  const expected = dpkgQueryPackages(root);
  const osReleasePath = ['usr/lib/os-release', 'etc/os-release']
    .map((p) => join(root, p))
    .find((p) => existsSync(p));
  const osRelease = osReleasePath ? readFileSync(osReleasePath, 'utf8') : '';
  const versionId = /^VERSION_ID="?([^"\n]+)"?/m.exec(osRelease)?.[1];
  // Built-Using sources (architecture `source`) are compiled into binaries, not installed packages.
  const debs = doc.packages.filter((p) => p.type === 'deb' && p.architecture !== 'source');
  expect(debs.map((p) => `${p.name}:${p.architecture}`).sort()).toEqual(
    expected.map((e) => `${e.name}:${e.architecture}`).sort(),
  );
  for (const e of expected) {
    const pkg = debs.find((p) => p.name === e.name && p.architecture === e.architecture)!;
    const sourceDiffers = e.sourceName !== e.name || e.sourceVersion !== e.version;
    const upstream = !sourceDiffers
      ? ''
      : `&upstream=${purlEncode(e.sourceVersion === e.version ? e.sourceName : `${e.sourceName}@${e.sourceVersion}`)}`;
    const purl = `pkg:deb/debian/${purlEncode(e.name)}@${purlEncode(e.version)}?arch=${e.architecture}${versionId ? `&distro=debian-${versionId}` : ''}${upstream}`;
    expect({ version: pkg.version, source: pkg.source, purl: pkg.purl }, e.name).toEqual({
      version: e.version,
      source: { name: e.sourceName, version: e.sourceVersion },
      purl,
    });
  }
}

function purlEncode(text: string): string {
  return encodeURIComponent(text).replace(/%3A/g, ':');
}
