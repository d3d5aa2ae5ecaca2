import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { formatCliError } from '../../../src/cli/print-error.js';
import { RampartError, serializeError } from '../../../src/errors.js';
import {
  authKeysFor,
  credentialOfEntry,
  formatAuthConfig,
  normalizeRegistry,
  parseAuthConfig,
  serverAddressFor,
  withAuthEntry,
} from '../../../src/registry/auth-config.js';
import { parseCredsOption } from '../../../src/registry/credentials.js';
import { RegistryCredential } from '../../../src/registry/secret.js';

const SECRET = 's3cr3t:with:colons';
const b64 = (text: string) => Buffer.from(text).toString('base64');

function thrown(run: () => unknown): RampartError {
  try {
    run();
  } catch (error) {
    if (error instanceof RampartError) return error;
    throw error;
  }
  throw new Error('expected a RampartError');
}

describe('registry names in docker config keys', () => {
  it.each([
    ['docker.io', 'docker.io'],
    ['https://index.docker.io/v1/', 'docker.io'],
    ['index.docker.io', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['http://127.0.0.1:5000/v2/', '127.0.0.1:5000'],
    ['https://Registry.Example.com', 'registry.example.com'],
    ['localhost:5000/v2/', 'localhost:5000'],
    ['[::1]:5000', '[::1]:5000'],
  ])('%s names %s', (key, registry) => {
    expect(normalizeRegistry(key)).toBe(registry);
  });

  it.each([
    'quay.io/org',
    'quay.io/org/repo',
    '',
    'not a host',
    'https://',
    'localhost:0',
    'localhost:70000',
  ])('%s names no registry (repository-scoped podman keys are skipped)', (key) => {
    expect(normalizeRegistry(key)).toBeUndefined();
  });

  it('docker.io is written as https://index.docker.io/v1/, others as HOST[:PORT]', () => {
    expect(serverAddressFor('docker.io')).toBe('https://index.docker.io/v1/');
    expect(serverAddressFor('127.0.0.1:5000')).toBe('127.0.0.1:5000');
  });

  it('prefers the exact key over other forms of the same registry', () => {
    const config = parseAuthConfig(
      JSON.stringify({ auths: { 'https://h:1/v2/': {}, 'h:1': {}, 'other:1': {} } }),
      'f',
    );
    expect(authKeysFor(config, 'h:1')).toEqual(['h:1', 'https://h:1/v2/']);
  });
});

describe('entries', () => {
  const where = { path: '/x/config.json', registry: 'h:1' };

  it('base64 auth is split at the first colon: the password keeps its colons', () => {
    const credential = credentialOfEntry({ auth: b64(`alice:${SECRET}`) }, where);
    expect(credential?.username).toBe('alice');
    expect(credential?.password).toBe(SECRET);
  });

  it('username/password fields, identitytoken, registrytoken', () => {
    expect(credentialOfEntry({ username: 'u', password: 'p' }, where)?.password).toBe('p');
    expect(credentialOfEntry({ identitytoken: 'refresh' }, where)?.identityToken).toBe('refresh');
    expect(credentialOfEntry({ registrytoken: 'bearer' }, where)?.registryToken).toBe('bearer');
  });

  it('an entry without a secret (what docker writes beside a credsStore) is no credential', () => {
    expect(credentialOfEntry({}, where)).toBeUndefined();
    expect(credentialOfEntry({ email: 'a@b' }, where)).toBeUndefined();
  });

  it('a broken auth is CREDENTIALS_INVALID naming file, registry and field, never the value', () => {
    for (const auth of [b64('no-colon-s3cr3t'), `${SECRET}!!`, 42]) {
      const error = thrown(() => credentialOfEntry({ auth }, where));
      expect(error.code).toBe('CREDENTIALS_INVALID');
      expect(error.details).toEqual({ path: '/x/config.json', registry: 'h:1', field: 'auth' });
      expect(JSON.stringify(serializeError(error))).not.toContain('s3cr3t');
    }
  });

  it('a file that is not JSON is CREDENTIALS_INVALID without JSON.parse quoting the text', () => {
    const error = thrown(() => parseAuthConfig(`{"auths": {"h": {"password": "${SECRET}"}} oops`, '/c.json'));
    expect(error.code).toBe('CREDENTIALS_INVALID');
    expect(error.cause).toBeUndefined();
    expect(formatCliError(error, { json: false, debug: true })).not.toContain('s3cr3t');
  });

  it('rewriting keeps other keys, entries and exact numbers, and replaces every form of the registry', () => {
    const text =
      '{"auths":{"https://h:1/v2/":{"auth":"eDp5"},"other:2":{"auth":"b3RoZXI6cA==","extra":1.50}},"psFormat":"x","big":12345678901234567890,"credHelpers":{}}';
    const config = parseAuthConfig(text, 'f');
    const written = formatAuthConfig(withAuthEntry(config, 'h:1', { auth: 'bmV3OnA=' }));
    expect(written).toContain('12345678901234567890');
    expect(written).toContain('1.50');
    expect(JSON.parse(written)).toEqual({
      auths: { 'other:2': { auth: 'b3RoZXI6cA==', extra: 1.5 }, 'h:1': { auth: 'bmV3OnA=' } },
      psFormat: 'x',
      big: Number('12345678901234567890'),
      credHelpers: {},
    });
  });
});

describe('a credential never serialises its secrets', () => {
  const credential = new RegistryCredential({
    username: 'alice',
    password: SECRET,
    identityToken: `id-${SECRET}`,
    registryToken: `rt-${SECRET}`,
  });

  it('reads its fields through getters', () => {
    expect([credential.username, credential.password]).toEqual(['alice', SECRET]);
  });

  it('JSON, inspect, String, template, spread and structuredClone are redacted', () => {
    const outputs = [
      JSON.stringify(credential),
      JSON.stringify({ nested: [credential] }),
      inspect(credential),
      inspect({ deep: { credential } }, { depth: 10, showHidden: true }),
      String(credential),
      `${credential}`,
      JSON.stringify({ ...credential }),
      JSON.stringify(structuredClone(credential)),
    ];
    for (const output of outputs) expect(output).not.toContain('s3cr3t');
    expect(JSON.parse(JSON.stringify(credential))).toEqual({
      username: 'alice',
      password: '<redacted>',
      identityToken: '<redacted>',
      registryToken: '<redacted>',
    });
  });

  it('in an error (details, cause, thrown as is) every CLI form is redacted', () => {
    const inDetails = new RampartError('UNAUTHORIZED', 'refused', {
      details: { registry: 'h:1', credential } as never,
      cause: credential,
    });
    for (const error of [inDetails, credential]) {
      for (const json of [false, true])
        for (const debug of [false, true])
          expect(formatCliError(error, { json, debug })).not.toContain('s3cr3t');
    }
  });

  it('--creds USER:PASS splits at the first colon; a malformed value is USAGE without the value', () => {
    expect(parseCredsOption(`bob:${SECRET}`).password).toBe(SECRET);
    const error = thrown(() => parseCredsOption(`:${SECRET}`));
    expect(error.code).toBe('USAGE');
    expect(error.details).toEqual({ option: '--creds' });
    expect(JSON.stringify(serializeError(error))).not.toContain('s3cr3t');
  });
});

describe('error details never print secret-named fields', () => {
  it('password, token, Authorization (any case, any depth) are <redacted> in JSON and --debug', () => {
    const error = new RampartError('NETWORK', 'refused', {
      details: {
        url: 'https://h:1/v2/',
        headers: { Authorization: `Basic ${SECRET}`, 'Proxy-Authorization': SECRET, accept: 'x' },
        entry: { auth: SECRET, identitytoken: SECRET, password: SECRET, token: SECRET },
      } as never,
    });
    for (const json of [false, true])
      for (const debug of [false, true])
        expect(formatCliError(error, { json, debug })).not.toContain('s3cr3t');
    const details = serializeError(error).details as Record<string, Record<string, unknown>>;
    expect(details.headers).toEqual({
      Authorization: '<redacted>',
      'Proxy-Authorization': '<redacted>',
      accept: 'x',
    });
  });
});
