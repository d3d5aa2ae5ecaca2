import { posix } from 'node:path';
import type { CatalogContext, Cataloger, RawPackage } from '../../cataloger.js';
import { declaredLicense, LicenseRefs, licenseFromStatement } from '../../identity/license.js';
import type { DeclaredLicense } from '../../model.js';
import { type ModuleAt, resolveNodeDependencies } from './node-resolution.js';

// A module directory is `<name>` or `@scope/<name>` under node_modules or Debian's nodejs trees.
const INSTALLED_MANIFEST =
  /(?:\/node_modules|^\/usr\/share\/nodejs|^\/usr\/lib\/nodejs|^\/usr\/lib\/[^/]+\/nodejs)\/(?:@[^/]+\/)?[^/@][^/]*\/package\.json$/;
const LOCK_FILE = /\/package-lock\.json$/;
const DEBIAN_NODE_TREE = /^\/usr\/(?:share\/nodejs|lib\/nodejs|lib\/[^/]+\/nodejs)\//;

/**
 * A project manifest: a package.json outside node_modules and Debian's nodejs trees. It is the
 * application (see `isProjectRoot`) only when it was installed: a lock or node_modules beside it.
 */
function isProjectManifest(path: string): boolean {
  return path.endsWith('/package.json') && !path.includes('/node_modules/') && !DEBIAN_NODE_TREE.test(path);
}

/**
 * The rule for "the application" of a root: an npm project root, that is a `package.json` outside
 * node_modules with a `package-lock.json` or a `node_modules` folder beside it (`/app` in most
 * images, wherever WORKDIR put it). The same rule holds for an image and a directory, so it needs
 * no image config. Its production `dependencies` become its edges, pinned as Node resolves them.
 */
function isProjectRoot(dir: string, ctx: CatalogContext): boolean {
  const base = dir === '/' ? '' : dir;
  return (
    ctx.resolve(`${base}/package-lock.json`) !== undefined ||
    ctx.resolve(`${base}/node_modules`) !== undefined
  );
}

/**
 * npm packages: installed `package.json` manifests (nested too) and `package-lock.json` entries.
 * Dependencies are pinned to the copy Node would load (node-resolution.ts), in the installed tree
 * and within each lock file.
 */
export const npmCataloger: Cataloger = {
  name: 'npm',
  matches: (node) =>
    (node.kind === 'file' || node.kind === 'hardlink') &&
    node.size < 16 * 1024 * 1024 &&
    (INSTALLED_MANIFEST.test(node.path) ||
      isProjectManifest(node.path) ||
      (LOCK_FILE.test(node.path) && !node.path.includes('/node_modules/'))),
  start() {
    const fromLocks: RawPackage[] = [];
    const installed: ModuleAt[] = [];
    const projects: ModuleAt[] = [];
    return {
      accept({ path, content }, ctx) {
        const json: unknown = JSON.parse(content.toString('utf8'));
        if (LOCK_FILE.test(path)) fromLocks.push(...packagesFromLock(path, json, ctx));
        else if (!INSTALLED_MANIFEST.test(path)) {
          // Not every stray package.json is an application; finish() keeps the installed projects.
          const pkg = packageFromManifest(path, json);
          if (pkg) projects.push({ dir: posix.dirname(path), pkg: { ...pkg, application: true } });
        } else {
          const pkg = packageFromManifest(path, json);
          if (pkg) installed.push({ dir: posix.dirname(path), pkg });
          else ctx.warn(path, 'package.json without a name and version; skipped');
        }
      },
      // Dependency edges need the whole installed tree, so they are pinned once every manifest is in.
      finish: (ctx) => [
        ...resolveNodeDependencies(
          [...installed, ...projects.filter((p) => isProjectRoot(p.dir, ctx))],
          (dir) => {
            const manifest = ctx.resolve(`${dir}/package.json`);
            return manifest ? posix.dirname(manifest) : undefined;
          },
        ),
        ...fromLocks,
      ],
    };
  },
};

export function packageFromManifest(path: string, json: unknown): RawPackage | undefined {
  if (!isObject(json) || typeof json.name !== 'string' || typeof json.version !== 'string') return undefined;
  if (json.name.length === 0 || json.version.length === 0) return undefined;
  const author = personName(json.author);
  return {
    type: 'npm',
    name: json.name,
    version: json.version,
    ...optionalLicense(npmLicense(json)),
    ...(author ? { supplier: author } : {}),
    ...(typeof json.description === 'string' && json.description.trim()
      ? { description: json.description.trim() }
      : {}),
    ...(homepageOf(json) ? { homepage: homepageOf(json)! } : {}),
    locations: [path],
    depends: Object.keys(isObject(json.dependencies) ? json.dependencies : {})
      .sort()
      .map((name) => [name]),
  };
}

/** lockfileVersion 2/3 `packages` map; v1 `dependencies` trees are read recursively. */
function packagesFromLock(path: string, json: unknown, ctx: CatalogContext): RawPackage[] {
  if (!isObject(json)) return [];
  const out: RawPackage[] = [];
  if (isObject(json.packages)) {
    // Keys are install paths relative to the lock file, so Node's lookup works on them as on a tree.
    const root = posix.dirname(path);
    const modules: ModuleAt[] = [];
    const links = new Map<string, string>();
    for (const [key, entry] of Object.entries(json.packages)) {
      if (key === '' || !isObject(entry)) continue;
      if (entry.link === true) {
        if (typeof entry.resolved === 'string')
          links.set(posix.join(root, key), posix.join(root, entry.resolved));
        continue;
      }
      const name = typeof entry.name === 'string' ? entry.name : nameFromLockKey(key);
      if (typeof entry.version !== 'string' || !name) continue;
      modules.push({
        dir: posix.join(root, key),
        pkg: {
          type: 'npm',
          name,
          version: entry.version,
          ...optionalLicense(typeof entry.license === 'string' ? statementLicense(entry.license) : undefined),
          locations: [path],
          depends: Object.keys(isObject(entry.dependencies) ? entry.dependencies : {}).map((n) => [n]),
        },
      });
    }
    out.push(...resolveNodeDependencies(modules, (dir) => links.get(dir)));
  } else if (isObject(json.dependencies)) {
    const walk = (deps: Record<string, unknown>) => {
      for (const [name, entry] of Object.entries(deps)) {
        if (!isObject(entry) || typeof entry.version !== 'string') continue;
        out.push({ type: 'npm', name, version: entry.version, locations: [path] });
        if (isObject(entry.dependencies)) walk(entry.dependencies);
      }
    };
    walk(json.dependencies);
  } else ctx.warn(path, 'package-lock.json has neither "packages" nor "dependencies"');
  return out;
}

/**
 * `node_modules/a/node_modules/@s/b` → `@s/b`. Keys outside node_modules (workspace folders such
 * as `packages/a`) say nothing about the name, so such an entry needs its own `name`.
 */
function nameFromLockKey(key: string): string | undefined {
  const at = key.lastIndexOf('node_modules/');
  return at < 0 ? undefined : key.slice(at + 'node_modules/'.length);
}

/**
 * `license` (an SPDX expression, or a name), else the deprecated `licenses` list, whose entries are
 * alternatives: npm documents `[{"type":"MIT"},{"type":"Apache-2.0"}]` as `(MIT OR Apache-2.0)`.
 */
function npmLicense(json: Record<string, unknown>): DeclaredLicense | undefined {
  const refs = new LicenseRefs();
  const statement = (value: unknown) =>
    typeof value === 'string'
      ? licenseFromStatement(value, refs)
      : isObject(value) && typeof value.type === 'string'
        ? licenseFromStatement(value.type, refs)
        : undefined;
  const main = statement(json.license);
  if (main) return declaredLicense([main], refs);
  return Array.isArray(json.licenses) ? declaredLicense(json.licenses.map(statement), refs, 'or') : undefined;
}

function statementLicense(text: string): DeclaredLicense | undefined {
  const refs = new LicenseRefs();
  return declaredLicense([licenseFromStatement(text, refs)], refs);
}

function optionalLicense(license: DeclaredLicense | undefined): { license?: DeclaredLicense } {
  return license ? { license } : {};
}

/** `"Jane Doe <jane@example.org> (https://…)"` or `{ name }` → `Jane Doe`. */
function personName(value: unknown): string | undefined {
  const text =
    typeof value === 'string' ? value : isObject(value) && typeof value.name === 'string' ? value.name : '';
  const name = text.replace(/<[^>]*>|\([^)]*\)/g, '').trim();
  return name || undefined;
}

/** `homepage` when it is a web address: the project's page, for a reader of the SBOM. */
function homepageOf(json: Record<string, unknown>): string | undefined {
  if (typeof json.homepage === 'string' && /^https?:\/\//.test(json.homepage)) return json.homepage;
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
