import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isMap, LineCounter, parseDocument } from 'yaml';
import type * as z from 'zod/mini';
import { RampartError, type SourcePosition } from '../errors.js';
import {
  _default,
  array,
  boolean,
  enum as enumOf,
  gte,
  int,
  lte,
  minLength,
  number,
  optional,
  record,
  refine,
  regex,
  strictObject,
  string,
  union,
  url,
} from '../util/zod.js';
import { resolveAccounts } from './accounts.js';

/** Debian architectures rampart can assemble (assembly runs no foreign code, so any is fine). */
export const SUPPORTED_ARCHS = ['amd64', 'arm64', 'armhf', 'i386', 'ppc64el', 's390x', 'riscv64'] as const;
export type DebianArch = (typeof SUPPORTED_ARCHS)[number];

const NAME = /^[a-z0-9][a-z0-9._-]*$/;
/** A Debian package name, optionally pinned (`name=version`) or arch-qualified (`name:arch`), as the resolver takes them. */
const PACKAGE = string().check(
  regex(
    /^[a-z0-9][a-z0-9+.-]*(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?$/,
    'must be a Debian package name, optionally name=version',
  ),
);
const PACKAGE_NAME = string().check(regex(/^[a-z0-9][a-z0-9+.-]*$/, 'must be a Debian package name'));
const absolutePath = string().check(
  regex(/^\//, 'must be an absolute path'),
  // A layer entry with `..` would point outside the image root when extracted.
  refine((p) => !p.split('/').some((s) => s === '..' || s === '.'), "must not contain '.' or '..' segments"),
);
/**
 * An integer in [min, max]. `int()` goes in as a check of `number()`, as classic zod's
 * `number().int()` put it: spec-reference.ts reads the check to name the type `integer`.
 */
const integer = (min: number, max: number) => number().check(int(), gte(min), lte(max));
const permissions = union([integer(0, 0o7777), string().check(regex(/^0?o?[0-7]{3,4}$/))]);
const id = integer(0, 2 ** 31 - 1);

const userSchema = strictObject({
  name: string().check(regex(NAME)),
  uid: id,
  gid: id,
  home: optional(absolutePath),
  shell: optional(absolutePath),
});
const groupSchema = strictObject({
  name: string().check(regex(NAME)),
  gid: id,
  members: optional(array(string())),
});

const pathSchema = strictObject({
  path: absolutePath,
  type: _default(enumOf(['directory', 'file', 'symlink']), 'directory'),
  uid: _default(id, 0),
  gid: _default(id, 0),
  permissions: optional(permissions),
  target: optional(string()),
  content: optional(string()),
}).check(
  refine((p) => p.type !== 'symlink' || (p.target ?? '') !== '', {
    message: 'a symlink needs a target',
    path: ['target'],
  }),
);

const fileSchema = strictObject({
  source: string().check(minLength(1)),
  destination: absolutePath,
  uid: _default(id, 0),
  gid: _default(id, 0),
  permissions: optional(permissions),
});

const contentsSchema = strictObject({
  suites: array(string().check(regex(NAME))).check(minLength(1)),
  mirror: optional(string().check(url())),
  'security-mirror': optional(string().check(url())),
  keyring: optional(string()),
  packages: array(PACKAGE).check(minLength(1)),
  exclude: _default(array(PACKAGE_NAME), []),
  skip: optional(array(PACKAGE_NAME)),
  recommends: _default(boolean(), false),
});

const pruneSchema = strictObject({
  'keep-locales': _default(array(string()), ['C']),
  'keep-docs': _default(boolean(), false),
  drop: _default(array(string()), []),
});

const accountsSchema = strictObject({
  'run-as': _default(string(), 'nonroot'),
  users: _default(array(userSchema), []),
  groups: _default(array(groupSchema), []),
});

const variantSchema = strictObject({
  packages: _default(array(PACKAGE), []),
  exclude: optional(array(PACKAGE_NAME)),
  'run-as': optional(string()),
  entrypoint: optional(array(string())),
  cmd: optional(array(string())),
  'work-dir': optional(absolutePath),
  environment: optional(record(string(), string())),
});

/** The spec's schema: the one source of truth for docs/spec.md (checked by a test). */
export const specSchema = strictObject({
  name: string().check(regex(NAME)),
  description: optional(string()),
  version: optional(string()),
  contents: contentsSchema,
  archs: array(enumOf(SUPPORTED_ARCHS)).check(minLength(1)),
  accounts: _default(accountsSchema, { 'run-as': 'nonroot', users: [], groups: [] }),
  entrypoint: optional(array(string())),
  cmd: optional(array(string())),
  'work-dir': optional(absolutePath),
  environment: _default(record(string(), string()), {}),
  paths: _default(array(pathSchema), []),
  files: _default(array(fileSchema), []),
  annotations: _default(record(string(), string()), {}),
  prune: _default(pruneSchema, { 'keep-locales': ['C'], 'keep-docs': false, drop: [] }),
  variants: _default(record(string().check(regex(NAME)), variantSchema), {}),
});

type RawSpec = z.output<typeof specSchema>;

export type UserSpec = { name: string; uid: number; gid: number; home?: string; shell?: string };
export type GroupSpec = { name: string; gid: number; members?: string[] };
export type PathSpec = {
  path: string;
  type: 'directory' | 'file' | 'symlink';
  uid: number;
  gid: number;
  mode?: number;
  target?: string;
  content?: string;
};
export type FileSpec = { source: string; destination: string; uid: number; gid: number; mode?: number };

/** The validated, camel-cased image spec; one variant already applied. */
export type ImageSpec = {
  name: string;
  /** Variant applied, or undefined for the main image. */
  variant?: string;
  description?: string;
  version?: string;
  contents: {
    suites: string[];
    mirror?: string;
    securityMirror?: string;
    keyring?: string;
    packages: string[];
    exclude: string[];
    /** Overrides the default list of maintainer-script-only dependencies left out. */
    skip?: string[];
    recommends: boolean;
  };
  archs: DebianArch[];
  accounts: { runAs: string; users: UserSpec[]; groups: GroupSpec[] };
  entrypoint?: string[];
  cmd?: string[];
  workDir?: string;
  environment: Record<string, string>;
  paths: PathSpec[];
  files: FileSpec[];
  annotations: Record<string, string>;
  prune: { keepLocales: string[]; keepDocs: boolean; drop: string[] };
  variants: Record<string, VariantSpec>;
  /** Absolute directory of the spec file: `files[].source` is relative to it. */
  baseDir: string;
};

export type VariantSpec = {
  packages: string[];
  exclude?: string[];
  runAs?: string;
  entrypoint?: string[];
  cmd?: string[];
  workDir?: string;
  environment?: Record<string, string>;
};

/** Where in the spec file a value came from, for error messages. */
export type SpecLocator = (path: ReadonlyArray<string | number>) => string;

/**
 * Parses and validates a spec. Errors name `file:line:col`, the key path and, for enums and
 * unknown keys, the allowed values. Also returns a locator so later stages (resolution, file
 * sources) can point back into the file.
 */
export function parseImageSpec(
  text: string,
  file: string,
  baseDir: string,
): { spec: ImageSpec; locate: SpecLocator } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const positionOf = (offset: number): Required<Pick<SourcePosition, 'file' | 'line' | 'column'>> => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col };
  };
  const position = (offset: number) => {
    const p = positionOf(offset);
    return `${p.file}:${p.line}:${p.column}`;
  };
  const invalid = (offset: number, message: string, key?: ReadonlyArray<string | number>) =>
    new RampartError('SPEC_INVALID', `${position(offset)}: ${message}`, {
      details: { position: positionOf(offset), ...(key?.length ? { key: key.join('.') } : {}) },
    });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    throw invalid(first.pos[0], `invalid YAML: ${first.message}`);
  }
  const locate: SpecLocator = (path) => position(offsetOf(doc, path));
  const result = specSchema.safeParse(doc.toJS());
  if (!result.success) {
    // A misspelt key also leaves its correct spelling missing: name the typo, not the gap.
    const issues = result.error.issues;
    const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]!;
    const described = describeIssue(issue, doc);
    throw invalid(described.offset, described.message, described.path);
  }
  const spec = toImageSpec(result.data, baseDir);
  checkAccounts(spec, (path, message) => invalid(offsetOf(doc, path), message, path));
  return { spec, locate };
}

/**
 * Account errors (an unknown `run-as` user, a uid clash) found when the spec is read, before any
 * download, by the same function the build uses; the main image and every variant are checked.
 */
function checkAccounts(
  spec: ImageSpec,
  invalid: (path: Array<string | number>, message: string) => RampartError,
): void {
  const check = (runAs: string, path: Array<string | number>) => {
    try {
      resolveAccounts({ runAs, users: spec.accounts.users, groups: spec.accounts.groups });
    } catch (error) {
      if (!(error instanceof RampartError) || error.code !== 'SPEC_INVALID') throw error;
      throw invalid(path, error.message);
    }
  };
  check(spec.accounts.runAs, ['accounts', 'run-as']);
  for (const [name, variant] of Object.entries(spec.variants))
    if (variant.runAs !== undefined) check(variant.runAs, ['variants', name, 'run-as']);
}

export async function loadImageSpec(
  file: string,
): Promise<{ spec: ImageSpec; locate: SpecLocator; text: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new RampartError('NOT_FOUND', `cannot read image spec ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const parsed = parseImageSpec(text, file, dirname(resolve(file)));
  return { ...parsed, text };
}

/** Returns the spec with a variant's overrides applied (packages are added, the rest replaced). */
export function applyVariant(spec: ImageSpec, variant: string | undefined): ImageSpec {
  if (variant === undefined) return spec;
  const v = spec.variants[variant];
  if (!v) {
    const known = Object.keys(spec.variants);
    throw new RampartError(
      'USAGE',
      `image ${spec.name} has no variant '${variant}' (variants: ${known.length ? known.join(', ') : 'none'})`,
    );
  }
  const runAs = v.runAs ?? spec.accounts.runAs;
  return {
    ...spec,
    variant,
    contents: {
      ...spec.contents,
      packages: [...spec.contents.packages, ...v.packages.filter((p) => !spec.contents.packages.includes(p))],
      exclude: v.exclude ?? spec.contents.exclude.filter((p) => !v.packages.includes(p)),
    },
    accounts: { ...spec.accounts, runAs },
    entrypoint: v.entrypoint ?? spec.entrypoint,
    cmd: v.cmd ?? spec.cmd,
    workDir: v.workDir ?? (v.runAs === 'root' && spec.accounts.runAs !== 'root' ? '/' : spec.workDir),
    environment: { ...spec.environment, ...(v.environment ?? {}) },
  };
}

function toImageSpec(raw: RawSpec, baseDir: string): ImageSpec {
  const spec: ImageSpec = {
    name: raw.name,
    contents: {
      suites: raw.contents.suites,
      packages: raw.contents.packages,
      exclude: raw.contents.exclude,
      recommends: raw.contents.recommends,
    },
    archs: [...new Set(raw.archs)],
    accounts: { runAs: raw.accounts['run-as'], users: raw.accounts.users, groups: raw.accounts.groups },
    environment: raw.environment,
    paths: raw.paths.map((p) => ({
      path: p.path,
      type: p.type,
      uid: p.uid,
      gid: p.gid,
      ...(p.permissions !== undefined ? { mode: parseMode(p.permissions) } : {}),
      ...(p.target !== undefined ? { target: p.target } : {}),
      ...(p.content !== undefined ? { content: p.content } : {}),
    })),
    files: raw.files.map((f) => ({
      source: f.source,
      destination: f.destination,
      uid: f.uid,
      gid: f.gid,
      ...(f.permissions !== undefined ? { mode: parseMode(f.permissions) } : {}),
    })),
    annotations: raw.annotations,
    prune: {
      keepLocales: raw.prune['keep-locales'],
      keepDocs: raw.prune['keep-docs'],
      drop: raw.prune.drop,
    },
    variants: Object.fromEntries(
      Object.entries(raw.variants).map(([name, v]) => [
        name,
        {
          packages: v.packages,
          ...(v.exclude ? { exclude: v.exclude } : {}),
          ...(v['run-as'] ? { runAs: v['run-as'] } : {}),
          ...(v.entrypoint ? { entrypoint: v.entrypoint } : {}),
          ...(v.cmd ? { cmd: v.cmd } : {}),
          ...(v['work-dir'] ? { workDir: v['work-dir'] } : {}),
          ...(v.environment ? { environment: v.environment } : {}),
        },
      ]),
    ),
    baseDir,
  };
  if (raw.description !== undefined) spec.description = raw.description;
  if (raw.version !== undefined) spec.version = raw.version;
  if (raw.contents.mirror) spec.contents.mirror = raw.contents.mirror;
  if (raw.contents['security-mirror']) spec.contents.securityMirror = raw.contents['security-mirror'];
  // Like files[].source, a relative keyring is relative to the spec file.
  if (raw.contents.keyring) spec.contents.keyring = resolve(baseDir, raw.contents.keyring);
  if (raw.contents.skip) spec.contents.skip = raw.contents.skip;
  if (raw.entrypoint) spec.entrypoint = raw.entrypoint;
  if (raw.cmd) spec.cmd = raw.cmd;
  if (raw['work-dir']) spec.workDir = raw['work-dir'];
  return spec;
}

/** Accepts 0o755 (YAML 1.2 octal, already a number), '0755', '755' and '0o755'. */
export function parseMode(value: number | string): number {
  if (typeof value === 'number') return value;
  return Number.parseInt(value.replace(/^0o/, ''), 8);
}

type Issue = z.core.$ZodIssue;

function describeIssue(
  issue: Issue,
  doc: ReturnType<typeof parseDocument>,
): { offset: number; message: string; path: Array<string | number> } {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  const dotted = path.length ? path.join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    const allowed = allowedKeys(path);
    const near = nearestKey(key, allowed);
    const hint = near
      ? ` (did you mean ${near}?)`
      : `${path.length ? ` in ${dotted}` : ''}${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`;
    return {
      offset: offsetOf(doc, [...path, key], true),
      message: `unknown key '${key}'${hint}`,
      path: [...path, key],
    };
  }
  if (issue.code === 'invalid_type' && doc.getIn(path) === undefined) {
    // Point at the key of the map that lacks the field (or the top of the file).
    const at = path.length > 1 ? offsetOf(doc, path.slice(0, -1), true) : 0;
    return { offset: at, message: `${dotted} is required`, path };
  }
  const offset = offsetOf(doc, path);
  if (issue.code === 'invalid_value') {
    return {
      offset,
      message: `${dotted}: expected one of ${issue.values.map((v) => String(v)).join(', ')}`,
      path,
    };
  }
  return { offset, message: `${dotted}: ${issue.message}`, path };
}

/** The allowed key a typo most likely meant: within a third of its length in edits (at least 2). */
export function nearestKey(key: string, allowed: readonly string[]): string | undefined {
  // No spec key is long; a hostile one should not cost a quadratic table.
  if (key.length > 64) return undefined;
  let best: { key: string; distance: number } | undefined;
  for (const candidate of allowed) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (!best || distance < best.distance) best = { key: candidate, distance };
  }
  const limit = Math.max(2, Math.floor(key.length / 3));
  return best && best.distance <= limit ? best.key : undefined;
}

/** Levenshtein distance with adjacent transpositions (optimal string alignment). */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}

/** Offset of the node at `path` (or of its key), falling back to the nearest existing parent. */
function offsetOf(doc: ReturnType<typeof parseDocument>, path: ReadonlyArray<string | number>, key = false) {
  for (let n = path.length; n >= 0; n--) {
    const prefix = path.slice(0, n);
    if (key && n === path.length && n > 0) {
      const parent = prefix.length > 1 ? doc.getIn(prefix.slice(0, -1), true) : doc.contents;
      if (isMap(parent)) {
        const pair = parent.items.find((p) => (p.key as { value?: unknown } | null)?.value === prefix.at(-1));
        const range = (pair?.key as { range?: [number, number, number] } | null)?.range;
        if (range) return range[0];
      }
      continue;
    }
    const node = (n === 0 ? doc.contents : doc.getIn(prefix, true)) as {
      range?: [number, number, number];
    } | null;
    if (node?.range) return node.range[0];
  }
  return 0;
}

function allowedKeys(path: ReadonlyArray<string | number>): string[] {
  let schema: unknown = specSchema;
  for (const segment of path) {
    schema = unwrap(schema);
    const def = (schema as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
    if (!def) return [];
    if (def.type === 'object') schema = (def.shape as Record<string, unknown>)[String(segment)];
    else if (def.type === 'array') schema = def.element;
    else if (def.type === 'record') schema = def.valueType;
    else return [];
  }
  const def = (unwrap(schema) as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
  return def?.type === 'object' ? Object.keys(def.shape as object) : [];
}

function unwrap(schema: unknown): unknown {
  let current = schema as { _zod?: { def?: Record<string, unknown> } } | undefined;
  for (;;) {
    const def = current?._zod?.def;
    if (def && (def.type === 'optional' || def.type === 'default' || def.type === 'nullable')) {
      current = def.innerType as typeof current;
    } else return current;
  }
}
