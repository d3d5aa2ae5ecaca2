import { fileURLToPath } from 'node:url';

/**
 * Real advisory samples (tracker JSON excerpts, OSV records), copied unchanged with their layout
 * from the workplace's shared `vulndata` folder into `test/fixtures/vulndata/shared/`, so the tests
 * run from the repository alone; `SOURCES.md` there records where each file came from.
 */
export const VULNDATA = fileURLToPath(new URL('../fixtures/vulndata/shared/', import.meta.url));
