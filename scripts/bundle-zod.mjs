// Bundles zod into one module for the CLI: `dist/vendor/zod-VERSION.used.js` (what dist/ imports,
// below; `dist/vendor/zod-VERSION.js` holds all of `zod/mini` for bin/rampart.js's hook). rampart
// imports zod's `zod/mini` API, in one module (src/util/zod.ts, which also sets zod's English
// messages); a classic `zod` import in dist/ is an error here. zod's ESM build is ~95 modules
// (every locale included), and loading that many files is most of zod's cost: ~105 ms of CPU per
// command as files (classic zod), ~40 ms as one bundle (the same code; esbuild only joins it), less
// again with English messages only (below), and ~10 ms for what rampart imports of zod/mini
// (src/util/zod.ts). dist/'s modules then import this file instead of `zod/mini` (rewritten below,
// at build time), so bin/rampart.js needs no resolve hook, which sent every module resolution of
// every command through JS (~10-15 ms of each start); it still maps `zod/mini` for a dist/ that tsc
// alone rebuilt. The library (dist/) uses the bundle too (the same zod code); the tests (src/)
// import zod as usual. Without esbuild (it comes with the dev tools) nothing is bundled or
// rewritten and dist/ loads zod's own files. `--dist DIR`: another build directory (tests).
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const distFlag = process.argv.indexOf('--dist');
const dist =
  distFlag > 0 && process.argv[distFlag + 1] ? resolve(process.argv[distFlag + 1]) : join(root, 'dist');
const out = join(dist, 'vendor');
let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  process.stderr.write('bundle-zod: esbuild is not installed; the CLI loads zod unbundled\n');
  process.exit(0);
}
const { version } = JSON.parse(readFileSync(join(root, 'node_modules', 'zod', 'package.json'), 'utf8'));
mkdirSync(out, { recursive: true });
for (const name of readdirSync(out)) if (/^zod-.*\.js$/.test(name)) rmSync(join(out, name));
// zod's messages are English (src/util/zod.ts sets `config(locales.en())`); the ~45 other locales
// are only there to be chosen the same way, which rampart never does, yet they are ~half the bundle
// and every command paid ~25 ms of CPU to load them. The bundle's `locales` holds `en` alone.
const englishOnly = {
  name: 'zod-english-only',
  setup(build) {
    build.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({
      contents: "export { default as en } from './en.js';\n",
      loader: 'js',
      resolveDir: dirname(args.path),
    }));
  },
};
// What dist/ imports from zod, from its import/export statements (tsc writes them as written in
// src/: `export { looseObject, string } from 'zod/mini'`; type-only imports are gone). The CLI's
// bundle exports only those names, so esbuild leaves out the rest of zod: ~395 KB as `export *`, ~195 KB this way;
// ~15-20 ms less CPU for every command that loads zod (loading dist/oci/types.js: ~58 -> ~41 ms on
// a loaded machine). A namespace, default or `export *` import of zod takes everything, as before.
const zodSpecifier = /^(?:zod\/mini|(?:\.\.?\/)+(?:[^'"]*\/)?vendor\/zod-[^'"/]+\.js)$/;
// A statement starts a line (as tsc writes them): words in a comment (" * not `export *` from...")
// are not statements.
const zodStatement = /^[ \t]*(?:import|export)\b\s*([^;'"]*?)\s*from\s*(['"])([^'"]+)\2/gm;
const jsFiles = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return path === out ? [] : jsFiles(path);
    return entry.name.endsWith('.js') ? [path] : [];
  });
const importers = jsFiles(dist).filter((path) => readFileSync(path, 'utf8').includes('zod'));
const used = new Set();
let everything = false;
for (const path of importers) {
  for (const [, clause, , specifier] of readFileSync(path, 'utf8').matchAll(zodStatement)) {
    if (/^zod(?:\/|$)/.test(specifier) && specifier !== 'zod/mini') {
      process.stderr.write(
        `bundle-zod: ${relative(root, path)} imports '${specifier}': rampart's schemas use zod/mini, through src/util/zod.ts\n`,
      );
      process.exit(1);
    }
    if (!zodSpecifier.test(specifier)) continue;
    const named = /^(?:type\s+)?\{([^}]*)\}$/.exec(clause.trim());
    if (named) {
      for (const part of named[1].split(',')) {
        const name = part.trim().split(/\s+as\s+/)[0];
        if (name && !name.startsWith('type ')) used.add(name);
      }
    } else if (clause.trim()) {
      everything = true; // `* as z`, a default import, `export *`
    }
  }
}

const bundleOf = async (exports, file) =>
  esbuild.build({
    stdin: { contents: exports, resolveDir: root, loader: 'js' },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    legalComments: 'inline',
    outfile: join(out, file),
    logLevel: 'warning',
    plugins: [englishOnly],
  });
const everythingExports = "export * from 'zod/mini';\n";
// All of zod/mini, for a dist/ that tsc alone rebuilt (bin/rampart.js's resolve hook maps
// `zod/mini` to this name): its imports may name what the build below left out. Not packed (package.json `files`): a
// packed dist/ was built whole.
await bundleOf(everythingExports, `zod-${version}.js`);
// What dist/'s imports name, for the imports rewritten below.
const usedFile = `zod-${version}.used.js`;
const usedExports = everything
  ? everythingExports
  : `export { ${[...used].sort().join(', ')} } from 'zod/mini';\n`;
await bundleOf(usedExports, usedFile);

// Every `from 'zod/mini'` in dist/ (and one rewritten by an earlier build, for another zod version)
// now names the bundle, relative to the importing file. Only dist/'s own output is touched.
const bundle = join(out, usedFile);
const zodImport = /(\bfrom\s*)(['"])(?:zod\/mini|(?:\.\.?\/)+(?:[^'"]*\/)?vendor\/zod-[^'"/]+\.js)\2/g;
for (const path of importers) {
  const source = readFileSync(path, 'utf8');
  let target = relative(dirname(path), bundle).split(sep).join('/');
  if (!target.startsWith('.')) target = `./${target}`;
  const rewritten = source.replace(zodImport, (_all, from, quote) => `${from}${quote}${target}${quote}`);
  if (rewritten !== source) writeFileSync(path, rewritten);
}
