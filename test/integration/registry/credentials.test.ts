import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatCliError } from '../../../src/cli/print-error.js';
import { RampartError } from '../../../src/errors.js';
import { helperErase, helperGet, helperStore } from '../../../src/registry/credential-helper.js';
import { credentialStore } from '../../../src/registry/credentials.js';
import { writeCredentialHelper, writeHostileHelper } from '../../helpers/credential-helper.js';

const SECRET = 'pa55:w0rd-SECRET';
const b64 = (text: string) => Buffer.from(text).toString('base64');

let dir: string;
let env: NodeJS.ProcessEnv;
let helper: { bin: string; store: string };

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-creds-'));
  helper = writeCredentialHelper(dir);
  mkdirSync(join(dir, 'home'));
  // Only what the test sets: no variable of the machine running the tests leaks in.
  env = { HOME: join(dir, 'home'), PATH: `${helper.bin}:/usr/bin:/bin`, TEST_HELPER_STORE: helper.store };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function writeJson(path: string, value: unknown): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, JSON.stringify(value));
  return path;
}
const entry = (user: string, password: string) => ({ auth: b64(`${user}:${password}`) });

async function caught(promise: Promise<unknown>): Promise<RampartError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof RampartError) return error;
    throw error;
  }
  throw new Error('expected a RampartError');
}

describe('where credentials are read, in order', () => {
  it('explicit flags, then REGISTRY_AUTH_FILE, then XDG_RUNTIME_DIR auth.json, then the docker config', async () => {
    const authFile = writeJson(join(dir, 'authfile.json'), {
      auths: { 'a:1': entry('from-authfile', 'p1') },
    });
    writeJson(join(dir, 'run', 'containers', 'auth.json'), {
      auths: { 'a:1': entry('from-xdg', 'p2'), 'b:1': entry('from-xdg', 'p2') },
    });
    writeJson(join(dir, 'home', '.docker', 'config.json'), {
      auths: { 'a:1': entry('docker', 'p3'), 'b:1': entry('docker', 'p3'), 'c:1': entry('docker', 'p3') },
    });
    const full = { ...env, REGISTRY_AUTH_FILE: authFile, XDG_RUNTIME_DIR: join(dir, 'run') };
    const store = credentialStore({ env: full });
    expect((await store.get('a:1'))?.username).toBe('from-authfile');
    expect((await store.get('b:1'))?.username).toBe('from-xdg');
    expect((await store.get('c:1'))?.username).toBe('docker');
    expect(await store.get('d:1')).toBeUndefined();
    const explicit = credentialStore({
      env: full,
      explicit: { username: 'flag', password: 'x' },
      explicitRegistry: 'c:1',
    });
    expect((await explicit.get('c:1'))?.username).toBe('flag');
    expect((await explicit.get('a:1'))?.username).toBe('from-authfile');
    expect(
      (await credentialStore({ env: full, explicit: { username: 'all', password: 'x' } }).get('a:1'))
        ?.username,
    ).toBe('all');
  });

  it('DOCKER_CONFIG replaces ~/.docker; --authfile replaces every file', async () => {
    writeJson(join(dir, 'home', '.docker', 'config.json'), { auths: { 'a:1': entry('home', 'p') } });
    writeJson(join(dir, 'dc', 'config.json'), { auths: { 'a:1': entry('docker-config', 'p') } });
    const only = writeJson(join(dir, 'only.json'), { auths: { 'b:1': entry('only', 'p') } });
    expect((await credentialStore({ env }).get('a:1'))?.username).toBe('home');
    expect(
      (await credentialStore({ env: { ...env, DOCKER_CONFIG: join(dir, 'dc') } }).get('a:1'))?.username,
    ).toBe('docker-config');
    const authFile = credentialStore({ env, authFile: only });
    expect(await authFile.get('a:1')).toBeUndefined();
    expect((await authFile.get('b:1'))?.username).toBe('only');
  });

  it('Docker Hub under its legacy keys, and http(s)://HOST/v2/ keys', async () => {
    writeJson(join(dir, 'home', '.docker', 'config.json'), {
      auths: {
        'https://index.docker.io/v1/': entry('hub', SECRET),
        'http://127.0.0.1:5000/v2/': { username: 'plain', password: 'pw' },
        'https://ghcr.io': { identitytoken: 'refresh-token' },
      },
    });
    const store = credentialStore({ env });
    const hub = await store.get('docker.io');
    expect([hub?.username, hub?.password]).toEqual(['hub', SECRET]);
    expect((await store.get('index.docker.io'))?.username).toBe('hub');
    expect((await store.get('127.0.0.1:5000'))?.password).toBe('pw');
    expect((await store.get('ghcr.io'))?.identityToken).toBe('refresh-token');
  });

  it('a broken file is CREDENTIALS_INVALID with no secret in any printed form', async () => {
    const config = writeJson(join(dir, 'home', '.docker', 'config.json'), {});
    writeFileSync(config, `{"auths": {"a:1": {"password": "${SECRET}"}}, trailing ${SECRET}`);
    const error = await caught(credentialStore({ env }).get('a:1'));
    expect(error.code).toBe('CREDENTIALS_INVALID');
    expect(error.details).toEqual({ path: config });
    for (const json of [false, true])
      for (const debug of [false, true])
        expect(formatCliError(error, { json, debug })).not.toContain('SECRET');
  });

  it('a FIFO or an oversized file is refused without hanging', async () => {
    const config = join(dir, 'home', '.docker', 'config.json');
    mkdirSync(join(dir, 'home', '.docker'));
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [config]);
    expect((await caught(credentialStore({ env }).get('a:1'))).code).toBe('CREDENTIALS_INVALID');
    rmSync(config);
    writeFileSync(config, Buffer.alloc(4 * 1024 * 1024 + 1, 0x20));
    expect((await caught(credentialStore({ env }).get('a:1'))).code).toBe('TOO_LARGE');
  });
});

describe('credential helpers (docker-credential-helpers protocol)', () => {
  const options = () => ({ env, timeoutMs: 10_000 });

  it('store, get and erase through docker-credential-test', async () => {
    await helperStore('test', '127.0.0.1:5000', { username: 'alice', secret: SECRET }, options());
    const got = await helperGet('test', '127.0.0.1:5000', options());
    expect(got !== 'missing' && [got?.username, got?.password]).toEqual(['alice', SECRET]);
    expect(await helperErase('test', '127.0.0.1:5000', options())).toBe(true);
    expect(await helperGet('test', '127.0.0.1:5000', options())).toBeUndefined();
    expect(await helperErase('test', '127.0.0.1:5000', options())).toBe(false);
    expect(readFileSync(join(helper.store, 'calls'), 'utf8').trim().split('\n')).toEqual([
      'store 127.0.0.1:5000',
      'get 127.0.0.1:5000',
      'erase 127.0.0.1:5000',
      'get 127.0.0.1:5000',
      'erase 127.0.0.1:5000',
    ]);
  });

  it('the username <token> is an identity token', async () => {
    await helperStore('test', 'h:1', { username: '<token>', secret: 'refresh' }, options());
    const got = await helperGet('test', 'h:1', options());
    expect(got !== 'missing' && [got?.username, got?.identityToken]).toEqual([undefined, 'refresh']);
  });

  it('credHelpers per registry, credsStore as the default, asked with docker server URLs', async () => {
    await helperStore('test', 'https://index.docker.io/v1/', { username: 'hub', secret: SECRET }, options());
    await helperStore('test', 'h:1', { username: 'h', secret: 'p' }, options());
    writeJson(join(dir, 'home', '.docker', 'config.json'), {
      auths: { 'file:1': entry('file', 'p'), 'h:1': {} },
      credHelpers: { 'docker.io': 'test' },
      credsStore: 'test',
    });
    const store = credentialStore({ env });
    expect((await store.get('docker.io'))?.password).toBe(SECRET);
    expect((await store.get('h:1'))?.username).toBe('h');
    expect((await store.get('file:1'))?.username).toBe('file');
    expect(await store.get('none:1')).toBeUndefined();
    // Cached: each registry is asked once however often the client asks.
    await store.get('docker.io');
    const calls = readFileSync(join(helper.store, 'calls'), 'utf8')
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('get'));
    expect(calls).toEqual(['get https://index.docker.io/v1/', 'get h:1', 'get none:1']);
  });

  it('a helper that is not installed is a warning and anonymous', async () => {
    writeJson(join(dir, 'home', '.docker', 'config.json'), { credsStore: 'absent', auths: {} });
    const warnings: string[] = [];
    expect(await credentialStore({ env, onWarning: (m) => warnings.push(m) }).get('h:1')).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('docker-credential-absent');
  });

  it('a helper name that is a path is refused, never run', async () => {
    writeJson(join(dir, 'home', '.docker', 'config.json'), { credHelpers: { 'h:1': '../../tmp/x' } });
    const error = await caught(credentialStore({ env }).get('h:1'));
    expect(error.code).toBe('CREDENTIALS_INVALID');
    expect(error.details).toMatchObject({ registry: 'h:1', field: 'credHelpers' });
  });

  it('hostile helpers: a failure that prints the secret, garbage, a flood, a hang', {
    timeout: 30_000,
  }, async () => {
    writeHostileHelper(
      helper.bin,
      'leaky',
      `cat >/dev/null; echo "cannot unlock ${SECRET}"; echo "${SECRET}" >&2; exit 3`,
    );
    writeHostileHelper(helper.bin, 'garbage', `cat >/dev/null; echo "not json ${SECRET}"`);
    writeHostileHelper(helper.bin, 'flood', 'cat >/dev/null; yes SECRET-SECRET-SECRET');
    writeHostileHelper(helper.bin, 'hang', 'cat >/dev/null; exec sleep 60');
    const leaky = await caught(helperGet('leaky', 'h:1', options()));
    expect([leaky.code, leaky.details]).toEqual([
      'TOOL_FAILED',
      { tool: 'docker-credential-leaky', exitCode: 3 },
    ]);
    const garbage = await caught(helperGet('garbage', 'h:1', options()));
    expect(garbage.code).toBe('TOOL_FAILED');
    const flood = await caught(helperGet('flood', 'h:1', options()));
    expect(flood.code).toBe('TOO_LARGE');
    const hang = await caught(helperGet('hang', 'h:1', { env, timeoutMs: 300 }));
    expect([hang.code, hang.details]).toEqual(['TIMEOUT', { timeoutMs: 300 }]);
    const controller = new AbortController();
    const pending = helperGet('hang', 'h:1', { env, signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    expect((await caught(pending)).code).toBe('CANCELLED');
    for (const error of [leaky, garbage, flood, hang])
      for (const debug of [false, true])
        expect(formatCliError(error, { json: !debug, debug })).not.toContain('SECRET');
  });
});
