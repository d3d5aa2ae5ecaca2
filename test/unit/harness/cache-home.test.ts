/**
 * Tests keep out of the user's cache (issue 11): every suite gets its own XDG_CACHE_HOME under the
 * repository's git-ignored `.cache/` (set in vitest.config.ts), so `defaultCacheDir()` and every
 * helper that derives a cache path from it land there, also in processes the tests start.
 */
import { execFileSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultCacheDir } from '../../../src/debian/cache.js';
import config, { TEST_CACHE_ROOT } from '../../../vitest.config.js';

const REPO = resolve(import.meta.dirname, '../../..');

describe('test cache home', () => {
  it('is the repository .cache/ folder, which git ignores', () => {
    expect(TEST_CACHE_ROOT).toBe(join(REPO, '.cache/'));
    const ignored = execFileSync('git', ['check-ignore', '-q', '--no-index', '.cache/unit/rampart/x'], {
      cwd: REPO,
    });
    expect(ignored.length).toBe(0); // exit 0: ignored (a non-ignored path throws)
  });

  it('gives every suite its own folder there', () => {
    const projects = (config.test?.projects ?? []) as Array<{
      test: { name: string; env?: Record<string, string> };
    }>;
    expect(projects.map((p) => p.test.name).sort()).toEqual(['e2e', 'integration', 'unit']);
    for (const { test } of projects) {
      expect(test.env?.XDG_CACHE_HOME, test.name).toBe(join(REPO, '.cache', test.name));
    }
  });

  it("points rampart's default cache, here and in child processes, away from the user's", () => {
    const inWorker = defaultCacheDir();
    expect(inWorker).toBe(join(REPO, '.cache', 'unit', 'rampart'));
    expect(relative(join(homedir(), '.cache'), inWorker).startsWith('..')).toBe(true);
    const inChild = execFileSync(process.execPath, ['-p', 'process.env.XDG_CACHE_HOME'], {
      encoding: 'utf8',
    });
    expect(inChild.trim()).toBe(join(REPO, '.cache', 'unit'));
  });
});
