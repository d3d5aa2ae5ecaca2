import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../../src/sign/keys.js';
import { spawnTracked, stopAllTracked } from '../../helpers/processes.js';
import { type LayoutSignFixture, layoutSignFixture } from '../../helpers/sign-fixtures.js';

// bin/rampart.js starts the `--key` file's scrypt before it loads the CLI (src/cli/early-key.ts):
// the real CLI over the built dist/, with a module hook recording, in order, each scrypt call, its
// end, and the loading of the CLI's entry module.
const repo = join(import.meta.dirname, '../../..');
const PASSWORD = 'early key test password';

let fx: LayoutSignFixture;
let hook: string;
let log: string;

beforeAll(async () => {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: repo, stdio: 'pipe' });
  fx = await layoutSignFixture('rampart-early-key-');
  const pair = await generateKeyPair(PASSWORD, { scryptCost: 32768 });
  await writeFile(join(fx.work, 'k.key'), pair.privateKey);
  await writeFile(join(fx.work, 'k.pub'), pair.publicKey);
  log = join(fx.work, 'events.log');
  hook = join(fx.work, 'record.mjs');
  await writeFile(
    hook,
    `import { registerHooks, syncBuiltinESMExports } from 'node:module';
import { appendFileSync } from 'node:fs';
import crypto from 'node:crypto';
const record = (event) => appendFileSync(${JSON.stringify(log)}, event + '\\n');
const scrypt = crypto.scrypt;
crypto.scrypt = (...args) => {
  record('scrypt');
  const done = args.pop();
  return scrypt(...args, (...result) => { record('scrypt done'); done(...result); });
};
syncBuiltinESMExports();
registerHooks({ load(url, context, next) {
  if (url.endsWith('/dist/cli/main.js')) record('load cli/main.js');
  return next(url, context);
} });
`,
  );
}, 300_000);

afterAll(async () => {
  await stopAllTracked();
  await fx?.cleanup();
});

async function cli(
  args: string[],
  env: NodeJS.ProcessEnv = { RAMPART_PASSWORD: PASSWORD },
): Promise<{ code: number | null; stderr: string; events: string[] }> {
  await writeFile(log, '');
  const base = { ...process.env };
  delete base.RAMPART_PASSWORD;
  delete base.COSIGN_PASSWORD;
  const child = spawnTracked(process.execPath, ['--import', hook, join(repo, 'bin/rampart.js'), ...args], {
    env: { ...base, ...env },
  });
  const { code } = await child.exited;
  const events = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
  return { code, stderr: child.output().stderr, events };
}

describe("the --key file's scrypt starts before the CLI loads", () => {
  it('sign: one scrypt, started before the CLI entry module loads; the signature verifies', async () => {
    const { ref } = await fx.freshLayout('early');
    const signed = await cli(['sign', '--key', join(fx.work, 'k.key'), ref]);
    expect(signed.code, signed.stderr).toBe(0);
    // scrypt's end may come before or after the load on a busy machine; its start comes first.
    expect(signed.events.filter((event) => event !== 'scrypt done')).toEqual(['scrypt', 'load cli/main.js']);
    expect(signed.events.filter((event) => event === 'scrypt done')).toHaveLength(1);
    const verified = await cli(['verify', '--key', join(fx.work, 'k.pub'), ref]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.events).toEqual(['load cli/main.js']);
  });

  it('a password typed at a prompt (none in the environment): scrypt starts only when the command opens the key', async () => {
    const { ref } = await fx.freshLayout('prompt');
    // No terminal here: the command reports the missing password without deriving anything.
    const run = await cli(['sign', '--key', join(fx.work, 'k.key'), ref], {});
    expect(run.code).toBe(2);
    expect(run.events).toEqual(['load cli/main.js']);
  });

  it('a wrong password fails as before (KEY_INVALID), with the one derivation', async () => {
    const { ref } = await fx.freshLayout('wrong');
    const run = await cli(['sign', '--key', join(fx.work, 'k.key'), ref, '-o', 'json'], {
      RAMPART_PASSWORD: 'wrong',
    });
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stderr).error).toMatchObject({
      code: 'KEY_INVALID',
      details: { reason: 'password' },
    });
    expect(run.events.filter((event) => event === 'scrypt')).toHaveLength(1);
  });

  it('a usage error after the early start is still reported as one (exit 2)', async () => {
    const run = await cli(['sign', '--key', join(fx.work, 'k.key'), '--format', 'nope', 'oci:x']);
    expect(run.code).toBe(2);
    expect(run.events.slice(0, 2)).toEqual(['scrypt', 'load cli/main.js']);
  });
});
