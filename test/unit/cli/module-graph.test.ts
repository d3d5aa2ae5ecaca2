import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../../src/sign/keys.js';
import { runCommand } from '../../helpers/processes.js';
import { writeRandomImage } from '../../helpers/random-image.js';

// What a command loads: `sign` and `verify` bring the registry, OCI and signing code only when they
// run, and `verify` the policy (YAML) and rebuild code only on those paths. Each case is a fresh
// Node process (through tsx) with a load hook recording every module.
const REPO = resolve(import.meta.dirname, '../../..');
let work: string;
let script: string;
/** A real public key and an existing (unsigned) layout: verify gets past reading both. */
let publicKey: string;
let layout: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-module-graph-'));
  script = join(work, 'graph.mjs');
  await writeFile(
    script,
    `import { registerHooks } from 'node:module';
const loaded = new Set();
registerHooks({ load(url, context, next) { loaded.add(url); return next(url, context); } });
const { main } = await import(${JSON.stringify(join(REPO, 'src/cli/main.ts'))});
const code = await main(['node', 'rampart', ...process.argv.slice(2)]);
process.stderr.write('\\n' + JSON.stringify({ code, loaded: [...loaded] }) + '\\n');
`,
  );
  publicKey = join(work, 'cosign.pub');
  await writeFile(publicKey, (await generateKeyPair('pw', { scryptCost: 32768 })).publicKey);
  layout = `oci:${join(work, 'layout')}:app`;
  await writeRandomImage(join(work, 'layout'), 'app', [64]);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function modulesOf(...args: string[]): Promise<string[]> {
  const run = await runCommand(process.execPath, ['--import', 'tsx', script, ...args], { cwd: REPO });
  const last = run.stderr.trim().split('\n').at(-1) ?? '{}';
  const { loaded } = JSON.parse(last) as { loaded: string[] };
  return loaded
    .filter((url) => url.startsWith(`file://${REPO}/`))
    .map((url) => url.slice(`file://${REPO}/`.length))
    .map((path) => (path.startsWith('node_modules/') ? path.split('/').slice(0, 2).join('/') : path));
}

describe('the CLI loads what a command needs', () => {
  it('sign --help and verify --help load no registry, OCI or signing code', async () => {
    for (const command of ['sign', 'verify']) {
      const modules = await modulesOf(command, '--help');
      expect(modules).toContain(`src/cli/commands/${command}.ts`);
      for (const heavy of [
        'src/sign/sign.ts',
        'src/sign/verify.ts',
        'src/sign/policy.ts',
        'src/sign/rebuild.ts',
        'src/oci/open.ts',
        'node_modules/yaml',
        'node_modules/zod',
      ]) {
        expect(modules, `${command} --help`).not.toContain(heavy);
      }
    }
  });

  it('verify --key loads the verifier, not the policy (YAML) or rebuild code', async () => {
    const modules = await modulesOf('verify', '--key', publicKey, layout);
    // The key was read and the image opened: verify.ts ran (the image has no signature).
    expect(modules).toContain('src/sign/verify.ts');
    expect(modules).toContain('src/oci/open.ts');
    expect(modules).not.toContain('src/sign/policy.ts');
    expect(modules).not.toContain('src/sign/rebuild.ts');
    expect(modules).not.toContain('node_modules/yaml');
    const policy = await modulesOf(
      'verify',
      '--policy',
      join(work, 'missing.yaml'),
      `oci:${join(work, 'none')}`,
    );
    expect(policy).toContain('src/sign/policy.ts');
  });
});
