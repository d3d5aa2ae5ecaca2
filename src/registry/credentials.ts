import type { Credential, CredentialStore } from './types.js';

/** Where `credentialStore` looks, in order: explicit flags, then the config files and helpers. */
export interface CredentialSources {
  /** `--creds user:pass` / `--username` + `--password-stdin`: used for `explicitRegistry` (or every registry when absent). */
  explicit?: Credential;
  explicitRegistry?: string;
  /** Environment: HOME, DOCKER_CONFIG, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, PATH (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** The credential store for a command (placeholder until credentials land: anonymous). */
export function credentialStore(sources: CredentialSources = {}): CredentialStore {
  return {
    async get() {
      return sources.explicit;
    },
  };
}
