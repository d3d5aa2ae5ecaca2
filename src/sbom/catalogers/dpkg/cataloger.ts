import type { BuiltUsingField, CatalogContext, Cataloger, RawPackage } from '../../cataloger.js';
import type { DeclaredLicense, SbomFile } from '../../model.js';
import type { FileNode } from '../../source/file-source.js';
import { licenseFromCopyright } from './copyright.js';
import { parseStanzas, relationNames } from './stanzas.js';

const STATUS = '/var/lib/dpkg/status';
const STATUS_D = /^\/var\/lib\/dpkg\/status\.d\/[^/]+$/;
const INFO_MD5SUMS = /^\/var\/lib\/dpkg\/info\/([^/]+)\.md5sums$/;
const COPYRIGHT = /^\/usr\/share\/doc\/[^/]+\/copyright$/;

/**
 * dpkg files larger than this are not read: they are read whole, so a hostile layer with a
 * 1.5 GiB `status` of zeros (a few MiB gzipped) drove `sbom` to 4.7 GB of RSS. A status file is
 * about 1 KiB per installed package (16k packages here); a 16 MiB one costs `sbom` about 180 MiB
 * peak RSS, a 32 MiB one 270 MiB. Each file left out is a warning.
 */
export const MAX_DPKG_FILE_BYTES = 16 * 1024 * 1024;

/** States in which dpkg lists a package but its files are not on disk. */
const ABSENT_STATES = new Set(['not-installed', 'config-files']);

/** Debian packages from the dpkg database, including distroless `status.d/` stanzas. */
export const dpkgCataloger: Cataloger = {
  name: 'dpkg',
  matches: (node) => isDpkgFile(node) && node.size <= MAX_DPKG_FILE_BYTES,
  skipReason: (node) =>
    isDpkgFile(node) && node.size > MAX_DPKG_FILE_BYTES
      ? `dpkg file of ${node.size} bytes is over the ${MAX_DPKG_FILE_BYTES / (1024 * 1024)} MiB limit; not read, so what it lists is missing from the SBOM`
      : undefined,
  skipHidesPackages: true,
  start() {
    const statusTexts: Array<{ path: string; text: string }> = [];
    const md5sums = new Map<string, SbomFile[]>();
    // Licences, not whole files: a Debian root has a megabyte or more of copyright files.
    const copyrightLicenses = new Map<string, DeclaredLicense | undefined>();
    return {
      accept({ path, content }) {
        const text = content.toString('utf8');
        const info = INFO_MD5SUMS.exec(path);
        if (info) md5sums.set(info[1]!, parseMd5sums(text));
        else if (STATUS_D.test(path) && path.endsWith('.md5sums'))
          md5sums.set(path.slice(path.lastIndexOf('/') + 1, -'.md5sums'.length), parseMd5sums(text));
        else if (COPYRIGHT.test(path)) copyrightLicenses.set(path, licenseFromCopyright(text));
        else statusTexts.push({ path, text });
      },
      finish(ctx) {
        const packages: RawPackage[] = [];
        for (const { path, text } of statusTexts.sort((a, b) => (a.path < b.path ? -1 : 1))) {
          packages.push(...packagesFromStatus(path, text, ctx));
        }
        for (const pkg of packages) {
          const files = md5sums.get(`${pkg.name}:${pkg.architecture}`) ?? md5sums.get(pkg.name);
          if (files) pkg.files = files;
          const copyrightPath = ctx.resolve(`/usr/share/doc/${pkg.name}/copyright`);
          const license = copyrightPath ? copyrightLicenses.get(copyrightPath) : undefined;
          if (copyrightPath && license) {
            pkg.license = license;
            pkg.locations.push(copyrightPath);
          }
        }
        return [...packages, ...builtUsingSources(packages)];
      },
    };
  },
};

function isDpkgFile(node: FileNode): boolean {
  return (
    (node.kind === 'file' || node.kind === 'hardlink') &&
    (node.path === STATUS ||
      STATUS_D.test(node.path) ||
      INFO_MD5SUMS.test(node.path) ||
      COPYRIGHT.test(node.path))
  );
}

function packagesFromStatus(path: string, text: string, ctx: CatalogContext): RawPackage[] {
  const packages: RawPackage[] = [];
  const stanzas = parseStanzas(text, (line, reason) =>
    ctx.warn(path, `line ${line}: ${reason}; the damaged stanza was skipped`),
  );
  for (const { fields, line } of stanzas) {
    const name = fields.get('package');
    const version = fields.get('version');
    if (!name || !version) {
      ctx.warn(path, `stanza at line ${line} has no Package or Version field; skipped`);
      continue;
    }
    const state = fields.get('status')?.split(/\s+/)[2];
    if (state && ABSENT_STATES.has(state)) continue;
    const architecture = fields.get('architecture');
    const maintainer = fields.get('maintainer');
    const description = fields.get('description')?.split('\n')[0]?.trim();
    const homepage = fields.get('homepage')?.trim();
    const builtUsing = BUILT_USING_FIELDS.flatMap((field) =>
      parseBuiltUsing(fields.get(field.toLowerCase()), (entry) =>
        ctx.warn(
          path,
          `${name}: ${field} entry ${JSON.stringify(entry)} is not "source (= version)"; left out`,
        ),
      ).map((ref) => ({ ...ref, field })),
    );
    packages.push({
      type: 'deb',
      name,
      version,
      ...(architecture ? { architecture } : {}),
      source: parseSource(fields.get('source'), name, version),
      ...(maintainer ? { supplier: maintainer } : {}),
      locations: [path],
      depends: [...relationNames(fields.get('pre-depends')), ...relationNames(fields.get('depends'))],
      provides: relationNames(fields.get('provides')).flat(),
      ...(description ? { description } : {}),
      ...(homepage ? { homepage } : {}),
      ...(builtUsing.length > 0 ? { builtUsing } : {}),
    });
  }
  return packages;
}

/**
 * The dpkg fields that name source packages compiled into a binary: `Built-Using` (licence
 * compliance, Policy 7.8), `Static-Built-Using` (statically linked code, Policy 7.9: Go, Rust) and
 * dh-cargo's `X-Cargo-Built-Using` (the Rust crates' Debian source packages).
 */
const BUILT_USING_FIELDS: readonly BuiltUsingField[] = [
  'Built-Using',
  'Static-Built-Using',
  'X-Cargo-Built-Using',
];

/** `gcc-14 (= 14.2.0-19), rust-memchr (= 2.7.4-1)`: each entry pins one source version exactly. */
export function parseBuiltUsing(
  field: string | undefined,
  onBad: (entry: string) => void,
): Array<{ name: string; version: string }> {
  if (!field) return [];
  const out: Array<{ name: string; version: string }> = [];
  for (const raw of field.split(',')) {
    const entry = raw.trim();
    if (!entry) continue;
    const match = /^([a-z0-9][a-z0-9+.-]+)\s*\(\s*=\s*([0-9A-Za-z.+~:-]+)\s*\)$/.exec(entry);
    if (match) out.push({ name: match[1]!, version: match[2]! });
    else onBad(entry.slice(0, 120));
  }
  return out;
}

/**
 * One Debian source package (architecture `source`) per distinct Built-Using entry, so the
 * statically linked code is a component a scanner can match; Debian's security tracker keys
 * advisories by source package.
 */
function builtUsingSources(packages: readonly RawPackage[]): RawPackage[] {
  const sources = new Map<string, RawPackage>();
  for (const pkg of packages) {
    for (const ref of pkg.builtUsing ?? []) {
      const key = `${ref.name}\0${ref.version}`;
      const seen = sources.get(key);
      if (seen) {
        if (!seen.locations.includes(pkg.locations[0]!)) seen.locations.push(pkg.locations[0]!);
        continue;
      }
      sources.set(key, {
        type: 'deb',
        name: ref.name,
        version: ref.version,
        architecture: 'source',
        source: { name: ref.name, version: ref.version },
        locations: [pkg.locations[0]!],
      });
    }
  }
  return [...sources.values()];
}

/** `Source: glibc (2.41-12)` → glibc at 2.41-12; no Source field means the source has the binary's name. */
export function parseSource(field: string | undefined, name: string, version: string) {
  if (!field) return { name, version };
  const match = /^(\S+)(?:\s+\(([^)]+)\))?/.exec(field.trim());
  return { name: match?.[1] ?? name, version: match?.[2]?.trim() ?? version };
}

export function parseMd5sums(text: string): SbomFile[] {
  const files: SbomFile[] = [];
  for (const line of text.split('\n')) {
    const match = /^([0-9a-f]{32})\s+\*?(.+)$/.exec(line.trim());
    if (match)
      files.push({
        path: `/${match[2]!.replace(/^\/+/, '')}`,
        digest: { algorithm: 'md5', value: match[1]! },
      });
  }
  return files;
}
