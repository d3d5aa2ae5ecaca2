/**
 * Every example command of the README files and of each command's --help runs, against the real
 * Debian archive, so that no documented example can rot (issue 11 item 2). Examples run in
 * document order within each command group, groups in the order their outputs are needed
 * (build, copy, inspect, sbom, apt, cache), in one work dir holding a copy of images/ (locks and
 * ./out land there, not in the repository), through a `rampart` on PATH in `sh -c` (pipes work).
 * The download cache is the e2e suite's own (its XDG_CACHE_HOME, `.cache/e2e` under the
 * repository, git-ignored; or $RAMPART_TEST_CACHE), shared with the other e2e files, so a second
 * run is warm; outputs are built once and reused by the
 * examples that read them.
 */
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { commandModules } from '../../src/cli/commands/index.js';
import { createProgram, main } from '../../src/cli/main.js';
import { openAdvisoryStore } from '../../src/vuln/store.js';
import { runCommand } from '../helpers/processes.js';

const REPO = resolve(import.meta.dirname, '../..');
const README_FILES = ['README.md', 'images/README.md'];
const CACHE_HOME =
  process.env.RAMPART_TEST_CACHE ?? process.env.XDG_CACHE_HOME ?? join(REPO, '.cache', 'e2e');
const GROUP_ORDER = [
  '--version',
  'build',
  'copy',
  'inspect',
  'sbom',
  'key',
  'sign',
  'verify',
  'attest',
  'verify-attestation',
  'tree',
  'apt',
  'cache',
  'diff',
  'lint',
  'db',
  'scan',
  'compare',
];
/** The password of the keys `key generate` examples write and `sign` examples read. */
const KEY_PASSWORD = 'example-key-password';

const FEEDS =
  'downloads the advisory feeds from the internet (no route out here); test/integration/vuln/db-cli.test.ts runs `db update` against a local feed server';
const ADVISORY_FILES =
  'imports advisory files the user downloaded; test/unit/vuln/import.test.ts and db-cli.test.ts import the real samples';
const RELEASE_KEY =
  "uses the README's release key pair, which its `RAMPART_PASSWORD=... rampart key generate` line (not an example run here) writes; test/integration/sign/ covers it";
const POLICY =
  "reads the user's policy file (docs/policy.md); test/integration/sign/bundle-policy.test.ts evaluates policies";
const KEYLESS =
  'needs an OIDC token and Fulcio and Rekor (online); test/integration/sign/keyless.test.ts signs against @sigstore/mock on 127.0.0.1';
const TWO_BUILDS = 'compares two builds the user has; test/integration/surface/diff.test.ts diffs two builds';
/** Examples that cannot run here, and why. Keep this list short: every entry is an untested doc line. */
const SKIPPED: Record<string, string> = {
  'rampart sbom dir:/srv/rootfs -o json': "names the user's own root filesystem",
  'rampart inspect dir:/srv/rootfs': "names the user's own root filesystem",
  'rampart compare dir:/srv/debian-root oci:./out/nodejs:latest': "names the user's own root filesystem",
  'rampart db update': FEEDS,
  'rampart db update && rampart scan oci:./out/nodejs:latest': FEEDS,
  'rampart db update --only debian-tracker,osv-npm': FEEDS,
  'rampart db update --feed debian-tracker=https://mirror.example/tracker.json --db ./advisories.db':
    "names the user's own feed URL",
  'rampart db import ./json ./npm/all.zip ./vex/': ADVISORY_FILES,
  'rampart db import ./json': ADVISORY_FILES,
  'rampart db import ./npm/all.zip ./pypi/all.zip': ADVISORY_FILES,
  'rampart db import ./vex/ --format openvex --db ./advisories.db': ADVISORY_FILES,
  'rampart db import ./tracker.json ./osv/npm-all.zip --db ./advisories.db': ADVISORY_FILES,
  'rampart db import https://example.org/advisories.json -o json': 'names a URL on the internet',
  'rampart scan sbom:nodejs.spdx.json --vex nodejs.openvex.json -o json':
    "reads the user's VEX document; test/unit/vuln/scan-cli.test.ts scans sbom: with --vex",
  'rampart scan oci:./out/nodejs:latest --vex-key release.pub -o openvex=nodejs.vex.json': RELEASE_KEY,
  'rampart sign --key release.key --bundle nodejs.sigstore.json oci:./out/nodejs:latest': RELEASE_KEY,
  'rampart verify --key release.pub --bundle nodejs.sigstore.json oci:./out/nodejs:latest': RELEASE_KEY,
  'rampart verify --policy release-policy.yaml oci:./mirror/nodejs:22': POLICY,
  'rampart verify --policy release-policy.yaml oci:./out/nodejs:latest': POLICY,
  'rampart attest --key rampart.key --type slsaprovenance1 --predicate prov.json --bundle prov.sigstore.json oci:./out/nodejs:latest':
    "reads the user's provenance predicate; test/integration/sign/bundle-policy.test.ts attests with --bundle",
  'rampart sign --keyless --identity-token-file token.jwt oci:./out/nodejs:latest': KEYLESS,
  'rampart sign --keyless --fulcio-url https://fulcio.example.internal --rekor-url https://rekor.example.internal oci:./out/nodejs:latest':
    KEYLESS,
  'rampart sign --keyless --identity-token-file token.jwt --fulcio-url https://fulcio.example.internal --rekor-url https://rekor.example.internal oci:./out/nodejs:latest':
    KEYLESS,
  'rampart attest --keyless --type openvex --predicate nodejs.openvex.json oci:./out/nodejs:latest': KEYLESS,
  'rampart build images/nodejs.yaml oci:./out/nodejs:22 --sign-keyless --identity-token-file token.jwt --fulcio-url https://fulcio.example.internal --rekor-url https://rekor.example.internal':
    KEYLESS,
  'rampart attest --keyless --format legacy --type slsaprovenance1 --predicate prov.json oci:./out/nodejs:latest':
    KEYLESS,
  'rampart verify-attestation --certificate-identity https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main --certificate-oidc-issuer https://token.actions.githubusercontent.com --trusted-root trusted_root.json --type slsaprovenance1 oci:./out/nodejs:latest':
    "reads the user's trusted root and a keyless attestation; test/integration/sign/keyless.test.ts verifies against a mock's root",
  'rampart verify --certificate-identity https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main --certificate-oidc-issuer https://token.actions.githubusercontent.com --trusted-root trusted_root.json oci:./out/nodejs:latest':
    "reads the user's trusted root and a keyless signature; test/integration/sign/keyless.test.ts verifies against a mock's root",
  'rampart diff oci:./out/nodejs:latest oci:./layout:imported': TWO_BUILDS,
  'rampart diff oci:./out/nodejs:latest oci:./layout:imported -o json=diff.json': TWO_BUILDS,
};
/**
 * Examples that talk to a registry (the docs' `localhost:5000`, or a registry command) run in
 * test/integration/registry/help-examples.test.ts, against a registry that test starts.
 */
const REGISTRY_COMMANDS = new Set(['ls', 'rm', 'login', 'logout']);
function registryExample(command: string): boolean {
  return /\b(localhost|127\.0\.0\.1):5000\b/.test(command) || REGISTRY_COMMANDS.has(command.split(/\s+/)[1]!);
}
/** Examples that must not touch the shared warm cache: they run against an empty one. */
const OWN_CACHE = new Set(['rampart cache prune --all -o json']);

type Example = { command: string; from: string };

/** `rampart …` lines of the ```sh blocks of a markdown file (comments after `#` dropped). */
function examplesFromMarkdown(text: string, from: string): Example[] {
  const out: Example[] = [];
  for (const block of text.matchAll(/```(?:sh|shell|bash|console)\n([\s\S]*?)```/g)) {
    for (const raw of block[1]!.split('\n')) {
      const line = raw
        .replace(/^\$ /, '')
        .replace(/\s+#.*$/, '')
        .trim();
      if (/^(npx )?rampart /.test(line)) out.push({ command: line.replace(/^npx /, ''), from });
    }
  }
  return out;
}

/** `$ rampart …` lines of a --help text. */
function examplesFromHelp(text: string, from: string): Example[] {
  return [...text.matchAll(/^\s*\$ (rampart .+)$/gm)].map((m) => ({ command: m[1]!.trim(), from }));
}

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

async function collectExamples(): Promise<Example[]> {
  const examples: Example[] = [];
  for (const file of README_FILES)
    examples.push(...examplesFromMarkdown(await readFile(join(REPO, file), 'utf8'), file));
  const program = await createProgram();
  const paths: string[][] = [[]];
  for (const command of program.commands) {
    paths.push([command.name()]);
    for (const sub of command.commands) paths.push([command.name(), sub.name()]);
  }
  for (const path of paths)
    examples.push(...examplesFromHelp(await helpOf(path), `rampart ${[...path, '--help'].join(' ')}`));
  const seen = new Set<string>();
  const unique = examples.filter(
    (e) => !registryExample(e.command) && !seen.has(e.command) && seen.add(e.command),
  );
  const group = (e: Example) => GROUP_ORDER.indexOf(e.command.split(/\s+/)[1]!);
  // Array.prototype.sort is stable: document order within a group.
  return unique.sort((a, b) => group(a) - group(b));
}

const examples = await collectExamples();
let work: string;
let bin: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-examples-'));
  bin = join(work, '.bin');
  await mkdir(bin);
  await cp(join(REPO, 'images'), join(work, 'images'), {
    recursive: true,
    filter: (source) => !source.endsWith('.lock.json'),
  });
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
  await mkdir(CACHE_HOME, { recursive: true });
  openAdvisoryStore(join(work, 'advisories.db')).close();
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('documented examples', () => {
  it('finds the examples of every command and of the READMEs', () => {
    const groups = new Set(examples.map((e) => e.command.split(/\s+/)[1]));
    for (const name of Object.keys(commandModules))
      if (!REGISTRY_COMMANDS.has(name)) expect(groups, name).toContain(name);
    expect(examples.some((e) => e.from === 'images/README.md')).toBe(true);
    for (const e of examples) expect(GROUP_ORDER, e.command).toContain(e.command.split(/\s+/)[1]);
    for (const command of Object.keys(SKIPPED))
      expect(
        examples.map((e) => e.command),
        'a skipped example that no longer exists',
      ).toContain(command);
  });

  for (const example of examples) {
    const reason = SKIPPED[example.command];
    const test = reason ? it.skip : it;
    test(`${example.command}  (${example.from}${reason ? `; skipped: ${reason}` : ''})`, async () => {
      const cacheHome = OWN_CACHE.has(example.command) ? await mkdtemp(join(work, '.cache-')) : CACHE_HOME;
      const result = await runCommand('sh', ['-c', `set -e\n${example.command}`], {
        cwd: work,
        env: {
          ...process.env,
          PATH: `${bin}:${process.env.PATH ?? ''}`,
          XDG_CACHE_HOME: cacheHome,
          RAMPART_PASSWORD: KEY_PASSWORD,
          // An empty advisory store (no feed is reachable here): scan, db status and compare run on it.
          RAMPART_ADVISORY_DB: join(work, 'advisories.db'),
        },
        timeoutMs: 840_000,
      });
      expect(result.exitCode, `${example.command}\n${result.stderr}`).toBe(0);
      // A JSON report on stdout must be JSON.
      if (/\s-o json(\s|$)/.test(example.command) && !example.command.includes('|'))
        expect(() => JSON.parse(result.stdout), result.stdout.slice(0, 200)).not.toThrow();
    });
  }
});
