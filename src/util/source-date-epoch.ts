import { RampartError } from '../errors.js';

/** The environment a function reads: `process.env` at the CLI edge, a plain record in tests and services. */
export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * SOURCE_DATE_EPOCH (reproducible-builds.org): whole seconds since 1970, read from `env`.
 * Unset or empty gives undefined; anything else that is not a whole number is refused, since a
 * typo that silently fell back to another time would change digests unnoticed.
 */
export function sourceDateEpoch(env: Environment): number | undefined {
  const value = env.SOURCE_DATE_EPOCH;
  if (value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  const seconds = /^\d{1,15}$/.test(trimmed) ? Number(trimmed) : Number.NaN;
  // Date holds ±8.64e15 ms; beyond that (or not a whole number) there is no such time.
  if (!Number.isSafeInteger(seconds) || seconds * 1000 > 8.64e15) {
    throw new RampartError(
      'INVALID_ENVIRONMENT',
      `SOURCE_DATE_EPOCH must be a whole number of seconds since 1970, got '${value}'; fix or unset it`,
      { details: { variable: 'SOURCE_DATE_EPOCH', value } },
    );
  }
  return seconds;
}
