import { packageUrl } from '../../sbom/identity/purl.js';
import type { SbomPackage } from '../../sbom/model.js';
import type { AdvisoryEcosystem } from '../types.js';
import { type Candidate, isWithdrawn, type MatchContext, type Matcher } from './matcher.js';
import { osvCandidate } from './osv-range.js';
import { compareByEcosystem } from './versions.js';

/**
 * A language-ecosystem matcher over OSV records: the names the ecosystem's advisories may file
 * the package under, and a canonical form to compare them by.
 */
export function osvMatcher(
  ecosystem: Exclude<AdvisoryEcosystem, 'deb'>,
  names: (pkg: SbomPackage) => string[],
  canonical: (name: string) => string = (n) => n,
): Matcher {
  const compare = compareByEcosystem[ecosystem];
  return {
    ecosystem,
    lookupNames: (pkg) => [...new Set(names(pkg))],
    match(pkg: SbomPackage, context: MatchContext): Candidate[] {
      const wanted = names(pkg);
      const key = canonical(wanted[0] ?? pkg.name);
      const out: Candidate[] = [];
      const seen = new Set<AffectedRecordKey>();
      for (const name of new Set(wanted)) {
        for (const record of context.reader.affected(ecosystem, name)) {
          if (!record.osv || canonical(record.packageName) !== key) continue;
          const k = `${record.vulnerabilityId}\0${JSON.stringify(record.osv)}`;
          if (seen.has(k)) continue;
          seen.add(k);
          if (isWithdrawn(record, context, context.reader.vulnerability(record.vulnerabilityId)?.withdrawn))
            continue;
          out.push(osvCandidate({ ...record, osv: record.osv }, pkg.version, compare));
        }
      }
      return out;
    },
  };
}
type AffectedRecordKey = string;

/** purl namespace and name, as the ecosystem writes a full package name. */
export function purlParts(pkg: SbomPackage): { namespace?: string; name: string } {
  try {
    const p = packageUrl().fromString(pkg.purl);
    return { ...(p.namespace ? { namespace: p.namespace } : {}), name: p.name };
  } catch {
    return { name: pkg.name };
  }
}
