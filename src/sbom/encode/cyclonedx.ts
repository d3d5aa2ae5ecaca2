import { createRequire } from 'node:module';
import type * as CDXModule from '@cyclonedx/cyclonedx-library';
import { VERSION } from '../../version.js';
import { isDebianSourcePackage } from '../installed.js';
import type { DeclaredLicense, LicenseRef, SbomDocument, SbomFile, SbomPackage } from '../model.js';
import { comparePackages, compareText } from '../order.js';
import { creationTime, deterministicUuid, subjectKey } from './document-ids.js';
import { warningLine } from './warnings.js';

export interface CycloneDxEncodeOptions {
  /** Nest every package's files (from dpkg md5sums / RECORD) as `file` components; large, so off by default. */
  files?: boolean;
}

// The library costs ~14 MB of heap and ~100 ms to load; only CycloneDX output pays for it.
let cdx: typeof CDXModule | undefined;
function loadCdx(): typeof CDXModule {
  cdx ??= createRequire(import.meta.url)('@cyclonedx/cyclonedx-library') as typeof CDXModule;
  return cdx;
}

const IMAGE_REF = 'image';
const OS_REF = 'os';

/**
 * Encodes the model as CycloneDX 1.6 JSON through the official library (model → normalizer →
 * serializer), so the output follows the library's schema-aware rules. The library's own list
 * sorting uses localeCompare, which follows the process locale (in da_DK "aa" sorts after "z"),
 * so lists are left in insertion order and everything is inserted in code-unit order here.
 */
export function encodeCycloneDxJson(doc: SbomDocument, options: CycloneDxEncodeOptions = {}): string {
  const CDX = loadCdx();
  const bom = new CDX.Models.Bom({
    serialNumber: `urn:uuid:${deterministicUuid('cyclonedx', subjectKey(doc.source))}`,
  });
  bom.metadata.timestamp = new Date(creationTime(doc.source));
  bom.metadata.tools.components.add(
    new CDX.Models.Component(CDX.Enums.ComponentType.Application, 'rampart', { version: VERSION }),
  );
  const subject = new CDX.Models.Component(
    doc.source.kind === 'image' ? CDX.Enums.ComponentType.Container : CDX.Enums.ComponentType.File,
    doc.source.ref,
    { bomRef: IMAGE_REF, ...(doc.source.digest ? { version: doc.source.digest } : {}) },
  );
  bom.metadata.component = subject;
  // The document's own record of what it may be missing (skipped layer entries, unreadable files).
  for (const [i, warning] of doc.warnings.entries()) {
    bom.metadata.properties.add(new CDX.Models.Property(`rampart:warning:${i}`, warningLine(warning)));
  }

  if (doc.distro) {
    const os = new CDX.Models.Component(CDX.Enums.ComponentType.OperatingSystem, doc.distro.id, {
      bomRef: OS_REF,
      ...(doc.distro.versionId ? { version: doc.distro.versionId } : {}),
      ...(doc.distro.prettyName ? { description: doc.distro.prettyName } : {}),
    });
    bom.components.add(os);
    subject.dependencies.add(os.bomRef);
  }

  const builtUsingFields = new Map<string, Set<string>>();
  for (const pkg of doc.packages)
    for (const ref of pkg.builtUsing ?? [])
      builtUsingFields.set(ref.id, (builtUsingFields.get(ref.id) ?? new Set()).add(ref.field));
  const components = new Map<string, CDXModule.Models.Component>();
  for (const pkg of [...doc.packages].sort(comparePackages)) {
    const component = componentFor(pkg, [...(builtUsingFields.get(pkg.id) ?? [])].sort(compareText));
    if (options.files) for (const file of fileComponentsFor(pkg)) component.components.add(file);
    components.set(pkg.id, component);
    bom.components.add(component);
    // The image depends on what it holds: its installed packages, as SPDX's image CONTAINS them.
    // A Built-Using source is reached through the binaries built using it (below), as SPDX's
    // GENERATED_FROM, never from the image: its code is in those binaries, not beside them.
    if (!isDebianSourcePackage(pkg)) subject.dependencies.add(component.bomRef);
  }
  for (const pkg of doc.packages) {
    const component = components.get(pkg.id)!;
    // CycloneDX has one edge kind: dependencies, nested jars and Built-Using sources are all
    // `dependsOn`; the source components say which dpkg field named them (properties).
    const targets = [...pkg.dependsOn, ...(pkg.contains ?? []), ...(pkg.builtUsing ?? []).map((b) => b.id)];
    for (const dep of [...new Set(targets)].sort(compareText)) {
      const target = components.get(dep);
      if (target) component.dependencies.add(target.bomRef);
    }
  }

  const serializer = new CDX.Serialize.JsonSerializer(
    new CDX.Serialize.JSON.Normalize.Factory(CDX.Spec.Spec1dot6),
  );
  return `${serializer.serialize(bom, { sortLists: false, space: 2 })}\n`;
}

function componentFor(pkg: SbomPackage, builtUsingFields: readonly string[]): CDXModule.Models.Component {
  const CDX = loadCdx();
  const type = pkg.application ? CDX.Enums.ComponentType.Application : CDX.Enums.ComponentType.Library;
  const component = new CDX.Models.Component(type, pkg.name, {
    bomRef: pkg.id,
    ...(pkg.version ? { version: pkg.version } : {}),
    purl: pkg.purl,
    ...(pkg.cpes[0] ? { cpe: pkg.cpes[0] } : {}),
    ...(pkg.supplier ? { publisher: pkg.supplier } : {}),
    ...(pkg.description ? { description: pkg.description } : {}),
  });
  addLicense(component, pkg.license);
  if (pkg.homepage && /^https?:\/\/\S+$/.test(pkg.homepage))
    component.externalReferences.add(
      new CDX.Models.ExternalReference(pkg.homepage, CDX.Enums.ExternalReferenceType.Website),
    );
  if (pkg.sha256) component.hashes.set(CDX.Enums.HashAlgorithm['SHA-256'], pkg.sha256);
  const property = (name: string, value: string) =>
    component.properties.add(new CDX.Models.Property(name, value));
  property('rampart:package:type', pkg.type);
  if (pkg.architecture) property('rampart:package:architecture', pkg.architecture);
  // CycloneDX has no binary→source edge that validates without a pedigree tree; properties carry it.
  if (pkg.source) {
    property('rampart:package:source-name', pkg.source.name);
    property('rampart:package:source-version', pkg.source.version);
  }
  for (const [i, location] of pkg.locations.entries()) property(`rampart:location:${i}`, location);
  // A Debian source package whose code is compiled into binaries here (dpkg Built-Using fields).
  for (const field of builtUsingFields) property('rampart:package:built-using-field', field);
  return component;
}

const HASH_ALGORITHMS = { md5: 'MD5', sha1: 'SHA-1', sha256: 'SHA-256' } as const;

/**
 * A package's files as nested `file` components: CycloneDX's "this assembly contains", in
 * code-unit path order. A path listed twice becomes one component carrying each recorded digest.
 */
function fileComponentsFor(pkg: SbomPackage): CDXModule.Models.Component[] {
  const CDX = loadCdx();
  const byPath = new Map<string, NonNullable<SbomFile['digest']>[]>();
  for (const file of pkg.files ?? []) {
    const path = file.path.startsWith('/') ? file.path : `/${file.path}`;
    const digests = byPath.get(path) ?? [];
    if (file.digest) digests.push(file.digest);
    // The SHA-1 computed from the bytes in the root (generateSbom with fileDigests).
    if (file.sha1) digests.push({ algorithm: 'sha1', value: file.sha1 });
    byPath.set(path, digests);
  }
  return [...byPath.keys()].sort(compareText).map((path) => {
    const file = new CDX.Models.Component(CDX.Enums.ComponentType.File, path, {
      bomRef: `${pkg.id}#file:${path}`,
    });
    const digests = [...(byPath.get(path) ?? [])].sort((a, b) =>
      compareText(HASH_ALGORITHMS[a.algorithm], HASH_ALGORITHMS[b.algorithm]),
    );
    for (const digest of digests) {
      const algorithm = CDX.Enums.HashAlgorithm[HASH_ALGORITHMS[digest.algorithm]];
      if (!file.hashes.has(algorithm)) file.hashes.set(algorithm, digest.value);
    }
    return file;
  });
}

/**
 * CycloneDX allows either `license` entries or exactly one `expression`. A single SPDX id becomes
 * `license.id`, a single LicenseRef a named licence with its text; anything else is the expression,
 * and the names and texts its LicenseRefs stand for go to `evidence.licenses` as named licences
 * (each with a `rampart:license:ref` property naming its id in the expression).
 */
function addLicense(component: CDXModule.Models.Component, license: DeclaredLicense | undefined): void {
  if (!license) return;
  const CDX = loadCdx();
  const named = (ref: LicenseRef) => {
    const out = new CDX.Models.NamedLicense(
      ref.name,
      ref.text === undefined
        ? {}
        : { text: new CDX.Models.Attachment(ref.text, { contentType: 'text/plain' }) },
    );
    out.properties.add(new CDX.Models.Property('rampart:license:ref', ref.id));
    return out;
  };
  const refs = license.refs ?? [];
  const single = refs.find((r) => r.id === license.expression);
  if (single) component.licenses.add(named(single));
  else if (/^[A-Za-z0-9.-]+$/.test(license.expression) && CDX.SPDX.isSupportedSpdxId(license.expression))
    component.licenses.add(new CDX.Models.SpdxLicense(license.expression));
  else {
    component.licenses.add(new CDX.Models.LicenseExpression(license.expression));
    if (refs.length > 0)
      component.evidence = new CDX.Models.ComponentEvidence({
        licenses: new CDX.Models.LicenseRepository(refs.map(named)),
      });
  }
}
