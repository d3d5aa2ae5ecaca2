/**
 * rampart as its users get it: `npm pack` of a copy of this checkout (so the test never touches the
 * repository's own dist/), installed into an empty project with `npm install TARBALL`, then used the
 * way the README shows — `import { buildImage, generateSbom, openImage } from 'rampart'` in a script
 * that builds a small image from a signed local APT repository and catalogs it — and through its
 * `rampart` bin. A dependency used by dist/ but only declared as a devDependency, a file missing from
 * `files`, an `exports` entry pointing nowhere or types that do not resolve each fail here.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AptRepo, createAptRepo, type DebSpec } from '../../helpers/apt-repo.js';

const run = promisify(execFile);
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SLOW = 900_000;

const PACKAGES: DebSpec[] = [
  {
    name: 'base-files',
    version: '13.8',
    files: {
      'usr/lib/os-release':
        'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\nVERSION_ID="13"\nID=debian\n',
      'usr/share/doc/base-files/copyright': 'base-files licence\n',
    },
  },
  {
    name: 'libfoo1',
    version: '1.2-3',
    source: 'foo',
    files: { 'usr/lib/x86_64-linux-gnu/libfoo.so.1': 'ELF\n' },
  },
  { name: 'tool', version: '2.0', depends: 'libfoo1 (>= 1.2)', files: { 'usr/bin/tool': '#!tool\n' } },
];

let work: string;
let repo: AptRepo;
let app: string;
let packed: { filename: string; size: number; unpackedSize: number; files: Array<{ path: string }> };

/** Runs a command without blocking this process: the APT repository is served from it. */
async function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  try {
    return await run(cmd, args, { cwd, env, maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${stderr ?? ''}\n${stdout ?? ''}`, {
      cause: error,
    });
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-packed-'));
  repo = await createAptRepo([{ name: 'testing', packages: PACKAGES }], { dir: work });

  // The checkout as git sees it (tracked and new files, nothing ignored), plus what a developer's
  // tree also holds and must not ship: a stale file in dist/ and a lock beside the catalog specs.
  const source = join(work, 'checkout');
  const { stdout } = await sh('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], REPO);
  for (const file of new Set(stdout.split('\0').filter(Boolean))) {
    await mkdir(dirname(join(source, file)), { recursive: true });
    await cp(join(REPO, file), join(source, file)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error; // deleted in the working tree
    });
  }
  await symlink(join(REPO, 'node_modules'), join(source, 'node_modules'));
  await mkdir(join(source, 'dist', 'build'), { recursive: true });
  await writeFile(join(source, 'dist', 'build', 'stale-from-an-old-build.js'), 'export {};\n');
  await writeFile(join(source, 'images', 'static.lock.json'), '{}\n');

  // prepack cleans dist/, prepare compiles it: what `npm pack` and `npm publish` run.
  const pack = await sh('npm', ['pack', '--json', '--pack-destination', work], source);
  packed = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[')))[0];

  app = join(work, 'app');
  await mkdir(app);
  await writeFile(join(app, 'package.json'), '{ "name": "consumer", "private": true, "type": "module" }\n');
  await sh(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      join(work, packed.filename),
    ],
    app,
  );
}, SLOW);

afterAll(async () => {
  await repo?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('ships the build, the bin, the catalog and the README, and no tests, sources or stale files', () => {
    const files = packed.files.map((f) => f.path).sort();
    for (const wanted of [
      'package.json',
      'README.md',
      'bin/rampart.js',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cli/main.js',
      'dist/oci/index.d.ts',
      'images/README.md',
      'images/nodejs.yaml',
    ]) {
      expect(files, wanted).toContain(wanted);
    }
    const unwanted = files.filter(
      (f) =>
        /^(src|test|bench|scripts|node_modules)\//.test(f) ||
        f.endsWith('.map') ||
        f.endsWith('.lock.json') ||
        f.includes('stale-from-an-old-build'),
    );
    expect(unwanted).toEqual([]);
    expect(files.filter((f) => f.startsWith('dist/') && f.endsWith('.js')).length).toBeGreaterThan(50);
    // The CLI's one-file zod (scripts/bundle-zod.mjs, run by prepare).
    expect(files.filter((f) => /^dist\/vendor\/zod-[^/]+\.js$/.test(f))).toHaveLength(1);
  });

  it('loads as a library without the CLI, openpgp or the CycloneDX library, and hides its internals', async () => {
    const script = `
      import { registerHooks } from 'node:module';
      const loaded = new Set();
      registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); loaded.add(r.url); return r; } });
      const api = await import('rampart');
      const sub = await Promise.all(['oci', 'registry', 'debian', 'builder', 'sbom', 'errors'].map((s) => import('rampart/' + s)));
      const { createRegistryClient, credentialStore, login, logout, listRepositoryTags } = await import('rampart/registry');
      const client = createRegistryClient('127.0.0.1:9', { credentials: credentialStore({ env: {} }), insecure: true });
      const registryApi = [typeof createRegistryClient, typeof client.ping, typeof login, typeof logout, typeof listRepositoryTags, client.registry];
      const pkg = (await import('rampart/package.json', { with: { type: 'json' } })).default;
      let deep;
      try { await import('rampart/dist/oci/open.js'); deep = 'importable'; } catch (e) { deep = e.code; }
      const root = new URL('./node_modules/', import.meta.url).href;
      const packages = [...loaded].filter((u) => u.startsWith(root)).map((u) => u.slice(root.length))
        .map((p) => p.startsWith('rampart/') ? p : p.split('/').slice(0, p.startsWith('@') ? 2 : 1).join('/'));
      console.log(JSON.stringify({
        names: Object.keys(api).sort(),
        subpathsInRoot: sub.every((m) => Object.keys(m).every((k) => api[k] === m[k] || k === 'default')),
        version: api.VERSION, packageVersion: pkg.version, deep, registryApi,
        modules: [...new Set(packages)].sort(),
      }));`;
    await writeFile(join(app, 'load.mjs'), script);
    const out = JSON.parse((await sh(process.execPath, ['load.mjs'], app)).stdout);
    for (const name of [
      'buildImage',
      'loadImageSpec',
      'openImage',
      'selectImage',
      'writeImage',
      'parseImageReference',
      'sha256Digest',
      'parsePlatform',
      'loadRepositories',
      'resolvePackageClosure',
      'compareVersions',
      'downloadPackages',
      'generateSbom',
      'encodeSbom',
      'readSbom',
      'RampartError',
      'isRampartError',
      'VERSION',
      'createRegistryClient',
      'credentialStore',
      'login',
      'logout',
      'listRepositoryTags',
      'deleteManifestByDigest',
      'recordReferrer',
      'findAttachments',
    ]) {
      expect(out.names, name).toContain(name);
    }
    expect(out.subpathsInRoot).toBe(true);
    expect(out.registryApi).toEqual([
      'function',
      'function',
      'function',
      'function',
      'function',
      '127.0.0.1:9',
    ]);
    expect(out.version).toBe(out.packageVersion);
    expect(out.deep).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
    const modules: string[] = out.modules;
    expect(modules.filter((m) => m.startsWith('rampart/dist/cli/'))).toEqual([]);
    for (const lazy of ['commander', 'cli-progress', 'openpgp', '@cyclonedx/cyclonedx-library', 'ajv'])
      expect(modules, lazy).not.toContain(lazy);
  });

  it(
    'builds an image and its SBOM through the public API',
    async () => {
      const specDir = join(work, 'spec');
      await mkdir(specDir);
      const specPath = join(specDir, 'tool.yaml');
      await writeFile(
        specPath,
        [
          'name: tool',
          'contents:',
          '  suites: [testing]',
          `  mirror: ${repo.url}`,
          `  keyring: ${repo.key.keyring}`,
          '  packages: [base-files, tool]',
          'archs: [amd64]',
          'entrypoint: [/usr/bin/tool]',
          '',
        ].join('\n'),
      );
      const script = `
      import { buildImage, encodeSbom, generateSbom, isRampartError, openImage, RampartError, readSbom, selectImage } from 'rampart';
      import { parseImageReference } from 'rampart/oci';
      import { RampartError as ErrorFromSubpath } from 'rampart/errors';
      const [specPath, out, cacheDir] = process.argv.slice(2);
      const reference = 'oci:' + out + ':latest';
      const result = await buildImage({ specPath, output: reference, cacheDir, etcApt: '/nonexistent' });
      const image = await selectImage(await openImage(parseImageReference(reference)));
      const doc = await generateSbom({ kind: 'image', ref: reference });
      const spdx = readSbom(encodeSbom(doc, 'spdx-json'));
      let failure;
      try { await openImage('oci:' + out + '-missing:latest'); } catch (e) {
        failure = { rampart: isRampartError(e), sameClass: e instanceof RampartError && e instanceof ErrorFromSubpath, code: e.code };
      }
      console.log(JSON.stringify({
        digest: result.digest, reference: result.reference, lock: result.lock,
        platformDigest: result.platforms[0].digest, imageDigest: image.digest,
        entrypoint: image.config.config.Entrypoint,
        locked: result.platforms[0].packages.map((p) => p.name + '=' + p.version),
        sbom: doc.packages.filter((p) => p.type === 'deb').map((p) => p.name + '=' + p.version).sort(),
        spdx: spdx.packages.filter((p) => p.type === 'deb').map((p) => p.name + '=' + p.version).sort(),
        failure,
      }));`;
      await writeFile(join(app, 'build.mjs'), script);
      const out = join(work, 'out', 'tool');
      const { stdout } = await sh(process.execPath, ['build.mjs', specPath, out, join(work, 'cache')], app);
      const result = JSON.parse(stdout);
      expect(result.reference).toBe(`oci:${out}:latest`);
      expect(result.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(result.imageDigest).toBe(result.platformDigest);
      expect(result.entrypoint).toEqual(['/usr/bin/tool']);
      const expected = ['base-files=13.8', 'libfoo1=1.2-3', 'tool=2.0'];
      expect([...result.locked].sort()).toEqual(expected);
      expect(result.sbom).toEqual(expected);
      expect(result.spdx).toEqual(expected);
      expect(result.failure).toMatchObject({ rampart: true, sameClass: true });
      expect(typeof result.failure.code).toBe('string');
      expect(JSON.parse(await readFile(result.lock, 'utf8'))).toBeTypeOf('object');

      // The installed bin: `npx rampart` in the project that depends on it.
      const version = await sh('npx', ['--no-install', 'rampart', '--version'], app);
      const pkg = JSON.parse(await readFile(join(app, 'node_modules', 'rampart', 'package.json'), 'utf8'));
      expect(version.stdout.trim()).toBe(pkg.version);
      const inspect = await sh(
        'npx',
        ['--no-install', 'rampart', 'inspect', `oci:${out}:latest`, '-o', 'json'],
        app,
      );
      expect(JSON.parse(inspect.stdout).digest).toBe(result.digest);
    },
    SLOW,
  );

  it(
    "type-checks a TypeScript consumer against the package's declarations",
    async () => {
      const consumer = `
      import { type BuildResult, buildImage, type Image, type OciObject, openImage, type SbomDocument, generateSbom } from 'rampart';
      import { type Digest, parseImageReference } from 'rampart/oci';
      import { compareVersions } from 'rampart/debian';
      import { createRegistryClient, type RegistryClient, type RegistryOptions } from 'rampart/registry';
      const registryOptions: RegistryOptions = { insecure: ['localhost:5000'], jobs: 2 };
      export const registryClient: RegistryClient = createRegistryClient('localhost:5000', registryOptions);
      import { type RampartErrorCode, RampartError } from 'rampart/errors';
      export async function use(ref: string): Promise<[BuildResult['digest'], Digest, SbomDocument, number]> {
        const x: OciObject = await openImage(parseImageReference(ref));
        const image: Image | undefined = x.kind === 'image' ? x : undefined;
        const built = await buildImage({ specPath: 'spec.yaml' });
        const code: RampartErrorCode = new RampartError('USAGE', 'no').code;
        void code;
        return [built.digest, image?.digest ?? x.digest, await generateSbom({ kind: 'directory', path: '/' }), compareVersions('1', '2')];
      }
      // @ts-expect-error: internals are not part of the package's API
      import type { FsTreeBuilder } from 'rampart/dist/oci/fs-tree.js';
      // @ts-expect-error: buildImage wants options
      void buildImage();
    `;
      await writeFile(join(app, 'consumer.ts'), consumer);
      // The README's library example, checked as the JavaScript it is.
      const readme = await readFile(join(REPO, 'README.md'), 'utf8');
      const example = /^## Library\n[\s\S]*?^```js\n([\s\S]*?)^```/m.exec(readme)?.[1];
      expect(example, 'README.md: a ```js example under ## Library').toBeDefined();
      await writeFile(join(app, 'readme-example.mjs'), example!);
      await writeFile(
        join(app, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            target: 'ES2022',
            strict: true,
            noEmit: true,
            skipLibCheck: false,
            allowJs: true,
            checkJs: true,
            typeRoots: [join(REPO, 'node_modules', '@types')],
            types: ['node'],
          },
          files: ['consumer.ts', 'readme-example.mjs'],
        }),
      );
      // skipLibCheck stays off so that rampart's own declarations are checked too; errors inside other
      // packages' declarations (openpgp's name a module it does not install) are theirs, not ours.
      const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
      const output = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app }).then(
        () => '',
        (error: { stdout?: string }) => error.stdout ?? String(error),
      );
      const ours = output
        .split('\n')
        .filter((line) => /error TS\d+/.test(line))
        .filter((line) => !line.startsWith('node_modules/') || line.startsWith('node_modules/rampart/'));
      expect(ours).toEqual([]);
    },
    SLOW,
  );
});
