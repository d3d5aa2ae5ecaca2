/**
 * Maven's ComparableVersion ordering (maven-artifact's org.apache.maven.artifact.versioning),
 * which OSV's Maven ranges are written against. Written here because no maintained npm library
 * implements it (the npm `maven` packages wrap the mvn CLI; `semver` mis-orders qualifiers such as
 * `1.0-alpha` < `1.0-SNAPSHOT` < `1.0` < `1.0-sp1`). It follows the Java algorithm's rules: items
 * split on `.`/`-` and digit/letter transitions, trailing zero/"null" items trimmed per list, known
 * qualifiers ordered alpha < beta < milestone < rc < snapshot < release < sp, unknown qualifiers
 * after those, compared case-insensitively.
 */

type Item = { kind: 'int'; value: bigint } | { kind: 'str'; value: string } | { kind: 'list'; items: Item[] };

const QUALIFIERS = ['alpha', 'beta', 'milestone', 'rc', 'snapshot', '', 'sp'];
const ALIASES: Record<string, string> = { ga: '', final: '', release: '', cr: 'rc' };

function qualifierKey(q: string): string {
  const i = QUALIFIERS.indexOf(q);
  // Unknown qualifiers sort after every known one, among themselves lexically (as Java does).
  return i === -1 ? `${QUALIFIERS.length}-${q}` : String(i);
}

function stringItem(text: string, followedByDigit: boolean): Item {
  let value = text.toLowerCase();
  if (followedByDigit && value.length === 1)
    value = value === 'a' ? 'alpha' : value === 'b' ? 'beta' : value === 'm' ? 'milestone' : value;
  return { kind: 'str', value: ALIASES[value] ?? value };
}

function isNull(item: Item): boolean {
  if (item.kind === 'int') return item.value === 0n;
  if (item.kind === 'str') return qualifierKey(item.value) === qualifierKey('');
  return item.items.length === 0;
}

function normalize(list: Item[]): void {
  for (let i = list.length - 1; i >= 0; i--) {
    const last = list[i]!;
    if (isNull(last)) list.splice(i, 1);
    else if (last.kind !== 'list') break;
  }
}

export function parseMavenVersion(version: string): Item {
  const root: Item[] = [];
  let list = root;
  const stack: Item[][] = [root];
  const text = version.toLowerCase();
  let start = 0;
  let isDigit = false;
  const push = (token: string, nextIsDigit: boolean) => {
    if (token === '') list.push({ kind: 'int', value: 0n });
    else if (isDigit) list.push({ kind: 'int', value: BigInt(token) });
    else list.push(stringItem(token, nextIsDigit));
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '.') {
      push(text.slice(start, i), false);
      start = i + 1;
    } else if (c === '-') {
      push(text.slice(start, i), false);
      start = i + 1;
      const sub: Item[] = [];
      list.push({ kind: 'list', items: sub });
      list = sub;
      stack.push(sub);
    } else if (c >= '0' && c <= '9') {
      if (!isDigit && i > start) {
        push(text.slice(start, i), true);
        start = i;
        const sub: Item[] = [];
        list.push({ kind: 'list', items: sub });
        list = sub;
        stack.push(sub);
      }
      isDigit = true;
    } else {
      if (isDigit && i > start) {
        push(text.slice(start, i), false);
        start = i;
        const sub: Item[] = [];
        list.push({ kind: 'list', items: sub });
        list = sub;
        stack.push(sub);
      }
      isDigit = false;
    }
  }
  if (text.length > start) push(text.slice(start), false);
  for (let i = stack.length - 1; i >= 0; i--) normalize(stack[i]!);
  return { kind: 'list', items: root };
}

function compareItem(a: Item | undefined, b: Item | undefined): number {
  if (a === undefined) {
    if (b === undefined) return 0;
    return -compareItem(b, undefined);
  }
  if (b === undefined) {
    if (a.kind === 'int') return a.value === 0n ? 0 : 1;
    if (a.kind === 'str') {
      const k = qualifierKey(a.value);
      const r = qualifierKey('');
      return k < r ? -1 : k > r ? 1 : 0;
    }
    return a.items.length === 0 ? 0 : compareItem(a.items[0], undefined);
  }
  if (a.kind === 'int') {
    if (b.kind === 'int') return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
    return 1; // a number is newer than a qualifier or a sub-list
  }
  if (a.kind === 'str') {
    if (b.kind === 'int') return -1;
    if (b.kind === 'list') return -1; // a qualifier is older than a sub-list
    const ka = qualifierKey(a.value);
    const kb = qualifierKey(b.value);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  }
  if (b.kind === 'int') return -1;
  if (b.kind === 'str') return 1;
  const n = Math.max(a.items.length, b.items.length);
  for (let i = 0; i < n; i++) {
    const r = compareItem(a.items[i], b.items[i]);
    if (r !== 0) return r;
  }
  return 0;
}

export function compareMavenVersions(a: string, b: string): number {
  return compareItem(parseMavenVersion(a), parseMavenVersion(b));
}
