import { fileURLToPath } from 'node:url';

/**
 * The real advisory samples in the workplace's `shared/vulndata` (beside the repository, as in CI):
 * tracker JSON excerpts, OSV records, dpkg status files. Their origins are in its README.
 */
export const VULNDATA = fileURLToPath(new URL('../../../shared/vulndata/', import.meta.url));
