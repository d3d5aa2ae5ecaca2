import { osvMatcher } from './language.js';

/** crates.io: crate names, semver ordering. */
export const cargoMatcher = osvMatcher('cargo', (pkg) => [pkg.name]);
