import { createRequire } from 'node:module';
import type * as CDXModule from '@cyclonedx/cyclonedx-library';
import { VERSION } from '../../version.js';
import type { SbomDocument, SbomPackage } from '../model.js';
import { creationTime, deterministicUuid, subjectKey } from './document-ids.js';

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
 * serializer with sorted lists), so the output follows the library's schema-aware rules.
 */
export function encodeCycloneDxJson(doc: SbomDocument): string {
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

  if (doc.distro) {
    const os = new CDX.Models.Component(CDX.Enums.ComponentType.OperatingSystem, doc.distro.id, {
      bomRef: OS_REF,
      ...(doc.distro.versionId ? { version: doc.distro.versionId } : {}),
      ...(doc.distro.prettyName ? { description: doc.distro.prettyName } : {}),
    });
    bom.components.add(os);
    subject.dependencies.add(os.bomRef);
  }

  const components = new Map<string, CDXModule.Models.Component>();
  for (const pkg of doc.packages) {
    const component = componentFor(pkg);
    components.set(pkg.id, component);
    bom.components.add(component);
    subject.dependencies.add(component.bomRef);
  }
  for (const pkg of doc.packages) {
    const component = components.get(pkg.id)!;
    for (const dep of pkg.dependsOn) {
      const target = components.get(dep);
      if (target) component.dependencies.add(target.bomRef);
    }
  }

  const serializer = new CDX.Serialize.JsonSerializer(
    new CDX.Serialize.JSON.Normalize.Factory(CDX.Spec.Spec1dot6),
  );
  return `${serializer.serialize(bom, { sortLists: true, space: 2 })}\n`;
}

function componentFor(pkg: SbomPackage): CDXModule.Models.Component {
  const CDX = loadCdx();
  const component = new CDX.Models.Component(CDX.Enums.ComponentType.Library, pkg.name, {
    bomRef: pkg.id,
    version: pkg.version,
    purl: pkg.purl,
    ...(pkg.cpes[0] ? { cpe: pkg.cpes[0] } : {}),
    ...(pkg.supplier ? { publisher: pkg.supplier } : {}),
  });
  for (const license of licensesFor(pkg.licenses)) component.licenses.add(license);
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
  return component;
}

/**
 * CycloneDX allows either several `license` entries or exactly one `expression`. Known SPDX ids
 * become `license.id`; compound expressions force a single AND-ed expression.
 */
function licensesFor(ids: readonly string[]): CDXModule.Models.License[] {
  const CDX = loadCdx();
  if (ids.length === 0) return [];
  if (ids.some((id) => /\s/.test(id) || id.endsWith('+'))) {
    const joined =
      ids.length === 1 ? ids[0]! : ids.map((id) => (/\s/.test(id) ? `(${id})` : id)).join(' AND ');
    return [new CDX.Models.LicenseExpression(joined)];
  }
  return ids.map((id) =>
    CDX.SPDX.isSupportedSpdxId(id) ? new CDX.Models.SpdxLicense(id) : new CDX.Models.NamedLicense(id),
  );
}
