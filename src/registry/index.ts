/**
 * The public surface of src/registry (also `rampart/registry`): the OCI distribution client for
 * `docker://`, credentials (docker config, podman auth.json, helpers), `login`/`logout`, tag
 * listing and deletion (`rampart ls`/`rm`), and referrers (API or tag schema). Images on a
 * registry are opened and written with `openImage`/`writeImage` of `rampart/oci`, which take these
 * `RegistryOptions`. Modules not named here are internals and may change without notice.
 *
 *   import { createRegistryClient, credentialStore, login } from 'rampart/registry';
 *   const client = createRegistryClient('127.0.0.1:5000', { credentials: credentialStore(), insecure: true });
 *   await login({ registry: client.registry, username, password, env: process.env,
 *     verify: (host, credentials) => createRegistryClient(host, { credentials }).ping() });
 */

export { createRegistryClient, type RegistryClientTuning } from './client.js';
export { type CredentialSources, credentialStore, parseCredsOption } from './credentials.js';
export {
  type CredentialLocation,
  type LoginOptions,
  type LoginResult,
  type LogoutResult,
  login,
  logout,
  type VerifyCredentials,
} from './login.js';
export { deleteManifestByDigest, listRepositoryTags, type ManageOptions, parseRepository } from './manage.js';
export {
  addReferrer,
  forgetReferrer,
  type ReferrerRecord,
  readTagSchemaIndex,
  recordReferrer,
  registryAttachmentStore,
} from './referrers.js';
export { REDACTED, RegistryCredential } from './secret.js';
export type {
  BlobPushResult,
  Credential,
  CredentialStore,
  FetchedManifest,
  RegistryClient,
  RegistryEvent,
  RegistryOptions,
} from './types.js';
