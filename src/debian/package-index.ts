import { type ErrorDetails, RampartError } from '../errors.js';
import { compareText } from '../util/compare-text.js';
import { type Paragraph, scanDeb822 } from './deb822.js';
import { parseRelations, type Relation, type RelationGroup } from './relations.js';
import { compareVersions } from './version.js';

/** One binary package stanza of an APT `Packages` index. */
export interface BinaryPackage {
  name: string;
  version: string;
  architecture: string;
  multiArch?: 'same' | 'foreign' | 'allowed' | 'no';
  /** Source package name; the binary name when the stanza has no Source field. */
  source: string;
  /** Source version from `Source: src (ver)`; the binary version otherwise. */
  sourceVersion: string;
  depends: RelationGroup[];
  preDepends: RelationGroup[];
  recommends: RelationGroup[];
  provides: Relation[];
  /** Conflicts and Breaks: packages that cannot be installed beside this one (absent when none). */
  conflicts?: Relation[];
  breaks?: Relation[];
  essential: boolean;
  priority?: string;
  section?: string;
  filename: string;
  size: number;
  sha256: string;
  installedSize?: number;
  /** The short (first-line) description only, to keep a parsed index small. */
  description?: string;
  suite: string;
  component?: string;
  paragraph?: Paragraph;
}

export interface PackagesFileOptions {
  /** Keep the raw paragraph on every package (costs a lot of memory on a full index). */
  keepParagraph?: boolean;
}

const MULTI_ARCH = new Set(['same', 'foreign', 'allowed', 'no']);

// The fields we keep, as slots of a fixed-size array (a fresh object per stanza with dynamic
// keys would be slower and churn more garbage on a 60 MB index).
const FIELD_SLOTS = [
  'package',
  'version',
  'architecture',
  'multi-arch',
  'source',
  'depends',
  'pre-depends',
  'recommends',
  'provides',
  'conflicts',
  'breaks',
  'essential',
  'priority',
  'section',
  'filename',
  'size',
  'sha256',
  'installed-size',
  'description',
] as const;
const SLOT = Object.fromEntries(FIELD_SLOTS.map((name, i) => [name, i])) as Record<
  (typeof FIELD_SLOTS)[number],
  number
>;

// Field names as written ("Package", "Pre-Depends") → slot, or -1. A handful of distinct
// spellings occur, so memoizing avoids a toLowerCase and a lookup per field.
const slotBySpelling = new Map<string, number>();

function slotOf(name: string): number {
  let slot = slotBySpelling.get(name);
  if (slot === undefined) {
    slot = SLOT[name.toLowerCase() as (typeof FIELD_SLOTS)[number]] ?? -1;
    if (slotBySpelling.size < 1000) slotBySpelling.set(name, slot);
  }
  return slot;
}

function firstLineOf(value: string): string {
  const nl = value.indexOf('\n');
  return nl === -1 ? value : value.slice(0, nl);
}

// Shared and frozen: most packages have no Pre-Depends/Recommends/Provides, and a frozen
// array fails loudly if someone tries to mutate the shared value.
const NO_GROUPS = Object.freeze([]) as unknown as RelationGroup[];
const NO_PROVIDES = Object.freeze([]) as unknown as Relation[];

// Identical relation texts ("libc6 (>= 2.34)") recur thousands of times in one index;
// sharing the parsed value saves both time and memory. Parsed relations are treated as read-only.
function cachedRelations(cache: Map<string, RelationGroup[]>, text: string | undefined): RelationGroup[] {
  if (text === undefined || text === '') return NO_GROUPS;
  let parsed = cache.get(text);
  if (parsed === undefined) {
    parsed = parseRelations(text);
    cache.set(text, parsed);
  }
  return parsed;
}

/** A relation list without alternatives (Provides, Conflicts, Breaks), flattened. */
function cachedRelationList(cache: Map<string, Relation[]>, text: string | undefined): Relation[] {
  if (text === undefined || text === '') return NO_PROVIDES;
  let parsed = cache.get(text);
  if (parsed === undefined) {
    parsed = parseRelations(text).flat();
    cache.set(text, parsed);
  }
  return parsed;
}

/** `Source: src (ver)`, `Source: src` or no Source field → [source, sourceVersion]. */
function parseSourceField(value: string | undefined, name: string, version: string): [string, string] {
  if (value === undefined || value === '') return [name, version];
  const open = value.indexOf('(');
  if (open === -1) return [value.trim(), version];
  const close = value.indexOf(')', open);
  const sourceVersion = value.slice(open + 1, close === -1 ? undefined : close).trim();
  return [value.slice(0, open).trim(), sourceVersion || version];
}

/**
 * Parse an APT Packages file in one pass, keeping only the fields the resolver, the lock
 * and the SBOM need. Throws RampartError 'MALFORMED_CONTROL' naming the origin and the
 * stanza when a required field (Package, Version, Architecture) is missing.
 */
export function parsePackagesFile(
  text: string,
  origin: { suite: string; component?: string },
  opts: PackagesFileOptions = {},
): BinaryPackage[] {
  const packages: BinaryPackage[] = [];
  const relationCache = new Map<string, RelationGroup[]>();
  const providesCache = new Map<string, Relation[]>();
  const where = origin.component ? `${origin.suite}/${origin.component}` : origin.suite;
  let f: Array<string | undefined> = new Array(FIELD_SLOTS.length);
  let paragraph: Paragraph | undefined = opts.keepParagraph ? new Map() : undefined;
  let firstLine = 0;
  const keep = opts.keepParagraph ?? false;

  try {
    scanDeb822(text, {
      accept(name) {
        if (keep) return true;
        const slot = slotOf(name);
        return slot === -1 ? false : slot === SLOT.description ? 'first-line' : true;
      },
      field(name, value, line) {
        if (firstLine === 0) firstLine = line;
        if (paragraph !== undefined) paragraph.set(name.toLowerCase(), value);
        const slot = slotOf(name);
        if (slot !== -1) f[slot] = slot === SLOT.description ? firstLineOf(value) : value;
      },
      endParagraph() {
        const name = f[SLOT.package];
        const version = f[SLOT.version];
        const architecture = f[SLOT.architecture];
        if (name === undefined || version === undefined || architecture === undefined) {
          throw new RampartError(
            'MALFORMED_CONTROL',
            `Packages index ${where}: stanza at line ${firstLine} lacks Package, Version or Architecture; the index is corrupt, refresh it`,
            { details: { document: `Packages ${where}`, line: firstLine } },
          );
        }
        const size = f[SLOT.size];
        const [source, sourceVersion] = parseSourceField(f[SLOT.source], name, version);
        const pkg: BinaryPackage = {
          name,
          version,
          architecture,
          source,
          sourceVersion,
          depends: cachedRelations(relationCache, f[SLOT.depends]),
          preDepends: cachedRelations(relationCache, f[SLOT['pre-depends']]),
          recommends: cachedRelations(relationCache, f[SLOT.recommends]),
          provides: cachedRelationList(providesCache, f[SLOT.provides]),
          essential: f[SLOT.essential] === 'yes',
          filename: f[SLOT.filename] ?? '',
          size: size === undefined ? 0 : Number(size),
          sha256: f[SLOT.sha256] ?? '',
          suite: origin.suite,
        };
        // Optional rather than empty arrays: the parsed index is cached as JSON, ~70k stanzas.
        const conflicts = cachedRelationList(providesCache, f[SLOT.conflicts]);
        if (conflicts.length > 0) pkg.conflicts = conflicts;
        const breaks = cachedRelationList(providesCache, f[SLOT.breaks]);
        if (breaks.length > 0) pkg.breaks = breaks;
        const ma = f[SLOT['multi-arch']];
        if (ma !== undefined && MULTI_ARCH.has(ma)) pkg.multiArch = ma as BinaryPackage['multiArch'];
        const priority = f[SLOT.priority];
        if (priority !== undefined) pkg.priority = priority;
        const section = f[SLOT.section];
        if (section !== undefined) pkg.section = section;
        const installedSize = f[SLOT['installed-size']];
        if (installedSize !== undefined) pkg.installedSize = Number(installedSize);
        const description = f[SLOT.description];
        if (description !== undefined) pkg.description = description;
        if (origin.component !== undefined) pkg.component = origin.component;
        if (paragraph !== undefined) {
          pkg.paragraph = paragraph;
          paragraph = new Map();
        }
        packages.push(pkg);
        f = new Array(FIELD_SLOTS.length);
        firstLine = 0;
      },
    });
  } catch (err) {
    // Errors of the deb822, relation and version parsers do not know which index they are in.
    if (err instanceof RampartError && !(err.code === 'MALFORMED_CONTROL' && err.details.document)) {
      const inner =
        err.code === 'MALFORMED_CONTROL' ? (err.details as ErrorDetails<'MALFORMED_CONTROL'>) : {};
      throw new RampartError('MALFORMED_CONTROL', `Packages index ${where}: ${err.message}`, {
        cause: err,
        details: { ...(firstLine > 0 ? { line: firstLine } : {}), ...inner, document: `Packages ${where}` },
      });
    }
    throw err;
  }
  return packages;
}

function byVersionDesc(a: BinaryPackage, b: BinaryPackage): number {
  return (
    compareVersions(b.version, a.version) ||
    compareText(a.architecture, b.architecture) ||
    compareText(a.suite, b.suite)
  );
}

/** Where an index finds packages: parsed objects, or a compact index searched in place. */
export interface PackageSource {
  /** Real packages called `name`, in any order. */
  candidates(name: string): BinaryPackage[];
  /** Packages that declare `Provides: name`; `version` is set for versioned (`=`) provides. */
  providers(name: string): Array<{ pkg: BinaryPackage; version?: string }>;
  names(): Iterable<string>;
  readonly size: number;
}

/** Parsed packages, indexed by name and provided name. */
class ParsedPackages implements PackageSource {
  private readonly byName = new Map<string, BinaryPackage[]>();
  private readonly byProvided = new Map<string, Array<{ pkg: BinaryPackage; version?: string }>>();
  size = 0;

  add(pkgs: Iterable<BinaryPackage>): void {
    for (const pkg of pkgs) {
      const list = this.byName.get(pkg.name);
      if (list === undefined) this.byName.set(pkg.name, [pkg]);
      else list.push(pkg);
      for (const p of pkg.provides) {
        const entry = p.version?.op === '=' ? { pkg, version: p.version.version } : { pkg };
        const providers = this.byProvided.get(p.name);
        if (providers === undefined) this.byProvided.set(p.name, [entry]);
        else providers.push(entry);
      }
      this.size++;
    }
  }

  candidates(name: string): BinaryPackage[] {
    return this.byName.get(name) ?? [];
  }

  providers(name: string): Array<{ pkg: BinaryPackage; version?: string }> {
    return this.byProvided.get(name) ?? [];
  }

  names(): Iterable<string> {
    return this.byName.keys();
  }
}

/**
 * Binary packages by name and by provided (virtual) name, merged from any number of suites:
 * parsed packages (`add`) and compact indexes searched in place (`addSource`, see
 * compact-index.ts). Answers are merged and sorted per name when first asked for: a resolution
 * touches a few hundred of ~70k names.
 */
export class PackageIndex {
  private readonly parsed = new ParsedPackages();
  private readonly sources: PackageSource[] = [this.parsed];
  private readonly candidateCache = new Map<string, BinaryPackage[]>();
  private readonly providerCache = new Map<string, Array<{ pkg: BinaryPackage; version?: string }>>();

  constructor(packages: Iterable<BinaryPackage> = []) {
    this.add(packages);
  }

  add(pkgs: Iterable<BinaryPackage>): void {
    this.parsed.add(pkgs);
    this.forget();
  }

  addSource(source: PackageSource): void {
    this.sources.push(source);
    this.forget();
  }

  private forget(): void {
    this.candidateCache.clear();
    this.providerCache.clear();
  }

  /** Real packages called `name`, highest version first (ties: architecture, then suite). */
  candidates(name: string): BinaryPackage[] {
    let list = this.candidateCache.get(name);
    if (list === undefined) {
      list = this.sources.flatMap((source) => source.candidates(name)).sort(byVersionDesc);
      this.candidateCache.set(name, list);
    }
    return list;
  }

  /** Packages that declare `Provides: name`; `version` is set for versioned (`=`) provides. */
  providers(name: string): Array<{ pkg: BinaryPackage; version?: string }> {
    let list = this.providerCache.get(name);
    if (list === undefined) {
      list = this.sources.flatMap((source) => source.providers(name));
      this.providerCache.set(name, list);
    }
    return list;
  }

  /** All real package names. */
  names(): IterableIterator<string> {
    const all = new Set<string>();
    for (const source of this.sources) for (const name of source.names()) all.add(name);
    return all.values();
  }

  /** Up to `limit` names within edit distance 2 of `name`, or starting with it (for typos). */
  similarNames(name: string, limit = 3): string[] {
    const scored: Array<{ name: string; score: number }> = [];
    for (const candidate of this.names()) {
      if (Math.abs(candidate.length - name.length) > 2) {
        if (candidate.startsWith(name)) scored.push({ name: candidate, score: 3 });
        continue;
      }
      const d = editDistance(name, candidate, 2);
      if (d <= 2) scored.push({ name: candidate, score: d });
    }
    scored.sort((a, b) => a.score - b.score || compareText(a.name, b.name));
    return scored.slice(0, limit).map((s) => s.name);
  }

  get size(): number {
    return this.sources.reduce((n, source) => n + source.size, 0);
  }
}

/** Levenshtein distance, giving up (returning limit + 1) once every path exceeds `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const value = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + cost,
      );
      row.push(value);
      rowMin = Math.min(rowMin, value);
    }
    if (rowMin > limit) return limit + 1;
    prev = row;
  }
  return prev[b.length] as number;
}
