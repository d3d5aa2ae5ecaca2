import { once } from 'node:events';
import { createWriteStream } from 'node:fs';

/**
 * Writes a synthetic Debian security tracker dump in the real format (compact JSON, as the tracker
 * serves it), shaped after the real samples in shared/vulndata (`vunnel-debian/input/debian.json`,
 * `osvdev-debian/debian_security_tracker_mock.json`): source packages holding CVE and TEMP
 * entries with description, scope, debianbug and per-release status, repositories (with
 * `-security` subreleases), fixed_version (including "0"), urgency (with `**` marks,
 * `unimportant`, `not yet assigned`, `end-of-life`), nodsa and nodsa_reason. Deterministic for a
 * given seed. No real dump is reachable from these machines; this stands in for one in the
 * benchmark and the interrupted-import test.
 */
export interface SyntheticTrackerOptions {
  /** Source packages. */
  packages: number;
  /** Entries (CVE ids) per package, on average. */
  entriesPerPackage: number;
  seed?: number;
}

const RELEASES = ['bullseye', 'bookworm', 'trixie', 'forky', 'sid'];
const URGENCIES = [
  'low',
  'medium',
  'high',
  'unimportant',
  'not yet assigned',
  'low**',
  'medium**',
  'end-of-life',
];
const WORDS =
  'buffer overflow in the parser allows remote attackers to cause a denial of service or possibly execute arbitrary code via a crafted file use after free null pointer dereference integer overflow'.split(
    ' ',
  );

export async function writeSyntheticTracker(
  path: string,
  options: SyntheticTrackerOptions,
): Promise<{ bytes: number; packages: number; entries: number; releaseEntries: number }> {
  let state = options.seed ?? 1;
  const random = () => {
    // xorshift32: fast and deterministic.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x100000000;
  };
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const out = createWriteStream(path);
  let bytes = 0;
  let entries = 0;
  let releaseEntries = 0;
  let buffer = '';
  const write = async (text: string) => {
    buffer += text;
    if (buffer.length > 1 << 20) {
      bytes += Buffer.byteLength(buffer);
      if (!out.write(buffer)) await once(out, 'drain');
      buffer = '';
    }
  };
  await write('{');
  for (let p = 0; p < options.packages; p++) {
    const name = `pkg${p.toString(36)}-${pick(['lib', 'python3', 'node', 'golang', 'tools'])}`;
    await write(`${p === 0 ? '' : ','}${JSON.stringify(name)}:{`);
    const count = Math.max(1, Math.round(options.entriesPerPackage * (0.5 + random())));
    const version = `${1 + Math.floor(random() * 9)}.${Math.floor(random() * 20)}.${Math.floor(random() * 10)}`;
    for (let e = 0; e < count; e++) {
      const id =
        random() < 0.03
          ? `TEMP-${String(Math.floor(random() * 9_999_999)).padStart(7, '0')}-${Math.floor(
              random() * 0xffffff,
            )
              .toString(16)
              .toUpperCase()}`
          : `CVE-${2005 + Math.floor(random() * 21)}-${1000 + p * 37 + e}`;
      const entry: Record<string, unknown> = {};
      if (random() < 0.9) {
        entry.description = Array.from({ length: 6 + Math.floor(random() * 20) }, () => pick(WORDS)).join(
          ' ',
        );
      }
      if (random() < 0.7) entry.scope = random() < 0.6 ? 'remote' : 'local';
      if (random() < 0.3) entry.debianbug = 100000 + Math.floor(random() * 1_000_000);
      const releases: Record<string, unknown> = {};
      for (const release of RELEASES) {
        const status = random() < 0.7 ? 'resolved' : random() < 0.9 ? 'open' : 'undetermined';
        const repositories: Record<string, string> = {
          [release]: `${version}-${1 + Math.floor(random() * 4)}`,
        };
        if (release !== 'sid' && random() < 0.3) repositories[`${release}-security`] = `${version}-1+deb12u1`;
        const value: Record<string, unknown> = { status, repositories };
        if (status === 'resolved')
          value.fixed_version = random() < 0.3 ? '0' : `${version}-${Math.floor(random() * 3)}`;
        value.urgency = pick(URGENCIES);
        if (status === 'open' && release !== 'sid' && random() < 0.3) {
          value.nodsa = 'Minor issue';
          value.nodsa_reason = random() < 0.5 ? 'ignored' : 'postponed';
        }
        releases[release] = value;
        releaseEntries++;
      }
      entry.releases = releases;
      await write(`${e === 0 ? '' : ','}${JSON.stringify(id)}:${JSON.stringify(entry)}`);
      entries++;
    }
    await write('}');
  }
  await write('}');
  bytes += Buffer.byteLength(buffer);
  out.end(buffer);
  await once(out, 'finish');
  return { bytes, packages: options.packages, entries, releaseEntries };
}
