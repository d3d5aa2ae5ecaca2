import { createHash } from 'node:crypto';
import { VERSION } from '../../version.js';
import { purlFor } from '../identity/purl.js';
import { supplierActor } from '../identity/supplier.js';
import type { SbomDocument, SbomPackage } from '../model.js';
import { compareText } from '../order.js';
import { creationTime, deterministicUuid, subjectKey } from './document-ids.js';
import { documentLicenses } from './license-refs.js';
import { warningLine } from './warnings.js';

export interface SpdxEncodeOptions {
  /** Emit every package's files (from dpkg md5sums / RECORD); large, so off by default. */
  files?: boolean;
}

interface SpdxRelationship {
  spdxElementId: string;
  relationshipType: string;
  relatedSpdxElement: string;
}

/** Encodes the model as an SPDX 2.3 JSON document; the same model always gives the same bytes. */
export function encodeSpdxJson(doc: SbomDocument, options: SpdxEncodeOptions = {}): string {
  const imageId = 'SPDXRef-image';
  const relationships: SpdxRelationship[] = [
    { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: imageId },
  ];
  const packages: Record<string, unknown>[] = [
    {
      SPDXID: imageId,
      name: doc.source.ref,
      ...(doc.source.digest ? { versionInfo: doc.source.digest } : {}),
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      primaryPackagePurpose: doc.source.kind === 'image' ? 'CONTAINER' : 'SOURCE',
    },
  ];
  if (doc.distro) {
    packages.push({
      SPDXID: 'SPDXRef-OperatingSystem',
      name: doc.distro.id,
      ...(doc.distro.versionId ? { versionInfo: doc.distro.versionId } : {}),
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      primaryPackagePurpose: 'OPERATING-SYSTEM',
    });
    relationships.push({
      spdxElementId: imageId,
      relationshipType: 'CONTAINS',
      relatedSpdxElement: 'SPDXRef-OperatingSystem',
    });
  }

  const spdxIds = new Map(doc.packages.map((p) => [p.id, spdxIdFor('Package', p.type, p.name, p.id)]));
  const licenses = documentLicenses(doc.packages);
  const sourcePackages = new Map<string, Record<string, unknown>>();
  const files = new Map<string, Record<string, unknown>>();
  for (const pkg of doc.packages) {
    const id = spdxIds.get(pkg.id)!;
    packages.push(packageElement(pkg, id, licenses.expressionOf(pkg)));
    relationships.push({ spdxElementId: imageId, relationshipType: 'CONTAINS', relatedSpdxElement: id });
    for (const dep of pkg.dependsOn) {
      const target = spdxIds.get(dep);
      if (target)
        relationships.push({ spdxElementId: id, relationshipType: 'DEPENDS_ON', relatedSpdxElement: target });
    }
    if (pkg.type === 'deb' && pkg.source) {
      const sourceId = spdxIdFor(
        'SourcePackage',
        'deb',
        pkg.source.name,
        `${pkg.source.name}@${pkg.source.version}`,
      );
      if (!sourcePackages.has(sourceId))
        sourcePackages.set(sourceId, sourceElement(pkg.source, sourceId, doc));
      relationships.push({
        spdxElementId: id,
        relationshipType: 'GENERATED_FROM',
        relatedSpdxElement: sourceId,
      });
    }
    if (options.files) {
      for (const file of pkg.files ?? []) {
        const fileId = spdxIdFor('File', 'file', file.path.split('/').pop() ?? 'file', file.path);
        files.set(fileId, fileElement(file, fileId));
        relationships.push({ spdxElementId: id, relationshipType: 'CONTAINS', relatedSpdxElement: fileId });
      }
    }
  }
  packages.push(...sourcePackages.values());

  const document = {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: doc.source.ref,
    documentNamespace: `urn:uuid:${deterministicUuid('spdx', subjectKey(doc.source))}`,
    creationInfo: {
      created: creationTime(doc.source),
      creators: [`Tool: rampart-${VERSION}`],
      // The document's own record of what it may be missing (skipped layer entries, unreadable files).
      ...(doc.warnings.length > 0
        ? { comment: ['rampart warnings:', ...doc.warnings.map(warningLine)].join('\n') }
        : {}),
    },
    ...(licenses.refs.length > 0
      ? {
          hasExtractedLicensingInfos: licenses.refs.map((ref) => ({
            licenseId: ref.id,
            name: ref.name,
            // The package's own text for the licence; a package that names it without a text leaves the name.
            extractedText: ref.text ?? ref.name,
            ...(ref.text === undefined
              ? { comment: 'The package names this licence but gives no text for it.' }
              : {}),
          })),
        }
      : {}),
    packages: packages.sort(byKey('SPDXID')),
    ...(files.size > 0 ? { files: [...files.values()].sort(byKey('SPDXID')) } : {}),
    relationships: dedupe(relationships).sort(
      (a, b) =>
        compareText(a.spdxElementId, b.spdxElementId) ||
        compareText(a.relationshipType, b.relationshipType) ||
        compareText(a.relatedSpdxElement, b.relatedSpdxElement),
    ),
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}

function packageElement(pkg: SbomPackage, id: string, declared: string): Record<string, unknown> {
  return {
    SPDXID: id,
    name: pkg.name,
    ...(pkg.version ? { versionInfo: pkg.version } : {}),
    ...(pkg.supplier ? { supplier: spdxActor(pkg.supplier) } : {}),
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    ...(pkg.sha256 ? { checksums: [{ algorithm: 'SHA256', checksumValue: pkg.sha256 }] } : {}),
    ...(pkg.source
      ? { sourceInfo: `built from source package ${pkg.source.name} ${pkg.source.version}` }
      : {}),
    licenseConcluded: 'NOASSERTION',
    licenseDeclared: declared,
    copyrightText: 'NOASSERTION',
    externalRefs: [
      { referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: pkg.purl },
      ...pkg.cpes.map((cpe) => ({
        referenceCategory: 'SECURITY',
        referenceType: 'cpe23Type',
        referenceLocator: cpe,
      })),
    ],
    primaryPackagePurpose: 'LIBRARY',
    ...(pkg.architecture || pkg.locations.length > 0
      ? {
          comment: [
            pkg.architecture && `architecture: ${pkg.architecture}`,
            `found at: ${pkg.locations.join(', ')}`,
          ]
            .filter(Boolean)
            .join('; '),
        }
      : {}),
  };
}

function sourceElement(
  source: { name: string; version: string },
  id: string,
  doc: SbomDocument,
): Record<string, unknown> {
  const purl = purlFor(
    {
      type: 'deb',
      name: source.name,
      version: source.version,
      architecture: 'source',
      locations: [],
    },
    doc.distro,
  );
  return {
    SPDXID: id,
    name: source.name,
    versionInfo: source.version,
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    licenseConcluded: 'NOASSERTION',
    licenseDeclared: 'NOASSERTION',
    copyrightText: 'NOASSERTION',
    externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: purl }],
    primaryPackagePurpose: 'SOURCE',
  };
}

function fileElement(file: NonNullable<SbomPackage['files']>[number], id: string): Record<string, unknown> {
  const algorithm = file.digest?.algorithm.toUpperCase();
  return {
    SPDXID: id,
    fileName: file.path,
    checksums: file.digest ? [{ algorithm, checksumValue: file.digest.value }] : [],
    licenseConcluded: 'NOASSERTION',
    copyrightText: 'NOASSERTION',
  };
}

/** SPDX supplier: `Name <mail>` becomes `Person: Name (mail)` or, for a list or team, `Organization: …`. */
function spdxActor(supplier: string): string {
  const actor = supplierActor(supplier);
  return `${actor.kind}: ${actor.name}${actor.email ? ` (${actor.email})` : ''}`;
}

/** SPDX ids allow only `[A-Za-z0-9.-]`; a short hash of the full identity keeps them unique. */
function spdxIdFor(kind: string, type: string, name: string, identity: string): string {
  const safe = name.replace(/[^A-Za-z0-9.-]+/g, '-').slice(0, 64);
  const hash = createHash('sha256').update(identity).digest('hex').slice(0, 12);
  return `SPDXRef-${kind}-${type}-${safe}-${hash}`;
}

function dedupe(relationships: SpdxRelationship[]): SpdxRelationship[] {
  const seen = new Map<string, SpdxRelationship>();
  for (const r of relationships)
    seen.set(`${r.spdxElementId}\0${r.relationshipType}\0${r.relatedSpdxElement}`, r);
  return [...seen.values()];
}

function byKey(key: string) {
  return (a: Record<string, unknown>, b: Record<string, unknown>) =>
    compareText(String(a[key]), String(b[key]));
}
