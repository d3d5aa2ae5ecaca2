/**
 * `rampart lint` (issue 15 item 4) on images made for it: one with a setuid binary, one with a shell
 * and a root user, one with a private key in a file and a token in its env. Each gives exactly the
 * expected findings; SARIF output validates against the official 2.1.0 schema; `--fail-on` and
 * `.rampart-lint.yaml` behave as documented.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import AjvDraft04 from 'ajv-draft-04';
import addFormatsModule from 'ajv-formats';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../../src/oci/digest.js';
import { layerFromFile, newImage } from '../../../src/oci/in-memory.js';
import { writeImage } from '../../../src/oci/open.js';
import type { LintResult } from '../../../src/surface/lint/types.js';
import { rampart } from '../../helpers/run-cli.js';

type Entry = { name: string; content?: string; mode?: number; type?: 'file' | 'directory' };

// CommonJS default exports, as test/unit/sbom/schema-validators.ts reads them.
const Ajv = AjvDraft04 as unknown as typeof import('ajv').Ajv;
const addFormats = addFormatsModule as unknown as (ajv: object) => void;
const digestOf = (bytes: Buffer): Digest => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** A one-layer OCI layout whose tar (made with tar-stream) has the given modes. */
async function makeLayout(
  dir: string,
  name: string,
  entries: Entry[],
  config: Record<string, unknown>,
  tag = '1.0',
): Promise<string> {
  const tar = pack();
  for (const entry of entries) {
    const header = { name: entry.name, mode: entry.mode ?? 0o644, mtime: new Date(0), uid: 0, gid: 0 };
    if (entry.type === 'directory') tar.entry({ ...header, type: 'directory', mode: entry.mode ?? 0o755 });
    else tar.entry(header, entry.content ?? '');
  }
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  const blob = gzipSync(raw);
  const path = join(dir, `${name}.tar.gz`);
  await writeFile(path, blob);
  const layer = layerFromFile(
    path,
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(blob), size: blob.length },
    digestOf(raw),
  );
  const image = newImage({
    config: {
      created: '2026-12-01T00:00:00Z',
      os: 'linux',
      architecture: 'amd64',
      config: { Labels: LABELS, ...config },
      rootfs: { type: 'layers', diff_ids: [] },
    },
    layers: [layer],
  });
  const ref = `oci:${join(dir, name)}:${tag}`;
  await writeImage(ref, image);
  return ref;
}

const LABELS = Object.fromEntries(
  ['created', 'source', 'revision', 'version', 'title', 'description', 'licenses'].map((key) => [
    `org.opencontainers.image.${key}`,
    key === 'source' ? 'https://example.invalid/app' : 'x',
  ]),
);
const BASE: Entry[] = [
  { name: 'etc/', type: 'directory' },
  { name: 'etc/os-release', content: 'ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n' },
  {
    name: 'etc/passwd',
    content: 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n',
  },
  { name: 'tmp/', type: 'directory', mode: 0o1777 },
  { name: 'usr/', type: 'directory' },
  { name: 'usr/bin/', type: 'directory' },
  { name: 'usr/bin/app', content: '#!app\n', mode: 0o755 },
];
const NONROOT = { User: '65532:65532', Env: ['PATH=/usr/bin:/bin'], Entrypoint: ['/usr/bin/app'] };
const TOKEN = `ghp_${'aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY2zA4'}`;
const UNSIGNED = ['no-signature', 'no-sbom', 'no-provenance'];

let dir: string;
let refs: Record<'clean' | 'setuid' | 'shellRoot' | 'secrets' | 'latest', string>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-lint-'));
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
    type: 'pkcs1',
    format: 'pem',
  });
  refs = {
    clean: await makeLayout(dir, 'clean', BASE, NONROOT),
    setuid: await makeLayout(
      dir,
      'setuid',
      [...BASE, { name: 'usr/bin/su', content: 'su', mode: 0o4755 }],
      NONROOT,
    ),
    shellRoot: await makeLayout(
      dir,
      'shell-root',
      [...BASE, { name: 'usr/bin/sh', content: 'sh', mode: 0o755 }],
      {
        ...NONROOT,
        User: '',
      },
    ),
    secrets: await makeLayout(
      dir,
      'secrets',
      [
        ...BASE,
        { name: 'home/', type: 'directory' },
        { name: 'home/id_rsa', content: key.toString(), mode: 0o600 },
      ],
      { ...NONROOT, Env: ['PATH=/usr/bin:/bin', `GITHUB_TOKEN=${TOKEN}`] },
    ),
    latest: await makeLayout(dir, 'latest', BASE, NONROOT, 'latest'),
  };
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function lint(ref: string, ...args: string[]): Promise<LintResult> {
  const { code, stdout, stderr } = await rampart('lint', ref, '-o', 'json', ...args);
  expect(code, stderr).toBe(0);
  return JSON.parse(stdout) as LintResult;
}

const summary = (result: LintResult) =>
  result.findings
    .map((f) => [f.check, f.location.kind === 'file' ? f.location.path : f.location.kind])
    .sort();

describe('rampart lint', () => {
  it('finds nothing but the missing attachments in a clean unsigned image', async () => {
    const result = await lint(refs.clean);
    expect(summary(result)).toEqual(UNSIGNED.map((id) => [id, 'image']).sort());
    expect(result.findings.every((f) => f.severity === 'info')).toBe(true);
    expect(result.skipped).toEqual([{ check: 'outdated-package', reason: expect.any(String) }]);
  });

  it('finds the setuid binary', async () => {
    const result = await lint(refs.setuid);
    expect(summary(result)).toEqual(
      [['setuid-file', '/usr/bin/su'], ...UNSIGNED.map((id) => [id, 'image'])].sort(),
    );
  });

  it('finds the shell and the root user', async () => {
    const result = await lint(refs.shellRoot);
    expect(summary(result)).toEqual(
      [
        ['root-user', 'config'],
        ['shell-present', '/usr/bin/sh'],
        ...UNSIGNED.map((id) => [id, 'image']),
      ].sort(),
    );
  });

  it('finds the private key in a file and the token in the env, without printing them', async () => {
    const { stdout } = await rampart('lint', refs.secrets, '-o', 'json');
    const result = JSON.parse(stdout) as LintResult;
    expect(summary(result)).toEqual(
      [
        ['secret-in-file', '/home/id_rsa'],
        ['secret-in-env', 'env'],
        ...UNSIGNED.map((id) => [id, 'image']),
      ].sort(),
    );
    expect(result.findings.find((f) => f.check === 'secret-in-env')?.message).toContain('(github-pat)');
    expect(result.findings.find((f) => f.check === 'secret-in-file')?.message).toContain('(private-key)');
    expect(stdout).not.toContain(TOKEN);
    expect(stdout).not.toContain('MII');
    expect(result.secretsScan.filesScanned).toBeGreaterThan(0);
  });

  it('flags an image tagged only latest', async () => {
    const result = await lint(refs.latest);
    expect(summary(result)).toContainEqual(['latest-only-tag', 'tag']);
  });

  it('writes SARIF 2.1.0 that the official schema accepts', async () => {
    const { code, stdout, stderr } = await rampart('lint', refs.secrets, '-o', 'sarif');
    expect(code, stderr).toBe(0);
    const schema = JSON.parse(
      await readFile(join(__dirname, '../../fixtures/schemas/sarif-2.1.0.schema.json'), 'utf8'),
    );
    // The OASIS schema is draft-04 (Errata 01), which Ajv 8 reads only through ajv-draft-04.
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    const validate = ajv.compile(schema);
    const sarif = JSON.parse(stdout);
    expect(validate(sarif), JSON.stringify(validate.errors)).toBe(true);
    const results = sarif.runs[0].results as Array<{ ruleId: string; level: string; locations: unknown[] }>;
    expect(results.find((r) => r.ruleId === 'secret-in-file')).toMatchObject({
      level: 'error',
      locations: [
        { physicalLocation: { artifactLocation: { uri: 'home/id_rsa', uriBaseId: 'IMAGE_ROOT' } } },
      ],
    });
  });

  it('--fail-on exits 1 at or above the severity, 0 below it', async () => {
    expect((await rampart('lint', refs.setuid, '--fail-on', 'error')).code).toBe(1);
    expect((await rampart('lint', refs.clean, '--fail-on', 'warning')).code).toBe(0);
    expect((await rampart('lint', refs.clean, '--fail-on', 'info')).code).toBe(1);
  });

  it('.rampart-lint.yaml disables a check with its reason; a reasonless entry is POLICY_INVALID', async () => {
    const config = join(dir, 'lint.yaml');
    await writeFile(config, 'disable:\n  - check: shell-present\n    reason: debug variant\n');
    const result = await lint(refs.shellRoot, '--config', config);
    expect(result.findings.map((f) => f.check)).not.toContain('shell-present');
    expect(result.disabled).toEqual([{ check: 'shell-present', reason: 'debug variant' }]);

    await writeFile(config, 'disable:\n  - check: shell-present\n');
    const bad = await rampart('lint', refs.shellRoot, '--config', config, '-o', 'json');
    expect(bad.code).toBe(2);
    const error = JSON.parse(bad.stderr).error;
    expect(error.code).toBe('POLICY_INVALID');
    expect(error.details).toEqual({ path: config, field: 'disable[0].reason' });
  });
});
