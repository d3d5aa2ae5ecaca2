import spdxExceptionIds from 'spdx-exceptions/index.json' with { type: 'json' };
import spdxLicenseIds from 'spdx-license-ids/index.json' with { type: 'json' };

/**
 * The key two licence names share when they name the same licence: lower case (SPDX matches ids
 * case-insensitively), versions without trailing dot-zeroes (`GPL-2.0` → `gpl-2`; DEP-5 7.1 makes
 * "2.0.0", "2.0" and "2" equal "for SPDX compatibility"). `LPPL-1.3c` and `CC-BY-2.5` keep theirs.
 */
export function licenceNameKey(name: string): string {
  return name.toLowerCase().replace(/(\d+)(?:\.0)+(?=$|[^\d.])/g, '$1');
}

/** Current (not deprecated) SPDX licence ids by key; a key two ids share is left out as ambiguous. */
const LICENSE_BY_KEY = (() => {
  const byKey = new Map<string, string | null>();
  for (const id of spdxLicenseIds as string[]) {
    const key = licenceNameKey(id);
    byKey.set(key, byKey.has(key) && byKey.get(key) !== id ? null : id);
  }
  return byKey;
})();

const EXCEPTION_BY_KEY = new Map((spdxExceptionIds as string[]).map((id) => [id.toLowerCase(), id]));

/** The SPDX licence id a name spells exactly (up to case and dot-zeroes), without `+`. */
export function spdxLicenseIdFor(name: string): string | undefined {
  return LICENSE_BY_KEY.get(licenceNameKey(name)) ?? undefined;
}

/** The SPDX exception id a keyword spells exactly (up to case). */
export function spdxExceptionIdFor(keyword: string): string | undefined {
  return EXCEPTION_BY_KEY.get(keyword.toLowerCase());
}
