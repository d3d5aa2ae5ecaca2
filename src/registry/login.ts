/**
 * `rampart login` and `rampart logout` as library functions. Login verifies the credential with
 * the registry first (`verify`, which the CLI makes from the registry client's `ping`) and only
 * then stores it: in the credential helper the file names for that registry (`credHelpers`, else
 * `credsStore`), or as a base64 `auth` entry in the file. Logout removes both. The file is
 * `--authfile`, else `REGISTRY_AUTH_FILE`, else docker's config.json (podman's and docker's
 * choices); see auth-file.ts for how it is rewritten. A credential file read before the target
 * that also answers for the registry would shadow what was written: that is a warning.
 *
 * Results are plain data (where it was stored); neither they nor any error carry the password.
 */
import { RampartError } from '../errors.js';
import {
  type AuthConfig,
  authEntryFor,
  authKeysFor,
  credHelperFor,
  isHelperName,
  normalizeRegistry,
  serverAddressFor,
  withAuthEntry,
} from './auth-config.js';
import { authFileLocations, dockerConfigPath, readAuthFile, updateAuthFile } from './auth-file.js';
import { type HelperRunOptions, helperErase, helperProgram, helperStore } from './credential-helper.js';
import { checkUsername, credentialStore } from './credentials.js';
import { RegistryCredential } from './secret.js';
import type { CredentialStore } from './types.js';

/** Checks a credential with the registry (`GET /v2/`); throws UNAUTHORIZED when it is refused. */
export type VerifyCredentials = (registry: string, credentials: CredentialStore) => Promise<void>;

interface CommonOptions {
  /** HOST[:PORT], or a URL form (`https://index.docker.io/v1/`). */
  registry: string;
  env: NodeJS.ProcessEnv;
  /** `--authfile FILE`. */
  authFile?: string;
  onWarning?: (message: string) => void;
  helperTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface LoginOptions extends CommonOptions {
  username: string;
  password: string;
  verify: VerifyCredentials;
}

/** Where a credential was written or erased. */
export type CredentialLocation = { kind: 'file'; path: string } | { kind: 'helper'; helper: string };

export interface LoginResult {
  registry: string;
  storedIn: CredentialLocation;
}

export interface LogoutResult {
  registry: string;
  /** Empty when nothing was stored for the registry there. */
  removedFrom: CredentialLocation[];
}

/** Verifies the credential with the registry, then stores it. */
export async function login(options: LoginOptions): Promise<LoginResult> {
  const registry = registryArgument(options.registry);
  checkUsername(options.username);
  if (options.password === '')
    throw new RampartError('USAGE', 'the password is empty; give it on stdin with --password-stdin', {
      details: { option: '--password-stdin' },
    });
  const credential = new RegistryCredential({ username: options.username, password: options.password });
  await options.verify(
    registry,
    credentialStore({ explicit: credential, explicitRegistry: registry, env: options.env }),
  );
  const path = targetFile(options);
  let storedIn: CredentialLocation = { kind: 'file', path };
  await updateAuthFile(
    path,
    async (config) => {
      const helper = helperOf(config, registry, path);
      if (helper === undefined)
        return withAuthEntry(config, registry, authEntryFor(options.username, options.password));
      await helperStore(
        helper,
        serverAddressFor(registry),
        { username: options.username, secret: options.password },
        helperOptions(options),
      );
      storedIn = { kind: 'helper', helper: helperProgram(helper) };
      // An old `auth` entry for the registry would be read before the credsStore: it goes.
      return authKeysFor(config, registry).length > 0
        ? withAuthEntry(config, registry, undefined)
        : undefined;
    },
    { command: 'rampart login', ...(options.signal ? { signal: options.signal } : {}) },
  );
  await warnShadowing(registry, path, options);
  return { registry, storedIn };
}

/** Removes the registry's credential from the file and from its helper. */
export async function logout(options: CommonOptions): Promise<LogoutResult> {
  const registry = registryArgument(options.registry);
  const path = targetFile(options);
  const removedFrom: CredentialLocation[] = [];
  if ((await readAuthFile(path)) === undefined) return { registry, removedFrom };
  await updateAuthFile(
    path,
    async (config) => {
      const helper = helperOf(config, registry, path);
      if (helper !== undefined) {
        try {
          if (await helperErase(helper, serverAddressFor(registry), helperOptions(options)))
            removedFrom.push({ kind: 'helper', helper: helperProgram(helper) });
        } catch (error) {
          // A helper that is gone holds nothing rampart could use: the file entry still goes.
          if (
            !(
              error instanceof RampartError &&
              error.code === 'TOOL_FAILED' &&
              error.details.exitCode === null
            )
          )
            throw error;
          options.onWarning?.(
            `the credential helper ${helperProgram(helper)} is not on PATH; nothing erased there`,
          );
        }
      }
      if (authKeysFor(config, registry).length === 0) return undefined;
      removedFrom.push({ kind: 'file', path });
      return withAuthEntry(config, registry, undefined);
    },
    { command: 'rampart logout', ...(options.signal ? { signal: options.signal } : {}) },
  );
  await warnShadowing(registry, path, options);
  return { registry, removedFrom };
}

/** The file login and logout change: `--authfile`, else REGISTRY_AUTH_FILE, else docker's config.json. */
export function credentialFileFor(options: {
  env: NodeJS.ProcessEnv;
  authFile?: string;
}): string | undefined {
  return options.authFile ?? (options.env.REGISTRY_AUTH_FILE || undefined) ?? dockerConfigPath(options.env);
}

function targetFile(options: CommonOptions): string {
  const path = credentialFileFor(options);
  if (path === undefined)
    throw new RampartError(
      'INVALID_ENVIRONMENT',
      'HOME is not set, so there is no docker config to store credentials in; set HOME or DOCKER_CONFIG, or pass --authfile',
      { details: { variable: 'HOME' } },
    );
  return path;
}

function registryArgument(value: string): string {
  const registry = normalizeRegistry(value);
  if (registry === undefined)
    throw new RampartError(
      'USAGE',
      `'${value}' is not a registry; name it as HOST[:PORT] (docker.io, 127.0.0.1:5000, ghcr.io)`,
      { details: { option: 'REGISTRY', value } },
    );
  return registry;
}

function helperOf(config: AuthConfig, registry: string, path: string): string | undefined {
  const helper = credHelperFor(config, registry) ?? config.credsStore;
  if (helper !== undefined && !isHelperName(helper))
    throw new RampartError(
      'CREDENTIALS_INVALID',
      `the credential file ${path} names a credential helper that is not a helper name (letters, digits, '.', '_', '-'); fix it`,
      { details: { path, registry, field: credHelperFor(config, registry) ? 'credHelpers' : 'credsStore' } },
    );
  return helper;
}

function helperOptions(options: CommonOptions): HelperRunOptions {
  return {
    env: options.env,
    ...(options.helperTimeoutMs !== undefined ? { timeoutMs: options.helperTimeoutMs } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
}

/** Warns when another credential file, read before or instead of `path`, still answers for the registry. */
async function warnShadowing(registry: string, path: string, options: CommonOptions): Promise<void> {
  if (!options.onWarning || options.authFile) return;
  for (const location of authFileLocations(options.env)) {
    if (location.path === path) return;
    const config = await readAuthFile(location.path).catch(() => undefined);
    if (!config) continue;
    if (credHelperFor(config, registry) !== undefined || authKeysFor(config, registry).length > 0) {
      options.onWarning(
        `${location.path} also has credentials for ${registry} and is read before ${path}: remove them there (rampart logout --authfile ${location.path} ${registry})`,
      );
      return;
    }
  }
}
