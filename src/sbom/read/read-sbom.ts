import { PackageURL } from 'packageurl-js';
import { RampartError } from '../../errors.js';
import { isFileDigest } from '../file-digest.js';
import { declaredLicense, isSpdxExpression, LICENSE_REF_TOKEN, LicenseRefs } from '../identity/license.js';
import { contentPackages } from '../installed.js';
import {
  BUILT_USING_FIELDS,
  type DeclaredLicense,
  type PackageType,
  PackageTypeSchema,
  type SbomDocument,
  type SbomFile,
  type SbomPackage,
  safeParseSbomDocument,
} from '../model.js';
import { comparePackages, compareText } from '../order.js';

/**
 * Reads an SBOM (rampart JSON, SPDX 2.3 JSON or CycloneDX 1.4–1.6 JSON, ours or another tool's)
 * back into the package model. Packages without a purl of a known type are left out, since
 * nothing downstream can match them.
 */
export function readSbom(bytes: Uint8Array | string): SbomDocument {
  let json: unknown;
  try {
    json = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new RampartError(
      'SBOM_INVALID',
      'the SBOM is not valid JSON; pass an SPDX 2.3 or CycloneDX JSON file',
      { cause: error, details: { format: 'json' } },
    );
  }
  if (!isObject(json)) {
    throw new RampartError('SBOM_INVALID', 'the SBOM is not a JSON object', { details: { format: 'json' } });
  }
  if (typeof json.spdxVersion === 'string') return readSpdx(json);
  if (json.bomFormat === 'CycloneDX') return readCycloneDx(json);
  const own = safeParseSbomDocument(json);
  if (own.success) return own.data;
  throw new RampartError(
    'SBOM_INVALID',
    'unrecognised SBOM: expected "spdxVersion" (SPDX), "bomFormat": "CycloneDX" or a rampart -o json document',
    { details: { format: 'unknown' } },
  );
}

function readSpdx(json: Record<string, unknown>): SbomDocument {
  if (!String(json.spdxVersion).startsWith('SPDX-2.'))
    throw new RampartError(
      'SBOM_INVALID',
      `SPDX version ${String(json.spdxVersion)} is not supported; use SPDX 2.3 JSON`,
      { details: { format: `spdx ${String(json.spdxVersion).slice(0, 20)}` } },
    );
  const elements = Array.isArray(json.packages) ? json.packages.filter(isObject) : [];
  const extracted = new Map<string, { name: string; text: string | undefined }>();
  for (const info of Array.isArray(json.hasExtractedLicensingInfos) ? json.hasExtractedLicensingInfos : []) {
    if (!isObject(info) || typeof info.licenseId !== 'string') continue;
    const text = typeof info.extractedText === 'string' ? info.extractedText : undefined;
    const name = typeof info.name === 'string' && info.name !== 'NOASSERTION' ? info.name : undefined;
    extracted.set(info.licenseId, {
      name: name ?? info.licenseId.slice('LicenseRef-'.length),
      text: text === undefined || text === 'NOASSERTION' || text === name ? undefined : text,
    });
  }
  const idBySpdxId = new Map<string, string>();
  const packages: SbomPackage[] = [];
  for (const element of elements) {
    const refs = Array.isArray(element.externalRefs) ? element.externalRefs.filter(isObject) : [];
    const purl = refs.find((r) => r.referenceType === 'purl')?.referenceLocator;
    const cpes = refs
      .filter((r) => r.referenceType === 'cpe23Type' || r.referenceType === 'cpe22Type')
      .map((r) => String(r.referenceLocator));
    const declared = typeof element.licenseDeclared === 'string' ? element.licenseDeclared : undefined;
    const concluded = typeof element.licenseConcluded === 'string' ? element.licenseConcluded : undefined;
    const license = [declared, concluded].find((l) => l && l !== 'NOASSERTION' && l !== 'NONE');
    const pkg = packageFromPurl(typeof purl === 'string' ? purl : undefined, {
      name: str(element.name),
      version: str(element.versionInfo),
      cpes,
      license: license ? spdxLicense(license, extracted) : undefined,
      supplier: spdxSupplier(element.supplier),
    });
    if (!pkg) continue;
    idBySpdxId.set(str(element.SPDXID), pkg.id);
    packages.push(pkg);
  }
  const relationships = Array.isArray(json.relationships) ? json.relationships.filter(isObject) : [];
  const byId = new Map(packages.map((p) => [p.id, p]));
  for (const r of relationships) {
    const from = byId.get(idBySpdxId.get(str(r.spdxElementId)) ?? '');
    const to = idBySpdxId.get(str(r.relatedSpdxElement));
    if (!from || !to) continue;
    if (r.relationshipType === 'DEPENDS_ON' && !from.dependsOn.includes(to)) from.dependsOn.push(to);
    // rampart writes a binary's Built-Using sources as GENERATED_FROM with the dpkg field in the
    // comment (spdx.ts); a binary's own Source: is GENERATED_FROM without one.
    const field = builtUsingField(str(r.comment).replace(/^dpkg /, ''));
    if (r.relationshipType === 'GENERATED_FROM' && field) addBuiltUsing(from, to, field);
  }
  const created = isObject(json.creationInfo) ? json.creationInfo.created : undefined;
  return finish(
    { kind: 'sbom', ref: str(json.name), ...(typeof created === 'string' ? { created } : {}) },
    packages,
  );
}

function readCycloneDx(json: Record<string, unknown>): SbomDocument {
  const packages: SbomPackage[] = [];
  const idByRef = new Map<string, string>();
  const filesById = new Map<string, SbomFile[]>();
  // Source components rampart marks as compiled into binaries (the dpkg field that named them).
  const builtUsingFieldById = new Map<string, BuiltUsingField>();
  let distro: SbomDocument['distro'];
  // `owner`: the package whose `components` this list is; its `file` children are its files, not packages.
  const visit = (list: unknown, owner: SbomPackage | undefined) => {
    if (!Array.isArray(list)) return;
    for (const component of list.filter(isObject)) {
      if (owner && component.type === 'file') {
        const file = cdxFile(component);
        if (file) {
          const files = filesById.get(owner.id) ?? [];
          files.push(file);
          filesById.set(owner.id, files);
        }
        visit(component.components, owner);
        continue;
      }
      if (component.type === 'operating-system' && typeof component.name === 'string') {
        distro ??= {
          id: component.name,
          ...(typeof component.version === 'string' ? { versionId: component.version } : {}),
        };
      }
      const pkg = packageFromPurl(typeof component.purl === 'string' ? component.purl : undefined, {
        name: str(component.name),
        version: str(component.version),
        cpes: typeof component.cpe === 'string' ? [component.cpe] : [],
        license: cdxLicense(
          component.licenses,
          isObject(component.evidence) ? component.evidence.licenses : undefined,
        ),
        supplier:
          isObject(component.supplier) && typeof component.supplier.name === 'string'
            ? component.supplier.name
            : typeof component.publisher === 'string'
              ? component.publisher
              : undefined,
      });
      if (pkg) {
        if (typeof component['bom-ref'] === 'string') idByRef.set(component['bom-ref'], pkg.id);
        packages.push(pkg);
        const properties = Array.isArray(component.properties) ? component.properties.filter(isObject) : [];
        const field = properties
          .filter((p) => p.name === BUILT_USING_PROPERTY)
          .map((p) => builtUsingField(str(p.value)))
          .find((f) => f !== undefined);
        if (field) builtUsingFieldById.set(pkg.id, field);
      }
      visit(component.components, pkg);
    }
  };
  visit(json.components, undefined);
  const byId = new Map(packages.map((p) => [p.id, p]));
  for (const dep of Array.isArray(json.dependencies) ? json.dependencies.filter(isObject) : []) {
    const from = byId.get(idByRef.get(str(dep.ref)) ?? '');
    if (!from || !Array.isArray(dep.dependsOn)) continue;
    for (const ref of dep.dependsOn) {
      const to = idByRef.get(String(ref));
      if (!to || to === from.id) continue;
      // CycloneDX has one edge kind: an edge to a Built-Using source is the model's builtUsing.
      const field = builtUsingFieldById.get(to);
      if (field) addBuiltUsing(from, to, field);
      else if (!from.dependsOn.includes(to)) from.dependsOn.push(to);
    }
  }
  const metadata = isObject(json.metadata) ? json.metadata : {};
  const subject = isObject(metadata.component) ? metadata.component : {};
  const timestamp = typeof metadata.timestamp === 'string' ? metadata.timestamp : undefined;
  const doc = finish(
    {
      kind: 'sbom',
      ref: str(subject.name),
      ...(typeof subject.version === 'string' && subject.version.startsWith('sha256:')
        ? { digest: subject.version }
        : {}),
      ...(timestamp ? { created: timestamp } : {}),
    },
    packages,
  );
  for (const pkg of doc.packages) {
    const files = filesById.get(pkg.id);
    if (files) pkg.files = uniqueSortedFiles(files);
  }
  return distro ? { ...doc, distro } : doc;
}

const CDX_HASH_PREFERENCE = [
  ['SHA-256', 'sha256'],
  ['SHA-1', 'sha1'],
  ['MD5', 'md5'],
] as const;

/** A nested `file` component: the name is the path; the model keeps one digest, the strongest given. */
function cdxFile(component: Record<string, unknown>): SbomFile | undefined {
  const path = str(component.name);
  if (!path) return undefined;
  const hashes = Array.isArray(component.hashes) ? component.hashes.filter(isObject) : [];
  for (const [alg, algorithm] of CDX_HASH_PREFERENCE) {
    const content = hashes.find((h) => h.alg === alg)?.content;
    const value = typeof content === 'string' ? content.toLowerCase() : '';
    if (isFileDigest(algorithm, value)) return { path, digest: { algorithm, value } };
  }
  return { path };
}

/** One entry per path (the first with a digest wins), in code-unit path order. */
function uniqueSortedFiles(files: SbomFile[]): SbomFile[] {
  const byPath = new Map<string, SbomFile>();
  for (const file of files) {
    const seen = byPath.get(file.path);
    if (!seen || (!seen.digest && file.digest)) byPath.set(file.path, file);
  }
  return [...byPath.values()].sort((a, b) => compareText(a.path, b.path));
}

function packageFromPurl(
  purl: string | undefined,
  fields: {
    name: string;
    version: string;
    cpes: string[];
    license: DeclaredLicense | undefined;
    supplier: string | undefined;
  },
): SbomPackage | undefined {
  if (!purl) return undefined;
  let parsed: PackageURL;
  try {
    parsed = PackageURL.fromString(purl);
  } catch {
    return undefined;
  }
  const type = PackageTypeSchema.safeParse(parsed.type);
  if (!type.success) return undefined;
  const qualifiers = (parsed.qualifiers ?? {}) as Record<string, string>;
  const name = nameFor(type.data, parsed, fields.name);
  const version = parsed.version ?? fields.version;
  const upstream = qualifiers.upstream;
  const [sourceName, sourceVersion] = upstream ? upstream.split('@') : [];
  return {
    id: purl,
    name,
    version,
    type: type.data,
    purl,
    cpes: fields.cpes,
    ...(fields.license ? { license: fields.license } : {}),
    ...(fields.supplier ? { supplier: fields.supplier } : {}),
    ...(type.data === 'deb'
      ? { source: { name: sourceName || name, version: sourceVersion || version } }
      : {}),
    ...(qualifiers.arch ? { architecture: qualifiers.arch } : {}),
    locations: [],
    dependsOn: [],
  };
}

/** The ecosystem's own spelling of the name: npm scopes and Go module paths include the namespace. */
function nameFor(type: PackageType, purl: PackageURL, fallback: string): string {
  if (type === 'npm' || type === 'golang')
    return purl.namespace ? `${purl.namespace}/${purl.name}` : purl.name;
  return purl.name || fallback;
}

/** `Organization: X` / `Person: X` → X (`X (mail)` → `X <mail>`); NOASSERTION (what most tools write when unknown) → none. */
function spdxSupplier(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const name = value.replace(/^(Organization|Person):\s*/, '').trim();
  // `Name (mail)` is how SPDX writes Debian's `Name <mail>`; give it back in the package's own spelling.
  const withMail = /^(.*?)\s*\(([^()\s]+@[^()\s]+)\)$/.exec(name);
  if (withMail) return `${withMail[1]} <${withMail[2]}>`;
  return name && name !== 'NOASSERTION' ? name : undefined;
}

/** An SPDX licenseDeclared with what its LicenseRefs stand for; a value that is no expression becomes one LicenseRef. */
function spdxLicense(
  expression: string,
  extracted: ReadonlyMap<string, { name: string; text: string | undefined }>,
): DeclaredLicense | undefined {
  if (!isSpdxExpression(expression)) {
    const refs = new LicenseRefs();
    return declaredLicense([refs.idFor(expression)], refs);
  }
  const refs = [...new Set(expression.match(LICENSE_REF_TOKEN) ?? [])].sort().map((id) => {
    const info = extracted.get(id);
    return {
      id,
      name: info?.name ?? id.slice('LicenseRef-'.length),
      ...(info?.text ? { text: info.text } : {}),
    };
  });
  return { expression, ...(refs.length > 0 ? { refs } : {}) };
}

/** CycloneDX licences: an expression, or entries (SPDX ids, named licences with their text), all applying. */
function cdxLicense(value: unknown, evidence: unknown): DeclaredLicense | undefined {
  if (!Array.isArray(value)) return undefined;
  const refs = new LicenseRefs();
  const terms = value.filter(isObject).flatMap((entry) => {
    if (typeof entry.expression === 'string')
      return [isSpdxExpression(entry.expression) ? entry.expression : refs.idFor(entry.expression)];
    const license = isObject(entry.license) ? entry.license : {};
    if (typeof license.id === 'string')
      return [isSpdxExpression(license.id) ? license.id : refs.idFor(license.id)];
    if (typeof license.name === 'string') {
      const text =
        isObject(license.text) && typeof license.text.content === 'string' ? license.text.content : undefined;
      // A base64 attachment is left out: the model keeps texts, not blobs.
      const plain = isObject(license.text) && license.text.encoding === 'base64' ? undefined : text;
      return [refs.idFor(license.name, plain)];
    }
    return [];
  });
  const declared = declaredLicense(terms, refs);
  if (!declared) return undefined;
  // What an expression's LicenseRefs stand for: rampart writes them as named licences in
  // evidence.licenses, each with a `rampart:license:ref` property naming its id.
  const known = new Map((declared.refs ?? []).map((r) => [r.id, r]));
  for (const entry of Array.isArray(evidence) ? evidence.filter(isObject) : []) {
    const license = isObject(entry.license) ? entry.license : {};
    const properties = Array.isArray(license.properties) ? license.properties.filter(isObject) : [];
    const id = properties.find((p) => p.name === 'rampart:license:ref')?.value;
    if (typeof id !== 'string' || typeof license.name !== 'string' || known.has(id)) continue;
    const text =
      isObject(license.text) && typeof license.text.content === 'string' && license.text.encoding !== 'base64'
        ? license.text.content
        : undefined;
    known.set(id, { id, name: license.name, ...(text !== undefined ? { text } : {}) });
  }
  const used = [...new Set(declared.expression.match(LICENSE_REF_TOKEN) ?? [])].sort();
  const withRefs = used.flatMap((id) => known.get(id) ?? []);
  return { expression: declared.expression, ...(withRefs.length > 0 ? { refs: withRefs } : {}) };
}

/** The property the CycloneDX encoder puts on a Debian source component that binaries were built using. */
const BUILT_USING_PROPERTY = 'rampart:package:built-using-field';
type BuiltUsingField = (typeof BUILT_USING_FIELDS)[number];

function builtUsingField(value: string): BuiltUsingField | undefined {
  return BUILT_USING_FIELDS.find((field) => field === value);
}

function addBuiltUsing(from: SbomPackage, to: string, field: BuiltUsingField): void {
  from.builtUsing ??= [];
  const refs = from.builtUsing;
  if (!refs.some((ref) => ref.id === to && ref.field === field)) refs.push({ id: to, field });
}

/**
 * One package per id, in the model's order. Debian source packages stay only where a binary was
 * built using them (`contentPackages`, the rule every reader of the model shares); the sources
 * an SBOM lists for every binary's `Source:` are carried by the binaries' `source`.
 */
function finish(source: SbomDocument['source'], packages: SbomPackage[]): SbomDocument {
  const unique = new Map<string, SbomPackage>();
  for (const p of packages) if (!unique.has(p.id)) unique.set(p.id, p);
  const list = contentPackages([...unique.values()]).sort(comparePackages);
  const kept = new Set(list.map((p) => p.id));
  for (const p of list) {
    p.dependsOn = p.dependsOn.filter((id) => kept.has(id)).sort();
    if (p.builtUsing) p.builtUsing.sort((a, b) => compareText(a.id, b.id) || compareText(a.field, b.field));
  }
  return { source, packages: list, warnings: [] };
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
