import type { RawPackage } from '../cataloger.js';
import { normalisePythonName } from './purl.js';

/**
 * CPE 2.3 candidates for a package: guesses, as syft makes them, since no ecosystem records its CPE.
 * Matchers should prefer purls. The first candidate is the most specific guess (CycloneDX carries only
 * that one); the rest follow sorted. Never more than this many, so an SBOM does not balloon.
 */
export const MAX_CPE_CANDIDATES = 4;

interface Candidate {
  vendor: string;
  product: string;
}

export function cpesFor(pkg: RawPackage): string[] {
  switch (pkg.type) {
    case 'deb':
      return rank([{ vendor: pkg.name, product: pkg.name }], pkg.version);
    case 'npm': {
      const product = pkg.name.replace(/^@[^/]+\//, '');
      return rank([{ vendor: product, product }], pkg.version);
    }
    case 'pypi': {
      const product = normalisePythonName(pkg.name);
      return rank([{ vendor: `python-${product}`, product }], pkg.version);
    }
    case 'golang':
      return pkg.name === 'stdlib'
        ? goToolchainCpes(pkg.version)
        : rank(goCandidates(pkg.name), goVersion(pkg.version));
    case 'maven':
      return rank(mavenCandidates(pkg.namespace ?? '', pkg.name), pkg.version);
    case 'cargo':
      return rank(crateCandidates(pkg.name), pkg.version);
  }
}

/**
 * Go module path → (vendor, product). A major-version suffix (`/v2`) names the same project, so it is
 * dropped. Below the repository (`github.com/hashicorp/vault/api`) the product keeps the whole rest of
 * the path, as syft does, so a sub-module is not mistaken for the project's main program.
 */
function goCandidates(modulePath: string): Candidate[] {
  const [host = '', ...rest] = modulePath.toLowerCase().split('/');
  const path = rest.filter((e) => e !== '');
  if (path.length > 1 && /^v\d+$/.test(path.at(-1)!)) path.pop();
  if (!host.includes('.') || path.length === 0) return [];
  switch (host) {
    case 'golang.org':
      return [{ vendor: 'golang', product: (path[0] === 'x' ? path.slice(1) : path).join('/') }];
    case 'google.golang.org':
      return [{ vendor: 'google', product: path[0]! }];
    case 'gopkg.in':
      return gopkgInCandidates(path);
    case 'github.com':
    case 'gitlab.com':
    case 'bitbucket.org':
      // Code hosts: the first element is the owner, which stands in for the vendor.
      return path.length < 2 ? [] : [{ vendor: path[0]!, product: path.slice(1).join('/') }];
    default: {
      // A vanity host (go.uber.org, k8s.io): the organisation is the host's second-level name.
      const labels = host.split('.');
      return [{ vendor: labels.at(-2)!, product: path.join('/') }];
    }
  }
}

/** gopkg.in redirects `NAME.vN` to github.com/go-NAME/NAME and `USER/NAME.vN` to github.com/USER/NAME. */
function gopkgInCandidates(path: string[]): Candidate[] {
  const last = path.at(-1)!.replace(/\.v\d+$/, '');
  if (path.length === 1) return [{ vendor: `go-${last}`, product: last }];
  return path.length === 2 ? [{ vendor: path[0]!, product: last }] : [];
}

/** NVD writes Go module versions without the `v`, and `+incompatible` is Go's marker, not the project's. */
function goVersion(version: string): string {
  if (version === '(devel)') return '';
  return version.replace(/^v(?=\d)/, '').replace(/\+incompatible$/, '');
}

/**
 * The toolchain as NVD lists it, and as syft writes it: `go1.22.2` → golang:go:1.22.2 with update `-`,
 * a pre-release `go1.21rc2` → version 1.21, update rc2. A development toolchain has no CPE.
 */
function goToolchainCpes(version: string): string[] {
  const match = /^go(\d+(?:\.\d+){0,2})([a-z]\w*)?(?:$|[+-])/i.exec(version);
  if (!match) return [];
  const update = match[2] ? quoteCpeValue(match[2]) : '-';
  return update === undefined ? [] : [`cpe:2.3:a:golang:go:${match[1]}:${update}:*:*:*:*:*:*`];
}

/**
 * Maven: syft's vendor is a groupId element after the first (`org.apache.commons` → apache), its
 * products the artifactId and any later groupId element the artifactId starts or ends with (the
 * umbrella project: `org.apache.logging.log4j` + `log4j-core` → log4j). The artifactId also stands in
 * as a vendor, except under `apache`, which syft treats as a vendor known to NVD and keeps alone.
 */
function mavenCandidates(groupId: string, artifactId: string): Candidate[] {
  const artifact = artifactId.trim().toLowerCase();
  if (!artifact) return [];
  const fields = groupId
    .toLowerCase()
    .split('.')
    .map((f) => f.trim())
    .filter((f) => f !== '');
  const vendor = fields.length > 1 && !/^plugins?$/.test(fields[1]!) ? fields[1] : undefined;
  const isPlugin = artifact.includes('plugin') || groupId.toLowerCase().includes('plugin');
  const umbrella = isPlugin
    ? []
    : fields.slice(2).filter((f) => !/^(?:plugins?|client)$/.test(f) && names(artifact, f));
  const byPrefix = (f: string) => (artifact.startsWith(f) ? 0 : 1);
  const products = [
    artifact,
    ...delimiterVariant(artifact),
    ...umbrella.sort((a, b) => byPrefix(a) - byPrefix(b)),
  ];
  const vendors = vendor === 'apache' ? [vendor] : vendor ? [vendor, artifact] : [artifact];
  return vendors.flatMap((v) => products.map((product) => ({ vendor: v, product })));
}

/** `log4j` names `log4j-core`, `commons` names `commons-lang3`; `log` does not name `logback`. */
function names(artifact: string, field: string): boolean {
  if (artifact === field) return true;
  return ['-', '_'].some((d) => artifact.startsWith(`${field}${d}`) || artifact.endsWith(`${d}${field}`));
}

/** Cargo: vendor and product the crate name; `-` and `_` are one name on crates.io, so both spellings. */
function crateCandidates(name: string): Candidate[] {
  const crate = name.toLowerCase();
  const spellings = [crate, ...delimiterVariant(crate)];
  return spellings.flatMap((vendor) => spellings.map((product) => ({ vendor, product })));
}

/** NVD spells a name with `_` as often as with `-`; syft tries the other one too. */
function delimiterVariant(name: string): string[] {
  if (name.includes('-')) return [name.replaceAll('-', '_')];
  if (name.includes('_')) return [name.replaceAll('_', '-')];
  return [];
}

/**
 * Formats the candidates, drops those with a value CPE cannot spell, removes duplicates and keeps the
 * first (the best guess) in front of the rest, sorted.
 */
function rank(candidates: Candidate[], version: string): string[] {
  const quotedVersion = version === '' ? '*' : quoteCpeValue(version);
  if (quotedVersion === undefined) return [];
  const unique: string[] = [];
  for (const { vendor, product } of candidates) {
    const v = quoteCpeValue(vendor);
    const p = quoteCpeValue(product);
    if (v === undefined || p === undefined) continue;
    const cpe = `cpe:2.3:a:${v}:${p}:${quotedVersion}:*:*:*:*:*:*:*`;
    if (!unique.includes(cpe)) unique.push(cpe);
    if (unique.length === MAX_CPE_CANDIDATES) break;
  }
  const [first, ...rest] = unique;
  return first === undefined ? [] : [first, ...rest.sort()];
}

/**
 * One attribute value in the CPE 2.3 formatted-string binding (NISTIR 7695 §6.2): lower case, whitespace
 * as `_` (the NVD naming convention), letters, digits, `-`, `.` and `_` as they are, any other printable
 * ASCII character quoted with a backslash — `*` and `?` included, so they stay literal and are never
 * wildcards. A WFN value holds printable ASCII only, so anything else (and an empty value, or a lone `-`,
 * which would read as NA) cannot be spelt: undefined.
 */
function quoteCpeValue(value: string): string | undefined {
  const normal = value.trim().toLowerCase().replace(/\s+/g, '_');
  if (normal === '' || normal === '-' || !/^[\x21-\x7e]+$/.test(normal)) return undefined;
  return normal.replace(/[^a-z0-9_.-]/g, (c) => `\\${c}`);
}
