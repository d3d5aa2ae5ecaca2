import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RampartError } from '../errors.js';
import { field, parseDeb822 } from './deb822.js';

/** One `deb` source from the host's apt configuration. */
export interface AptSource {
  uris: string[];
  suites: string[];
  components: string[];
  /** Keyring path from `Signed-By` (inline key blocks are not supported and leave this unset). */
  signedBy?: string;
}

/** Where to fetch from: the main archive, the security archive and the keyring that signs both. */
export interface AptMirrors {
  mirror?: string;
  securityMirror?: string;
  keyring?: string;
}

export const DEFAULT_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

const words = (value: string | undefined): string[] => (value ?? '').split(/\s+/).filter((w) => w.length > 0);

/** Parses a deb822 `.sources` file; only `Types: deb` entries that are not disabled count. */
export function parseDeb822Sources(text: string): AptSource[] {
  const sources: AptSource[] = [];
  for (const paragraph of parseDeb822(text, { allowComments: true })) {
    if (!words(field(paragraph, 'types')).includes('deb')) continue;
    if ((field(paragraph, 'enabled') ?? 'yes').trim().toLowerCase() === 'no') continue;
    const signedBy = field(paragraph, 'signed-by')?.trim();
    sources.push({
      uris: words(field(paragraph, 'uris')),
      suites: words(field(paragraph, 'suites')),
      components: words(field(paragraph, 'components')),
      ...(signedBy?.startsWith('/') && !signedBy.includes('\n') ? { signedBy } : {}),
    });
  }
  return sources;
}

/** Parses one-line `sources.list` syntax: `deb [opt=val ...] URI SUITE COMPONENT...`. */
export function parseOneLineSources(text: string): AptSource[] {
  const sources: AptSource[] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/#.*/, '').trim();
    if (!line.startsWith('deb ') && !line.startsWith('deb\t')) continue;
    let rest = line.slice(3).trim();
    let signedBy: string | undefined;
    if (rest.startsWith('[')) {
      const end = rest.indexOf(']');
      if (end < 0) continue;
      for (const option of words(rest.slice(1, end))) {
        const [key, value] = option.split('=', 2);
        if (key === 'signed-by' && value?.startsWith('/')) signedBy = value;
      }
      rest = rest.slice(end + 1).trim();
    }
    const [uri, suite, ...components] = words(rest);
    if (!uri || !suite) continue;
    sources.push({ uris: [uri], suites: [suite], components, ...(signedBy ? { signedBy } : {}) });
  }
  return sources;
}

/**
 * Picks the main and security mirrors: the security mirror serves the suites that end in
 * `-security`, the main mirror the first source that serves anything else.
 */
export function selectMirrors(sources: AptSource[]): AptMirrors {
  const isSecurity = (s: AptSource) => s.suites.some((suite) => suite.endsWith('-security'));
  const main = sources.find((s) => !isSecurity(s) && s.uris.length > 0);
  const security = sources.find((s) => isSecurity(s) && s.uris.length > 0);
  const keyring = main?.signedBy ?? security?.signedBy;
  return {
    ...(main?.uris[0] ? { mirror: stripSlash(main.uris[0]) } : {}),
    ...(security?.uris[0] ? { securityMirror: stripSlash(security.uris[0]) } : {}),
    ...(keyring ? { keyring } : {}),
  };
}

const stripSlash = (uri: string) => uri.replace(/\/+$/, '');

/** Reads `sources.list` and `sources.list.d/*.{list,sources}` under an apt config dir. */
export async function readHostAptSources(etcApt = '/etc/apt'): Promise<AptSource[]> {
  const sources: AptSource[] = [];
  const tryRead = async (path: string) => readFile(path, 'utf8').catch(() => undefined);
  const main = await tryRead(join(etcApt, 'sources.list'));
  if (main) sources.push(...parseOneLineSources(main));
  const dir = join(etcApt, 'sources.list.d');
  const names = (await readdir(dir).catch(() => [] as string[])).sort();
  for (const name of names) {
    const text = await tryRead(join(dir, name));
    if (text === undefined) continue;
    if (name.endsWith('.sources')) sources.push(...parseDeb822Sources(text));
    else if (name.endsWith('.list')) sources.push(...parseOneLineSources(text));
  }
  return sources;
}

/**
 * Resolves the mirrors to use: explicit options win over the host's apt configuration; the
 * keyring falls back to the Debian archive keyring. Throws when no main mirror is known.
 */
export async function resolveMirrors(
  overrides: AptMirrors,
  etcApt = '/etc/apt',
): Promise<Required<Pick<AptMirrors, 'mirror' | 'keyring'>> & AptMirrors> {
  // Each option overrides its own host setting; the rest still come from the host.
  const complete = overrides.mirror && overrides.keyring && overrides.securityMirror;
  const host = complete ? {} : selectMirrors(await readHostAptSources(etcApt));
  const mirror = overrides.mirror ?? host.mirror;
  if (!mirror) {
    throw new RampartError(
      'USAGE',
      `no Debian mirror configured in ${etcApt}/sources.list{,.d}; pass --mirror URL`,
      { details: { option: '--mirror' } },
    );
  }
  const securityMirror = overrides.securityMirror ?? host.securityMirror;
  return {
    mirror: stripSlash(mirror),
    ...(securityMirror ? { securityMirror: stripSlash(securityMirror) } : {}),
    keyring: overrides.keyring ?? host.keyring ?? DEFAULT_KEYRING,
  };
}

/** The base URL that serves `suite`: `-security` suites go to the security mirror when there is one. */
export function mirrorForSuite(suite: string, mirrors: AptMirrors): string {
  const base =
    suite.endsWith('-security') && mirrors.securityMirror ? mirrors.securityMirror : mirrors.mirror;
  if (!base) {
    throw new RampartError('USAGE', `no mirror for suite ${suite}; pass --mirror URL`, {
      details: { option: '--mirror' },
    });
  }
  return stripSlash(base);
}

/** Suites that have no `-security` or `-updates` companion in the Debian archive. */
const WITHOUT_COMPANIONS = new Set(['sid', 'unstable', 'experimental', 'rc-buggy']);

/** A suite to read, and whether the user named it or it was implied by `expandSuites`. */
export interface SuiteToRead {
  suite: string;
  implied: boolean;
}

/**
 * The suites to read for the suites a user named: each release suite (a name without a `-`
 * suffix, such as `trixie` or `stable`) brings its `-updates` and `-security` suites, as on a
 * Debian host, unless `updates` is false; suites named already, and suites such as
 * `trixie-backports`, are left as they are. Order: each named suite, then its companions.
 */
export function expandSuites(suites: readonly string[], opts: { updates?: boolean } = {}): SuiteToRead[] {
  const named = new Set(suites);
  const out: SuiteToRead[] = [];
  const seen = new Set<string>();
  const add = (suite: string, implied: boolean) => {
    if (seen.has(suite)) return;
    seen.add(suite);
    out.push({ suite, implied });
  };
  for (const suite of suites) {
    add(suite, false);
    if (opts.updates === false || suite.includes('-') || WITHOUT_COMPANIONS.has(suite)) continue;
    for (const companion of [`${suite}-updates`, `${suite}-security`]) {
      if (!named.has(companion)) add(companion, true);
    }
  }
  return out;
}
