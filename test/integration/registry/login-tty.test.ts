import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnTracked, stopAllTracked, type TrackedProcess } from '../../helpers/processes.js';

/**
 * The password prompt on a real terminal: `script` gives the CLI a pseudo-terminal, and what the
 * terminal shows (its transcript on stdout) must never hold the typed password.
 */
const repo = join(import.meta.dirname, '../../..');
const TYPED = 'typed-SECRET-pw';
let home: string;

beforeAll(() => {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: repo, stdio: 'pipe' });
  home = mkdtempSync(join(tmpdir(), 'rampart-login-tty-'));
});
afterAll(async () => {
  await stopAllTracked();
  rmSync(home, { recursive: true, force: true });
});

function onTerminal(args: string): TrackedProcess {
  const command = `${process.execPath} ${join(repo, 'bin/rampart.js')} ${args}`;
  return spawnTracked('script', ['-qefc', command, '/dev/null'], {
    env: { PATH: process.env.PATH, HOME: home, TERM: 'dumb' },
    stdin: 'pipe',
  });
}

async function waitFor(tracked: TrackedProcess, text: string): Promise<void> {
  for (let i = 0; i < 300 && !tracked.output().stdout.includes(text); i++)
    await new Promise((resolve) => setTimeout(resolve, 50));
  expect(tracked.output().stdout).toContain(text);
}

describe('rampart login on a terminal', () => {
  it('prompts for the username with echo and the password without', async () => {
    const tracked = onTerminal('login 127.0.0.1:9');
    await waitFor(tracked, 'Username: ');
    tracked.child.stdin?.write('alice\r');
    await waitFor(tracked, 'Password: ');
    tracked.child.stdin?.write(`${TYPED}\r`);
    const { code } = await tracked.exited;
    tracked.child.stdin?.end();
    const shown = tracked.output().stdout;
    // The verification cannot succeed (nothing listens on port 9): the run fails after the prompt.
    expect(code).not.toBe(0);
    expect(shown).toContain('alice');
    expect(shown).toContain('error: ');
    expect(shown).not.toContain('SECRET');
  });

  it('Ctrl-C at the password prompt cancels (130) and nothing typed is shown', async () => {
    const tracked = onTerminal('login 127.0.0.1:9 -u alice');
    await waitFor(tracked, 'Password: ');
    tracked.child.stdin?.write(`${TYPED}\u0003`);
    const { code } = await tracked.exited;
    tracked.child.stdin?.end();
    expect(code).toBe(130);
    expect(tracked.output().stdout).not.toContain('SECRET');
  });
});
