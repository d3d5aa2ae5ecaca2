import type { Command } from 'commander';

type Register = (program: Command) => void;

/**
 * Every subcommand module exports a `register(program)` function; list it here. Modules load
 * lazily: a run of one command imports only that command's domain code (openpgp, the CycloneDX
 * library, ...), which keeps start-up time and memory low for scripted use.
 */
export const commandModules: Record<string, () => Promise<Register>> = {
  build: async () => (await import('./build.js')).registerBuild,
  inspect: async () => (await import('./inspect.js')).registerInspect,
  copy: async () => (await import('./copy.js')).registerCopy,
  sbom: async () => (await import('./sbom.js')).registerSbom,
  apt: async () => (await import('./apt.js')).registerApt,
  cache: async () => (await import('./cache.js')).registerCache,
  ls: async () => (await import('./ls.js')).registerLs,
  rm: async () => (await import('./rm.js')).registerRm,
  login: async () => (await import('./login.js')).registerLogin,
  logout: async () => (await import('./login.js')).registerLogout,
  key: async () => (await import('./key.js')).registerKey,
  sign: async () => (await import('./sign.js')).registerSign,
  verify: async () => (await import('./verify.js')).registerVerify,
  attest: async () => (await import('./attest.js')).registerAttest,
  'verify-attestation': async () => (await import('./verify-attestation.js')).registerVerifyAttestation,
  scan: async () => (await import('./scan.js')).registerScan,
  db: async () => (await import('./db.js')).registerDb,
};
