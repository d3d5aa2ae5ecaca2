import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImage } from '../../../src/oci/open.js';
import { validate } from '../../../src/oci/validate.js';
import { type AptRepo, createAptRepo } from '../../helpers/apt-repo.js';
import { spawnTracked, stopAllTracked } from '../../helpers/processes.js';

/**
 * Issue 10 (acceptance): SIGINT/SIGTERM and SIGKILL at random moments of `rampart build` into
 * every output transport. The real CLI builds a small spec (two packages, ~4 MiB of incompressible
 * files) from a signed APT repository served on 127.0.0.1, each trial with a cold build cache of
 * its own so the signals land in every stage (resolve, fetch, unpack, layers, SBOMs, write). The
 * delay is spread over the build's duration, measured once per destination.
 * RAMPART_SIGNAL_TRIALS sets the trials per destination and signal (default 5; 20 nightly).
 */
const root = join(import.meta.dirname, '../../..');
const TRIALS = Number(process.env.RAMPART_SIGNAL_TRIALS ?? 5);
let work: string;
let apt: AptRepo;
let spec: string;
/** A directory holding `layout` (an OCI layout with tag `old`) and its build record. */
let template: string;

beforeAll(async () => {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' });
  work = mkdtempSync(join(tmpdir(), 'rampart-interrupted-build-'));
  apt = await createAptRepo(
    [
      {
        name: 'testing',
        packages: [
          {
            name: 'base-files',
            version: '13.8',
            architecture: 'all',
            files: { 'usr/lib/os-release': 'ID=debian\n', 'usr/share/doc/base-files/copyright': 'x\n' },
          },
          {
            name: 'bulk',
            version: '1.0',
            compression: 'gzip',
            files: {
              'usr/share/bulk/a': randomBytes(1536 * 1024).toString('base64'),
              'usr/share/bulk/b': randomBytes(1536 * 1024).toString('base64'),
            },
          },
        ],
      },
    ],
    { dir: join(work, 'apt') },
  );
  const specDir = join(work, 'spec');
  mkdirSync(specDir);
  spec = join(specDir, 'big.yaml');
  writeFileSync(
    spec,
    [
      'name: big',
      'contents:',
      '  suites: [testing]',
      `  mirror: ${apt.url}`,
      `  keyring: ${apt.key.keyring}`,
      '  packages: [base-files, bulk]',
      'archs: [amd64]',
      '',
    ].join('\n'),
  );
  template = join(work, 'template');
  mkdirSync(template);
  const built = start(['build', spec, `oci:${join(template, 'layout')}:old`, '--cache', join(work, 'warm')]);
  const { code } = await built.exited;
  if (code !== 0) throw new Error(`template build failed: ${built.output().stderr}`);
}, 180_000);
afterAll(async () => {
  await stopAllTracked();
  await apt?.close();
  rmSync(work, { recursive: true, force: true });
});

type Destination = {
  name: string;
  dir: () => string;
  ref: (dir: string) => string;
  before?: boolean;
  /** Build with `--sbom DIR` (DIR is `<dir>.sbom`, beside the destination's directory). */
  sbom?: boolean;
};

const DESTINATIONS: Destination[] = [
  { name: 'oci (new)', dir: fresh, ref: (dir) => `oci:${join(dir, 'layout')}:t` },
  { name: 'oci (existing)', dir: withLayout, ref: (dir) => `oci:${join(dir, 'layout')}:t`, before: true },
  { name: 'oci-archive', dir: fresh, ref: (dir) => `oci-archive:${join(dir, 'image.tar')}:t`, sbom: true },
  { name: 'docker-archive', dir: fresh, ref: (dir) => `docker-archive:${join(dir, 'image.tar')}:big:t` },
];

let counter = 0;
function fresh(): string {
  const dir = join(work, `dest-${counter++}`);
  mkdirSync(dir);
  return dir;
}

function withLayout(): string {
  const dir = fresh();
  cpSync(template, dir, { recursive: true });
  return dir;
}

function start(args: string[]) {
  return spawnTracked(process.execPath, [join(root, 'bin/rampart.js'), ...args], {
    env: { ...process.env, NO_COLOR: '1' },
  });
}

function buildArgs(destination: Destination, dir: string, cache: string): string[] {
  return [
    'build',
    spec,
    destination.ref(dir),
    '--quiet',
    '--cache',
    cache,
    ...(destination.sbom ? ['--sbom', `${dir}.sbom`] : []),
  ];
}

function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true }) as string[]).sort();
}

/** Entries of rampart's staging naming below `dir`. */
function staging(dir: string): string[] {
  return tree(dir).filter((p) => /(^|\/)\.rampart-(?!lock)|\.tmp-/.test(p));
}

/** Every file below `dir` with its sha256: "byte for byte as before". */
function snapshot(dir: string): string {
  return tree(dir)
    .filter((p) => statSync(join(dir, p)).isFile())
    .map(
      (p) =>
        `${p} ${createHash('sha256')
          .update(readFileSync(join(dir, p)))
          .digest('hex')}`,
    )
    .join('\n');
}

/** Staging beside the spec (its lock is written there). */
function besideSpec(): string[] {
  return staging(dirname(spec)).map((p) => `spec/${p}`);
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/**
 * How long the CLI takes to reach the build with its signal handlers set up: a build whose output
 * is below a regular file fails in its first check, right after they are.
 */
async function startupMs(): Promise<number> {
  writeFileSync(join(work, 'a-file'), 'not a directory\n');
  // The fastest of three: a loaded machine stretches single runs several-fold, and a signal that
  // comes too early only counts as `early` below.
  let startup = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++) {
    const began = Date.now();
    const run = start(['build', spec, `oci:${join(work, 'a-file', 'x')}:t`, '--quiet']);
    const { code } = await run.exited;
    expect(code, run.output().stderr).not.toBe(0);
    startup = Math.min(startup, Date.now() - began);
  }
  return startup;
}

/** Cold builds into a fresh destination of each kind: their durations in ms, measured once. */
const durations = new Map<string, number>();
async function measure(destination: Destination): Promise<number> {
  const known = durations.get(destination.name);
  if (known !== undefined) return known;
  const dir = destination.dir();
  const began = Date.now();
  const whole = start(buildArgs(destination, dir, `${dir}.cache`));
  const done = await whole.exited;
  expect(done.code, whole.output().stderr).toBe(0);
  durations.set(destination.name, Date.now() - began);
  return Date.now() - began;
}

/** Whether what is at the destination is whole: absent, as before, or an image that validates. */
async function wholeOrAbsent(
  destination: Destination,
  dir: string,
  before: string,
): Promise<string | undefined> {
  if (destination.before) {
    if (snapshot(dir) === before) return undefined;
    const index = JSON.parse(readFileSync(join(dir, 'layout', 'index.json'), 'utf8')) as {
      manifests: Array<{ annotations?: Record<string, string> }>;
    };
    const tags = index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']).sort();
    for (const tag of tags) await validate(await openImage(`oci:${join(dir, 'layout')}:${tag}`));
    return tags.includes('old') ? undefined : `tag old lost: ${tags.join(', ')}`;
  }
  const ref = destination.ref(dir);
  const path = ref.split(':')[1]!;
  if (!existsSync(path)) return undefined;
  await validate(await openImage(ref));
  return undefined;
}

describe('rampart build interrupted', () => {
  it('SIGINT/SIGTERM at random moments: exit 130/143, one line, destination as before, no staging; then a build succeeds', async () => {
    const failures: string[] = [];
    let interrupted = 0;
    let early = 0;
    let finished = 0;
    const startup = await startupMs();
    for (const destination of DESTINATIONS) {
      const duration = await measure(destination);
      for (let trial = 0; trial < TRIALS; trial++) {
        const dir = destination.dir();
        const cache = `${dir}.cache`;
        const before = snapshot(dir);
        const signal = trial % 2 === 0 ? 'SIGINT' : 'SIGTERM';
        const delay = Math.floor(startup + 50 + Math.max(duration - startup - 50, 200) * Math.random());
        const run = start(buildArgs(destination, dir, cache));
        await sleep(delay);
        run.child.kill(signal);
        const { code } = await run.exited;
        const { stderr } = run.output();
        const what = `${destination.name} ${signal} after ${delay}/${duration} ms: exit ${code}: ${stderr.slice(0, 300)}`;
        if (code === 0) finished++;
        else if (code === null) {
          // The signal came before the CLI set up its handler: the default action killed it.
          early++;
        } else {
          interrupted++;
          if (code !== (signal === 'SIGINT' ? 130 : 143)) failures.push(what);
          if (stderr.trim().split('\n').length !== 1 || !stderr.startsWith('error: '))
            failures.push(`${what} (not one line)`);
          if (snapshot(dir) !== before)
            failures.push(`${what}: destination changed: ${tree(dir).join(', ')}`);
          if (destination.sbom && existsSync(`${dir}.sbom`))
            failures.push(`${what}: SBOM folder made: ${tree(`${dir}.sbom`).join(', ')}`);
        }
        // The destinations (and the staging beside them) are inside `dir`.
        const left = [...staging(dir), ...staging(`${dir}.sbom`), ...staging(cache).map((p) => `cache/${p}`)];
        if (left.length) failures.push(`${what}: staging left: ${left.join(', ')}`);
        // And then a normal build to the same destination succeeds and leaves nothing behind.
        const again = start(buildArgs(destination, dir, cache));
        const after = await again.exited;
        if (after.code !== 0) failures.push(`${what}: the next build failed: ${again.output().stderr}`);
        else {
          const problem = await wholeOrAbsent(destination, dir, '').catch((error: Error) => error.message);
          if (problem) failures.push(`${what}: after the next build: ${problem}`);
        }
        const still = [...staging(dir), ...staging(cache).map((p) => `cache/${p}`), ...besideSpec()];
        if (still.length) failures.push(`${what}: staging after the next build: ${still.join(', ')}`);
        rmSync(cache, { recursive: true, force: true });
      }
    }
    process.stderr.write(
      `interrupted builds: ${interrupted}, finished first: ${finished}, outside the handler: ${early}, startup ${startup} ms\n`,
    );
    expect(failures).toEqual([]);
    expect(interrupted).toBeGreaterThanOrEqual(Math.ceil(DESTINATIONS.length * TRIALS * 0.6));
  }, 900_000);

  it('SIGKILL at random moments: the destination is absent or whole, and the next build sweeps the staging', async () => {
    const failures: string[] = [];
    let leftByKill = 0;
    const startup = await startupMs();
    for (const destination of DESTINATIONS) {
      const duration = await measure(destination);
      for (let trial = 0; trial < TRIALS; trial++) {
        const dir = destination.dir();
        const cache = `${dir}.cache`;
        const before = snapshot(dir);
        const delay = Math.floor(startup + Math.max(duration - startup, 200) * Math.random());
        const killed = start(buildArgs(destination, dir, cache));
        await sleep(delay);
        killed.child.kill('SIGKILL');
        await killed.exited;
        const what = `${destination.name} SIGKILL after ${delay}/${duration} ms`;
        const problem = await wholeOrAbsent(destination, dir, before).catch((error: Error) => error.message);
        if (problem) failures.push(`${what}: ${problem}`);
        if (staging(dir).length || staging(cache).length) leftByKill++;
        const again = start(buildArgs(destination, dir, cache));
        const { code } = await again.exited;
        const still = [
          ...staging(dir),
          ...staging(`${dir}.sbom`),
          ...staging(cache).map((p) => `cache/${p}`),
          ...besideSpec(),
        ];
        if (code !== 0 || still.length)
          failures.push(
            `${what}: next build exit ${code}, staging left: ${still.join(', ')} ${again.output().stderr}`,
          );
        rmSync(cache, { recursive: true, force: true });
      }
    }
    process.stderr.write(
      `SIGKILL trials that left staging for the next build: ${leftByKill} of ${DESTINATIONS.length * TRIALS}\n`,
    );
    expect(failures).toEqual([]);
    expect(leftByKill).toBeGreaterThan(0);
  }, 900_000);
  it('a build sweeps what a killed build left: in its cache, beside the spec and output, in the SBOM folder', async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid as number;
    const dir = fresh();
    const cache = `${dir}.cache`;
    const planted = [
      join(cache, 'build', 'layers', 'blobs', `.${'ab'.repeat(32)}.tmp-${dead}-0123456789ab`),
      join(cache, 'blobs', 'sha256', `.${'cd'.repeat(32)}.tmp-${dead}-0123456789ab`),
      join(dirname(spec), `.big.lock.json.tmp-${dead}-0123456789ab`),
      join(`${dir}.sbom`, `.big.spdx.json.tmp-${dead}-0123456789ab`),
      join(dir, `.image.tar.tmp-${dead}-0123456789ab`),
    ];
    for (const path of planted) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, 'half written');
    }
    const run = start(buildArgs(DESTINATIONS[2]!, dir, cache));
    const { code } = await run.exited;
    expect(code, run.output().stderr).toBe(0);
    expect(planted.filter((path) => existsSync(path))).toEqual([]);
  }, 120_000);
});
