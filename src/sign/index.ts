/** Keys, signatures and their verification in cosign's formats (`rampart key`, `sign`, `verify`). */

export * from './attest.js';
export * from './formats.js';
export * from './key-files.js';
export * from './keys.js';
export * from './policy.js';
export * from './sign.js';
export * from './verify.js';
export * from './verify-attestation.js';
