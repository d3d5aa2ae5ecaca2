/**
 * Builds small, real, signed APT repositories for hermetic tests: .debs made with
 * `dpkg-deb --build`, Packages(.xz), a Release with SHA256 sums and by-hash copies, an
 * InRelease clear-signed by a throw-away gpg key, served by node:http on 127.0.0.1.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';

export interface DebSpec {
  name: string;
  version: string;
  /** Default 'amd64'. */
  architecture?: string;
  depends?: string;
  preDepends?: string;
  recommends?: string;
  provides?: string;
  multiArch?: 'same' | 'foreign' | 'allowed';
  essential?: boolean;
  source?: string;
  /** Extra control.tar files (conffiles, postinst...). */
  controlFiles?: Record<string, string>;
  /** Files of the data archive: path (relative to /) → content. */
  files?: Record<string, string>;
  /** Symlinks: path → target. */
  symlinks?: Record<string, string>;
  /** dpkg-deb -Z; default 'xz'. */
  compression?: 'xz' | 'gzip' | 'zstd' | 'none';
}

export interface GpgKey {
  home: string;
  fingerprint: string;
  /** Binary OpenPGP public keyring file with this key. */
  keyring: string;
}

const run = (cmd: string, args: string[], env?: NodeJS.ProcessEnv, input?: string) =>
  execFileSync(cmd, args, { env: { ...process.env, ...env }, input, stdio: ['pipe', 'pipe', 'pipe'] });

/** Generates an ed25519 signing key in a fresh GNUPGHOME and exports it to a binary keyring. */
export async function createGpgKey(
  dir: string,
  uid = 'Rampart Test Archive <archive@example.invalid>',
): Promise<GpgKey> {
  const home = await mkdtemp(join(dir, 'gnupg-'));
  await chmod(home, 0o700);
  const env = { GNUPGHOME: home };
  run(
    'gpg',
    ['--batch', '--quiet', '--passphrase', '', '--quick-gen-key', uid, 'ed25519', 'sign', 'never'],
    env,
  );
  const listing = run('gpg', ['--batch', '--with-colons', '--list-secret-keys'], env).toString();
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(listing)?.[1];
  if (!fingerprint) throw new Error(`gpg did not create a key:\n${listing}`);
  const keyring = join(home, 'keyring.gpg');
  await writeFile(keyring, run('gpg', ['--batch', '--export', fingerprint], env));
  return { home, fingerprint, keyring };
}

/** Stops the gpg-agent that gpg may have started for this key's GNUPGHOME. */
export function disposeGpgKey(key: GpgKey): void {
  try {
    run('gpgconf', ['--homedir', key.home, '--kill', 'all']);
  } catch {
    // No agent running.
  }
}

export function controlText(spec: DebSpec): string {
  const lines = [
    `Package: ${spec.name}`,
    `Version: ${spec.version}`,
    `Architecture: ${spec.architecture ?? 'amd64'}`,
    'Maintainer: Rampart Tests <tests@example.invalid>',
  ];
  if (spec.source) lines.push(`Source: ${spec.source}`);
  if (spec.essential) lines.push('Essential: yes');
  if (spec.multiArch) lines.push(`Multi-Arch: ${spec.multiArch}`);
  if (spec.preDepends) lines.push(`Pre-Depends: ${spec.preDepends}`);
  if (spec.depends) lines.push(`Depends: ${spec.depends}`);
  if (spec.recommends) lines.push(`Recommends: ${spec.recommends}`);
  if (spec.provides) lines.push(`Provides: ${spec.provides}`);
  lines.push('Priority: optional', 'Section: misc', `Description: test package ${spec.name}`);
  return `${lines.join('\n')}\n`;
}

/** Builds a .deb with dpkg-deb and returns its path. */
export async function buildDeb(outDir: string, spec: DebSpec): Promise<string> {
  const arch = spec.architecture ?? 'amd64';
  const root = await mkdtemp(join(outDir, `build-${spec.name}-`));
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  await writeFile(join(root, 'DEBIAN', 'control'), controlText(spec));
  for (const [name, content] of Object.entries(spec.controlFiles ?? {})) {
    const scripts = ['preinst', 'postinst', 'prerm', 'postrm', 'config'];
    await writeFile(join(root, 'DEBIAN', name), content, { mode: scripts.includes(name) ? 0o755 : 0o644 });
  }
  const files = spec.files ?? { [`usr/share/doc/${spec.name}/README`]: `${spec.name} ${spec.version}\n` };
  const md5: string[] = [];
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
    md5.push(`${createHash('md5').update(content).digest('hex')}  ${path}`);
  }
  if (!spec.controlFiles?.md5sums) await writeFile(join(root, 'DEBIAN', 'md5sums'), `${md5.join('\n')}\n`);
  for (const [path, target] of Object.entries(spec.symlinks ?? {})) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    run('ln', ['-s', target, join(root, path)]);
  }
  const deb = join(outDir, `${spec.name}_${spec.version.replace(/^\d+:/, '')}_${arch}.deb`);
  run('dpkg-deb', ['--root-owner-group', `-Z${spec.compression ?? 'xz'}`, '--build', root, deb]);
  await rm(root, { recursive: true, force: true });
  return deb;
}

export interface SuiteSpec {
  name: string;
  packages: DebSpec[];
  architectures?: string[];
  /** Default: a week from now. `null` omits the field. */
  validUntil?: Date | null;
  /** Default true. */
  acquireByHash?: boolean;
  /** The Release `Date`; default now. */
  date?: Date;
  /** The Release `Codename`; default the suite's name. */
  codename?: string;
}

export interface AptRepo {
  root: string;
  url: string;
  key: GpgKey;
  /** Request counts by URL path, and the last request headers by path. */
  requests: Map<string, number>;
  lastHeaders: Map<string, NodeJS.Dict<string | string[]>>;
  /** Absolute path of a file under the repo root. */
  path(relative: string): string;
  close(): Promise<void>;
}

const sha256Of = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const rfc2822 = (date: Date) => date.toUTCString().replace('GMT', 'UTC');

async function buildSuite(root: string, suite: SuiteSpec, key: GpgKey): Promise<void> {
  const architectures = suite.architectures ?? ['amd64'];
  const dist = join(root, 'dists', suite.name);
  const stanzas = new Map<string, string[]>(architectures.map((a) => [a, []]));
  for (const spec of suite.packages) {
    const arch = spec.architecture ?? 'amd64';
    const poolDir = join(root, 'pool', 'main', spec.name[0] as string, spec.name);
    await mkdir(poolDir, { recursive: true });
    const deb = await buildDeb(poolDir, spec);
    const bytes = await readFile(deb);
    const filename = deb.slice(root.length + 1);
    const stanza = `${controlText(spec).trimEnd()}\nFilename: ${filename}\nSize: ${bytes.length}\nSHA256: ${sha256Of(bytes)}\n`;
    for (const a of architectures) if (arch === a || arch === 'all') stanzas.get(a)?.push(stanza);
  }
  const sums: string[] = [];
  const addIndexFile = async (relative: string, data: Buffer) => {
    const full = join(dist, relative);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, data);
    const sha = sha256Of(data);
    sums.push(` ${sha} ${String(data.length).padStart(8)} ${relative}`);
    if (suite.acquireByHash !== false) {
      const byHash = join(dirname(full), 'by-hash', 'SHA256', sha);
      await mkdir(dirname(byHash), { recursive: true });
      await copyFile(full, byHash);
    }
  };
  for (const [arch, list] of stanzas) {
    const text = Buffer.from(list.join('\n'));
    await addIndexFile(`main/binary-${arch}/Packages`, text);
    await addIndexFile(
      `main/binary-${arch}/Packages.xz`,
      run('xz', ['-c', '-6'], undefined, text.toString()),
    );
  }
  const now = suite.date ?? new Date();
  const validUntil =
    suite.validUntil === undefined ? new Date(now.getTime() + 7 * 86_400_000) : suite.validUntil;
  const release = [
    'Origin: Rampart Tests',
    'Label: Rampart Tests',
    `Suite: ${suite.name}`,
    `Codename: ${suite.codename ?? suite.name}`,
    `Date: ${rfc2822(now)}`,
    ...(validUntil ? [`Valid-Until: ${rfc2822(validUntil)}`] : []),
    ...(suite.acquireByHash !== false ? ['Acquire-By-Hash: yes'] : []),
    `Architectures: ${architectures.join(' ')}`,
    'Components: main',
    'SHA256:',
    ...sums,
  ].join('\n');
  await writeFile(join(dist, 'Release'), `${release}\n`);
  run(
    'gpg',
    [
      '--batch',
      '--yes',
      '--quiet',
      '--local-user',
      key.fingerprint,
      '--clearsign',
      '--output',
      join(dist, 'InRelease'),
      join(dist, 'Release'),
    ],
    { GNUPGHOME: key.home },
  );
}

/** Builds the suites under a fresh temp dir, signs them with a new key, and serves them. */
export async function createAptRepo(
  suites: SuiteSpec[],
  opts: { key?: GpgKey; dir?: string } = {},
): Promise<AptRepo> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'rampart-apt-')));
  const root = join(dir, 'repo');
  await mkdir(root, { recursive: true });
  const key = opts.key ?? (await createGpgKey(dir));
  for (const suite of suites) await buildSuite(root, suite, key);
  const requests = new Map<string, number>();
  const lastHeaders = new Map<string, NodeJS.Dict<string | string[]>>();
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    requests.set(path, (requests.get(path) ?? 0) + 1);
    lastHeaders.set(path, req.headers);
    const file = normalize(join(root, path));
    if (!file.startsWith(`${root}/`)) {
      res.writeHead(403).end();
      return;
    }
    stat(file).then(
      async (info) => {
        if (!info.isFile()) {
          res.writeHead(404).end();
          return;
        }
        const etag = `"${sha256Of(await readFile(file)).slice(0, 16)}"`;
        const lastModified = info.mtime.toUTCString();
        if (req.headers['if-none-match'] === etag) {
          res.writeHead(304, { etag, 'last-modified': lastModified }).end();
          return;
        }
        res.writeHead(200, { 'content-length': info.size, etag, 'last-modified': lastModified });
        createReadStream(file).pipe(res);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    root,
    url: `http://127.0.0.1:${port}`,
    key,
    requests,
    lastHeaders,
    path: (relative) => join(root, relative),
    close: async () => {
      if (!opts.key) disposeGpgKey(key);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
