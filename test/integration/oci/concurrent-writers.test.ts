import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRampartError } from '../../../src/errors.js';
import type { Image } from '../../../src/oci/image.js';
import { openImage, writeImage } from '../../../src/oci/open.js';
import { acquirePathLock, lockPathFor } from '../../../src/util/path-lock.js';
import { makeTestImage } from '../../helpers/oci-fixtures.js';
import { spawnTracked, stopAllTracked } from '../../helpers/processes.js';

/**
 * Issue 10 item 8: two `copy … oci:L:tagA` and `oci:L:tagB` into one layout both exited 0 and one
 * tag was gone (3 of 10 trials); two writers into a new layout failed with a raw ENOTEMPTY. The
 * read-modify-write of index.json now happens under an advisory lock beside the layout.
 */
const repo = join(import.meta.dirname, '../../..');
let work: string;
let images: Image[];
let source: string;

beforeAll(async () => {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: repo, stdio: 'pipe' });
  work = mkdtempSync(join(tmpdir(), 'rampart-concurrent-'));
  images = [];
  for (let i = 0; i < 4; i++) images.push(await makeTestImage(work, [{ [`etc/n${i}`]: `${i}\n` }]));
  source = join(work, 'source');
  for (const [i, image] of images.entries()) await writeImage(`oci:${source}:s${i}`, image);
});
afterAll(async () => {
  await stopAllTracked();
  rmSync(work, { recursive: true, force: true });
});

function tagsOf(layout: string): string[] {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as {
    manifests: Array<{ annotations?: Record<string, string> }>;
  };
  return index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'] ?? '').sort();
}

function cli(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawnTracked(process.execPath, [join(repo, 'bin/rampart.js'), ...args]);
  return child.exited.then(({ code }) => ({ code, stderr: child.output().stderr }));
}

describe('concurrent writers into one OCI layout', () => {
  it('in one process: every tag is kept, into a new layout and into an existing one', async () => {
    for (let trial = 0; trial < 5; trial++) {
      const layout = join(work, `inproc-${trial}`);
      // The first round creates the layout (all four race to create it), the second updates it.
      for (const round of ['a', 'b']) {
        await Promise.all(images.map((image, i) => writeImage(`oci:${layout}:${round}${i}`, image)));
      }
      expect(tagsOf(layout)).toEqual(['a0', 'a1', 'a2', 'a3', 'b0', 'b1', 'b2', 'b3']);
      for (let i = 0; i < 4; i++)
        expect((await openImage(`oci:${layout}:b${i}`)).digest).toBe(images[i]?.digest);
      expect(readdirSync(work).filter((n) => n.startsWith(`.inproc-${trial}`))).toEqual([]);
    }
  });

  it('in separate processes (rampart copy): every tag is kept', async () => {
    for (let trial = 0; trial < 3; trial++) {
      const layout = join(work, `procs-${trial}`);
      const runs = await Promise.all(
        images.flatMap((_, i) => [
          cli(['copy', `oci:${source}:s${i}`, `oci:${layout}:p${i}`]),
          cli(['copy', `oci:${source}:s${i}`, `oci:${layout}:q${i}`]),
        ]),
      );
      for (const run of runs) expect(run, run.stderr).toMatchObject({ code: 0 });
      expect(tagsOf(layout)).toEqual(['p0', 'p1', 'p2', 'p3', 'q0', 'q1', 'q2', 'q3']);
    }
  }, 120_000);
});

describe('the lock', () => {
  it('is taken over from a dead process of this host', async () => {
    const layout = join(work, 'stale');
    const dead = spawn(process.execPath, ['-e', '']);
    const pid = dead.pid as number;
    await new Promise((done) => dead.once('exit', done));
    writeFileSync(
      lockPathFor(layout),
      JSON.stringify({ pid, host: hostname(), started: new Date().toISOString(), command: 'rampart copy' }),
    );
    await writeImage(`oci:${layout}:t`, images[0] as Image);
    expect(tagsOf(layout)).toEqual(['t']);
    expect(readdirSync(work).filter((n) => n.startsWith('.stale'))).toEqual([]);
  });

  it('held by a live process gives LOCKED naming the holder after the timeout', async () => {
    const layout = join(work, 'held');
    const holder = spawnTracked(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    const lock = {
      pid: holder.pid,
      host: hostname(),
      started: '2026-01-01T00:00:00Z',
      command: 'rampart build x',
    };
    writeFileSync(lockPathFor(layout), JSON.stringify(lock));
    const started = Date.now();
    const error = await acquirePathLock(layout, { timeoutMs: 400, pollMs: 50 }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(isRampartError(error, 'LOCKED')).toBe(true);
    if (!isRampartError(error, 'LOCKED')) return;
    expect(error.details).toEqual({ path: layout, holder: `${hostname()}:${holder.pid}`, pid: holder.pid });
    expect(error.message).toContain('rampart build x');
    expect(error.message.includes('\n')).toBe(false);
    // The holder's lock is untouched, and one released by its owner lets a waiter in.
    expect(JSON.parse(readFileSync(lockPathFor(layout), 'utf8'))).toEqual(lock);
    rmSync(lockPathFor(layout));
    const mine = await acquirePathLock(layout, { timeoutMs: 400 });
    await mine.release();
    expect(readdirSync(work).filter((n) => n.startsWith('.held'))).toEqual([]);
  });

  it('of another host is never taken over, whatever its pid', async () => {
    const layout = join(work, 'remote');
    writeFileSync(
      lockPathFor(layout),
      JSON.stringify({ pid: 999999, host: 'elsewhere.invalid', started: '', command: '' }),
    );
    const error = await acquirePathLock(layout, { timeoutMs: 200, pollMs: 50 }).catch((e: unknown) => e);
    expect(isRampartError(error, 'LOCKED')).toBe(true);
    rmSync(lockPathFor(layout));
  });
});
