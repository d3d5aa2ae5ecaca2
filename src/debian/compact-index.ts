/**
 * A Packages index held as one compact byte buffer, searched in place and parsed one stanza at a
 * time, when the resolver asks for a name.
 *
 * Why: trixie's main/binary-amd64 index has ~69,000 stanzas. Held as objects they cost ~400 MB
 * (`apt resolve python3` peaked at 530 MB RSS), and even a Map of names to lazy stanzas costs
 * ~200 bytes of heap per package, while resolving an image touches a few hundred names. The
 * compact form keeps only the fields rampart reads (`KEPT_FIELDS`), one line each, the first line
 * of Description only (38 MB of trixie's 57 MB), as UTF-8 bytes outside the JS heap, plus one
 * Int32Array of stanza offsets. Nothing per package lives on the heap until it is asked for.
 *
 * Layout: stanzas sorted by package name (bytewise, stable), each starting with `Package:`, with
 * `Provides:` (when present) as its second line, and ending with an empty line. So a name is
 * found by binary search over the offsets, comparing bytes, and Provides are indexed by reading
 * one line per stanza. The form is rampart's own, written by `encodeCompactPackages` from a
 * verified index and cached under its SHA-256 (checked when read back, see repository.ts).
 */
import { RampartError } from '../errors.js';
import { scanDeb822 } from './deb822.js';
import type { BinaryPackage, PackageSource } from './package-index.js';
import { parsePackagesFile } from './package-index.js';
import { parseRelations } from './relations.js';

/** The fields kept, in the spelling written; `Package` and `Provides` first (see the layout). */
const KEPT_FIELDS = [
  'Package',
  'Provides',
  'Version',
  'Architecture',
  'Multi-Arch',
  'Source',
  'Depends',
  'Pre-Depends',
  'Recommends',
  'Conflicts',
  'Breaks',
  'Essential',
  'Priority',
  'Section',
  'Filename',
  'Size',
  'SHA256',
  'Installed-Size',
  'Description',
] as const;
const SLOT_BY_LOWER = new Map<string, number>(KEPT_FIELDS.map((name, i) => [name.toLowerCase(), i]));
const PACKAGE = 0;
const DESCRIPTION = KEPT_FIELDS.indexOf('Description');
const REQUIRED = [PACKAGE, KEPT_FIELDS.indexOf('Version'), KEPT_FIELDS.indexOf('Architecture')];

const NEWLINE = 0x0a;
const PACKAGE_PREFIX = Buffer.from('Package: ');
const PROVIDES_PREFIX = Buffer.from('Provides: ');

export type IndexOrigin = { suite: string; component?: string };

/** Names the layout above; part of the cache key, so a change of layout is a cache miss. */
export const COMPACT_FORMAT = 'rampart-compact-packages/1 sorted-by-name provides-second';

/**
 * Encodes a Packages file into the compact form. A folded field (continuation lines) becomes one
 * line: relation fields mean the same either way, and Description keeps its first line only.
 */
export function encodeCompactPackages(text: string, origin: IndexOrigin): { bytes: Buffer; count: number } {
  const where = origin.component ? `${origin.suite}/${origin.component}` : origin.suite;
  const stanzas: Array<{ name: Buffer; text: string }> = [];
  let slots: Array<string | undefined> = new Array(KEPT_FIELDS.length);
  let firstLine = 0;
  scanDeb822(text, {
    accept(name) {
      const slot = SLOT_BY_LOWER.get(name.toLowerCase());
      return slot === undefined ? false : slot === DESCRIPTION ? 'first-line' : true;
    },
    field(name, value, line) {
      if (firstLine === 0) firstLine = line;
      const slot = SLOT_BY_LOWER.get(name.toLowerCase()) as number;
      slots[slot] = slot === DESCRIPTION ? (value.split('\n', 1)[0] ?? '') : value.replaceAll('\n', ' ');
    },
    endParagraph() {
      if (REQUIRED.some((slot) => slots[slot] === undefined)) {
        throw new RampartError(
          'MALFORMED_CONTROL',
          `Packages index ${where}: stanza at line ${firstLine} lacks Package, Version or Architecture; the index is corrupt, refresh it`,
          { details: { line: firstLine, field: 'Package' } },
        );
      }
      let stanza = '';
      for (let i = 0; i < KEPT_FIELDS.length; i++) {
        const value = slots[i];
        if (value !== undefined) stanza += `${KEPT_FIELDS[i]}: ${value}\n`;
      }
      stanzas.push({ name: Buffer.from(slots[PACKAGE] as string, 'utf8'), text: `${stanza}\n` });
      slots = new Array(KEPT_FIELDS.length);
      firstLine = 0;
    },
  });
  // Array.prototype.sort is stable: stanzas of one name keep the index's order.
  stanzas.sort((a, b) => Buffer.compare(a.name, b.name));
  return { bytes: Buffer.from(stanzas.map((s) => s.text).join(''), 'utf8'), count: stanzas.length };
}

/** A compact index: binary search by name, Provides read once, stanzas parsed on first use. */
export class CompactPackages implements PackageSource {
  /** Byte offset of each stanza, then one past the last: stanza i is [starts[i], starts[i+1]). */
  private readonly starts: Int32Array;
  private readonly parsed = new Map<number, BinaryPackage>();
  private provided: Map<string, Array<{ stanza: number; version?: string }>> | undefined;

  constructor(
    readonly bytes: Buffer,
    readonly origin: IndexOrigin,
  ) {
    const offsets: number[] = [];
    let pos = 0;
    while (pos < bytes.length) {
      if (!startsWith(bytes, pos, PACKAGE_PREFIX)) throw this.corrupt(pos);
      offsets.push(pos);
      const end = bytes.indexOf('\n\n', pos);
      if (end === -1) throw this.corrupt(pos);
      pos = end + 2;
    }
    offsets.push(bytes.length);
    this.starts = Int32Array.from(offsets);
  }

  get size(): number {
    return this.starts.length - 1;
  }

  candidates(name: string): BinaryPackage[] {
    const target = Buffer.from(name, 'utf8');
    const found: BinaryPackage[] = [];
    for (let i = this.lowerBound(target); i < this.size && this.compareName(i, target) === 0; i++) {
      found.push(this.stanza(i));
    }
    return found;
  }

  providers(name: string): Array<{ pkg: BinaryPackage; version?: string }> {
    const entries = this.providedNames().get(name) ?? [];
    return entries.map(({ stanza, version }) =>
      version === undefined ? { pkg: this.stanza(stanza) } : { pkg: this.stanza(stanza), version },
    );
  }

  *names(): Generator<string> {
    let previous: string | undefined;
    for (let i = 0; i < this.size; i++) {
      const name = this.nameAt(i);
      if (name !== previous) yield name;
      previous = name;
    }
  }

  private stanza(i: number): BinaryPackage {
    let pkg = this.parsed.get(i);
    if (pkg === undefined) {
      [pkg] = parsePackagesFile(this.bytes.toString('utf8', this.starts[i], this.starts[i + 1]), this.origin);
      if (pkg === undefined) throw this.corrupt(this.starts[i] as number);
      this.parsed.set(i, pkg);
    }
    return pkg;
  }

  /** Provided name → stanzas, built on the first `providers` call from the second lines. */
  private providedNames(): Map<string, Array<{ stanza: number; version?: string }>> {
    if (this.provided) return this.provided;
    const provided = new Map<string, Array<{ stanza: number; version?: string }>>();
    for (let i = 0; i < this.size; i++) {
      const lineStart = this.bytes.indexOf(NEWLINE, this.starts[i]) + 1;
      if (!startsWith(this.bytes, lineStart, PROVIDES_PREFIX)) continue;
      const lineEnd = this.bytes.indexOf(NEWLINE, lineStart);
      const text = this.bytes.toString('utf8', lineStart + PROVIDES_PREFIX.length, lineEnd);
      for (const relation of parseRelations(text).flat()) {
        const entry =
          relation.version?.op === '=' ? { stanza: i, version: relation.version.version } : { stanza: i };
        const list = provided.get(relation.name);
        if (list === undefined) provided.set(relation.name, [entry]);
        else list.push(entry);
      }
    }
    this.provided = provided;
    return provided;
  }

  private nameAt(i: number): string {
    const start = (this.starts[i] as number) + PACKAGE_PREFIX.length;
    return this.bytes.toString('utf8', start, this.bytes.indexOf(NEWLINE, start));
  }

  /** Compares stanza i's name with `target`, bytewise (the order the stanzas are sorted in). */
  private compareName(i: number, target: Buffer): number {
    const start = (this.starts[i] as number) + PACKAGE_PREFIX.length;
    const end = this.bytes.indexOf(NEWLINE, start);
    return this.bytes.compare(target, 0, target.length, start, end);
  }

  /** The first stanza whose name is not less than `target`. */
  private lowerBound(target: Buffer): number {
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compareName(mid, target) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private corrupt(offset: number): RampartError {
    return new RampartError(
      'MALFORMED_CONTROL',
      `compact Packages index of ${this.origin.suite}${this.origin.component ? `/${this.origin.component}` : ''} is corrupt at byte ${offset}; run \`rampart cache prune --all\``,
    );
  }
}

function startsWith(bytes: Buffer, pos: number, prefix: Buffer): boolean {
  return (
    pos + prefix.length <= bytes.length &&
    bytes.compare(prefix, 0, prefix.length, pos, pos + prefix.length) === 0
  );
}
