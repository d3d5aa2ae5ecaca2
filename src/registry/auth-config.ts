/**
 * The docker config / podman auth.json format (`{"auths": {...}, "credHelpers": {...},
 * "credsStore": "..."}`), as pure functions: which key of `auths` belongs to a registry, what an
 * entry's credential is, and the entry `rampart login` writes. Reading and writing the files is in
 * auth-file.ts; nothing here does I/O.
 *
 * Keys of `auths` come in the forms docker and podman have written over the years: `HOST[:PORT]`,
 * `https://HOST/v1/`, `http(s)://HOST/v2/`, and for Docker Hub `https://index.docker.io/v1/`,
 * `index.docker.io`, `registry-1.docker.io` or `docker.io`. All of them name the registry
 * `normalizeRegistry` gives. Podman's repository-scoped keys (`quay.io/org`, no scheme, with a
 * path) are skipped: the store answers per registry.
 *
 * No secret reaches an error from here: a value that does not parse is named by its path, key and
 * field, never quoted, and JSON.parse's own message (which quotes the text) is not kept as a cause.
 */
import { RampartError } from '../errors.js';
import { isRegistryHost } from '../oci/reference.js';
import { RegistryCredential } from './secret.js';
import type { Credential } from './types.js';

export const DOCKER_HUB = 'docker.io';
/** The key and helper server URL docker uses for Docker Hub. */
export const DOCKER_HUB_SERVER = 'https://index.docker.io/v1/';
const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set([
  'docker.io',
  'index.docker.io',
  'registry-1.docker.io',
  'registry.hub.docker.com',
]);

/** A parsed credential file; `document` is the whole JSON value, kept so writes preserve every key. */
export interface AuthConfig {
  document: Record<string, unknown>;
  auths: Record<string, Record<string, unknown>>;
  credHelpers: Record<string, string>;
  credsStore?: string;
}

/**
 * The registry a user's argument or a config key names: scheme and `/v1/`, `/v2/` paths dropped,
 * Docker Hub's aliases folded into `docker.io`, lower-cased. Undefined when it is no registry
 * (a repository-scoped podman key, an empty string, a bad host).
 */
export function normalizeRegistry(value: string): string | undefined {
  let rest = value.trim().toLowerCase();
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//.exec(rest);
  if (scheme) {
    rest = rest.slice(scheme[0].length);
    const slash = rest.indexOf('/');
    if (slash !== -1) rest = rest.slice(0, slash);
  } else if (rest.includes('/')) {
    // `host/v1/`, `host/v2/` (a bare URL path) name the host; any other path is a repository scope.
    const [host, ...path] = rest.split('/');
    if (!path.every((part) => part === '' || part === 'v1' || part === 'v2')) return undefined;
    rest = host ?? '';
  }
  if (!isRegistryHost(rest)) return undefined;
  return DOCKER_HUB_ALIASES.has(rest) ? DOCKER_HUB : rest;
}

/** The `auths` key and helper server URL for a registry, as docker writes them. */
export function serverAddressFor(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_SERVER : registry;
}

/**
 * Parses a credential file's text. `path` names the file in errors. Unknown keys are kept in
 * `document` and ignored.
 */
export function parseAuthConfig(text: string, path: string): AuthConfig {
  let document: unknown;
  try {
    document = text.trim() === '' ? {} : JSON.parse(text, preserveNumbers);
  } catch {
    // JSON.parse's message quotes the text around the fault, which may be a password: not kept.
    throw invalid(path, undefined, undefined, 'is not valid JSON');
  }
  if (!isRecord(document)) throw invalid(path, undefined, undefined, 'is not a JSON object');
  const auths = document.auths ?? {};
  if (!isRecord(auths)) throw invalid(path, undefined, 'auths', 'has an `auths` that is not an object');
  for (const [key, entry] of Object.entries(auths)) {
    if (!isRecord(entry)) throw invalid(path, key, 'auths', `has an entry for ${key} that is not an object`);
  }
  const credHelpers = document.credHelpers ?? {};
  if (!isRecord(credHelpers) || !Object.values(credHelpers).every((v) => typeof v === 'string'))
    throw invalid(
      path,
      undefined,
      'credHelpers',
      'has a `credHelpers` that is not an object of helper names',
    );
  const credsStore = document.credsStore;
  if (credsStore !== undefined && typeof credsStore !== 'string')
    throw invalid(path, undefined, 'credsStore', 'has a `credsStore` that is not a helper name');
  return {
    document,
    auths: auths as Record<string, Record<string, unknown>>,
    credHelpers: credHelpers as Record<string, string>,
    ...(credsStore ? { credsStore } : {}),
  };
}

/** The keys of `auths` that name `registry`: the exact key first, then the other forms in file order. */
export function authKeysFor(config: AuthConfig, registry: string): string[] {
  const keys = Object.keys(config.auths).filter((key) => normalizeRegistry(key) === registry);
  const exact = keys.filter((key) => key === registry || key === serverAddressFor(registry));
  return [...exact, ...keys.filter((key) => !exact.includes(key))];
}

/** The helper `credHelpers` names for a registry (under any of its key forms). */
export function credHelperFor(config: AuthConfig, registry: string): string | undefined {
  for (const [key, helper] of Object.entries(config.credHelpers)) {
    if (normalizeRegistry(key) === registry && helper !== '') return helper;
  }
  return undefined;
}

/**
 * The credential of an `auths` entry: base64 `auth` (`user:pass`; the password may hold ':'),
 * `username`/`password`, `identitytoken`, `registrytoken`. Undefined for an entry with none of
 * them (docker writes `{}` when a credsStore holds the secret).
 */
export function credentialOfEntry(
  entry: Record<string, unknown>,
  where: { path: string; registry: string },
): RegistryCredential | undefined {
  const fields: Credential = {};
  const auth = entry.auth;
  if (auth !== undefined && auth !== '') {
    if (typeof auth !== 'string' || !/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(auth))
      throw invalid(
        where.path,
        where.registry,
        'auth',
        `has an \`auth\` for ${where.registry} that is not base64`,
      );
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1)
      throw invalid(
        where.path,
        where.registry,
        'auth',
        `has an \`auth\` for ${where.registry} that is not base64 of USER:PASSWORD`,
      );
    fields.username = decoded.slice(0, colon);
    fields.password = decoded.slice(colon + 1);
  }
  for (const [field, name] of [
    ['username', 'username'],
    ['password', 'password'],
    ['identitytoken', 'identityToken'],
    ['registrytoken', 'registryToken'],
  ] as const) {
    const value = entry[field];
    if (value === undefined || value === '') continue;
    if (typeof value !== 'string')
      throw invalid(
        where.path,
        where.registry,
        field,
        `has a \`${field}\` for ${where.registry} that is not a string`,
      );
    // base64 `auth` wins over the separate fields, as in docker.
    if ((name === 'username' || name === 'password') && fields[name] !== undefined) continue;
    fields[name] = value;
  }
  if (
    fields.password === undefined &&
    fields.identityToken === undefined &&
    fields.registryToken === undefined
  )
    return undefined;
  return new RegistryCredential(fields);
}

/** The `auths` entry `rampart login` writes: base64 `user:password`, as `docker login` does. */
export function authEntryFor(username: string, password: string): Record<string, unknown> {
  return { auth: Buffer.from(`${username}:${password}`, 'utf8').toString('base64') };
}

/**
 * A copy of `config.document` with `registry`'s entries replaced by `entry` under docker's key
 * for it (or removed, when `entry` is undefined). Every other key and entry is kept as parsed.
 */
export function withAuthEntry(
  config: AuthConfig,
  registry: string,
  entry: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const drop = new Set(authKeysFor(config, registry));
  // fromEntries defines properties: a `__proto__` key of the file stays a key, not a prototype.
  const kept = Object.entries(config.auths).filter(([key]) => !drop.has(key));
  const auths = Object.fromEntries(entry ? [...kept, [serverAddressFor(registry), entry]] : kept);
  return { ...config.document, auths };
}

/** The text docker writes: tab-indented JSON and a final newline. */
export function formatAuthConfig(document: Record<string, unknown>): string {
  return `${JSON.stringify(document, null, '\t')}\n`;
}

/** A valid helper name: `docker-credential-NAME` must be a program on PATH, never a path. */
export function isHelperName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name);
}

function invalid(
  path: string,
  registry: string | undefined,
  field: string | undefined,
  problem: string,
): RampartError {
  return new RampartError(
    'CREDENTIALS_INVALID',
    `the credential file ${path} ${problem}; fix or remove it (rampart logout REGISTRY removes an entry)`,
    { details: { path, ...(registry ? { registry } : {}), ...(field ? { field } : {}) } },
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  const isRaw = (JSON as unknown as { isRawJSON?: (v: unknown) => boolean }).isRawJSON;
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !isRaw?.(value);
}

type RawJson = (text: string) => unknown;

/**
 * A JSON.parse reviver that keeps numbers as their source text (JSON.rawJSON), so a file rewritten
 * by login keeps `1e400` or a 20-digit id exactly as it was.
 */
function preserveNumbers(
  this: unknown,
  _key: string,
  value: unknown,
  context?: { source?: string },
): unknown {
  const rawJSON = (JSON as unknown as { rawJSON?: RawJson }).rawJSON;
  return typeof value === 'number' && rawJSON && context?.source !== undefined
    ? rawJSON(context.source)
    : value;
}
