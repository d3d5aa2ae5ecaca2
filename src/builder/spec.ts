import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isMap, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { RampartError } from '../errors.js';

/** Debian architectures rampart can assemble (assembly runs no foreign code, so any is fine). */
export const SUPPORTED_ARCHS = ['amd64', 'arm64', 'armhf', 'i386', 'ppc64el', 's390x', 'riscv64'] as const;
export type DebianArch = (typeof SUPPORTED_ARCHS)[number];

const NAME = /^[a-z0-9][a-z0-9._-]*$/;
/** A Debian package name, optionally pinned (`name=version`) or arch-qualified (`name:arch`), as the resolver takes them. */
const PACKAGE = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9+.-]*(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?$/,
    'must be a Debian package name, optionally name=version',
  );
const PACKAGE_NAME = z.string().regex(/^[a-z0-9][a-z0-9+.-]*$/, 'must be a Debian package name');
const absolutePath = z
  .string()
  .regex(/^\//, 'must be an absolute path')
  // A layer entry with `..` would point outside the image root when extracted.
  .refine((p) => !p.split('/').some((s) => s === '..' || s === '.'), "must not contain '.' or '..' segments");
const permissions = z.union([z.number().int().min(0).max(0o7777), z.string().regex(/^0?o?[0-7]{3,4}$/)]);
const id = z
  .number()
  .int()
  .min(0)
  .max(2 ** 31 - 1);

const userSchema = z
  .object({
    name: z.string().regex(NAME),
    uid: id,
    gid: id,
    home: absolutePath.optional(),
    shell: absolutePath.optional(),
  })
  .strict();
const groupSchema = z
  .object({ name: z.string().regex(NAME), gid: id, members: z.array(z.string()).optional() })
  .strict();

const pathSchema = z
  .object({
    path: absolutePath,
    type: z.enum(['directory', 'file', 'symlink']).default('directory'),
    uid: id.default(0),
    gid: id.default(0),
    permissions: permissions.optional(),
    target: z.string().optional(),
    content: z.string().optional(),
  })
  .strict()
  .refine((p) => p.type !== 'symlink' || (p.target ?? '') !== '', {
    message: 'a symlink needs a target',
    path: ['target'],
  });

const fileSchema = z
  .object({
    source: z.string().min(1),
    destination: absolutePath,
    uid: id.default(0),
    gid: id.default(0),
    permissions: permissions.optional(),
  })
  .strict();

const contentsSchema = z
  .object({
    suites: z.array(z.string().regex(NAME)).min(1),
    mirror: z.string().url().optional(),
    'security-mirror': z.string().url().optional(),
    keyring: z.string().optional(),
    packages: z.array(PACKAGE).min(1),
    exclude: z.array(PACKAGE_NAME).default([]),
    skip: z.array(PACKAGE_NAME).optional(),
    recommends: z.boolean().default(false),
  })
  .strict();

const pruneSchema = z
  .object({
    'keep-locales': z.array(z.string()).default(['C']),
    'keep-docs': z.boolean().default(false),
    drop: z.array(z.string()).default([]),
  })
  .strict();

const accountsSchema = z
  .object({
    'run-as': z.string().default('nonroot'),
    users: z.array(userSchema).default([]),
    groups: z.array(groupSchema).default([]),
  })
  .strict();

const variantSchema = z
  .object({
    packages: z.array(PACKAGE).default([]),
    exclude: z.array(PACKAGE_NAME).optional(),
    'run-as': z.string().optional(),
    entrypoint: z.array(z.string()).optional(),
    cmd: z.array(z.string()).optional(),
    'work-dir': absolutePath.optional(),
    environment: z.record(z.string(), z.string()).optional(),
  })
  .strict();

const specSchema = z
  .object({
    name: z.string().regex(NAME),
    description: z.string().optional(),
    version: z.string().optional(),
    contents: contentsSchema,
    archs: z.array(z.enum(SUPPORTED_ARCHS)).min(1),
    accounts: accountsSchema.default({ 'run-as': 'nonroot', users: [], groups: [] }),
    entrypoint: z.array(z.string()).optional(),
    cmd: z.array(z.string()).optional(),
    'work-dir': absolutePath.optional(),
    environment: z.record(z.string(), z.string()).default({}),
    paths: z.array(pathSchema).default([]),
    files: z.array(fileSchema).default([]),
    annotations: z.record(z.string(), z.string()).default({}),
    prune: pruneSchema.default({ 'keep-locales': ['C'], 'keep-docs': false, drop: [] }),
    variants: z.record(z.string().regex(NAME), variantSchema).default({}),
  })
  .strict();

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
  const position = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    throw new RampartError('SPEC_INVALID', `${position(first.pos[0])}: invalid YAML: ${first.message}`);
  }
  const locate: SpecLocator = (path) => position(offsetOf(doc, path));
  const result = specSchema.safeParse(doc.toJS());
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new RampartError('SPEC_INVALID', describeIssue(issue, doc, position));
  }
  return { spec: toImageSpec(result.data, baseDir), locate };
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

function describeIssue(issue: Issue, doc: ReturnType<typeof parseDocument>, position: (o: number) => string) {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  const dotted = path.length ? path.join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    const allowed = allowedKeys(path);
    return `${position(offsetOf(doc, [...path, key], true))}: unknown key '${key}'${path.length ? ` in ${dotted}` : ''}${
      allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''
    }`;
  }
  if (issue.code === 'invalid_type' && doc.getIn(path) === undefined) {
    // Point at the key of the map that lacks the field (or the top of the file).
    const at = path.length > 1 ? offsetOf(doc, path.slice(0, -1), true) : 0;
    return `${position(at)}: ${dotted} is required`;
  }
  const where = position(offsetOf(doc, path));
  if (issue.code === 'invalid_value') {
    return `${where}: ${dotted}: expected one of ${issue.values.map((v) => String(v)).join(', ')}`;
  }
  return `${where}: ${dotted}: ${issue.message}`;
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
