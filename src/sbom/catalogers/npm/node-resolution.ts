import type { RawPackage } from '../../cataloger.js';

/** An npm package and the directory it is installed in (real, or a lock file's `node_modules/…` key). */
export interface ModuleAt {
  dir: string;
  pkg: RawPackage;
}

/**
 * Pins each dependency name to the copy Node's `require` would load: from the depending module's
 * directory, each ancestor's `node_modules/<name>` in turn (skipping ancestors that are themselves
 * `node_modules`), first found wins. With two versions of one module installed, matching by name
 * alone can pick either; this picks the one the program runs with.
 *
 * `realDir` maps a directory that is not itself a module directory (a symlink, as pnpm installs
 * them; a lock file `link`) to the directory it stands for. A name no directory answers (Debian's
 * flat /usr/share/nodejs, a dependency that is not installed) stays a bare name, resolved later by
 * name across the ecosystem. Pure: returns new packages, the input is not changed.
 */
export function resolveNodeDependencies(
  modules: readonly ModuleAt[],
  realDir: (dir: string) => string | undefined = () => undefined,
): RawPackage[] {
  const byDir = new Map<string, RawPackage>();
  for (const { dir, pkg } of modules) if (!byDir.has(dir)) byDir.set(dir, pkg);
  const find = (from: string, name: string): RawPackage | undefined => {
    for (const candidate of lookupDirs(from, name)) {
      const found = byDir.get(candidate) ?? byDir.get(realDir(candidate) ?? '');
      if (found) return found;
    }
    return undefined;
  };
  return modules.map(({ dir, pkg }) => {
    if (!pkg.depends) return pkg;
    const depends = pkg.depends.map((alternatives) =>
      alternatives.map((alternative) => {
        if (typeof alternative !== 'string') return alternative;
        const found = find(dir, alternative);
        // An alias (`"b": "npm:other@1"`) installs `other` under node_modules/b: pin the real name.
        return found ? { name: found.name, version: found.version } : alternative;
      }),
    );
    return { ...pkg, depends };
  });
}

/** `/app/node_modules/a`, `b` → `/app/node_modules/a/node_modules/b`, `/app/node_modules/b`, `/node_modules/b`. */
export function lookupDirs(from: string, name: string): string[] {
  const parts = from.split('/').filter((p) => p.length > 0);
  const dirs: string[] = [];
  for (let end = parts.length; end >= 0; end--) {
    if (end > 0 && parts[end - 1] === 'node_modules') continue;
    const base = parts.slice(0, end).join('/');
    dirs.push(`${base ? `/${base}` : ''}/node_modules/${name}`);
  }
  return dirs;
}
