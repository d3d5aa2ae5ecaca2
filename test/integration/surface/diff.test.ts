/**
 * `rampart diff` (issue 15 item 3): two builds of one spec from two lock files that differ in one
 * package show exactly that change — in packages, in the files that package owns (and dpkg's
 * records of it), and nothing else; `lint --archive` finds the older one outdated. Hermetic: the
 * signed local APT repo.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageDiff } from '../../../src/surface/diff.js';
import type { LintResult } from '../../../src/surface/lint/types.js';
import { importAdvisories } from '../../../src/vuln/import/index.js';
import { openAdvisoryStore } from '../../../src/vuln/store.js';
import { type AptRepo, createAptRepo } from '../../helpers/apt-repo.js';
import { rampart } from '../../helpers/run-cli.js';

let repo: AptRepo;
let dir: string;
let oldRef: string;
let newRef: string;

const tool = (version: string, body: string) => ({
  name: 'tool',
  version,
  files: { 'usr/bin/tool': body, 'usr/share/doc/tool/copyright': 'x\n' },
});

async function build(specDir: string, locked: boolean): Promise<string> {
  const layout = join(specDir, 'out');
  const args = ['build', join(specDir, 'app.yaml'), `oci:${layout}:latest`, '--arch', 'amd64'];
  const { code, stderr } = await rampart(
    ...args,
    '--cache',
    join(dir, 'cache'),
    '-q',
    ...(locked ? ['--locked'] : []),
  );
  expect(code, stderr).toBe(0);
  return `oci:${layout}:latest`;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-diff-'));
  // No advisory store unless a test names one: the machine's default store must not leak in.
  process.env.RAMPART_ADVISORY_DB = join(dir, 'no-store.db');
  repo = await createAptRepo(
    [
      {
        name: 'testing',
        packages: [
          {
            name: 'base-files',
            version: '13.8',
            architecture: 'all',
            files: { 'usr/lib/os-release': 'ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n' },
          },
          tool('1.0', '#!tool 1.0\n'),
          tool('1.1', '#!tool 1.1, with a longer body\n'),
        ],
      },
    ],
    { dir },
  );
  const spec = [
    'name: app',
    'contents:',
    '  suites: [testing]',
    `  mirror: ${repo.url}`,
    `  keyring: ${repo.key.keyring}`,
    '  packages: [base-files, tool]',
    'archs: [amd64]',
    '',
  ].join('\n');
  const newDir = join(dir, 'new');
  const oldDir = join(dir, 'old');
  await mkdir(newDir);
  await mkdir(oldDir);
  await writeFile(join(newDir, 'app.yaml'), spec);
  await writeFile(join(oldDir, 'app.yaml'), spec);
  newRef = await build(newDir, false);
  // The old lock: the new one with tool pinned back to 1.0 (its index entry from Packages).
  const lock = JSON.parse(await readFile(join(newDir, 'app.lock.json'), 'utf8'));
  const packagesText = await readFile(repo.path('dists/testing/main/binary-amd64/Packages'), 'utf8');
  const stanza = packagesText
    .split('\n\n')
    .find((s) => /^Package: tool$/m.test(s) && /^Version: 1\.0$/m.test(s));
  const field = (name: string) => new RegExp(`^${name}: (.*)$`, 'm').exec(stanza ?? '')?.[1] as string;
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      const entry = node as Record<string, unknown>;
      if (entry.name === 'tool' && entry.version === '1.1') {
        Object.assign(entry, {
          version: '1.0',
          sourceVersion: '1.0',
          filename: field('Filename'),
          size: Number(field('Size')),
          sha256: field('SHA256'),
        });
      } else Object.values(entry).forEach(walk);
    }
  };
  walk(lock);
  await writeFile(join(oldDir, 'app.lock.json'), JSON.stringify(lock, null, 2));
  oldRef = await build(oldDir, true);
}, 120_000);

afterAll(async () => {
  delete process.env.RAMPART_ADVISORY_DB;
  await repo?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('rampart diff', () => {
  it('shows exactly the one package that differs between the two locks, and only its files', async () => {
    const { code, stdout, stderr } = await rampart('diff', oldRef, newRef, '-o', 'json');
    expect(code, stderr).toBe(0);
    const diff = JSON.parse(stdout) as ImageDiff;
    expect(diff.schemaVersion).toBe(1);
    expect(diff.packages).toEqual({
      added: [],
      removed: [],
      changed: [
        { name: 'tool', type: 'deb', architecture: 'amd64', from: '1.0', to: '1.1', direction: 'upgrade' },
      ],
    });
    expect(diff.files.added).toEqual([]);
    expect(diff.files.removed).toEqual([]);
    expect(diff.files.changed.map((c) => [c.path, c.reasons])).toEqual([
      ['/usr/bin/tool', ['size']],
      // Same size, other bytes ("1.0" → "1.1"): found by sha256.
      ['/var/lib/dpkg/status.d/tool', ['content']],
      ['/var/lib/dpkg/status.d/tool.md5sums', ['content']],
    ]);
    expect(diff.files.bytesDelta).toBeGreaterThan(0);
    expect(diff.config).toEqual([]);
    expect(diff.findings).toBeUndefined();
  });

  it('renders Markdown release notes with the change in a package table', async () => {
    const { code, stdout, stderr } = await rampart('diff', oldRef, newRef, '-o', 'markdown');
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('| tool | 1.0 | 1.1 |');
    expect(stdout).toContain('**Summary:** 1 package changed');
  });

  it('finds no difference between an image and itself', async () => {
    const { code, stdout, stderr } = await rampart('diff', newRef, newRef);
    expect(code, stderr).toBe(0);
    expect(stdout.trimEnd().split('\n').at(-1)).toBe('No differences.');
  });

  it('lint --archive: the old image has one outdated package, the new one none', async () => {
    const archive = ['--archive', '--mirror', repo.url, '--keyring', repo.key.keyring, '--suite', 'testing'];
    const outdated = async (ref: string) => {
      const { code, stdout, stderr } = await rampart(
        'lint',
        ref,
        '-o',
        'json',
        ...archive,
        '--cache',
        join(dir, 'cache'),
      );
      expect(code, stderr).toBe(0);
      const result = JSON.parse(stdout) as LintResult;
      expect(result.skipped.map((s) => s.check)).not.toContain('outdated-package');
      return result.findings.filter((f) => f.check === 'outdated-package').map((f) => f.location);
    };
    expect(await outdated(oldRef)).toEqual([{ kind: 'package', name: 'tool', version: '1.0' }]);
    expect(await outdated(newRef)).toEqual([]);
  });

  it('with an advisory store, lists the vulnerability the new version fixes', async () => {
    // The tracker's real JSON format (keys are source packages): fixed in tool 1.1 for trixie.
    const tracker = join(dir, 'tracker.json');
    await writeFile(
      tracker,
      JSON.stringify({
        tool: {
          'CVE-2026-9000': {
            releases: {
              trixie: { status: 'resolved', fixed_version: '1.1', urgency: 'high', repositories: {} },
            },
          },
        },
      }),
    );
    const db = join(dir, 'advisories.db');
    const store = openAdvisoryStore(db);
    await importAdvisories(store, [{ path: tracker }]);
    store.close();
    const { code, stdout, stderr } = await rampart('diff', oldRef, newRef, '-o', 'json', '--db', db);
    expect(code, stderr).toBe(0);
    const diff = JSON.parse(stdout) as ImageDiff;
    expect(diff.findings).toEqual({
      fixed: [{ id: 'CVE-2026-9000', severity: expect.any(String), package: 'tool', version: '1.0' }],
      introduced: [],
    });
    const markdown = await rampart('diff', oldRef, newRef, '-o', 'markdown', '--db', db);
    expect(markdown.stdout).toContain('| CVE-2026-9000 |');
  });
});
