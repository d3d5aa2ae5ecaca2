import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../helpers/processes.js';

// The progress bar library is loaded for the first bar only: a log (CI, a pipe) or -q never
// draws one. Each case is a fresh Node process (through tsx) reporting the modules it loaded.
const REPO = resolve(import.meta.dirname, '../../..');
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-progress-lazy-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function loadsBarLibrary(interactive: boolean): Promise<boolean> {
  const script = join(work, `${interactive}.mjs`);
  await writeFile(
    script,
    `import Module, { registerHooks } from 'node:module';
const loaded = [];
registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });
const { createProgressReporter } = await import(${JSON.stringify(join(REPO, 'src/cli/progress.ts'))});
const stream = { isTTY: ${interactive}, columns: 80, write: () => true };
const progress = createProgressReporter({ stream, interactive: ${interactive} });
const time = new Date(0);
progress.copy({ kind: 'plan', time, blobs: 1, bytes: 2 ** 20 });
progress.copy({ kind: 'blob', time, digest: 'sha256:' + 'a'.repeat(64), size: 2 ** 20, mediaType: 'x', status: 'start' });
progress.copy({ kind: 'blob-progress', time, digest: 'sha256:' + 'a'.repeat(64), bytes: 2 ** 19, size: 2 ** 20 });
progress.copy({ kind: 'blob', time, digest: 'sha256:' + 'a'.repeat(64), size: 2 ** 20, mediaType: 'x', status: 'copied' });
progress.stop();
// ESM loads pass the hook; a require() is in the CommonJS cache.
const urls = [...loaded, ...Object.keys(Module._cache)];
process.stdout.write(JSON.stringify(urls.some((url) => url.includes('/node_modules/cli-progress/'))));
`,
  );
  const run = await runCommand(process.execPath, ['--import', 'tsx', script], { cwd: REPO });
  expect(run.stderr).toBe('');
  return JSON.parse(run.stdout) as boolean;
}

describe('progress reporter loading', () => {
  it('a log (not a terminal) never loads the bar library', async () => {
    expect(await loadsBarLibrary(false)).toBe(false);
  });

  it('a terminal loads it for its first bar', async () => {
    expect(await loadsBarLibrary(true)).toBe(true);
  });
});
