import { normalisePythonName } from '../../sbom/identity/purl.js';
import { osvMatcher } from './language.js';

/** PyPI: names compared in PEP 503 normal form, PEP 440 ordering (@renovatebot/pep440). */
export const pypiMatcher = osvMatcher(
  'pypi',
  (pkg) => [normalisePythonName(pkg.name), pkg.name, pkg.name.toLowerCase()],
  normalisePythonName,
);
