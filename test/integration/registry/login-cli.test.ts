import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { rampart } from '../../helpers/run-cli.js';

const PASSWORD = 'Sup3r:SECRET-password';
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-login-cli-'));
  vi.stubEnv('HOME', join(dir, 'home'));
  vi.stubEnv('DOCKER_CONFIG', '');
  vi.stubEnv('REGISTRY_AUTH_FILE', '');
  vi.stubEnv('XDG_RUNTIME_DIR', '');
});
afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI with `input` on a (non-terminal) stdin. */
async function withStdin(input: string, ...args: string[]) {
  vi.spyOn(process, 'stdin', 'get').mockReturnValue(
    Readable.from([input]) as unknown as typeof process.stdin,
  );
  return rampart(...args);
}

describe('rampart login/logout on the command line: no secret in any output', () => {
  it('a login that fails verification prints no password (text, --debug, -o json) and writes nothing', async () => {
    // Nothing listens on port 9 of loopback: the verification cannot succeed.
    for (const extra of [[], ['--debug'], ['-o', 'json'], ['--debug', '-o', 'json']]) {
      const run = await withStdin(
        `${PASSWORD}\n`,
        'login',
        '127.0.0.1:9',
        '-u',
        'alice',
        '--password-stdin',
        ...extra,
      );
      // The registry client cannot reach it: NETWORK, exit 1.
      expect(run.code).toBe(1);
      expect(run.stderr.startsWith('error: ') || run.stderr.startsWith('{"error":')).toBe(true);
      expect(`${run.stdout}${run.stderr}`).not.toContain('SECRET');
      expect(`${run.stdout}${run.stderr}`).not.toContain(Buffer.from(`alice:${PASSWORD}`).toString('base64'));
    }
    expect(() => statSync(join(dir, 'home', '.docker', 'config.json'))).toThrow();
  });

  it('-p PASSWORD is refused (exit 2) without echoing it', async () => {
    for (const extra of [[], ['--debug'], ['-o', 'json']]) {
      const run = await rampart('login', '127.0.0.1:9', '-u', 'alice', '-p', PASSWORD, ...extra);
      expect(run.code).toBe(2);
      expect(`${run.stdout}${run.stderr}`).not.toContain('SECRET');
    }
    const json = await rampart('login', '127.0.0.1:9', '-u', 'a', '--password', PASSWORD, '-o', 'json');
    expect(JSON.parse(json.stderr).error).toMatchObject({ code: 'USAGE', details: { option: '--password' } });
  });

  it('without a terminal the password must come with --password-stdin (and a username)', async () => {
    const noTty = await withStdin('', 'login', '127.0.0.1:9', '-u', 'alice', '-o', 'json');
    expect(noTty.code).toBe(2);
    expect(JSON.parse(noTty.stderr).error.details).toEqual({ option: '--password-stdin' });
    const noUser = await withStdin(
      PASSWORD,
      'login',
      '127.0.0.1:9',
      '--password-stdin',
      '-o',
      'json',
      '--debug',
    );
    expect(noUser.code).toBe(2);
    expect(`${noUser.stdout}${noUser.stderr}`).not.toContain('SECRET');
  });

  it('logout removes the entry and says so; a broken file is one line without its secret', async () => {
    const config = join(dir, 'home', '.docker', 'config.json');
    mkdirSync(join(dir, 'home', '.docker'), { recursive: true });
    const auth = Buffer.from(`alice:${PASSWORD}`).toString('base64');
    writeFileSync(config, JSON.stringify({ auths: { '127.0.0.1:9': { auth }, 'k:1': { auth: 'YTpi' } } }));
    const out = await rampart('logout', '127.0.0.1:9', '-o', 'json');
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({
      registry: '127.0.0.1:9',
      removedFrom: [{ kind: 'file', path: config }],
    });
    expect(JSON.parse(readFileSync(config, 'utf8'))).toEqual({ auths: { 'k:1': { auth: 'YTpi' } } });
    const again = await rampart('logout', '127.0.0.1:9');
    expect([again.code, again.stdout]).toEqual([0, 'Not logged in to 127.0.0.1:9\n']);
    writeFileSync(config, `{"auths": {"127.0.0.1:9": {"auth": "${auth}", "password": "${PASSWORD}"}`);
    for (const extra of [[], ['--debug'], ['-o', 'json']]) {
      const broken = await rampart('logout', '127.0.0.1:9', ...extra);
      expect(broken.code).toBe(1);
      expect(`${broken.stdout}${broken.stderr}`).not.toContain('SECRET');
      expect(`${broken.stdout}${broken.stderr}`).not.toContain(auth);
    }
  });

  it('login --help teaches where credentials are read from, in order', async () => {
    const help = await rampart('login', '--help');
    expect(help.code).toBe(0);
    const order = ['--creds', 'REGISTRY_AUTH_FILE', 'XDG_RUNTIME_DIR', 'DOCKER_CONFIG'].map((word) =>
      help.stdout.indexOf(word, help.stdout.indexOf('Where credentials are read from')),
    );
    expect(order.every((at) => at > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });
});
