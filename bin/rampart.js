#!/usr/bin/env node
// Checked before anything is loaded, so an old Node gets one line instead of a missing-export stack.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 15)) {
  process.stderr.write(
    `error: rampart needs Node.js >= 22.15 (this is ${process.version}); Node 24 LTS is recommended\n`,
  );
  process.exit(2);
}

// `rampart ... | head` closes the pipe early; that is not an error worth a stack trace.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

// Node's compile cache keeps V8's compiled code of rampart's modules between runs: loading them is
// most of a short command's time (about 1 s of a registry pull on a busy machine, 0.2-0.5 s idle).
// In the user's own cache directory (`$XDG_CACHE_HOME/rampart`, else `~/.cache/rampart`), not the
// default shared temp directory; NODE_COMPILE_CACHE chooses another, NODE_DISABLE_COMPILE_CACHE=1
// turns it off. A cache that cannot be written only costs the speed-up.
try {
  // getBuiltinModule, not import(): an ESM import of a built-in reads every export, lazy ones too.
  const { enableCompileCache } = process.getBuiltinModule('node:module');
  const { homedir } = process.getBuiltinModule('node:os');
  const { join } = process.getBuiltinModule('node:path');
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  enableCompileCache?.(process.env.NODE_COMPILE_CACHE || join(base, 'rampart', 'compile-cache'));
} catch {
  // No home directory, or a Node without the cache: run uncached.
}

// A cap on V8's young generation (4 MB; V8 grows it to 32 MB while rampart's modules load). Blobs
// stream through as 16-64 KiB Buffers whose bytes live outside the heap. Uncapped, V8 keeps
// starting full collections to free them (the old generation's headroom after loading, ~16 MB, is
// below the young generation's capacity): a 200 MB registry pull ran 15-20 of them (`--trace-gc`),
// a third of its CPU on V8's marking threads, and peaked at 145-160 MiB. Capped, ~30 scavenges
// free the chunks and one full collection runs: ~0.35-0.5 s less CPU, ~20 MiB less peak
// (bench/registry.bench.ts). This flag is read while running (--max-semi-space-size only at start,
// so setFlagsFromString cannot use it); V8 prints an error for a flag it does not know, hence the
// check (V8 13 is Node 24's). A size the user set (NODE_OPTIONS or node's own flags) is left alone.
try {
  const sized =
    /--(?:max-semi-space-size|min-semi-space-size|semi-space-growth-factor|scavenger-max-new-space-capacity-mb)\b/;
  const userSet = sized.test(process.env.NODE_OPTIONS ?? '') || process.execArgv.some((a) => sized.test(a));
  if (!userSet && Number(process.versions.v8.split('.')[0]) >= 13) {
    const { setFlagsFromString } = process.getBuiltinModule('node:v8');
    setFlagsFromString('--scavenger-max-new-space-capacity-mb=4');
  }
} catch {
  // Tuning only.
}

// zod as one bundled file (scripts/bundle-zod.mjs): a full build (`npm run build`) points dist/'s
// import of zod/mini (util/zod.js, the one module that imports zod) at it. A dist/ rebuilt by tsc
// alone imports `zod/mini` again: for it, a resolve hook maps `zod/mini` to the bundle while it
// matches the installed zod (only then: every module resolution goes through JS with a hook,
// ~10-15 ms of a start).
try {
  const { readFileSync, existsSync } = process.getBuiltinModule('node:fs');
  const probe = readFileSync(new URL('../dist/util/zod.js', import.meta.url), 'utf8');
  if (/\bfrom\s*['"]zod\/mini['"]/.test(probe)) {
    const { registerHooks } = process.getBuiltinModule('node:module');
    const zodPackage = new URL(import.meta.resolve('zod/package.json'));
    const { version } = JSON.parse(readFileSync(zodPackage, 'utf8'));
    const bundled = new URL(`../dist/vendor/zod-${version}.js`, import.meta.url);
    const dist = new URL('../dist/', import.meta.url).href;
    if (registerHooks && existsSync(bundled)) {
      registerHooks({
        resolve(specifier, context, next) {
          if (specifier === 'zod/mini' && context.parentURL?.startsWith(dist)) {
            return { url: bundled.href, format: 'module', shortCircuit: true };
          }
          return next(specifier, context);
        },
      });
    }
  }
} catch {
  // No bundle, or a Node without module hooks: zod loads from its own files.
}

// `sign`/`attest --key FILE` with the password in the environment: the key's scrypt (~0.3 s, on
// libuv's thread pool) starts now, while the CLI's modules load, instead of after them
// (dist/cli/early-key.js decides which command lines).
if (process.argv.some((arg) => arg === '--key' || arg.startsWith('--key='))) {
  try {
    const { startEarlyKeyOpening } = await import('../dist/cli/early-key.js');
    startEarlyKeyOpening(process.argv.slice(2), process.env);
  } catch {
    // Speed only: the command opens the key as usual.
  }
}

const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv);
