import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  freePort,
  pidExists,
  runCommand,
  spawnTracked,
  stopProcess,
  type TrackedProcess,
  waitUntil,
} from './processes.js';

/**
 * Reference tools from newer Debian suites, for e2e tests that check rampart against peers:
 * `crane`, `oras` and `cosign` 3 from sid, `cosign2` from trixie, and go-containerregistry's registry
 * with the referrers API (built with Debian's Go from Debian's source package, patched to the spec as
 * in /work/shared/tools/peer-tools.sh `step_refreg`). The .debs come from the host's own Debian mirror
 * (read from its apt sources at run time) through a private APT config, are extracted with
 * `dpkg-deb -x`, and are cached in the repository's git-ignored `.cache/peer-tools/`: each group is
 * built in a private temp folder and renamed into place, so concurrent test files never see half a
 * group (the loser of a race drops its copy). HOME, GOCACHE and GOTELEMETRY point into the cache.
 */

export type PeerToolName = 'crane' | 'oras' | 'cosign' | 'cosign2' | 'in-toto-golang';

export const PEER_TOOLS_DIR = fileURLToPath(new URL('../../.cache/peer-tools/', import.meta.url));

interface Group {
  /** the folder under PEER_TOOLS_DIR */
  name: string;
  suite: string;
  packages: readonly string[];
}

const SID: Group = { name: 'sid', suite: 'sid', packages: ['cosign', 'oras', 'crane'] };
const TRIXIE: Group = { name: 'trixie', suite: 'trixie', packages: ['cosign'] };
/** A group of its own: adding a package to a group already cached would leave it missing there. */
const SID_INTOTO: Group = { name: 'sid-intoto', suite: 'sid', packages: ['in-toto-golang'] };

const TOOLS: Record<PeerToolName, { group: Group; binary: string }> = {
  crane: { group: SID, binary: 'usr/bin/crane' },
  oras: { group: SID, binary: 'usr/bin/oras' },
  cosign: { group: SID, binary: 'usr/bin/cosign' },
  cosign2: { group: TRIXIE, binary: 'usr/bin/cosign' },
  'in-toto-golang': { group: SID_INTOTO, binary: 'usr/bin/in-toto-golang' },
};

/** The absolute path of a peer tool, fetched and extracted on first use. */
export async function peerTool(name: PeerToolName): Promise<string> {
  const tool = TOOLS[name];
  const dir = await ensureGroup(tool.group.name, (temp) => fetchDebs(tool.group, temp));
  return join(dir, tool.binary);
}

/** The Debian package versions of a tool's group (`{ cosign: '3.1.1-1', ... }`). */
export async function peerToolVersions(name: PeerToolName): Promise<Record<string, string>> {
  await peerTool(name);
  const file = join(PEER_TOOLS_DIR, TOOLS[name].group.name, 'versions.json');
  return JSON.parse(await readFile(file, 'utf8')) as Record<string, string>;
}

/** Environment for running a peer tool: HOME (cosign's ~/.sigstore, oras' config) inside the cache. */
export function peerToolEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, HOME: join(PEER_TOOLS_DIR, 'home'), GOTELEMETRY: 'off', ...extra };
}

export interface ReferrersRegistry {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT, for image references */
  host: string;
  pid: number;
  /** stops the registry by PID (its storage is in memory) */
  stop(): Promise<void>;
}

/**
 * go-containerregistry's in-memory registry with the OCI referrers API (patched: `artifactType`
 * from the manifest, `?artifactType=` filtering with `OCI-Filters-Applied`, `OCI-Subject` on a PUT
 * with a subject, and a PUT by a digest that is not the bytes' digest refused with 400).
 */
export async function startReferrersRegistry(): Promise<ReferrersRegistry> {
  const binary = await referrersRegistryBinary();
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const host = `127.0.0.1:${await freePort()}`;
    const registry = spawnTracked(binary, ['-addr', host], { env: peerToolEnv() });
    const url = `http://${host}`;
    try {
      await waitUntil(
        async () => {
          if (registry.child.exitCode !== null) {
            throw new Error(`refreg exited early: ${registry.output().stderr.trim()}`);
          }
          return (await fetch(`${url}/v2/`).catch(() => undefined))?.status === 200;
        },
        15_000,
        `refreg on ${host}`,
      );
      return { url, host, pid: registry.pid, stop: () => stopProcess(registry as TrackedProcess) };
    } catch (error) {
      lastError = error;
      await stopProcess(registry);
    }
  }
  throw lastError;
}

/** The path of the patched referrers registry binary, built once with Debian's Go 1.24. */
export async function referrersRegistryBinary(): Promise<string> {
  const dir = await ensureGroup('refreg', buildReferrersRegistry);
  return join(dir, 'refreg');
}

/**
 * A trixie root with skopeo 1.18 (bookworm's skopeo has sigstore disabled), made once with
 * mmdebstrap from the host's mirror; run it as `chroot ROOT skopeo ...` (the network namespace is
 * the host's, so a registry on 127.0.0.1 is reachable). Tests write their files under ROOT/tmp.
 */
export async function skopeoTrixieRoot(): Promise<string> {
  return ensureGroup('chroot-trixie-skopeo', async (temp) => {
    await run('mmdebstrap', [
      '-q',
      '--variant=minbase',
      '--aptopt=Acquire::Check-Valid-Until "false"',
      '--include=skopeo,ca-certificates',
      'trixie',
      temp,
      `deb ${debianMirror()} trixie main`,
    ]);
  });
}

/**
 * The host's Debian mirror: the first `URIs:` of a deb822 stanza (or `deb` line) that lists a plain
 * suite (a codename, not `-security`/`-updates`). Read at run time so no host name is written down.
 */
export function debianMirror(): string {
  const dir = '/etc/apt/sources.list.d';
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.sources')) : [];
  for (const file of files.sort()) {
    for (const stanza of readFileSync(join(dir, file), 'utf8').split(/\n\s*\n/)) {
      const fields = new Map<string, string>();
      for (const line of stanza.split('\n')) {
        if (line.startsWith('#')) continue;
        const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
        if (m?.[1] && m[2] !== undefined) fields.set(m[1].toLowerCase(), m[2].trim());
      }
      const types = (fields.get('types') ?? '').split(/\s+/);
      const suites = (fields.get('suites') ?? '').split(/\s+/);
      const uri = (fields.get('uris') ?? '').split(/\s+/)[0];
      if (types.includes('deb') && uri && suites.some((s) => /^[a-z]+$/.test(s))) return uri;
    }
  }
  const list = existsSync('/etc/apt/sources.list') ? readFileSync('/etc/apt/sources.list', 'utf8') : '';
  for (const line of list.split('\n')) {
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+([a-z]+)\s/.exec(line.trim());
    if (m?.[1]) return m[1];
  }
  throw new Error('no Debian mirror in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list');
}

/**
 * `PEER_TOOLS_DIR/name`, made by `build(temp)` in a private temp folder and renamed into place.
 * Temp folders of processes that are gone are swept first.
 */
async function ensureGroup(name: string, build: (temp: string) => Promise<void>): Promise<string> {
  const final = join(PEER_TOOLS_DIR, name);
  if (existsSync(join(final, '.complete'))) return final;
  await mkdir(PEER_TOOLS_DIR, { recursive: true });
  await sweepStaleTemps(name);
  const temp = join(PEER_TOOLS_DIR, `${name}.tmp-${process.pid}-${Date.now()}`);
  await mkdir(temp);
  try {
    await build(temp);
    await writeFile(join(temp, '.complete'), '');
    try {
      await rename(temp, final);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Another test file finished the same group first: use theirs.
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !existsSync(join(final, '.complete'))) throw error;
    }
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  return final;
}

async function sweepStaleTemps(name: string): Promise<void> {
  for (const entry of await readdir(PEER_TOOLS_DIR)) {
    const m = new RegExp(`^(?:${name}\\.tmp|\\.work)-(\\d+)-`).exec(entry);
    if (m && !pidExists(Number(m[1]))) {
      await rm(join(PEER_TOOLS_DIR, entry), { recursive: true, force: true });
    }
  }
}

async function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
) {
  const result = await runCommand(command, args, { ...options, timeoutMs: 600_000 });
  if (result.exitCode !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.exitCode}): ${result.stderr.trim().slice(-2000)}`,
    );
  }
  return result.stdout;
}

/** A private APT config in `dir` that sees `suites` of the host's mirror (sid/forky Release files are past Valid-Until). */
async function privateApt(dir: string, suites: readonly string[]): Promise<NodeJS.ProcessEnv> {
  for (const sub of [
    'lists/partial',
    'cache/archives/partial',
    'etc/sources.list.d',
    'etc/preferences.d',
    'etc/apt.conf.d',
    'state',
  ]) {
    await mkdir(join(dir, sub), { recursive: true });
  }
  await writeFile(
    join(dir, 'etc/sources.list.d/peer.sources'),
    `Types: deb\nURIs: ${debianMirror()}\nSuites: ${suites.join(' ')}\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`,
  );
  const conf = join(dir, 'apt.conf');
  await writeFile(
    conf,
    [
      `Dir::Etc "${dir}/etc";`,
      'Dir::Etc::sourcelist "/dev/null";',
      `Dir::Etc::sourceparts "${dir}/etc/sources.list.d";`,
      `Dir::State "${dir}/state";`,
      `Dir::State::Lists "${dir}/lists";`,
      'Dir::State::status "/var/lib/dpkg/status";',
      `Dir::Cache "${dir}/cache";`,
      'Acquire::Languages "none";',
      'Acquire::Check-Valid-Until "false";',
      'APT::Sandbox::User "root";',
      '',
    ].join('\n'),
  );
  const env = { ...process.env, APT_CONFIG: conf };
  await run('apt-get', ['update', '-qq'], { env });
  return env;
}

/** `apt-get download PKG/SUITE...` into `into`; returns the .deb paths by package name. */
async function downloadDebs(
  env: NodeJS.ProcessEnv,
  into: string,
  suite: string,
  packages: readonly string[],
): Promise<Map<string, string>> {
  await mkdir(into, { recursive: true });
  await run('apt-get', ['download', '-qq', ...packages.map((p) => `${p}/${suite}`)], { cwd: into, env });
  const debs = new Map<string, string>();
  for (const file of await readdir(into)) {
    const pkg = file.split('_')[0] ?? '';
    if (file.endsWith('.deb') && packages.includes(pkg)) debs.set(pkg, join(into, file));
  }
  for (const pkg of packages)
    if (!debs.has(pkg)) throw new Error(`apt-get download gave no .deb for ${pkg}/${suite}`);
  return debs;
}

async function fetchDebs(group: Group, temp: string): Promise<void> {
  const work = await mkdtemp(join(PEER_TOOLS_DIR, `.work-${process.pid}-`));
  try {
    const env = await privateApt(join(work, 'apt'), [group.suite]);
    const debs = await downloadDebs(env, join(work, 'debs'), group.suite, group.packages);
    const versions: Record<string, string> = {};
    for (const [pkg, deb] of debs) {
      await run('dpkg-deb', ['-x', deb, temp]);
      versions[pkg] = (await run('dpkg-deb', ['-f', deb, 'Version'])).trim();
    }
    await writeFile(join(temp, 'versions.json'), `${JSON.stringify(versions, null, 2)}\n`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const REFREG_MAIN = `package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5003", "listen address")
	flag.Parse()
	log.Printf("listening on %s (referrers API on)", *addr)
	log.Fatal(http.ListenAndServe(*addr, registry.New(registry.WithReferrersSupport(true))))
}
`;

/** The spec fixes of step_refreg, as (upstream text, patched text) pairs for pkg/registry/manifest.go. */
const REFREG_PATCHES: ReadonlyArray<readonly [string, string]> = [
  [
    `		m.manifests[repo][digest] = mf
		m.manifests[repo][target] = mf
		resp.Header().Set("Docker-Content-Digest", digest)`,
    `		if strings.HasPrefix(target, "sha256:") && target != digest {
			return &regError{Status: http.StatusBadRequest, Code: "DIGEST_INVALID", Message: "digest mismatch"}
		}
		m.manifests[repo][digest] = mf
		m.manifests[repo][target] = mf
		var subj struct {
			Subject *v1.Descriptor \`json:"subject"\`
		}
		if json.Unmarshal(mf.blob, &subj) == nil && subj.Subject != nil {
			resp.Header().Set("OCI-Subject", subj.Subject.Digest.String())
		}
		resp.Header().Set("Docker-Content-Digest", digest)`,
  ],
  [
    `		var imageAsArtifact struct {
			Config struct {
				MediaType string \`json:"mediaType"\`
			} \`json:"config"\`
		}
		json.Unmarshal(manifest.blob, &imageAsArtifact)
		im.Manifests = append(im.Manifests, v1.Descriptor{
			MediaType:    types.MediaType(manifest.contentType),
			Size:         int64(len(manifest.blob)),
			Digest:       h,
			ArtifactType: imageAsArtifact.Config.MediaType,
		})`,
    `		var imageAsArtifact struct {
			ArtifactType string \`json:"artifactType"\`
			Config       struct {
				MediaType string \`json:"mediaType"\`
			} \`json:"config"\`
			Annotations map[string]string \`json:"annotations"\`
		}
		json.Unmarshal(manifest.blob, &imageAsArtifact)
		at := imageAsArtifact.ArtifactType
		if at == "" {
			at = imageAsArtifact.Config.MediaType
		}
		if want := req.URL.Query().Get("artifactType"); want != "" {
			resp.Header().Set("OCI-Filters-Applied", "artifactType")
			if at != want {
				continue
			}
		}
		im.Manifests = append(im.Manifests, v1.Descriptor{
			MediaType:    types.MediaType(manifest.contentType),
			Size:         int64(len(manifest.blob)),
			Digest:       h,
			ArtifactType: at,
			Annotations:  imageAsArtifact.Annotations,
		})`,
  ],
];

async function buildReferrersRegistry(temp: string): Promise<void> {
  const work = await mkdtemp(join(PEER_TOOLS_DIR, `.work-${process.pid}-`));
  try {
    const env = await privateApt(join(work, 'apt'), ['trixie', 'sid']);
    const goDebs = await downloadDebs(env, join(work, 'debs-go'), 'trixie', [
      'golang-1.24-go',
      'golang-1.24-src',
    ]);
    const ggcrDebs = await downloadDebs(env, join(work, 'debs-ggcr'), 'sid', [
      'golang-github-google-go-containerregistry-dev',
    ]);
    const goRoot = join(work, 'go');
    for (const deb of goDebs.values()) await run('dpkg-deb', ['-x', deb, goRoot]);
    const ggcr = join(work, 'ggcr');
    for (const deb of ggcrDebs.values()) await run('dpkg-deb', ['-x', deb, ggcr]);
    const manifestGo = join(
      ggcr,
      'usr/share/gocode/src/github.com/google/go-containerregistry/pkg/registry/manifest.go',
    );
    let source = await readFile(manifestGo, 'utf8');
    for (const [from, to] of REFREG_PATCHES) {
      if (!source.includes(from))
        throw new Error(`refreg patch does not apply to ${manifestGo}: upstream changed`);
      source = source.replace(from, to);
    }
    await chmod(manifestGo, 0o644);
    await writeFile(manifestGo, source);
    const main = join(work, 'refreg/src/refreg');
    await mkdir(main, { recursive: true });
    await writeFile(join(main, 'main.go'), REFREG_MAIN);
    const goroot = join(goRoot, 'usr/lib/go-1.24');
    await mkdir(join(PEER_TOOLS_DIR, 'home'), { recursive: true });
    await run(join(goroot, 'bin/go'), ['build', '-o', join(work, 'refreg-bin'), 'refreg'], {
      cwd: join(work, 'refreg'),
      env: {
        ...process.env,
        HOME: join(PEER_TOOLS_DIR, 'home'),
        GOTELEMETRY: 'off',
        GOCACHE: join(PEER_TOOLS_DIR, 'gocache'),
        GOROOT: goroot,
        PATH: `${join(goroot, 'bin')}:${process.env.PATH ?? ''}`,
        GO111MODULE: 'off',
        GOTOOLCHAIN: 'local',
        GOPROXY: 'off',
        GOFLAGS: '',
        GOPATH: `${join(work, 'refreg')}:${join(ggcr, 'usr/share/gocode')}`,
      },
    });
    await copyFile(join(work, 'refreg-bin'), join(temp, 'refreg'));
    await chmod(join(temp, 'refreg'), 0o755);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * sid chroot with the tools that need sid's Python: `debsbom` (Debian's SBOM generator),
 * `pyspdxtools` (python3-spdx-tools), cyclonedx-python-lib (python3-cyclonedx-lib) and `debsecan` (the
 * independent scanners rampart's Debian findings are compared with), as in
 * /work/shared/tools/peer-tools.sh `step_chroots`. Built once with mmdebstrap (minbase, ~2 min) in a
 * private temp folder and renamed into place, like the .deb groups. Runs as root (chroot).
 */
export async function sidToolsChroot(): Promise<string> {
  return ensureGroup('chroot-sid-tools', async (temp) => {
    await run('mmdebstrap', [
      '-q',
      '--variant=minbase',
      '--aptopt=Acquire::Check-Valid-Until "false"',
      '--include=debsbom,python3-spdx-tools,python3-cyclonedx-lib,python3-jsonschema,debsecan,ca-certificates',
      'sid',
      join(temp, 'root'),
      `deb ${debianMirror()} sid main`,
    ]);
    await writeFile(join(temp, 'root', 'cdxval.py'), CDX_VALIDATE_PY);
  }).then((dir) => join(dir, 'root'));
}

/** cyclonedx-python-lib's strict JSON validator on one file (exit 1 and the error when invalid). */
const CDX_VALIDATE_PY = `import sys, json
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
data = open(sys.argv[1]).read()
err = JsonStrictValidator(SchemaVersion.from_version(json.loads(data)["specVersion"])).validate_str(data)
print("INVALID: %s" % err if err else "valid"); sys.exit(1 if err else 0)
`;

export interface ChrootRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** the files named in `collect`, read back from the work folder (absent when not written) */
  outputs: Record<string, string>;
}

/**
 * Runs `argv` inside the sid tools chroot with `files` (name -> host path) copied into a private
 * work folder that is the command's cwd; paths in argv are relative to it. The folder is removed after.
 */
export async function runInSidChroot(
  argv: readonly string[],
  files: Record<string, string> = {},
  collect: readonly string[] = [],
): Promise<ChrootRun> {
  const root = await sidToolsChroot();
  const work = await mkdtemp(join(root, 'tmp', 'rampart-'));
  try {
    for (const [name, from] of Object.entries(files)) {
      await mkdir(join(work, name, '..'), { recursive: true });
      await run('cp', ['-a', from, join(work, name)]);
    }
    const inside = `/tmp/${work.split('/').pop()}`;
    const script = `cd ${inside} && exec "$@"`;
    const result = await runCommand('chroot', [root, '/bin/sh', '-c', script, 'sh', ...argv], {
      timeoutMs: 600_000,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8' },
    });
    const outputs: Record<string, string> = {};
    for (const name of collect)
      if (existsSync(join(work, name))) outputs[name] = await readFile(join(work, name), 'utf8');
    return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr, outputs };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** cyclonedx-python-lib's strict validator on a CycloneDX JSON file. */
export async function validateCycloneDxStrict(file: string): Promise<ChrootRun> {
  return runInSidChroot(['python3', '/cdxval.py', 'bom.json'], { 'bom.json': file });
}

/** `pyspdxtools -i` on an SPDX JSON file. */
export async function validateSpdxWithPyspdxtools(file: string): Promise<ChrootRun> {
  return runInSidChroot(['pyspdxtools', '-i', 'doc.spdx.json'], { 'doc.spdx.json': file });
}

/**
 * debsbom (sid) on a root's dpkg status and os-release: `{ cdx, spdx }` JSON texts. `extraArgs`
 * such as `--with-licenses` are passed through.
 */
export async function runDebsbom(
  root: string,
  extraArgs: readonly string[] = [],
): Promise<{ cdx: string; spdx: string }> {
  const result = await runInSidChroot(
    ['debsbom', 'generate', '-t', 'cdx', '-t', 'spdx', '-r', 'root', '-o', 'out', ...extraArgs],
    {
      'root/var/lib/dpkg/status': join(root, 'var/lib/dpkg/status'),
      'root/usr/lib/os-release': join(root, 'usr/lib/os-release'),
    },
    ['out.cdx.json', 'out.spdx.json'],
  );
  const cdx = result.outputs['out.cdx.json'];
  const spdx = result.outputs['out.spdx.json'];
  if (result.exitCode !== 0 || !cdx || !spdx)
    throw new Error(`debsbom failed (${result.exitCode}): ${result.stderr.slice(-2000)}`);
  return { cdx, spdx };
}
