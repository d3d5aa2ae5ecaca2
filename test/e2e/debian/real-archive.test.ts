/**
 * Against the real Debian archive (the mirror from the host's apt configuration): resolve
 * closures for amd64 and arm64, check them with an independent dependency checker written
 * here, and compare them with `apt-get -s install --no-install-recommends` run against a
 * private apt configuration with an empty dpkg status.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AptMirrors } from '../../../src/debian/apt-sources.js';
import { readHostAptSources, selectMirrors } from '../../../src/debian/apt-sources.js';
import { defaultCacheDir } from '../../../src/debian/cache.js';
import { readDeb, readDebData } from '../../../src/debian/deb-reader.js';
import { downloadPackages } from '../../../src/debian/download.js';
import type { PackageIndex } from '../../../src/debian/package-index.js';
import { loadRepositories } from '../../../src/debian/repository.js';
import { resolvePackageClosure } from '../../../src/debian/resolver.js';

const SUITE = 'trixie';
const ARCHES = ['amd64', 'arm64'] as const;
const REQUESTS = [['libc6', 'ca-certificates', 'tzdata'], ['nodejs'], ['python3']];
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

// ---- an independent view of the archive: apt's own downloaded lists, parsed here ----

interface Stanza {
  name: string;
  version: string;
  arch: string;
  fields: Map<string, string>;
}

function parseStanzas(text: string): Stanza[] {
  const stanzas: Stanza[] = [];
  for (const block of text.split(/\n\n+/)) {
    const fields = new Map<string, string>();
    let last = '';
    for (const line of block.split('\n')) {
      if (/^\s/.test(line)) fields.set(last, `${fields.get(last)}\n${line.trim()}`);
      else {
        const colon = line.indexOf(':');
        if (colon < 0) continue;
        last = line.slice(0, colon).toLowerCase();
        fields.set(last, line.slice(colon + 1).trim());
      }
    }
    const name = fields.get('package');
    if (name)
      stanzas.push({
        name,
        version: fields.get('version') ?? '',
        arch: fields.get('architecture') ?? '',
        fields,
      });
  }
  return stanzas;
}

const versionCache = new Map<string, boolean>();
const DPKG_OPS: Record<string, string> = { '<<': 'lt', '<=': 'le', '=': 'eq', '>=': 'ge', '>>': 'gt' };
/** dpkg itself decides version relations. */
function dpkgSatisfies(version: string, op: string, target: string): boolean {
  const key = `${version} ${op} ${target}`;
  let result = versionCache.get(key);
  if (result === undefined) {
    try {
      execFileSync('dpkg', ['--compare-versions', version, DPKG_OPS[op] as string, target]);
      result = true;
    } catch {
      result = false;
    }
    versionCache.set(key, result);
  }
  return result;
}

const RELATION = /^\s*([^\s(:]+)(?::\S+)?\s*(?:\(\s*(<<|<=|=|>=|>>)\s*([^)\s]+)\s*\))?/;

/** Every Depends/Pre-Depends alternative group of every member must be met inside the closure. */
function unsatisfiedDependencies(closure: Stanza[]): string[] {
  const problems: string[] = [];
  const byName = new Map<string, Stanza[]>();
  const provided = new Map<string, Array<string | undefined>>();
  for (const s of closure) {
    byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
    for (const p of (s.fields.get('provides') ?? '').split(',').filter((x) => x.trim())) {
      const m = /^\s*([^\s(:]+)(?::\S+)?\s*(?:\(\s*=\s*([^)\s]+)\s*\))?/.exec(p);
      if (m) provided.set(m[1] as string, [...(provided.get(m[1] as string) ?? []), m[2]]);
    }
  }
  for (const s of closure) {
    for (const fieldName of ['pre-depends', 'depends']) {
      for (const group of (s.fields.get(fieldName) ?? '').split(',').filter((g) => g.trim())) {
        const ok = group.split('|').some((alt) => {
          const m = RELATION.exec(alt);
          if (!m) return false;
          const [, name, op, target] = m as unknown as [
            string,
            string,
            string | undefined,
            string | undefined,
          ];
          const real = (byName.get(name) ?? []).some(
            (c) => !op || dpkgSatisfies(c.version, op, target as string),
          );
          const virtual = (provided.get(name) ?? []).some((v) =>
            !op ? true : v !== undefined && dpkgSatisfies(v, op, target as string),
          );
          return real || virtual;
        });
        if (!ok) problems.push(`${s.name}: ${fieldName} "${group.trim()}"`);
      }
    }
  }
  return problems;
}

// ---- apt-get with a private configuration of the same suite ----

const aptDir = join(defaultCacheDir(), 'e2e-apt', SUITE);
function aptOptions(arch: string): string[] {
  return [
    `Dir::Etc::SourceList=${join(aptDir, 'sources.list')}`,
    `Dir::Etc::SourceParts=${join(aptDir, 'empty')}`,
    `Dir::Etc::Parts=${join(aptDir, 'empty')}`,
    `Dir::Etc::PreferencesParts=${join(aptDir, 'empty')}`,
    `Dir::Etc::Preferences=${join(aptDir, 'empty', 'none')}`,
    `Dir::State::status=${join(aptDir, 'status')}`,
    `Dir::State::Lists=${join(aptDir, 'lists')}`,
    `Dir::Cache=${join(aptDir, 'cache')}`,
    `APT::Architecture=${arch}`,
    `APT::Architectures::=${arch}`,
    'Debug::NoLocking=1',
  ].flatMap((o) => ['-o', o]);
}

function aptSimulate(arch: string, packages: string[]): Array<{ name: string; version: string }> {
  const out = execFileSync(
    'apt-get',
    [...aptOptions(arch), '-s', 'install', '--no-install-recommends', ...packages],
    {
      maxBuffer: 64 << 20,
    },
  ).toString();
  return [...out.matchAll(/^Inst (\S+) \((\S+) /gm)].map((m) => ({
    name: m[1] as string,
    version: m[2] as string,
  }));
}

function aptListText(arch: string): string {
  const lists = execFileSync('sh', [
    '-c',
    `ls ${join(aptDir, 'lists')}/*_dists_${SUITE}_main_binary-${arch}_Packages*`,
  ])
    .toString()
    .trim()
    .split('\n');
  return execFileSync('/usr/lib/apt/apt-helper', ['cat-file', lists[0] as string], {
    maxBuffer: 256 << 20,
  }).toString();
}

// ---- the tests ----

let indexes: Map<string, PackageIndex>;
let mirrors: AptMirrors;
const archiveStanzas = new Map<string, Map<string, Stanza>>();

beforeAll(async () => {
  const mirror = selectMirrors(await readHostAptSources()).mirror;
  if (!mirror) throw new Error('no Debian mirror in /etc/apt/sources.list{,.d}: the e2e suite needs one');
  // The default cache: e2e runs share downloads.
  // Only the suite itself: apt below is configured with it alone.
  const loaded = await loadRepositories({
    suites: [SUITE],
    architectures: [...ARCHES],
    keyring: KEYRING,
    updates: false,
  });
  indexes = loaded.indexes;
  mirrors = loaded.mirrors;

  for (const d of ['lists/partial', 'cache/archives/partial', 'empty'])
    mkdirSync(join(aptDir, d), { recursive: true });
  writeFileSync(join(aptDir, 'status'), '');
  writeFileSync(
    join(aptDir, 'sources.list'),
    `deb [arch=${ARCHES.join(',')} signed-by=${KEYRING}] ${mirror} ${SUITE} main\n`,
  );
  execFileSync('apt-get', [...aptOptions('amd64'), '-o', 'APT::Architectures::=arm64', '-qq', 'update']);
  for (const arch of ARCHES) {
    const map = new Map<string, Stanza>();
    for (const s of parseStanzas(aptListText(arch))) map.set(`${s.name}=${s.version}:${s.arch}`, s);
    archiveStanzas.set(arch, map);
  }
});

describe.each(ARCHES)(`real archive, ${SUITE} %s`, (arch) => {
  it.each(REQUESTS.map((r) => [r.join(' '), r]))('resolves %s consistently with apt', (_label, packages) => {
    const resolution = resolvePackageClosure(indexes.get(arch) as PackageIndex, {
      packages,
      architecture: arch,
    });
    const stanzas = resolution.packages.map((p) => {
      const s = archiveStanzas.get(arch)?.get(`${p.name}=${p.version}:${p.architecture}`);
      expect(s, `${p.name} ${p.version} ${p.architecture} in apt's list`).toBeDefined();
      expect(s?.fields.get('sha256')).toBe(p.sha256);
      return s as Stanza;
    });
    for (const name of packages) expect(stanzas.map((s) => s.name)).toContain(name);
    expect(unsatisfiedDependencies(stanzas)).toEqual([]);

    // apt with an empty status. Differences must fall into explained categories: apt adding
    // Essential/required packages, or a different pick among alternatives/providers.
    const apt = aptSimulate(arch, packages);
    const ours = new Map(resolution.packages.map((p) => [p.name, p.version]));
    const theirs = new Map(apt.map((p) => [p.name, p.version]));
    const report: string[] = [];
    const unexplained: string[] = [];
    const archive = [...(archiveStanzas.get(arch)?.values() ?? [])];
    for (const [name, version] of theirs) {
      if (ours.get(name) === version) continue;
      const stanza = archive.find((s) => s.name === name && s.version === version);
      const essential =
        stanza?.fields.get('essential') === 'yes' || stanza?.fields.get('priority') === 'required';
      if (ours.has(name)) unexplained.push(`${name}: apt ${version}, ours ${ours.get(name)}`);
      else if (essential) report.push(`${name}: only apt (Essential/required set)`);
      else report.push(`${name}: only apt (alternative choice?)`);
    }
    for (const name of ours.keys())
      if (!theirs.has(name)) report.push(`${name}: only ours (alternative choice?)`);
    // Alternatives: each one-sided package must appear in an `a | b` group of either closure.
    const both = [...stanzas, ...archive.filter((s) => theirs.get(s.name) === s.version)];
    for (const line of report.filter((l) => l.includes('alternative'))) {
      const name = line.split(':')[0] as string;
      const isAlternative = both.some((s) =>
        `${s.fields.get('depends') ?? ''},${s.fields.get('pre-depends') ?? ''}`
          .split(',')
          .some((g) => g.includes('|') && g.split('|').some((a) => RELATION.exec(a)?.[1] === name)),
      );
      if (!isAlternative) unexplained.push(line);
    }
    if (report.length > 0) console.info(`${arch} ${packages.join(' ')} vs apt:\n  ${report.join('\n  ')}`);
    expect(unexplained).toEqual([]);
  });
});

describe('real .debs', () => {
  it('downloads the libc6 ca-certificates tzdata closure and reads every .deb like dpkg-deb does', async () => {
    const resolution = resolvePackageClosure(indexes.get('amd64') as PackageIndex, {
      packages: REQUESTS[0] as string[],
      architecture: 'amd64',
    });
    const paths = await downloadPackages(resolution.packages, { mirrors });
    for (const pkg of resolution.packages) {
      const file = paths.get(pkg.sha256) as string;
      const info = await readDeb(file);
      expect(info.control.get('package')).toBe(pkg.name);
      expect(info.control.get('version')).toBe(pkg.version);
      const names: string[] = [];
      const checked = new Set<string>();
      for await (const entry of readDebData(file)) {
        names.push(entry.header.name);
        const md5 = info.md5sums.get(entry.header.name);
        if (entry.content && md5) {
          expect(
            createHash('md5').update(entry.content).digest('hex'),
            `${pkg.name}: ${entry.header.name}`,
          ).toBe(md5);
          checked.add(entry.header.name);
        }
      }
      expect(checked.size, `${pkg.name}: every md5sums entry is a file in data.tar`).toBe(info.md5sums.size);
      // Names as stored (literal, not the C locale's octal escapes of non-ASCII bytes such as
      // ca-certificates' NetLock_Arany_=Class_Gold=_Főtanúsítvány.crt).
      const dpkgNames = execFileSync('sh', [
        '-c',
        'dpkg-deb --fsys-tarfile "$1" | tar --quoting-style=literal -t',
        'sh',
        file,
      ])
        .toString()
        .split('\n')
        .map((n) => n.replace(/^\.\//, '').replace(/\/$/, ''))
        .filter((n) => n !== '' && n !== '.');
      expect(names).toEqual(dpkgNames);
    }
  });
});
