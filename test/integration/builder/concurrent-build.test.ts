import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImage } from '../../../src/oci/open.js';
import { validate } from '../../../src/oci/validate.js';
import { type AptRepo, createAptRepo } from '../../helpers/apt-repo.js';
import { spawnTracked, stopAllTracked } from '../../helpers/processes.js';

/**
 * Issue 10 item 8, for `build`: two builds into one output at the same moment. Into one `oci:`
 * layout with different tags both succeed and both tags are there (the layout lock orders the
 * index.json updates; a layout the other build created meanwhile is joined); into one archive file
 * one build wins whole — never a raw ENOTEMPTY/EEXIST, never a torn file. Both builds share one
 * cache, as builds on one machine do.
 */
const root = join(import.meta.dirname, '../../..');
const ROUNDS = 3;
let work: string;
let apt: AptRepo;
let specs: string[];
let cache: string;

beforeAll(async () => {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' });
  work = mkdtempSync(join(tmpdir(), 'rampart-concurrent-build-'));
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
          { name: 'extra', version: '1.0', files: { 'usr/share/extra/README': 'extra\n' } },
        ],
      },
    ],
    { dir: join(work, 'apt') },
  );
  // Two different images (so the two tags name different manifests), each spec in its own folder.
  specs = ['one', 'two'].map((name, i) => {
    const dir = join(work, `spec-${name}`);
    mkdirSync(dir);
    const path = join(dir, `${name}.yaml`);
    writeFileSync(
      path,
      [
        `name: ${name}`,
        'contents:',
        '  suites: [testing]',
        `  mirror: ${apt.url}`,
        `  keyring: ${apt.key.keyring}`,
        `  packages: [base-files${i ? ', extra' : ''}]`,
        'archs: [amd64]',
        '',
      ].join('\n'),
    );
    return path;
  });
  cache = join(work, 'cache');
  // Warm the cache, so both builds reach the write at about the same moment.
  for (const spec of specs) {
    const warm = start(['build', spec, `oci:${join(work, 'warm')}:x`, '--quiet', '--cache', cache]);
    const { code } = await warm.exited;
    if (code !== 0) throw new Error(`warming build failed: ${warm.output().stderr}`);
  }
}, 180_000);
afterAll(async () => {
  await stopAllTracked();
  await apt?.close();
  rmSync(work, { recursive: true, force: true });
});

function start(args: string[]) {
  return spawnTracked(process.execPath, [join(root, 'bin/rampart.js'), ...args], {
    env: { ...process.env, NO_COLOR: '1' },
  });
}

function staging(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((p) =>
    /(^|\/)\.rampart-(?!lock)|\.tmp-|rampart-lock/.test(p),
  );
}

/** Two builds at once; their exit codes and stderr. */
async function both(destinations: [string, string]) {
  // `-o json`: an error is one JSON line on stderr, whose code and details the test reads.
  const runs = destinations.map((dest, i) =>
    start(['build', specs[i]!, dest, '--quiet', '--cache', cache, '-o', 'json']),
  );
  const exits = await Promise.all(runs.map((run) => run.exited));
  return runs.map((run, i) => ({ code: exits[i]!.code, stderr: run.output().stderr }));
}

let counter = 0;
function fresh(): string {
  const dir = join(work, `dest-${counter++}`);
  mkdirSync(dir);
  return dir;
}

describe('two builds into one output at once', () => {
  it('into one oci: layout (new, then existing) with different tags: both exit 0, both tags there', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const dir = fresh();
      const layout = join(dir, 'layout');
      for (const existing of [false, true]) {
        const tags = existing ? ['c', 'd'] : ['a', 'b'];
        const results = await both([`oci:${layout}:${tags[0]}`, `oci:${layout}:${tags[1]}`]);
        for (const result of results) expect(result.code, result.stderr).toBe(0);
        const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as {
          manifests: Array<{ annotations?: Record<string, string> }>;
        };
        const present = index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']);
        expect(present.sort()).toEqual(existing ? ['a', 'b', 'c', 'd'] : ['a', 'b']);
        for (const tag of present) await validate(await openImage(`oci:${layout}:${tag}`));
      }
      expect(staging(dir)).toEqual([]);
    }
  }, 300_000);

  for (const transport of ['oci-archive', 'docker-archive'] as const) {
    it(`into one ${transport} file: one wins whole, the other succeeds or fails in one line`, async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const dir = fresh();
        const file = join(dir, 'image.tar');
        const refs = ['one', 'two'].map((name) =>
          transport === 'docker-archive' ? `${transport}:${file}:${name}:t` : `${transport}:${file}:t`,
        ) as [string, string];
        const results = await both(refs);
        for (const result of results) {
          if (result.code === 0) continue;
          expect(result.stderr.trim().split('\n'), result.stderr).toHaveLength(1);
          const { error } = JSON.parse(result.stderr) as {
            error: { code: string; details?: { errno?: string } };
          };
          expect(error.code, result.stderr).toBe('LOCKED');
        }
        expect(results.some((r) => r.code === 0)).toBe(true);
        const image = await openImage(`${transport}:${file}`);
        await validate(image);
        expect(staging(dir)).toEqual([]);
      }
    }, 300_000);
  }
});
