import type { Credential } from './types.js';

/**
 * A credential that cannot leak by being printed or serialised: its fields are private and read
 * through getters, so `JSON.stringify`, `util.inspect`, `console.log`, `String()`, object spread,
 * `structuredClone` and an error's `details` all see the username and `<redacted>` markers, never
 * a password or token. Every credential the store hands out is one of these (apko redacts
 * credentials whenever config is printed; this makes the redaction a property of the value).
 */
export class RegistryCredential implements Credential {
  readonly #username: string | undefined;
  readonly #password: string | undefined;
  readonly #identityToken: string | undefined;
  readonly #registryToken: string | undefined;

  constructor(fields: Credential) {
    this.#username = fields.username;
    this.#password = fields.password;
    this.#identityToken = fields.identityToken;
    this.#registryToken = fields.registryToken;
  }

  get username(): string | undefined {
    return this.#username;
  }
  get password(): string | undefined {
    return this.#password;
  }
  get identityToken(): string | undefined {
    return this.#identityToken;
  }
  get registryToken(): string | undefined {
    return this.#registryToken;
  }

  /** The redacted form: which fields are set, and the username (not a secret, as in `docker info`). */
  toJSON(): Record<string, string> {
    const shown: Record<string, string> = {};
    if (this.#username !== undefined) shown.username = this.#username;
    if (this.#password !== undefined) shown.password = REDACTED;
    if (this.#identityToken !== undefined) shown.identityToken = REDACTED;
    if (this.#registryToken !== undefined) shown.registryToken = REDACTED;
    return shown;
  }

  toString(): string {
    return `RegistryCredential ${JSON.stringify(this.toJSON())}`;
  }

  // util.inspect.custom, without importing node:util (its ESM import loads ~17 built-in modules).
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

export const REDACTED = '<redacted>';

/** A credential as the store hands it out: always the redacting class, whatever was passed in. */
export function toRegistryCredential(value: Credential): RegistryCredential {
  return value instanceof RegistryCredential ? value : new RegistryCredential(value);
}

/** Whether a credential carries anything to authenticate with (an empty docker entry `{}` does not). */
export function hasSecret(value: Credential): boolean {
  return Boolean(value.password) || Boolean(value.identityToken) || Boolean(value.registryToken);
}
