/**
 * The credential store: who the user is at each registry, looked up in the order docker and
 * skopeo users expect:
 *
 * 1. explicit flags (`--creds USER:PASS`, `--username` + `--password-stdin`);
 * 2. `REGISTRY_AUTH_FILE`;
 * 3. `$XDG_RUNTIME_DIR/containers/auth.json` (podman, skopeo);
 * 4. `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
 *
 * With `authFile` (`--authfile FILE`), that file replaces 2-4. In each file, in turn:
 * `credHelpers[registry]` (that helper decides: "not found" is anonymous), else an `auths` entry
 * with a secret, else `credsStore` (its "not found" goes on to the next file). The first answer
 * wins. A helper that is not installed is a warning and anonymous, as with docker.
 *
 * Answers are RegistryCredential values, which print and serialise redacted. Lookups are cached
 * per registry for the store's lifetime (a copy asks for every blob; a helper costs a process).
 */
import { RampartError } from '../errors.js';
import {
  authKeysFor,
  credentialOfEntry,
  credHelperFor,
  isHelperName,
  normalizeRegistry,
  serverAddressFor,
} from './auth-config.js';
import { authFileLocations, readAuthFile } from './auth-file.js';
import { helperGet, helperProgram } from './credential-helper.js';
import { type RegistryCredential, toRegistryCredential } from './secret.js';
import type { Credential, CredentialStore } from './types.js';

/** Where `credentialStore` looks, in order: explicit flags, then the config files and helpers. */
export interface CredentialSources {
  /** `--creds user:pass` / `--username` + `--password-stdin`: used for `explicitRegistry` (or every registry when absent). */
  explicit?: Credential;
  explicitRegistry?: string;
  /** Environment: HOME, DOCKER_CONFIG, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, PATH (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** `--authfile FILE`: read this file instead of REGISTRY_AUTH_FILE, podman's and docker's. */
  authFile?: string;
  /** A helper that is not installed, and similar facts the user should see (never a secret). */
  onWarning?: (message: string) => void;
  /** Deadline of one credential helper run; default 60 s. */
  helperTimeoutMs?: number;
  signal?: AbortSignal;
}

/** The credential store for a command. */
export function credentialStore(sources: CredentialSources = {}): CredentialStore {
  const env = sources.env ?? process.env;
  const explicitRegistry =
    sources.explicitRegistry === undefined ? undefined : registryKey(sources.explicitRegistry);
  const explicit = sources.explicit ? toRegistryCredential(sources.explicit) : undefined;
  const answers = new Map<string, Promise<RegistryCredential | undefined>>();
  return {
    get(registry: string): Promise<Credential | undefined> {
      const key = registryKey(registry);
      if (explicit && (explicitRegistry === undefined || explicitRegistry === key))
        return Promise.resolve(explicit);
      let answer = answers.get(key);
      if (!answer) {
        answer = lookUp(key, env, sources);
        answers.set(key, answer);
        // A failed lookup (a broken file, a cancelled helper) is asked again next time.
        answer.catch(() => answers.delete(key));
      }
      return answer;
    },
  };
}

/** The registry a user or a caller named, in the form config keys are compared in. */
export function registryKey(registry: string): string {
  return normalizeRegistry(registry) ?? registry.trim().toLowerCase();
}

/**
 * A user name as a registry credential takes it: non-empty and without ':' (the basic-auth and the
 * docker config `auth` encodings split at the first ':'). One rule for `login` and `--username`.
 */
export function checkUsername(username: string, option = '--username'): string {
  if (username === '' || username.includes(':'))
    throw new RampartError('USAGE', 'the username must be non-empty and cannot contain ":"', {
      details: { option },
    });
  return username;
}

/**
 * `--creds USER:PASSWORD` as skopeo takes it: split at the first ':' (the password may hold ':').
 * The error never carries the value.
 */
export function parseCredsOption(value: string, option = '--creds'): RegistryCredential {
  const colon = value.indexOf(':');
  if (colon <= 0)
    throw new RampartError(
      'USAGE',
      `${option} takes USERNAME:PASSWORD (the value given has no username or no ':')`,
      {
        details: { option },
      },
    );
  return toRegistryCredential({ username: value.slice(0, colon), password: value.slice(colon + 1) });
}

async function lookUp(
  registry: string,
  env: NodeJS.ProcessEnv,
  sources: CredentialSources,
): Promise<RegistryCredential | undefined> {
  const paths = sources.authFile
    ? [sources.authFile]
    : authFileLocations(env).map((location) => location.path);
  const helperOptions = {
    env,
    ...(sources.helperTimeoutMs !== undefined ? { timeoutMs: sources.helperTimeoutMs } : {}),
    ...(sources.signal ? { signal: sources.signal } : {}),
  };
  for (const path of paths) {
    const config = await readAuthFile(path);
    if (!config) continue;
    const helper = credHelperFor(config, registry);
    if (helper !== undefined)
      return fromHelper(helper, 'credHelpers', path, registry, helperOptions, sources);
    for (const key of authKeysFor(config, registry)) {
      const credential = credentialOfEntry(config.auths[key]!, { path, registry });
      if (credential) return credential;
    }
    if (config.credsStore !== undefined) {
      const credential = await fromHelper(
        config.credsStore,
        'credsStore',
        path,
        registry,
        helperOptions,
        sources,
      );
      if (credential) return credential;
    }
  }
  return undefined;
}

async function fromHelper(
  name: string,
  field: 'credHelpers' | 'credsStore',
  path: string,
  registry: string,
  options: Parameters<typeof helperGet>[2],
  sources: CredentialSources,
): Promise<RegistryCredential | undefined> {
  if (!isHelperName(name))
    throw new RampartError(
      'CREDENTIALS_INVALID',
      `the credential file ${path} names a credential helper in \`${field}\` that is not a helper name (letters, digits, '.', '_', '-'); fix it`,
      { details: { path, registry, field } },
    );
  const answer = await helperGet(name, serverAddressFor(registry), options);
  if (answer !== 'missing') return answer;
  sources.onWarning?.(
    `the credential helper ${helperProgram(name)} (${field} in ${path}) is not on PATH: ${registry} is used anonymously`,
  );
  return undefined;
}
