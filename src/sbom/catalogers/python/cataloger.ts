import { normaliseTreePath } from '../../../oci/fs-tree.js';
import type { Cataloger, RawPackage } from '../../cataloger.js';
import { isFileDigest } from '../../file-digest.js';
import {
  declaredLicense,
  LicenseRefs,
  licenseFromName,
  licenseFromStatement,
} from '../../identity/license.js';
import type { DeclaredLicense, SbomFile } from '../../model.js';

const PACKAGES_DIR = String.raw`\/(?:site|dist)-packages\/`;
const METADATA = new RegExp(`${PACKAGES_DIR}[^/]+\\.(?:dist-info\\/METADATA|egg-info\\/PKG-INFO|egg-info)$`);
const RECORD = new RegExp(`${PACKAGES_DIR}[^/]+\\.dist-info\\/RECORD$`);

/** Python distributions installed in site-packages / dist-packages (wheels and eggs). */
export const pythonCataloger: Cataloger = {
  name: 'python',
  matches: (node) =>
    (node.kind === 'file' || node.kind === 'hardlink') &&
    (METADATA.test(node.path) || RECORD.test(node.path)),
  start() {
    const metadata: Array<{ path: string; text: string }> = [];
    const records = new Map<string, SbomFile[]>();
    return {
      accept({ path, content }) {
        const text = content.toString('utf8');
        if (RECORD.test(path)) records.set(dirname(path), parseRecord(text, dirname(dirname(path))));
        else metadata.push({ path, text });
      },
      finish(ctx) {
        const packages: RawPackage[] = [];
        for (const { path, text } of metadata) {
          const pkg = packageFromMetadata(path, text);
          if (!pkg) {
            ctx.warn(path, 'metadata without Name and Version; skipped');
            continue;
          }
          const files = records.get(dirname(path));
          if (files) {
            pkg.files = files;
            pkg.locations.push(`${dirname(path)}/RECORD`);
          }
          packages.push(pkg);
        }
        return packages;
      },
    };
  },
};

/** Core metadata (RFC 822 headers, then a body) as in METADATA and PKG-INFO. */
export function packageFromMetadata(path: string, text: string): RawPackage | undefined {
  const headers = new Map<string, string[]>();
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') break;
    if (/^\s/.test(line) && last) {
      const values = headers.get(last)!;
      values[values.length - 1] += `\n${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).toLowerCase();
    const list = headers.get(last) ?? [];
    list.push(line.slice(colon + 1).trim());
    headers.set(last, list);
  }
  const name = headers.get('name')?.[0];
  const version = headers.get('version')?.[0];
  if (!name || !version) return undefined;
  const author =
    headers.get('author')?.[0] ||
    headers
      .get('author-email')?.[0]
      ?.replace(/<[^>]*>/g, '')
      .trim();
  const license = pythonLicense(headers);
  const summary = headers.get('summary')?.[0]?.trim();
  // Core metadata 2.1+ moved `Home-page` into `Project-URL: Homepage, <url>`.
  const homepage = [
    headers.get('home-page')?.[0],
    ...(headers.get('project-url') ?? [])
      .filter((u) => /^home\s*-?page\s*,/i.test(u))
      .map((u) => u.slice(u.indexOf(',') + 1)),
  ]
    .map((u) => u?.trim())
    .find((u) => u !== undefined && /^https?:\/\/\S+$/.test(u));
  return {
    type: 'pypi',
    name,
    version,
    ...(license ? { license } : {}),
    ...(author ? { supplier: author } : {}),
    ...(summary ? { description: summary } : {}),
    ...(homepage ? { homepage } : {}),
    locations: [path],
    depends: (headers.get('requires-dist') ?? [])
      .filter((req) => !/;\s*.*extra\s*==/.test(req))
      .map((req) => [(/^[A-Za-z0-9._-]+/.exec(req)?.[0] ?? '').toLowerCase().replace(/[-_.]+/g, '-')])
      .filter((alt) => alt[0] !== ''),
  };
}

/**
 * PEP 639 License-Expression wins; then trove classifiers (all of them, ANDed: they do not say
 * whether they are alternatives); then a short License field.
 */
function pythonLicense(headers: Map<string, string[]>): DeclaredLicense | undefined {
  const refs = new LicenseRefs();
  const expression = headers.get('license-expression')?.[0];
  if (expression) return declaredLicense([licenseFromStatement(expression, refs)], refs);
  const fromClassifiers = (headers.get('classifier') ?? [])
    .filter((c) => c.startsWith('License :: '))
    .map((c) => c.split('::').pop()!.trim())
    .filter((c) => c !== 'OSI Approved')
    .map((c) => CLASSIFIER_NAMES[c] ?? licenseFromName(c, refs));
  if (fromClassifiers.length > 0) return declaredLicense(fromClassifiers, refs);
  const license = headers.get('license')?.[0];
  // Some projects paste the whole licence text here; only a short value is a name.
  return license && license.length < 80 && !license.includes('\n') && license !== 'UNKNOWN'
    ? declaredLicense([licenseFromStatement(license, refs)], refs)
    : undefined;
}

/**
 * Classifiers that name exactly one SPDX licence. "BSD License" and "Apache Software License" do
 * not (no clause count, no version), so they stay LicenseRefs.
 */
const CLASSIFIER_NAMES: Record<string, string> = {
  'MIT License': 'MIT',
  'Python Software Foundation License': 'PSF-2.0',
  'GNU General Public License v2 (GPLv2)': 'GPL-2.0-only',
  'GNU General Public License v2 or later (GPLv2+)': 'GPL-2.0-or-later',
  'GNU General Public License v3 (GPLv3)': 'GPL-3.0-only',
  'GNU General Public License v3 or later (GPLv3+)': 'GPL-3.0-or-later',
  'GNU Lesser General Public License v2 or later (LGPLv2+)': 'LGPL-2.0-or-later',
  'GNU Lesser General Public License v3 (LGPLv3)': 'LGPL-3.0-only',
  'Mozilla Public License 2.0 (MPL 2.0)': 'MPL-2.0',
  'ISC License (ISCL)': 'ISC',
};

/** RECORD is CSV: path,sha256=<urlsafe b64>,size; paths are relative to site-packages. */
export function parseRecord(text: string, sitePackages: string): SbomFile[] {
  const files: SbomFile[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [rawPath = '', hash = ''] = line.startsWith('"') ? splitQuoted(line) : line.split(',');
    const path = normaliseTreePath(`${sitePackages}/${rawPath}`);
    const sha = /^sha256=([A-Za-z0-9_-]+)$/.exec(hash);
    const value = sha ? Buffer.from(sha[1]!, 'base64url').toString('hex') : '';
    // A truncated or mangled hash is dropped rather than recorded as a wrong digest.
    files.push(isFileDigest('sha256', value) ? { path, digest: { algorithm: 'sha256', value } } : { path });
  }
  return files;
}

function splitQuoted(line: string): string[] {
  const end = line.indexOf('",', 1);
  return end < 0 ? [line] : [line.slice(1, end), ...line.slice(end + 2).split(',')];
}

function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf('/'));
}
