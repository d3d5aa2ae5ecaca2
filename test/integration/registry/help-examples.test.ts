/**
 * The registry examples of every command's --help (and of `rampart --help`) run, against a real
 * docker-registry on 127.0.0.1 standing in for the examples' `localhost:5000`, through a `rampart`
 * on PATH in `sh -c` (pipes, `$(...)` and redirections work); the README's registry examples too.
 * test/e2e/examples.test.ts leaves these to this file and runs the rest.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createProgram, main } from '../../../src/cli/main.js';
import { writeImage } from '../../../src/oci/open.js';
import { generateKeyPair } from '../../../src/sign/keys.js';
import { openAdvisoryStore } from '../../../src/vuln/store.js';
import { makeTestImage } from '../../helpers/oci-fixtures.js';
import { runCommand } from '../../helpers/processes.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';

const KEY_PASSWORD = 'example-key-password';
const REPO = resolve(import.meta.dirname, '../../..');
/** The order the examples need each other's results in: push first, delete last. */
const GROUP_ORDER = [
  'copy',
  'inspect',
  'sbom',
  'scan',
  'sign',
  'verify',
  'attest',
  'verify-attestation',
  'diff',
  'lint',
  'compare',
  'tree',
  'ls',
  'login',
  'logout',
  'rm',
];
/** Examples of registry commands that cannot run here, and why. */
const SKIPPED: Record<string, string> = {
  'rampart build images/nodejs.yaml docker://localhost:5000/nodejs:22 --insecure':
    'builds from the Debian archive (e2e); test/integration/registry/build-push.test.ts pushes a build',
  'rampart login 127.0.0.1:5000 -u admin': 'prompts for the password on a terminal',
  'rampart login ghcr.io -u octocat': 'prompts on a terminal, and names a registry on the internet',
  'rampart logout ghcr.io': 'names a registry on the internet (it works offline, but stays out of this test)',
};
const REGISTRY_COMMANDS = new Set(['ls', 'rm', 'login', 'logout']);

async function helpOf(path: string[]): Promise<string> {
  let stdout = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  try {
    await main(['node', 'rampart', ...path, '--help']);
  } finally {
    spy.mockRestore();
  }
  return stdout;
}

const isRegistryExample = (command: string) =>
  command.includes('docker://') || REGISTRY_COMMANDS.has(command.split(/\s+/)[1] as string);

/** `$ rampart …` lines of the help texts, and `rampart …` lines of the README, that talk to a registry. */
async function registryExamples(): Promise<Array<{ command: string; from: string }>> {
  const program = await createProgram();
  const found: Array<{ command: string; from: string }> = [];
  const readme = await readFile(join(REPO, 'README.md'), 'utf8');
  for (const block of readme.matchAll(/```(?:sh|shell|bash|console)\n([\s\S]*?)```/g)) {
    for (const raw of (block[1] as string).split('\n')) {
      const command = raw.replace(/\s+#.*$/, '').trim();
      if (/^rampart /.test(command) && isRegistryExample(command)) found.push({ command, from: 'README.md' });
    }
  }
  for (const path of [[], ...program.commands.map((command) => [command.name()])]) {
    const help = await helpOf(path);
    for (const match of help.matchAll(/^\s*\$ (rampart .+)$/gm)) {
      const command = (match[1] as string).trim();
      if (isRegistryExample(command))
        found.push({ command, from: `rampart ${[...path, '--help'].join(' ')}` });
    }
  }
  const seen = new Set<string>();
  const unique = found.filter((e) => !seen.has(e.command) && seen.add(e.command));
  const group = (command: string) => GROUP_ORDER.indexOf(command.split(/\s+/)[1] as string);
  return unique.sort((a, b) => group(a.command) - group(b.command));
}

const examples = await registryExamples();
let registry: TestRegistry;
let work: string;
let bin: string;

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'rampart-help-examples-'));
  bin = join(work, '.bin');
  await mkdir(bin);
  const entry = join(bin, 'rampart.mjs');
  await writeFile(
    entry,
    [
      "process.stdout.on('error', (e) => { if (e.code === 'EPIPE') process.exit(0); throw e; });",
      `const { main } = await import(${JSON.stringify(pathToFileURL(join(REPO, 'src/cli/main.ts')).href)});`,
      'process.exitCode = await main(process.argv);',
      '',
    ].join('\n'),
  );
  const tsx = pathToFileURL(join(REPO, 'node_modules/tsx/dist/loader.mjs')).href;
  await writeFile(
    join(bin, 'rampart'),
    `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} --import ${tsx} ${JSON.stringify(entry)} "$@"\n`,
  );
  await chmod(join(bin, 'rampart'), 0o755);
  // What the examples read: the image `build` would have made, and a secret for `login`.
  const image = await makeTestImage(work, [
    {
      'var/lib/dpkg/status':
        'Package: hello\nStatus: install ok installed\nVersion: 2.10-3\nArchitecture: amd64\nMaintainer: x <x@example.org>\nDescription: hi\n\n',
    },
  ]);
  await writeImage(`oci:${join(work, 'out', 'nodejs')}:latest`, image);
  await writeFile(join(work, 'secret.txt'), 'example-password');
  openAdvisoryStore(join(work, 'advisories.db')).close();
  // The keys `sign` and `verify` examples name, encrypted under the password of their env.
  for (const name of ['rampart', 'release']) {
    const pair = await generateKeyPair(KEY_PASSWORD, { scryptCost: 32768 });
    await writeFile(join(work, `${name}.key`), pair.privateKey, { mode: 0o600 });
    await writeFile(join(work, `${name}.pub`), pair.publicKey);
  }
});
afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('registry examples of --help', () => {
  it('finds examples for every registry command', () => {
    const groups = new Set(examples.map((e) => e.command.split(/\s+/)[1]));
    for (const name of GROUP_ORDER) expect(groups, name).toContain(name);
    for (const command of Object.keys(SKIPPED)) expect(examples.map((e) => e.command)).toContain(command);
  });

  for (const example of examples) {
    const reason = SKIPPED[example.command];
    const test = reason ? it.skip : it;
    test(`${example.command}  (${example.from}${reason ? `; skipped: ${reason}` : ''})`, async () => {
      // The examples' registry is localhost:5000; the test's listens on a free port of 127.0.0.1.
      const command = example.command.replaceAll(
        'localhost:5000',
        `localhost:${registry.host.split(':')[1]}`,
      );
      const home = join(work, 'home');
      const result = await runCommand('sh', ['-c', `set -e\n${command}`], {
        cwd: work,
        env: {
          ...process.env,
          PATH: `${bin}:${process.env.PATH ?? ''}`,
          HOME: home,
          DOCKER_CONFIG: join(home, '.docker'),
          REGISTRY_AUTH_FILE: '',
          XDG_RUNTIME_DIR: '',
          TOKEN: 'example-token',
          RAMPART_PASSWORD: KEY_PASSWORD,
          // An empty advisory store (no feed is reachable here) for the scan examples.
          RAMPART_ADVISORY_DB: join(work, 'advisories.db'),
        },
        timeoutMs: 120_000,
      });
      expect(result.exitCode, `${command}\n${result.stderr}`).toBe(0);
      if (/\s-o json(\s|$)/.test(command) && !command.includes('|'))
        expect(() => JSON.parse(result.stdout), result.stdout.slice(0, 200)).not.toThrow();
    });
  }
});
