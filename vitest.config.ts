import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * Where each suite keeps rampart's caches (downloads, unpacked packages, layers, peer tools): its own
 * XDG_CACHE_HOME under the repository's git-ignored `.cache/`, never the user's `~/.cache/rampart`.
 * Setting the variable here reaches every default (`defaultCacheDir()`, the test helpers) and every
 * process a test starts. e2e keeps its downloads between runs in `.cache/e2e`; unit and
 * integration tests make their own temp caches and should leave theirs empty.
 */
export const TEST_CACHE_ROOT = fileURLToPath(new URL('./.cache/', import.meta.url));
const cacheHome = (project: string) => ({ XDG_CACHE_HOME: `${TEST_CACHE_ROOT}${project}` });

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
          env: cacheHome('unit'),
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          env: cacheHome('integration'),
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 900_000,
          hookTimeout: 900_000,
          // e2e suites share the download cache and the built images; run files one at a time.
          fileParallelism: false,
          env: cacheHome('e2e'),
        },
      },
    ],
  },
});
