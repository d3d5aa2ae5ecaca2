import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImage, writeImage } from '../../../src/oci/open.js';
import { generateKeyPair } from '../../../src/sign/keys.js';
import { importAdvisories } from '../../../src/vuln/import/index.js';
import { openAdvisoryStore } from '../../../src/vuln/store.js';
import { makeTestImage } from '../../helpers/oci-fixtures.js';
import { runCommand } from '../../helpers/processes.js';
import { writeRandomImage } from '../../helpers/random-image.js';
import { startRegistry } from '../../helpers/registry.js';

// What a command loads: `sign` and `verify` bring the registry, OCI and signing code only when they
// run, and `verify` the policy (YAML) and rebuild code only on those paths. Each case is a fresh
// Node process (through tsx) with a load hook recording every module.
const REPO = resolve(import.meta.dirname, '../../..');
let work: string;
let script: string;
/** A real public key and an existing (unsigned) layout: verify gets past reading both. */
let publicKey: string;
let layout: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-module-graph-'));
  script = join(work, 'graph.mjs');
  await writeFile(
    script,
    `import { registerHooks } from 'node:module';
const loaded = new Set();
registerHooks({ load(url, context, next) { loaded.add(url); return next(url, context); } });
const { main } = await import(${JSON.stringify(join(REPO, 'src/cli/main.ts'))});
const code = await main(['node', 'rampart', ...process.argv.slice(2)]);
process.stderr.write('\\n' + JSON.stringify({ code, loaded: [...loaded] }) + '\\n');
`,
  );
  publicKey = join(work, 'cosign.pub');
  await writeFile(publicKey, (await generateKeyPair('pw', { scryptCost: 32768 })).publicKey);
  layout = `oci:${join(work, 'layout')}:app`;
  await writeRandomImage(join(work, 'layout'), 'app', [64]);
  // A one-package image in a local layout and a store with one advisory for it: what `scan` reads.
  const image = await makeTestImage(work, [
    {
      'etc/os-release': 'ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n',
      'var/lib/dpkg/status':
        'Package: hello\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\nDescription: x\n',
    },
  ]);
  await writeImage(`oci:${join(work, 'layout')}:t`, image);
  const feed = join(work, 'feed.json');
  await writeFile(
    feed,
    JSON.stringify({
      hello: {
        'CVE-2026-0001': {
          description: 'x',
          releases: {
            trixie: { status: 'resolved', repositories: {}, fixed_version: '1.0-2', urgency: 'high' },
          },
        },
      },
    }),
  );
  const store = openAdvisoryStore(join(work, 'advisories.db'));
  try {
    await importAdvisories(store, [{ path: feed, feed: 'test' }]);
  } finally {
    store.close();
  }
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function modulesOf(...args: string[]): Promise<string[]> {
  return (await runGraph(...args)).modules;
}

async function runGraph(...args: string[]): Promise<{ code: number; stdout: string; modules: string[] }> {
  const run = await runCommand(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: REPO,
    env: { ...process.env, XDG_CACHE_HOME: join(work, 'cache') },
  });
  const last = run.stderr.trim().split('\n').at(-1) ?? '{}';
  const { code, loaded } = JSON.parse(last) as { code: number; loaded: string[] };
  const modules = loaded
    .filter((url) => url.startsWith(`file://${REPO}/`))
    .map((url) => url.slice(`file://${REPO}/`.length))
    .map((path) => (path.startsWith('node_modules/') ? path.split('/').slice(0, 2).join('/') : path));
  return { code, stdout: run.stdout, modules };
}

describe('the CLI loads what a command needs', () => {
  it('sign --help and verify --help load no registry, OCI or signing code', async () => {
    for (const command of ['sign', 'verify']) {
      const modules = await modulesOf(command, '--help');
      expect(modules).toContain(`src/cli/commands/${command}.ts`);
      for (const heavy of [
        'src/sign/sign.ts',
        'src/sign/verify.ts',
        'src/sign/policy.ts',
        'src/sign/rebuild.ts',
        'src/oci/open.ts',
        'node_modules/yaml',
        'node_modules/zod',
      ]) {
        expect(modules, `${command} --help`).not.toContain(heavy);
      }
    }
  });

  it('verify --key loads the verifier, not the policy (YAML) or rebuild code', async () => {
    const modules = await modulesOf('verify', '--key', publicKey, layout);
    // The key was read and the image opened: verify.ts ran (the image has no signature).
    expect(modules).toContain('src/sign/verify.ts');
    expect(modules).toContain('src/oci/open.ts');
    expect(modules).not.toContain('src/sign/policy.ts');
    expect(modules).not.toContain('src/sign/rebuild.ts');
    expect(modules).not.toContain('node_modules/yaml');
    // A public key needs no secretbox: the cipher loads only when a private key is opened.
    expect(modules).not.toContain('node_modules/@noble');
    const policy = await modulesOf(
      'verify',
      '--policy',
      join(work, 'missing.yaml'),
      `oci:${join(work, 'none')}`,
    );
    expect(policy).toContain('src/sign/policy.ts');
  });

  it('verify of a registry image loads the reading side of the registry client only', async () => {
    const registry = await startRegistry();
    try {
      const image = `docker://${registry.host}/graph/app:1`;
      await writeImage(image, await openImage(layout), { registry: { insecure: true } });
      const { code, modules } = await runGraph('verify', '--key', publicKey, image, '--insecure');
      expect(code).toBe(1); // it ran: the image opened and has no signature
      expect(modules).toContain('src/registry/client.ts');
      expect(modules).toContain('src/registry/referrers.ts');
      for (const unneeded of [
        'src/registry/upload.ts',
        'src/registry/upload-source.ts',
        'src/registry/sink.ts',
        'src/oci/copy.ts',
        'src/oci/layout-write.ts',
        'src/oci/skopeo-dir-detect.ts',
        'src/util/writable.ts',
      ]) {
        expect(modules, 'verify of docker://').not.toContain(unneeded);
      }
    } finally {
      await registry.stop();
    }
  });

  it('scan of a local layout loads no registry client, credentials or HTTP code', async () => {
    const { stdout, modules } = await runGraph(
      'scan',
      `oci:${join(work, 'layout')}:t`,
      '--db',
      join(work, 'advisories.db'),
      '-o',
      'json',
    );
    expect(stdout.split('\n').at(-2)).toBe('}'); // it ran: the JSON report was written
    expect(modules).toContain('src/oci/open.ts');
    expect(modules).toContain('src/vuln/scan.ts');
    const registry = modules.filter(
      (path) => path.startsWith('src/registry/') || path.startsWith('src/http/'),
    );
    // registry/source.ts (the origin of a pulled image, a WeakMap lookup) is all that stays.
    expect(registry).toEqual(['src/registry/source.ts']);

    // Again, with the catalog kept from the first scan: no layer is read, no purl parsed, nothing written.
    const warm = await runGraph('scan', `oci:${join(work, 'layout')}:t`, '--db', join(work, 'advisories.db'));
    expect(warm.stdout).toContain('CVE-2026-0001');
    expect(warm.modules).toContain('src/sbom/catalog-cache.ts');
    for (const unneeded of [
      'src/sbom/catalog.ts',
      'src/oci/fs-view.ts',
      'src/oci/copy.ts',
      'src/oci/layout-write.ts',
      'src/oci/oci-archive.ts',
      'src/oci/docker-archive.ts',
      'src/oci/tar-index.ts',
      'node_modules/tar-stream',
      'node_modules/packageurl-js',
    ]) {
      expect(warm.modules, 'warm scan of a layout').not.toContain(unneeded);
    }
  });

  it('the built verify loads no Node built-in it does not use', async () => {
    const hook = `data:text/javascript,${encodeURIComponent(
      `process.on('exit', () => process.stderr.write('\\n' + JSON.stringify(process.moduleLoadList) + '\\n'));`,
    )}`;
    const run = await runCommand(
      process.execPath,
      ['--import', hook, join(REPO, 'bin/rampart.js'), 'verify', '--key', publicKey, layout],
      { cwd: REPO, env: { ...process.env, XDG_CACHE_HOME: join(work, 'cache') } },
    );
    const loaded = JSON.parse(run.stderr.trim().split('\n').at(-1) ?? '[]') as string[];
    const builtins = loaded.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13));
    expect(builtins).toContain('crypto'); // it ran: the key was parsed
    // zlib and child_process load when a layer is decompressed, readline/promises when a prompt is
    // shown, tls for a registry's https; util's lazy exports (parseArgs, diff, ...) are read only
    // by an ESM import of node:util, which start-up code avoids (process.getBuiltinModule).
    for (const unused of [
      'zlib',
      'readline/promises',
      'internal/util/parse_args/parse_args',
      'tls',
      'https',
    ]) {
      expect(builtins, 'verify --key of a layout').not.toContain(unused);
    }
  });

  it('bundle-zod points every import of zod in a build at a bundle of what they import: no resolve hook at run time', async () => {
    const dist = join(work, 'dist-copy');
    const put = async (path: string, text: string) => {
      await mkdir(dirname(join(dist, path)), { recursive: true });
      await writeFile(join(dist, path), text);
    };
    await put('oci/types.js', "import { string } from 'zod/mini';\nexport const name = string();\n");
    await put(
      'index.js',
      '/**\n * Only names, not `export *`: from the lines below.\n */\nimport { looseObject, string as text } from "zod/mini";\nexport const doc = looseObject({ a: text() });\n',
    );
    // Rewritten by an earlier build, for another zod version.
    await put('deep/er/more.js', "export { string } from '../../vendor/zod-0.0.1.js';\n");
    await put('other.js', "export const other = 'zodiac';\n");
    const run = await runCommand(process.execPath, [join(REPO, 'scripts/bundle-zod.mjs'), '--dist', dist], {
      cwd: REPO,
    });
    expect(run.exitCode, run.stderr).toBe(0);
    const vendor = (await readdir(join(dist, 'vendor'))).filter((name) => name.startsWith('zod-')).sort();
    // All of zod/mini (for bin/rampart.js's hook, when tsc alone rebuilt dist/) and what dist/ imports.
    expect(vendor).toHaveLength(2);
    expect(vendor[1]).toMatch(/^zod-[0-9.]+\.used\.js$/);
    const bundle = vendor[1] as string;
    expect(await readFile(join(dist, 'oci/types.js'), 'utf8')).toContain(`from '../vendor/${bundle}'`);
    expect(await readFile(join(dist, 'index.js'), 'utf8')).toContain(`from "./vendor/${bundle}"`);
    expect(await readFile(join(dist, 'deep/er/more.js'), 'utf8')).toContain(`from '../../vendor/${bundle}'`);
    expect(await readFile(join(dist, 'other.js'), 'utf8')).toBe("export const other = 'zodiac';\n");
    // The bundle exports those names alone (esbuild left the rest of zod out), one zod for all.
    const used = (await import(join(dist, 'vendor', bundle))) as Record<string, unknown>;
    expect(Object.keys(used).sort()).toEqual(['looseObject', 'string']);
    const types = (await import(join(dist, 'oci/types.js'))) as { name: { parse(value: unknown): unknown } };
    const index = (await import(join(dist, 'index.js'))) as { doc: { parse(value: unknown): unknown } };
    const deep = (await import(join(dist, 'deep/er/more.js'))) as { string: unknown };
    expect(deep.string).toBe(used.string);
    expect(types.name.parse('x')).toBe('x');
    expect(index.doc.parse({ a: 'b', c: 1 })).toEqual({ a: 'b', c: 1 });
    const all = (await import(join(dist, 'vendor', vendor[0] as string))) as Record<string, unknown>;
    expect(Object.keys(all)).toEqual(
      expect.arrayContaining(['z', 'string', 'looseObject', 'tuple', 'locales']),
    );

    // A namespace import can reach any name: that build's bundle is all of zod/mini.
    await put('oci/types.js', "import * as z from 'zod/mini';\nexport const name = z.tuple([z.string()]);\n");
    const again = await runCommand(process.execPath, [join(REPO, 'scripts/bundle-zod.mjs'), '--dist', dist], {
      cwd: REPO,
    });
    expect(again.exitCode, again.stderr).toBe(0);
    const names = await runCommand(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(join(dist, 'vendor', bundle))}); process.stdout.write(JSON.stringify(Object.keys(m)));`,
      ],
      { cwd: REPO },
    );
    expect(JSON.parse(names.stdout)).toEqual(expect.arrayContaining(['z', 'string', 'looseObject', 'tuple']));

    // Classic zod is refused by name: rampart's schemas are built with zod/mini, through util/zod.
    await put('sbom/model.js', "import { object } from 'zod';\nexport const m = object({});\n");
    const classic = await runCommand(
      process.execPath,
      [join(REPO, 'scripts/bundle-zod.mjs'), '--dist', dist],
      {
        cwd: REPO,
      },
    );
    expect(classic.exitCode).toBe(1);
    expect(classic.stderr).toContain("sbom/model.js imports 'zod'");
  });

  it('the built CLI (bin/rampart.js) loads zod as one bundled file, not its ~95 modules', async () => {
    // npm test, npm run build and npm run bench build dist/ and the bundle (scripts/bundle-zod.mjs).
    const hook = `data:text/javascript,${encodeURIComponent(
      `import { registerHooks } from 'node:module';
const loaded = [];
registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });
process.on('exit', () => process.stderr.write('\\n' + JSON.stringify(loaded) + '\\n'));`,
    )}`;
    const run = await runCommand(
      process.execPath,
      [
        '--import',
        hook,
        join(REPO, 'bin/rampart.js'),
        'scan',
        `oci:${join(work, 'layout')}:t`,
        '--db',
        join(work, 'advisories.db'),
      ],
      { cwd: REPO, env: { ...process.env, XDG_CACHE_HOME: join(work, 'cache') } },
    );
    expect(run.stdout).toContain('CVE-2026-0001');
    const loaded = JSON.parse(run.stderr.trim().split('\n').at(-1) ?? '[]') as string[];
    // zod's own code: its package's files, or a bundle of them (dist/util/zod.js is rampart's).
    const zod = loaded.filter((url) => url.includes('/node_modules/zod/') || url.includes('/vendor/zod-'));
    expect(zod).toHaveLength(1);
    // A full build's dist/ imports the trimmed bundle. A dist/ that tsc alone rebuilt (several
    // integration tests do, while this project may run) imports `zod/mini`, which bin/rampart.js maps
    // to the whole bundle: either way one file. The trimmed bundle's contents are checked on a
    // build of its own above.
    expect(zod[0]).toMatch(/\/dist\/vendor\/zod-[^/]+\.js$/);
    // In the trimmed bundle, what dist/ imports only (not zod's namespace, and English alone of
    // its ~45 locales: ~half of it).
    const bundled = (await import(zod[0] as string)) as Record<string, unknown>;
    expect(Object.keys(bundled)).toEqual(expect.arrayContaining(['looseObject', 'string', 'config']));
    expect(Object.keys(bundled.locales as object)).toEqual(
      (zod[0] as string).endsWith('.used.js') ? ['en'] : expect.arrayContaining(['en']),
    );
    if ((zod[0] as string).endsWith('.used.js')) expect(Object.keys(bundled)).not.toContain('z');
    // zod's English messages: util/zod sets them (zod/mini has none of its own).
    const { object, string } = (await import(join(REPO, 'dist/util/zod.js'))) as typeof import('zod/mini');
    const failed = object({ name: string() }).safeParse({ name: 1 });
    expect(failed.error?.issues[0]?.message).toBe('Invalid input: expected string, received number');
  });
});
