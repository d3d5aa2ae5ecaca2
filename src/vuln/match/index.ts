import type { AdvisoryEcosystem } from '../types.js';
import { cargoMatcher } from './cargo.js';
import { debianMatcher } from './debian.js';
import { golangMatcher } from './golang.js';
import type { Matcher } from './matcher.js';
import { mavenMatcher } from './maven.js';
import { npmMatcher } from './npm.js';
import { pypiMatcher } from './pypi.js';

export const MATCHERS: Record<AdvisoryEcosystem, Matcher> = {
  deb: debianMatcher,
  npm: npmMatcher,
  pypi: pypiMatcher,
  golang: golangMatcher,
  maven: mavenMatcher,
  cargo: cargoMatcher,
};
export type { Candidate, MatchContext, Matcher } from './matcher.js';
