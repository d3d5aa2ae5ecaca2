/** Keys, signatures and their verification in cosign's formats (`rampart key`, `sign`, `verify`). */

export * from './attest.js';
export * from './build-attestations.js';
export * from './formats.js';
// Named: key-files.ts and keys.ts also hold what the CLI's early key start uses (a synchronous key
// file read, the sealed key's parser), which is not part of the library.
export {
  MAX_KEY_FILE_BYTES,
  type PrivateKeyFile,
  readKeyFile,
  readPrivateKeyFile,
  writeKeyPairFiles,
} from './key-files.js';
// Keyless: sigstore-js is imported inside their functions, so importing these loads none of it.
export * from './keyless.js';
export * from './keyless-verify.js';
export {
  COSIGN_KEY_LABEL,
  DEFAULT_SCRYPT_COST,
  decryptPrivateKey,
  decryptPrivateKeyWhile,
  type EncryptedKeyLabel,
  type EncryptOptions,
  encryptPrivateKey,
  type GeneratedKeyPair,
  generateKeyPair,
  keySigner,
  type LoadKeyOptions,
  parsePem,
  parsePublicKey,
  publicKeyHint,
  SCRYPT_COSTS,
  type ScryptCost,
  SIGSTORE_KEY_LABEL,
  type Signer,
  verifySignature,
  withKeyBeingOpened,
} from './keys.js';
export * from './layer-diff.js';
export * from './openvex.js';
export * from './policy.js';
export * from './provenance.js';
export * from './rebuild.js';
export * from './sign.js';
export * from './tree.js';
export * from './verify.js';
export * from './verify-attestation.js';
