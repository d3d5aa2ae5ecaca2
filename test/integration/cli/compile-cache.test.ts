/**
 * The `rampart` bin keeps Node's compile cache in the user's own cache directory (never the shared
 * temp directory, where another user could plant entries), and a cache it cannot write costs
 * nothing but the speed-up.
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '../../../bin/rampart.js');
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-compile-cache-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const run = (env: Record<string, string>) => {
  const { NODE_COMPILE_CACHE: _ignored, ...rest } = process.env;
  return execFileSync(process.execPath, [BIN, '--version'], { env: { ...rest, ...env }, encoding: 'utf8' });
};

describe('compile cache', () => {
  it('is written under $XDG_CACHE_HOME/rampart/compile-cache', async () => {
    const cache = join(work, 'xdg');
    expect(run({ XDG_CACHE_HOME: cache }).trim()).toMatch(/^\d+\.\d+\.\d+/);
    const entries = await readdir(join(cache, 'rampart', 'compile-cache'), { recursive: true });
    expect(entries.length).toBeGreaterThan(0);
  });

  it('is skipped, not fatal, when that directory cannot be created', async () => {
    const blocked = join(work, 'blocked');
    await writeFile(blocked, 'a file where the cache directory would go');
    await chmod(blocked, 0o444);
    expect(run({ XDG_CACHE_HOME: blocked }).trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
