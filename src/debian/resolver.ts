import { RampartError } from '../errors.js';
import { compareText } from '../util/compare-text.js';
import type { LockedPackage } from './locked-package.js';
import type { BinaryPackage, PackageIndex } from './package-index.js';
import {
  archListAllows,
  formatRelation,
  formatRelationGroup,
  type Relation,
  type RelationGroup,
} from './relations.js';
import { compareVersions, satisfiesConstraint, type VersionOp } from './version.js';

export interface ResolveRequest {
  /** 'name', 'name=version', 'name:arch' or 'name:arch=version'. */
  packages: string[];
  /** The target (native) architecture, e.g. 'amd64'. */
  architecture: string;
  /** Follow Recommends too (unsatisfiable recommends are ignored, as apt does). */
  withRecommends?: boolean;
  /** Never install these; a hard dependency on one that no alternative can satisfy is an error. */
  exclude?: string[];
  /** Treat as satisfied without installing (e.g. only needed by maintainer scripts). */
  skip?: string[];
}

export type { LockedPackage } from './locked-package.js';

export interface Resolution {
  /** Sorted by name, then architecture. */
  packages: LockedPackage[];
  /** The chosen index entries, in the same order as `packages`. */
  selected: BinaryPackage[];
  skipped: Array<{ name: string; requiredBy: string }>;
  /** Shortest chain of package names from a requested package to `name` ('name' or 'name:arch'). */
  why(name: string): string[] | undefined;
}

interface PackageSpec {
  text: string;
  name: string;
  arch?: string;
  version?: string;
}

interface Pin {
  op: VersionOp;
  version: string;
}

/** Thrown inside one pass when a later constraint needs a different version of a chosen package. */
class RepinNeeded {
  constructor(
    readonly name: string,
    readonly pin: Pin,
  ) {}
}

/**
 * Thrown inside one pass when nothing satisfies a dependency because of a package that an earlier
 * group chose among alternatives: the next pass tries that group's other alternatives first, so
 * the outcome does not depend on the order packages were requested in.
 */
class AvoidNeeded {
  constructor(readonly name: string) {}
}

const MAX_PASSES = 64;

function parseSpec(text: string): PackageSpec {
  const eq = text.indexOf('=');
  const nameArch = eq === -1 ? text : text.slice(0, eq);
  const version = eq === -1 ? undefined : text.slice(eq + 1);
  const colon = nameArch.indexOf(':');
  const name = colon === -1 ? nameArch : nameArch.slice(0, colon);
  const arch = colon === -1 ? undefined : nameArch.slice(colon + 1);
  if (name === '' || arch === '' || version === '') {
    throw new RampartError(
      'USAGE',
      `package request ${JSON.stringify(text)} is not name, name=version or name:arch`,
      { details: { value: text } },
    );
  }
  const spec: PackageSpec = { text, name };
  if (arch !== undefined) spec.arch = arch;
  if (version !== undefined) spec.version = version;
  return spec;
}

// Only one instance of a package name can be installed, except Multi-Arch: same packages,
// which can be co-installed once per architecture.
function instanceKey(pkg: BinaryPackage): string {
  return pkg.multiArch === 'same' ? `${pkg.name}:${pkg.architecture}` : pkg.name;
}

/**
 * Compute the closure of the requested packages over Pre-Depends and Depends (and Recommends
 * when asked) in a merged index. Greedy like apt: an alternative already chosen wins, else the
 * first satisfiable alternative, each at the highest version that satisfies all constraints
 * seen so far, skipping candidates that Conflict with or Break a chosen package (or are
 * Conflicted/Broken by one). When a later constraint rules out a version chosen earlier, the pass
 * restarts with that constraint pinned. Pure: no I/O.
 */
export function resolvePackageClosure(index: PackageIndex, request: ResolveRequest): Resolution {
  const specs = request.packages.map(parseSpec);
  const pins = new Map<string, Pin[]>();
  const avoid = new Set<string>();
  for (const spec of specs) {
    if (spec.version !== undefined) addPin(pins, spec.name, { op: '=', version: spec.version });
  }
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    try {
      return resolveOnce(index, request, specs, pins, avoid);
    } catch (err) {
      if (err instanceof RepinNeeded) addPin(pins, err.name, err.pin);
      else if (err instanceof AvoidNeeded) avoid.add(err.name);
      else throw err;
    }
  }
  throw new RampartError(
    'UNSATISFIABLE',
    `could not settle package versions for ${request.packages.join(', ')} after ${MAX_PASSES} passes; pin versions explicitly (name=version)`,
    { details: { chain: [...request.packages] } },
  );
}

function addPin(pins: Map<string, Pin[]>, name: string, pin: Pin): void {
  const list = pins.get(name) ?? [];
  if (!list.some((p) => p.op === pin.op && p.version === pin.version)) list.push(pin);
  pins.set(name, list);
}

function resolveOnce(
  index: PackageIndex,
  request: ResolveRequest,
  specs: PackageSpec[],
  pins: Map<string, Pin[]>,
  avoid: ReadonlySet<string>,
): Resolution {
  const target = request.architecture;
  const allowedArches = new Set([target, 'all']);
  for (const spec of specs) if (spec.arch !== undefined) allowedArches.add(spec.arch);
  const excluded = new Set(request.exclude ?? []);
  const skipSet = new Set(request.skip ?? []);

  const selectedByKey = new Map<string, BinaryPackage>();
  const selectedByName = new Map<string, BinaryPackage[]>();
  const selectedProviders = new Map<string, Array<{ pkg: BinaryPackage; version?: string }>>();
  const parentOf = new Map<BinaryPackage, BinaryPackage | null>();
  const skipped = new Map<string, { name: string; requiredBy: string }>();
  const queue: BinaryPackage[] = [];

  const label = (pkg: BinaryPackage) =>
    pkg.architecture === target || pkg.architecture === 'all' ? pkg.name : `${pkg.name}:${pkg.architecture}`;
  const chainTo = (pkg: BinaryPackage): string[] => {
    const chain: string[] = [];
    for (let p: BinaryPackage | null | undefined = pkg; p; p = parentOf.get(p)) chain.push(label(p));
    return chain.reverse();
  };
  // The name each requested package was asked for by (a virtual name picks its one provider).
  const requestedAs = new Map<BinaryPackage, string>();
  /** The requested package that pulled `pkg` in: the one an error about `pkg` traces back to. */
  const requestOf = (pkg: BinaryPackage): string => {
    let root = pkg;
    for (let p = parentOf.get(pkg); p; p = parentOf.get(p)) root = p;
    return requestedAs.get(root) ?? root.name;
  };
  const pinsAllow = (pkg: BinaryPackage) => pinsAllowFor(pins, pkg);

  // dpkg's archsatisfied(), with `Architecture: all` satisfying any architecture and `:any`
  // also accepting Multi-Arch: foreign (apt accepts it; dpkg warns).
  const archSatisfies = (pkg: BinaryPackage, rel: Relation, implicitArch: string): boolean => {
    if (pkg.architecture === 'all') return true;
    const q = rel.archQualifier;
    if (q === undefined) return pkg.multiArch === 'foreign' || pkg.architecture === implicitArch;
    if (q === 'any') return pkg.multiArch === 'allowed' || pkg.multiArch === 'foreign';
    if (q === 'native') return pkg.architecture === target;
    return pkg.architecture === q;
  };
  const versionSatisfies = (version: string | undefined, rel: Relation): boolean =>
    rel.version === undefined ||
    (version !== undefined && satisfiesConstraint(version, rel.version.op, rel.version.version));

  const satisfiedBySelection = (rel: Relation, implicitArch: string): boolean => {
    for (const pkg of selectedByName.get(rel.name) ?? []) {
      if (archSatisfies(pkg, rel, implicitArch) && versionSatisfies(pkg.version, rel)) return true;
    }
    for (const { pkg, version } of selectedProviders.get(rel.name) ?? []) {
      if (archSatisfies(pkg, rel, implicitArch) && versionSatisfies(version, rel)) return true;
    }
    return false;
  };

  // Conflicts and Breaks both forbid the two packages in one installed set. An unqualified name
  // matches every architecture (multiarch spec); a versioned relation matches a provider only
  // through a versioned provide; a package never conflicts with itself (or what it provides).
  const declaredAgainst = new Map<string, Array<{ by: BinaryPackage; rel: Relation; field: string }>>();
  const relationHits = (rel: Relation, other: BinaryPackage): boolean => {
    const q = rel.archQualifier;
    // dpkg's archsatisfied(): Multi-Arch: foreign meets any qualifier; `all` counts as native.
    if (q !== undefined && q !== 'any' && other.multiArch !== 'foreign') {
      const otherArch = other.architecture === 'all' ? target : other.architecture;
      if (otherArch !== (q === 'native' ? target : q)) return false;
    }
    if (other.name === rel.name) return versionSatisfies(other.version, rel);
    return other.provides.some(
      (p) =>
        p.name === rel.name && versionSatisfies(p.version?.op === '=' ? p.version.version : undefined, rel),
    );
  };
  const negativeRelations = (pkg: BinaryPackage): Array<{ rel: Relation; field: string }> => [
    ...(pkg.conflicts ?? []).map((rel) => ({ rel, field: 'Conflicts' })),
    ...(pkg.breaks ?? []).map((rel) => ({ rel, field: 'Breaks' })),
  ];
  interface Clash {
    /** "b Conflicts: a", for the error message. */
    why: string;
    /** The selected package on the other side. */
    partner: BinaryPackage;
  }
  /** Why `pkg` cannot join the selection, or undefined when it can. */
  const clashWithSelection = (pkg: BinaryPackage): Clash | undefined => {
    for (const name of [pkg.name, ...pkg.provides.map((p) => p.name)]) {
      for (const { by, rel, field } of declaredAgainst.get(name) ?? []) {
        if (by !== pkg && by.name !== pkg.name && relationHits(rel, pkg))
          return { why: `${label(by)} ${field}: ${formatRelation(rel)}`, partner: by };
      }
    }
    for (const { rel, field } of negativeRelations(pkg)) {
      const others = [
        ...(selectedByName.get(rel.name) ?? []),
        ...(selectedProviders.get(rel.name) ?? []).map((p) => p.pkg),
      ];
      const hit = others.find((other) => other.name !== pkg.name && relationHits(rel, other));
      if (hit)
        return {
          why: `${label(pkg)} ${field}: ${formatRelation(rel)}, and ${label(hit)} is selected`,
          partner: hit,
        };
    }
    return undefined;
  };
  /** Packages a group picked while it had other alternatives: the ones a later clash may undo. */
  const choseAmongAlternatives = new Set<BinaryPackage>();

  const select = (pkg: BinaryPackage, parent: BinaryPackage | null) => {
    selectedByKey.set(instanceKey(pkg), pkg);
    const same = selectedByName.get(pkg.name);
    if (same) same.push(pkg);
    else selectedByName.set(pkg.name, [pkg]);
    for (const p of pkg.provides) {
      const entry = p.version?.op === '=' ? { pkg, version: p.version.version } : { pkg };
      const list = selectedProviders.get(p.name);
      if (list) list.push(entry);
      else selectedProviders.set(p.name, [entry]);
    }
    for (const { rel, field } of negativeRelations(pkg)) {
      const list = declaredAgainst.get(rel.name);
      if (list) list.push({ by: pkg, rel, field });
      else declaredAgainst.set(rel.name, [{ by: pkg, rel, field }]);
    }
    parentOf.set(pkg, parent);
    queue.push(pkg);
  };

  const archRank = (arch: string, implicitArch: string) =>
    arch === implicitArch ? 0 : arch === 'all' ? 1 : arch === target ? 2 : 3;

  interface Attempt {
    pkg?: BinaryPackage;
    /** Names of excluded packages that would otherwise have satisfied the relation. */
    excludedHits: string[];
    /** Conflicts or Breaks that ruled a candidate out. */
    clashes: Clash[];
    repin?: RepinNeeded;
  }

  /** The best installable package for one alternative, or why there is none. */
  const chooseFor = (rel: Relation, implicitArch: string): Attempt => {
    const attempt: Attempt = { excludedHits: [], clashes: [] };
    const usable = (pkg: BinaryPackage): boolean => {
      if (!allowedArches.has(pkg.architecture) || !archSatisfies(pkg, rel, implicitArch)) return false;
      if (excluded.has(pkg.name)) {
        if (!attempt.excludedHits.includes(pkg.name)) attempt.excludedHits.push(pkg.name);
        return false;
      }
      return true;
    };
    const clashes = (pkg: BinaryPackage): boolean => {
      const clash = clashWithSelection(pkg);
      if (clash !== undefined && !attempt.clashes.some((c) => c.why === clash.why))
        attempt.clashes.push(clash);
      return clash !== undefined;
    };
    // A different version of an already chosen instance cannot be added; remember that
    // re-pinning could help, but only if no alternative works without it.
    const conflictsWithSelection = (pkg: BinaryPackage, pin?: Pin): boolean => {
      const chosen = selectedByKey.get(instanceKey(pkg));
      if (chosen === undefined || chosen === pkg) return false;
      if (pin && attempt.repin === undefined) attempt.repin = new RepinNeeded(pkg.name, pin);
      return true;
    };

    let best: BinaryPackage | undefined;
    // The version that clashed: an older one is never taken silently instead (it could be the
    // one without a security fix); apt too keeps its candidate and reports the Breaks.
    let clashedAt: string | undefined;
    for (const pkg of index.candidates(rel.name)) {
      if (best && compareVersions(pkg.version, best.version) !== 0) break;
      if (clashedAt !== undefined && compareVersions(pkg.version, clashedAt) !== 0) break;
      if (!usable(pkg) || !versionSatisfies(pkg.version, rel) || !pinsAllow(pkg)) continue;
      if (conflictsWithSelection(pkg, rel.version)) continue;
      if (clashes(pkg)) {
        clashedAt = pkg.version;
        continue;
      }
      if (!best || archRank(pkg.architecture, implicitArch) < archRank(best.architecture, implicitArch))
        best = pkg;
    }
    if (best) {
      attempt.pkg = best;
      return attempt;
    }
    // Virtual package: an unversioned provide never satisfies a versioned dependency.
    const providers = index
      .providers(rel.name)
      .filter(({ pkg, version }) => usable(pkg) && versionSatisfies(version, rel) && pinsAllow(pkg))
      .filter(({ pkg }) => !conflictsWithSelection(pkg) && !clashes(pkg))
      .sort(
        (a, b) =>
          priorityRank(a.pkg) - priorityRank(b.pkg) ||
          compareText(a.pkg.name, b.pkg.name) ||
          compareVersions(b.pkg.version, a.pkg.version) ||
          archRank(a.pkg.architecture, implicitArch) - archRank(b.pkg.architecture, implicitArch),
      );
    if (providers[0]) attempt.pkg = providers[0].pkg;
    return attempt;
  };

  const resolveGroup = (pkg: BinaryPackage, group: RelationGroup, optional: boolean) => {
    const implicitArch = pkg.architecture === 'all' ? target : pkg.architecture;
    const allowed = group.filter((rel) => archListAllows(rel.arches, target));
    // Alternatives a clash in an earlier pass asked to avoid go last (stable otherwise).
    const alternatives = [
      ...allowed.filter((rel) => !avoid.has(rel.name)),
      ...allowed.filter((rel) => avoid.has(rel.name)),
    ];
    if (alternatives.length === 0) return;
    if (alternatives.some((rel) => satisfiedBySelection(rel, implicitArch))) return;
    const skippedAlt = alternatives.find((rel) => skipSet.has(rel.name));
    if (skippedAlt) {
      skipped.set(`${skippedAlt.name}\0${pkg.name}`, { name: skippedAlt.name, requiredBy: pkg.name });
      return;
    }
    const excludedHits: string[] = [];
    const clashHits: Clash[] = [];
    let repin: RepinNeeded | undefined;
    for (const rel of alternatives) {
      const attempt = chooseFor(rel, implicitArch);
      if (attempt.pkg) {
        select(attempt.pkg, pkg);
        if (alternatives.length > 1) choseAmongAlternatives.add(attempt.pkg);
        return;
      }
      for (const name of attempt.excludedHits) if (!excludedHits.includes(name)) excludedHits.push(name);
      for (const clash of attempt.clashes)
        if (!clashHits.some((c) => c.why === clash.why)) clashHits.push(clash);
      repin ??= attempt.repin;
    }
    if (optional) return;
    if (repin) throw repin;
    const undoable = clashHits.find(
      (c) => choseAmongAlternatives.has(c.partner) && !avoid.has(c.partner.name),
    );
    if (undoable) throw new AvoidNeeded(undoable.partner.name);
    const text = formatRelationGroup(group);
    if (excludedHits.length > 0) {
      const culprit = excludedHits.join('|');
      const chain = [...chainTo(pkg), culprit].join(' -> ');
      throw new RampartError(
        'EXCLUDED_REQUIRED',
        `excluded package ${culprit} is required via "${text}": ${chain}; remove it from exclude${request.skip ? ', or list it in skip if only maintainer scripts need it' : ''}`,
        { details: { package: excludedHits[0] as string, requiredBy: chainTo(pkg) } },
      );
    }
    const chainList = [...chainTo(pkg), alternatives.map((r) => r.name).join('|')];
    const chain = chainList.join(' -> ');
    const details = { package: requestOf(pkg), relation: text, chain: chainList };
    if (clashHits.length > 0) {
      throw new RampartError(
        'UNSATISFIABLE',
        `cannot satisfy "${text}" for ${target}: ${chain}; ${clashHits.map((c) => c.why).join('; ')}; exclude or pin one side`,
        { details },
      );
    }
    throw new RampartError(
      'UNSATISFIABLE',
      `unsatisfiable dependency "${text}" for ${target}: ${chain}; ${describeAvailable(index, alternatives)}`,
      { details },
    );
  };

  for (const spec of specs) {
    const pkg = chooseRequested(index, spec, target, pins, excluded);
    const existing = selectedByKey.get(instanceKey(pkg));
    const clash = existing === undefined ? clashWithSelection(pkg) : undefined;
    if (clash !== undefined) {
      throw new RampartError(
        'UNSATISFIABLE',
        `requested packages cannot be installed together: ${clash.why}; request only one of them`,
        { details: { package: spec.name, chain: [spec.name] } },
      );
    }
    if (existing === undefined) {
      select(pkg, null);
      requestedAs.set(pkg, spec.name);
    } else if (existing !== pkg) {
      throw new RampartError(
        'UNSATISFIABLE',
        `requests ${JSON.stringify(spec.text)} and ${existing.name}:${existing.architecture}=${existing.version} ask for two instances of ${existing.name}, which is not Multi-Arch: same; request one`,
        { details: { package: spec.name, chain: [spec.name] } },
      );
    }
  }

  for (let i = 0; i < queue.length; i++) {
    const pkg = queue[i] as BinaryPackage;
    for (const group of pkg.preDepends) resolveGroup(pkg, group, false);
    for (const group of pkg.depends) resolveGroup(pkg, group, false);
    if (request.withRecommends) for (const group of pkg.recommends) resolveGroup(pkg, group, true);
  }

  // Code-unit order, never localeCompare: the lock must not depend on the process locale.
  const selected = [...selectedByKey.values()].sort(
    (a, b) => compareText(a.name, b.name) || compareText(a.architecture, b.architecture),
  );
  const skippedList = [...skipped.values()].sort(
    (a, b) => compareText(a.name, b.name) || compareText(a.requiredBy, b.requiredBy),
  );
  return {
    packages: selected.map(toLocked),
    selected,
    skipped: skippedList,
    why(name: string): string[] | undefined {
      const colon = name.indexOf(':');
      const bare = colon === -1 ? name : name.slice(0, colon);
      const arch = colon === -1 ? undefined : name.slice(colon + 1);
      const instances = (selectedByName.get(bare) ?? []).filter(
        (p) => arch === undefined || p.architecture === arch,
      );
      const shortest = instances.map(chainTo).sort((a, b) => a.length - b.length)[0];
      if (shortest) return shortest;
      const skip = skippedList.find((s) => s.name === bare);
      const requiredBy = skip && selectedByName.get(skip.requiredBy)?.[0];
      return requiredBy ? [...chainTo(requiredBy), bare] : undefined;
    },
  };
}

// Among several providers of a virtual package apt favours the more important one (it
// installs mawk, Priority: required, for `awk`); then we go by name for determinism.
const PRIORITY_ORDER = ['required', 'important', 'standard', 'optional', 'extra'];

function priorityRank(pkg: BinaryPackage): number {
  const rank = PRIORITY_ORDER.indexOf(pkg.priority ?? 'optional');
  return rank === -1 ? PRIORITY_ORDER.length : rank;
}

function pinsAllowFor(pins: Map<string, Pin[]>, pkg: BinaryPackage): boolean {
  return (pins.get(pkg.name) ?? []).every((pin) => satisfiesConstraint(pkg.version, pin.op, pin.version));
}

function toLocked(pkg: BinaryPackage): LockedPackage {
  return {
    name: pkg.name,
    version: pkg.version,
    architecture: pkg.architecture,
    source: pkg.source,
    sourceVersion: pkg.sourceVersion,
    suite: pkg.suite,
    filename: pkg.filename,
    size: pkg.size,
    sha256: pkg.sha256,
  };
}

function chooseRequested(
  index: PackageIndex,
  spec: PackageSpec,
  target: string,
  pins: Map<string, Pin[]>,
  excluded: Set<string>,
): BinaryPackage {
  if (excluded.has(spec.name)) {
    throw new RampartError(
      'EXCLUDED_REQUIRED',
      `package ${spec.name} is both requested and excluded; remove it from one of the lists`,
      { details: { package: spec.name } },
    );
  }
  // `Architecture: all` packages install on every architecture, so `tzdata:amd64` must find them.
  const arches = spec.arch === undefined ? [target, 'all'] : [spec.arch, 'all'];
  const pinned = pins.get(spec.name) ?? [];
  const fits = (pkg: BinaryPackage) =>
    arches.includes(pkg.architecture) &&
    pinned.every((p) => satisfiesConstraint(pkg.version, p.op, p.version));
  const candidates = index.candidates(spec.name);
  const real = candidates.filter(fits).sort((a, b) => {
    const byVersion = compareVersions(b.version, a.version);
    return byVersion || arches.indexOf(a.architecture) - arches.indexOf(b.architecture);
  })[0];
  if (real) return real;
  if (candidates.length > 0) {
    const available = candidates.map((p) => `${p.version} ${p.architecture} (${p.suite})`).join(', ');
    throw new RampartError(
      'PACKAGE_NOT_FOUND',
      `no version of ${spec.name} matches ${JSON.stringify(spec.text)} for ${target}${pinned.length > 1 ? ' and the versions its dependents need' : ''}; available: ${available}`,
      { details: { package: spec.name, architecture: spec.arch ?? target } },
    );
  }
  // A virtual package: like apt, take its provider when there is exactly one, and make the
  // user choose when there are several.
  const providers = index
    .providers(spec.name)
    .map(({ pkg }) => pkg)
    .filter((pkg) => arches.includes(pkg.architecture) && !excluded.has(pkg.name) && pinsAllowFor(pins, pkg))
    .sort((a, b) => compareVersions(b.version, a.version));
  const providerNames = [...new Set(providers.map((p) => p.name))].sort();
  if (providerNames.length === 1) return providers[0] as BinaryPackage;
  if (providerNames.length > 1) {
    throw new RampartError(
      'PACKAGE_NOT_FOUND',
      `${spec.name} is a virtual package provided by ${providerNames.join(', ')}; request one of them`,
      { details: { package: spec.name, architecture: spec.arch ?? target } },
    );
  }
  const suggestions = index.similarNames(spec.name);
  throw new RampartError(
    'PACKAGE_NOT_FOUND',
    `package ${spec.name} is not in the configured suites for ${target}${suggestions.length ? `; did you mean ${suggestions.join(', ')}?` : '; check the name and the suites'}`,
    { details: { package: spec.name, architecture: spec.arch ?? target } },
  );
}

function describeAvailable(index: PackageIndex, alternatives: Relation[]): string {
  const parts = alternatives.map((rel) => {
    const versions = index.candidates(rel.name).map((p) => `${p.version} ${p.architecture}`);
    const providers = index
      .providers(rel.name)
      .map(({ pkg, version }) => `${pkg.name}${version ? ` (= ${version})` : ''}`);
    if (versions.length === 0 && providers.length === 0) return `${formatRelation(rel)}: not in any suite`;
    return `${rel.name} available: ${[...versions, ...providers.map((p) => `provided by ${p}`)].slice(0, 5).join(', ')}`;
  });
  return parts.join('; ');
}
