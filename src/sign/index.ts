/** Keys, signatures and their verification in cosign's formats (`rampart key`, `sign`, `verify`). */

export * from './attest.js';
export * from './build-attestations.js';
export * from './formats.js';
export * from './key-files.js';
// Keyless: sigstore-js is imported inside their functions, so importing these loads none of it.
export * from './keyless.js';
export * from './keyless-verify.js';
export * from './keys.js';
export * from './layer-diff.js';
export * from './openvex.js';
export * from './policy.js';
export * from './provenance.js';
export * from './rebuild.js';
export * from './sign.js';
export * from './tree.js';
export * from './verify.js';
export * from './verify-attestation.js';
