import { createHash } from 'node:crypto';
import { LICENSE_REF_TOKEN } from '../identity/license.js';
import type { LicenseRef, SbomPackage } from '../model.js';
import { compareText } from '../order.js';

export interface DocumentLicenses {
  /** A package's declared licence with its LicenseRefs made unique in the document; NOASSERTION when it has none. */
  expressionOf(pkg: SbomPackage): string;
  /** Every LicenseRef the document uses, once, in id order. */
  refs: LicenseRef[];
}

/**
 * LicenseRef ids are per package (`LicenseRef-permissive` in two copyright files can stand for two
 * different texts), but an SPDX document has one `hasExtractedLicensingInfos` list. An id every
 * package uses for the same name and text stays as it is; an id with several meanings gets a
 * short hash of its name and text in each package that uses it.
 */
export function documentLicenses(packages: readonly SbomPackage[]): DocumentLicenses {
  const meanings = new Map<string, Map<string, LicenseRef>>();
  for (const pkg of packages) {
    for (const ref of pkg.license?.refs ?? []) {
      const byMeaning = meanings.get(ref.id) ?? new Map<string, LicenseRef>();
      byMeaning.set(meaningKey(ref), ref);
      meanings.set(ref.id, byMeaning);
    }
  }
  const renamed = new Map<string, string>();
  const refs = new Map<string, LicenseRef>();
  for (const [id, byMeaning] of meanings) {
    for (const [key, ref] of byMeaning) {
      const unique =
        byMeaning.size === 1 ? id : `${id}-${createHash('sha256').update(key).digest('hex').slice(0, 8)}`;
      renamed.set(`${id}\0${key}`, unique);
      refs.set(unique, { ...ref, id: unique });
    }
  }
  return {
    expressionOf(pkg) {
      const license = pkg.license;
      if (!license) return 'NOASSERTION';
      const own = new Map((license.refs ?? []).map((r) => [r.id, renamed.get(`${r.id}\0${meaningKey(r)}`)]));
      return license.expression.replace(LICENSE_REF_TOKEN, (token) => own.get(token) ?? token);
    },
    refs: [...refs.values()].sort((a, b) => compareText(a.id, b.id)),
  };
}

function meaningKey(ref: LicenseRef): string {
  return `${ref.name}\0${ref.text ?? ''}`;
}
