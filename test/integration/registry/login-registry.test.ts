/**
 * `rampart login`, `copy` and `logout` end to end against real docker-registry instances: htpasswd
 * Basic auth over TLS with a CA made by the test, and distribution's token auth with a test token
 * server. What login stores is what copy reads (`--authfile`, `DOCKER_CONFIG`), and no output of
 * any run (text, JSON, --debug, failures) shows the password, its base64 form or a token.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { writeImage } from '../../../src/oci/open.js';
import { makeTestImage } from '../../helpers/oci-fixtures.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';
import {
  makeCertificates,
  makeHtpasswd,
  startTokenServer,
  type TestCertificates,
  type TokenServer,
} from '../../helpers/registry-auth.js';
import { rampart } from '../../helpers/run-cli.js';

const PASSWORD = 'Login-e2e:pa55word-4c1d';
const WRONG = 'not-the-password-77e0';
const work = mkdtempSync(join(tmpdir(), 'rampart-login-registry-'));
let certificates: TestCertificates;
let layout: string;
let imageDigest: string;
/** Every output of every run, checked for secrets at the end of each suite. */
const outputs: string[] = [];
/** The secrets no output may contain. */
const secrets = [PASSWORD, WRONG, base64('alice', PASSWORD), base64('alice', WRONG)];

function base64(user: string, password: string): string {
  return Buffer.from(`${user}:${password}`).toString('base64');
}

async function run(args: string[], stdin?: string) {
  if (stdin !== undefined) {
    vi.spyOn(process, 'stdin', 'get').mockReturnValue(
      Readable.from([stdin]) as unknown as typeof process.stdin,
    );
  }
  const result = await rampart(...args);
  vi.restoreAllMocks();
  outputs.push(result.stdout, result.stderr);
  return result;
}

function errorOf(result: { stderr: string }): { code: string; details: Record<string, unknown> } {
  // -o json: one line; with --debug, after the `error:` line, the same object pretty-printed, then the stack.
  const lines = result.stderr.split('\n');
  const oneLine = lines.find((text) => text.startsWith('{"error":'));
  if (oneLine) return JSON.parse(oneLine).error;
  const open = lines.indexOf('{');
  return JSON.parse(lines.slice(open, lines.indexOf('}', open) + 1).join('\n')).error;
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  certificates = await makeCertificates(work);
  layout = join(work, 'layout');
  const image = await makeTestImage(work, [{ 'etc/hello': 'hello\n' }]);
  imageDigest = (await writeImage(`oci:${layout}:v1`, image)).digest;
});
afterEach(() => {
  vi.unstubAllEnvs();
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

function isolateEnv(home: string): void {
  vi.stubEnv('HOME', home);
  vi.stubEnv('DOCKER_CONFIG', '');
  vi.stubEnv('REGISTRY_AUTH_FILE', '');
  vi.stubEnv('XDG_RUNTIME_DIR', '');
}

describe('login over TLS with htpasswd Basic auth, then copy with the stored credential', () => {
  let registry: TestRegistry;
  const tls = () => ['--ca-file', certificates.caCertificate];
  beforeAll(async () => {
    const htpasswd = join(work, 'htpasswd');
    await makeHtpasswd(htpasswd, { alice: PASSWORD });
    registry = await startRegistry({
      tls: { certificate: certificates.certificate, key: certificates.key },
      htpasswd,
    });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('wrong password: UNAUTHORIZED, exit 1, nothing stored', async () => {
    const home = join(work, 'home-wrong');
    isolateEnv(home);
    const authfile = join(work, 'wrong-auth.json');
    for (const extra of [
      ['-o', 'json'],
      ['--debug', '-o', 'json'],
    ]) {
      const result = await run(
        [
          'login',
          registry.host,
          '-u',
          'alice',
          '--password-stdin',
          '--authfile',
          authfile,
          ...tls(),
          ...extra,
        ],
        WRONG,
      );
      expect(result.code).toBe(1);
      expect(errorOf(result)).toMatchObject({ code: 'UNAUTHORIZED', details: { registry: registry.host } });
    }
    const text = await run(['login', registry.host, '-u', 'alice', '--password-stdin', ...tls()], WRONG);
    expect([text.code, text.stderr.startsWith('error: ')]).toEqual([1, true]);
    expect(exists(authfile)).toBe(false);
    expect(exists(join(home, '.docker', 'config.json'))).toBe(false);
  });

  it('login stores a 0600 --authfile; copy pushes and pulls with it; logout removes it and the push is refused', async () => {
    isolateEnv(join(work, 'home-authfile'));
    const authfile = join(work, 'auth.json');
    const login = await run(
      [
        'login',
        registry.host,
        '-u',
        'alice',
        '--password-stdin',
        '--authfile',
        authfile,
        ...tls(),
        '-o',
        'json',
      ],
      PASSWORD,
    );
    expect([login.code, login.stderr]).toEqual([0, '']);
    expect(JSON.parse(login.stdout)).toEqual({
      registry: registry.host,
      storedIn: { kind: 'file', path: authfile },
    });
    expect(statSync(authfile).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(authfile, 'utf8')).auths[registry.host].auth).toBe(
      base64('alice', PASSWORD),
    );

    const destination = `docker://${registry.host}/private/app:v1`;
    const push = await run([
      'copy',
      `oci:${layout}:v1`,
      destination,
      '--authfile',
      authfile,
      ...tls(),
      '-o',
      'json',
    ]);
    expect(push.code).toBe(0);
    expect(JSON.parse(push.stdout).digest).toBe(imageDigest);
    const pull = await run([
      'copy',
      destination,
      `oci:${join(work, 'pulled')}:v1`,
      '--authfile',
      authfile,
      ...tls(),
      '-o',
      'json',
    ]);
    expect(pull.code).toBe(0);
    expect(JSON.parse(pull.stdout).digest).toBe(imageDigest);

    const logout = await run(['logout', registry.host, '--authfile', authfile, '-o', 'json']);
    expect(logout.code).toBe(0);
    expect(JSON.parse(logout.stdout).removedFrom).toEqual([{ kind: 'file', path: authfile }]);
    expect(JSON.parse(readFileSync(authfile, 'utf8')).auths?.[registry.host]).toBeUndefined();
    const refused = await run([
      'copy',
      `oci:${layout}:v1`,
      `docker://${registry.host}/private/other:v1`,
      '--authfile',
      authfile,
      ...tls(),
      '-o',
      'json',
    ]);
    expect(refused.code).toBe(1);
    expect(errorOf(refused)).toMatchObject({ code: 'UNAUTHORIZED', details: { registry: registry.host } });
  });

  it('login without --authfile writes $DOCKER_CONFIG/config.json, which copy reads with no flag', async () => {
    const home = join(work, 'home-docker-config');
    isolateEnv(home);
    const dockerConfig = join(work, 'docker-config');
    vi.stubEnv('DOCKER_CONFIG', dockerConfig);
    const login = await run(['login', registry.host, '-u', 'alice', '--password-stdin', ...tls()], PASSWORD);
    expect(login.code).toBe(0);
    expect(login.stdout).toBe(
      `Login Succeeded: ${registry.host} (stored in ${join(dockerConfig, 'config.json')})\n`,
    );
    expect(statSync(join(dockerConfig, 'config.json')).mode & 0o777).toBe(0o600);
    expect(exists(join(home, '.docker'))).toBe(false);
    const push = await run([
      'copy',
      `oci:${layout}:v1`,
      `docker://${registry.host}/private/env:v1`,
      ...tls(),
    ]);
    expect(push.code).toBe(0);
    const logout = await run(['logout', registry.host]);
    expect(logout.code).toBe(0);
    const refused = await run([
      'copy',
      `oci:${layout}:v1`,
      `docker://${registry.host}/private/env:v2`,
      ...tls(),
      '-o',
      'json',
    ]);
    expect(errorOf(refused).code).toBe('UNAUTHORIZED');
  });

  it('copy with --creds, and with --username --password-stdin, needs no stored credential', async () => {
    isolateEnv(join(work, 'home-explicit'));
    const creds = await run([
      'copy',
      `oci:${layout}:v1`,
      `docker://${registry.host}/private/creds:v1`,
      '--creds',
      `alice:${PASSWORD}`,
      ...tls(),
    ]);
    expect(creds.code).toBe(0);
    const stdin = await run(
      [
        'copy',
        `docker://${registry.host}/private/creds:v1`,
        `oci:${join(work, 'from-stdin')}:v1`,
        '--username',
        'alice',
        '--password-stdin',
        ...tls(),
        '-o',
        'json',
      ],
      PASSWORD,
    );
    expect(stdin.code).toBe(0);
    expect(JSON.parse(stdin.stdout).digest).toBe(imageDigest);
    const wrong = await run([
      'copy',
      `oci:${layout}:v1`,
      `docker://${registry.host}/private/creds:v2`,
      '--creds',
      `alice:${WRONG}`,
      ...tls(),
      '--debug',
      '-o',
      'json',
    ]);
    expect(wrong.code).toBe(1);
    expect(errorOf(wrong).code).toBe('UNAUTHORIZED');
  });

  it('bare --insecure is for loopback: login works without the CA file', async () => {
    isolateEnv(join(work, 'home-insecure'));
    const authfile = join(work, 'insecure-auth.json');
    const strict = await run(
      ['login', registry.host, '-u', 'alice', '--password-stdin', '--authfile', authfile, '-o', 'json'],
      PASSWORD,
    );
    expect(strict.code).toBe(1);
    expect(errorOf(strict).code).toBe('NETWORK');
    const insecure = await run(
      ['login', registry.host, '-u', 'alice', '--password-stdin', '--authfile', authfile, '--insecure'],
      PASSWORD,
    );
    expect(insecure.code).toBe(0);
    const named = await run(
      [
        'login',
        `--insecure=${registry.host}`,
        registry.host,
        '-u',
        'alice',
        '--password-stdin',
        '--authfile',
        authfile,
      ],
      PASSWORD,
    );
    expect(named.code).toBe(0);
  });

  it('no output of any run above shows the password or its base64 form', () => {
    expect(outputs.length).toBeGreaterThan(20);
    for (const output of outputs) for (const secret of secrets) expect(output).not.toContain(secret);
  });
});

describe('login with token auth (distribution auth.token), then copy with the stored credential', () => {
  let registry: TestRegistry;
  let tokens: TokenServer;
  beforeAll(async () => {
    tokens = await startTokenServer({ dir: work, users: { alice: PASSWORD } });
    registry = await startRegistry({ token: tokens });
  });
  afterAll(async () => {
    await registry?.stop();
    await tokens?.stop();
  });

  it('wrong password is UNAUTHORIZED and stores nothing; the right one stores, copies, and logout refuses the next push', async () => {
    isolateEnv(join(work, 'home-token'));
    const authfile = join(work, 'token-auth.json');
    const wrong = await run(
      [
        'login',
        registry.host,
        '-u',
        'alice',
        '--password-stdin',
        '--authfile',
        authfile,
        '--insecure',
        '-o',
        'json',
      ],
      WRONG,
    );
    expect(wrong.code).toBe(1);
    expect(errorOf(wrong).code).toBe('UNAUTHORIZED');
    expect(exists(authfile)).toBe(false);

    const login = await run(
      ['login', registry.host, '-u', 'alice', '--password-stdin', '--authfile', authfile, '--insecure'],
      PASSWORD,
    );
    expect(login.code).toBe(0);
    expect(statSync(authfile).mode & 0o777).toBe(0o600);
    const destination = `docker://${registry.host}/team/app:v1`;
    const push = await run([
      'copy',
      '--authfile',
      authfile,
      `oci:${layout}:v1`,
      destination,
      '--insecure',
      '--debug',
    ]);
    expect(push.code).toBe(0);
    const pull = await run([
      'copy',
      '--authfile',
      authfile,
      destination,
      `oci:${join(work, 'token-pulled')}:v1`,
      '--insecure',
      '-o',
      'json',
    ]);
    expect(JSON.parse(pull.stdout).digest).toBe(imageDigest);
    expect(tokens.issued.length).toBeGreaterThan(0);

    expect((await run(['logout', registry.host, '--authfile', authfile])).code).toBe(0);
    const refused = await run([
      'copy',
      '--authfile',
      authfile,
      `oci:${layout}:v1`,
      `docker://${registry.host}/team/app:v2`,
      '--insecure',
      '-o',
      'json',
    ]);
    expect(refused.code).toBe(1);
    expect(errorOf(refused).code).toBe('UNAUTHORIZED');
  });

  it('no output shows the password, its base64 form or an issued token', () => {
    for (const output of outputs) {
      for (const secret of [...secrets, ...tokens.issued]) expect(output).not.toContain(secret);
    }
  });
});
