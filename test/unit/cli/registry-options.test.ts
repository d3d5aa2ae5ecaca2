import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import {
  addRegistryOptions,
  type RegistryFlags,
  registryOptions,
} from '../../../src/cli/registry-options.js';

/** The flags commander hands an action for these arguments. */
function parse(...args: string[]): RegistryFlags {
  const command = addRegistryOptions(new Command().exitOverride().argument('[refs...]'));
  command.parse(['node', 'x', ...args]);
  return command.opts<RegistryFlags>();
}

const caught = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
};
const rejected = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

describe('registry options', () => {
  it('bare --insecure means loopback only; hosts are named with --insecure=HOST (repeatable)', () => {
    expect(parse('docker://127.0.0.1:5000/a', '--insecure').insecure).toBe(true);
    expect(parse('--insecure=r.internal:5000', '--insecure=other').insecure).toEqual([
      'r.internal:5000',
      'other',
    ]);
    // Bare and named together would drop one of them (the loopback registry lost its http).
    for (const args of [
      ['--insecure=r.internal:5000', '--insecure'],
      ['docker://127.0.0.1:5000/a', '--insecure', '--insecure=r.internal:5000'],
    ]) {
      expect(caught(() => parse(...args))).toMatchObject({
        code: 'USAGE',
        details: { option: '--insecure' },
      });
    }
    expect(parse('docker://127.0.0.1:5000/a', '--insecure', '--insecure').insecure).toBe(true);
    // An image reference after a bare --insecure is not taken for a host.
    expect(caught(() => parse('--insecure', 'docker://127.0.0.1:5000/a'))).toMatchObject({
      code: 'USAGE',
      details: { option: '--insecure' },
    });
    // The same host rule as image references: a port of 1-65535.
    expect(caught(() => parse('--insecure=r.internal:0'))).toMatchObject({
      code: 'USAGE',
      details: { option: '--insecure', value: 'r.internal:0' },
    });
  });

  it('--jobs is offered only by the commands that transfer blobs (copy, build)', async () => {
    const { createProgram } = await import('../../../src/cli/main.js');
    const program = await createProgram();
    const withJobs = program.commands
      .filter((command) => command.options.some((option) => option.long === '--authfile'))
      .filter((command) => command.options.some((option) => option.long === '--jobs'))
      .map((command) => command.name())
      .sort();
    expect(withJobs).toEqual(['build', 'copy']);
  });

  it('--jobs is a whole number from 1 to 64', async () => {
    expect((await registryOptions(parse('--jobs', '3'), [])).jobs).toBe(3);
    for (const bad of ['0', '65', '2.5', 'x']) {
      expect(await rejected(registryOptions(parse('--jobs', bad), []))).toMatchObject({
        code: 'USAGE',
        details: { option: '--jobs', value: bad },
      });
    }
  });

  it('explicit credentials go to the one registry named, never echo the secret, and are refused for two', async () => {
    const options = await registryOptions(parse('--creds', 'me:s3cret'), [
      'docker://127.0.0.1:5000/a:1',
      'oci:x',
    ]);
    const given = await options.credentials?.get('127.0.0.1:5000');
    expect([given?.username, given?.password]).toEqual(['me', 's3cret']);
    // The credential handed out redacts itself when printed or serialised.
    expect(JSON.stringify(given)).not.toContain('s3cret');
    const two = await rejected(
      registryOptions(parse('--creds', 'me:s3cret'), [
        'docker://127.0.0.1:5000/a',
        'docker://localhost:5001/b',
      ]),
    );
    expect(two).toMatchObject({ code: 'USAGE', details: { option: '--creds' } });
    expect(JSON.stringify(two)).not.toContain('s3cret');
    const malformed = await rejected(
      registryOptions(parse('--creds', 's3cret'), ['docker://127.0.0.1:5000/a']),
    );
    expect(malformed).toMatchObject({ code: 'USAGE', details: { option: '--creds' } });
    expect(JSON.stringify((malformed as { details: unknown }).details)).not.toContain('s3cret');
  });

  it('--username takes the password from stdin only', async () => {
    const refs = ['docker://127.0.0.1:5000/a'];
    const options = await registryOptions(
      parse('--username', 'me', '--password-stdin'),
      refs,
      Readable.from(['pw\n']),
    );
    const given = await options.credentials?.get('127.0.0.1:5000');
    expect([given?.username, given?.password]).toEqual(['me', 'pw']);
    expect(await rejected(registryOptions(parse('--username', 'me'), refs))).toMatchObject({
      code: 'USAGE',
      details: { option: '--username' },
    });
    expect(
      await rejected(registryOptions(parse('--username', 'me', '--password-stdin'), refs, Readable.from([]))),
    ).toMatchObject({ code: 'USAGE', details: { option: '--password-stdin' } });
    // A ':' in the user name would move its tail into the password (user 'me', password 'you:pw').
    expect(
      await rejected(
        registryOptions(parse('--username', 'me:you', '--password-stdin'), refs, Readable.from(['pw'])),
      ),
    ).toMatchObject({ code: 'USAGE', details: { option: '--username' } });
  });

  it('--authfile is the only credential file read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-authfile-'));
    try {
      const file = join(dir, 'auth.json');
      const auth = Buffer.from('me:from-file').toString('base64');
      writeFileSync(file, JSON.stringify({ auths: { '127.0.0.1:5000': { auth } } }));
      const options = await registryOptions(parse('--authfile', file), []);
      const given = await options.credentials?.get('127.0.0.1:5000');
      expect([given?.username, given?.password]).toEqual(['me', 'from-file']);
      expect(await options.credentials?.get('127.0.0.1:5001')).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
