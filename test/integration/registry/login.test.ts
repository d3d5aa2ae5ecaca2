import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatCliError } from '../../../src/cli/print-error.js';
import { RampartError } from '../../../src/errors.js';
import { credentialStore } from '../../../src/registry/credentials.js';
import { login, logout, type VerifyCredentials } from '../../../src/registry/login.js';
import type { Credential } from '../../../src/registry/types.js';
import { writeCredentialHelper } from '../../helpers/credential-helper.js';

const PASSWORD = 'hunter2:SECRET-pw';
let dir: string;
let env: NodeJS.ProcessEnv;
let helper: { bin: string; store: string };
let seen: Array<{ registry: string; credential: Credential | undefined }>;

/** A verifier standing in for the registry's GET /v2/: it accepts one password. */
const verify: VerifyCredentials = async (registry, credentials) => {
  const credential = await credentials.get(registry);
  seen.push({ registry, credential });
  if (credential?.password !== PASSWORD)
    throw new RampartError('UNAUTHORIZED', `${registry} refused the credentials`, {
      details: { registry, status: 401 },
    });
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-login-'));
  helper = writeCredentialHelper(dir);
  env = { HOME: join(dir, 'home'), PATH: `${helper.bin}:/usr/bin:/bin`, TEST_HELPER_STORE: helper.store };
  seen = [];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const dockerConfig = () => join(dir, 'home', '.docker', 'config.json');
const readConfig = () => JSON.parse(readFileSync(dockerConfig(), 'utf8'));
const b64 = (text: string) => Buffer.from(text).toString('base64');

async function caught(promise: Promise<unknown>): Promise<RampartError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof RampartError) return error;
    throw error;
  }
  throw new Error('expected a RampartError');
}

describe('rampart login (domain function)', () => {
  it('verifies, then writes base64 auth into a new docker config: 0600 file, 0700 folder', async () => {
    const result = await login({
      registry: '127.0.0.1:5000',
      username: 'alice',
      password: PASSWORD,
      verify,
      env,
    });
    expect(result).toEqual({ registry: '127.0.0.1:5000', storedIn: { kind: 'file', path: dockerConfig() } });
    expect(seen.map((s) => [s.registry, s.credential?.username])).toEqual([['127.0.0.1:5000', 'alice']]);
    expect(readConfig()).toEqual({ auths: { '127.0.0.1:5000': { auth: b64(`alice:${PASSWORD}`) } } });
    expect(statSync(dockerConfig()).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'home', '.docker')).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(dir, 'home', '.docker'))).toEqual(['config.json']);
    // What was written is what the store reads back.
    expect((await credentialStore({ env }).get('127.0.0.1:5000'))?.password).toBe(PASSWORD);
    expect(JSON.stringify(result)).not.toContain('SECRET');
  });

  it('a refused password writes nothing, and its error carries no secret', async () => {
    const error = await caught(
      login({ registry: 'h:1', username: 'alice', password: 'wrong-SECRET', verify, env }),
    );
    expect([error.code, error.details]).toEqual(['UNAUTHORIZED', { registry: 'h:1', status: 401 }]);
    expect(() => statSync(dockerConfig())).toThrow();
    for (const json of [false, true])
      for (const debug of [false, true])
        expect(formatCliError(error, { json, debug })).not.toContain('SECRET');
  });

  it('keeps every other key and entry, replaces the legacy keys of the registry, follows a symlink', async () => {
    const real = join(dir, 'dotfiles', 'docker.json');
    mkdirSync(join(dir, 'dotfiles'));
    mkdirSync(join(dir, 'home', '.docker'), { recursive: true });
    writeFileSync(
      real,
      '{"auths":{"https://index.docker.io/v1/":{"auth":"b2xkOm9sZA=="},"index.docker.io":{"auth":"b2xkOm9sZA=="},"other:1":{"auth":"bzpw","email":"x@y"}},"proxies":{"default":{"httpProxy":"http://127.0.0.1:3128"}},"big":12345678901234567890,"psFormat":"{{.ID}}"}',
    );
    symlinkSync(real, dockerConfig());
    await login({
      registry: 'https://index.docker.io/v1/',
      username: 'bob',
      password: PASSWORD,
      verify,
      env,
    });
    expect(lstatSync(dockerConfig()).isSymbolicLink()).toBe(true);
    const text = readFileSync(real, 'utf8');
    expect(text).toContain('12345678901234567890');
    const written = JSON.parse(text);
    expect(written.auths).toEqual({
      'other:1': { auth: 'bzpw', email: 'x@y' },
      'https://index.docker.io/v1/': { auth: b64(`bob:${PASSWORD}`) },
    });
    expect(written.proxies).toEqual({ default: { httpProxy: 'http://127.0.0.1:3128' } });
    expect(written.psFormat).toBe('{{.ID}}');
    expect(statSync(real).mode & 0o777).toBe(0o600);
  });

  it('with a credsStore: stores through the helper and drops an old auth entry that would shadow it', async () => {
    mkdirSync(join(dir, 'home', '.docker'), { recursive: true });
    writeFileSync(
      dockerConfig(),
      JSON.stringify({ credsStore: 'test', auths: { 'h:1': { auth: b64('old:old') } } }),
    );
    const result = await login({ registry: 'h:1', username: 'alice', password: PASSWORD, verify, env });
    expect(result.storedIn).toEqual({ kind: 'helper', helper: 'docker-credential-test' });
    expect(readConfig()).toEqual({ credsStore: 'test', auths: {} });
    expect(readFileSync(dockerConfig(), 'utf8')).not.toContain('SECRET');
    const read = await credentialStore({ env }).get('h:1');
    expect([read?.username, read?.password]).toEqual(['alice', PASSWORD]);
    const out = await logout({ registry: 'h:1', env });
    expect(out.removedFrom).toEqual([{ kind: 'helper', helper: 'docker-credential-test' }]);
    expect(await credentialStore({ env }).get('h:1')).toBeUndefined();
  });

  it('--authfile and REGISTRY_AUTH_FILE choose the file; a shadowing podman file is a warning', async () => {
    const authFile = join(dir, 'chosen', 'auth.json');
    await login({ registry: 'h:1', username: 'a', password: PASSWORD, verify, env, authFile });
    expect(JSON.parse(readFileSync(authFile, 'utf8')).auths['h:1']).toBeDefined();
    const viaEnv = join(dir, 'env-auth.json');
    await login({
      registry: 'h:1',
      username: 'a',
      password: PASSWORD,
      verify,
      env: { ...env, REGISTRY_AUTH_FILE: viaEnv },
    });
    expect(JSON.parse(readFileSync(viaEnv, 'utf8')).auths['h:1']).toBeDefined();
    const xdg = join(dir, 'run');
    mkdirSync(join(xdg, 'containers'), { recursive: true });
    writeFileSync(
      join(xdg, 'containers', 'auth.json'),
      JSON.stringify({ auths: { 'h:1': { auth: b64('stale:x') } } }),
    );
    const warnings: string[] = [];
    await login({
      registry: 'h:1',
      username: 'a',
      password: PASSWORD,
      verify,
      env: { ...env, XDG_RUNTIME_DIR: xdg },
      onWarning: (m) => warnings.push(m),
    });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(join(xdg, 'containers', 'auth.json'));
  });

  it('refuses a bad registry, an empty password and a username with ":" before verifying', async () => {
    for (const bad of [
      { registry: 'quay.io/org', username: 'a', password: PASSWORD },
      { registry: 'h:1', username: 'a', password: '' },
      { registry: 'h:1', username: 'a:b', password: PASSWORD },
    ]) {
      const error = await caught(login({ ...bad, verify, env }));
      expect(error.code).toBe('USAGE');
      expect(JSON.stringify(error)).not.toContain('SECRET');
    }
    expect(seen).toEqual([]);
  });
});

describe('rampart logout (domain function)', () => {
  it('removes every key form of the registry and keeps the rest; a second logout removes nothing', async () => {
    mkdirSync(join(dir, 'home', '.docker'), { recursive: true });
    writeFileSync(
      dockerConfig(),
      JSON.stringify({
        auths: {
          'https://h:1/v2/': { auth: b64('a:b') },
          'h:1': { auth: b64('a:b') },
          'k:2': { auth: b64('k:p') },
        },
        currentContext: 'x',
      }),
    );
    expect((await logout({ registry: 'h:1', env })).removedFrom).toEqual([
      { kind: 'file', path: dockerConfig() },
    ]);
    expect(readConfig()).toEqual({ auths: { 'k:2': { auth: b64('k:p') } }, currentContext: 'x' });
    expect((await logout({ registry: 'h:1', env })).removedFrom).toEqual([]);
    expect((await logout({ registry: 'h:1', env, authFile: join(dir, 'none.json') })).removedFrom).toEqual(
      [],
    );
  });
});

describe('rewrites under attack', () => {
  it('concurrent logins to different registries both land; a 0644 file becomes 0600; __proto__ keys stay keys', async () => {
    mkdirSync(join(dir, 'home', '.docker'), { recursive: true });
    writeFileSync(dockerConfig(), '{"auths":{"__proto__":{"auth":"eDp5"}},"__proto__":{"polluted":true}}', {
      mode: 0o644,
    });
    await Promise.all(
      ['a:1', 'b:1', 'c:1', 'd:1'].map((registry) =>
        login({ registry, username: 'u', password: PASSWORD, verify, env }),
      ),
    );
    const text = readFileSync(dockerConfig(), 'utf8');
    const written = JSON.parse(text);
    expect(Object.keys(written.auths).sort()).toEqual(['__proto__', 'a:1', 'b:1', 'c:1', 'd:1']);
    expect(Object.hasOwn(written, '__proto__')).toBe(true);
    expect(statSync(dockerConfig()).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(dir, 'home', '.docker'))).toEqual(['config.json']);
  });
});
