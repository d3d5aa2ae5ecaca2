import { createHash } from 'node:crypto';
import { VERSION } from '../../version.js';
import { purlFor } from '../identity/purl.js';
import { supplierActor } from '../identity/supplier.js';
import { isDebianSourcePackage } from '../installed.js';
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
  comment?: string;
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

  const spdxIds = new Map(doc.packages.map((p) => [p.id, spdxIdOf(p)]));
  const licenses = documentLicenses(doc.packages);
  const sourcePackages = new Map<string, Record<string, unknown>>();
  // Debian source packages in the model (Built-Using) are the same elements as binaries' sources.
  const modelSources = new Set(doc.packages.filter(isDebianSourcePackage).map((p) => spdxIds.get(p.id)!));
  const files = new Map<string, Record<string, unknown>>();
  for (const pkg of doc.packages) {
    const id = spdxIds.get(pkg.id)!;
    const fileIds: string[] = [];
    const fileSha1s: string[] = [];
    if (options.files) {
      for (const file of pkg.files ?? []) {
        // SPDX 2.3 requires a SHA-1 on every file: a file listed but not in the root (removed
        // after install) or not hashed has none, so it is counted in the package's comment instead.
        if (!file.sha1) continue;
        const fileId = spdxIdFor('File', 'file', file.path.split('/').pop() ?? 'file', file.path);
        files.set(fileId, fileElement(file, file.sha1, fileId));
        fileIds.push(fileId);
        fileSha1s.push(file.sha1);
      }
    }
    packages.push(packageElement(pkg, id, licenses.expressionOf(pkg), options.files ? fileSha1s : undefined));
    // A source package is what binaries were built from (GENERATED_FROM below), not image content.
    if (!isDebianSourcePackage(pkg))
      relationships.push({ spdxElementId: imageId, relationshipType: 'CONTAINS', relatedSpdxElement: id });
    for (const dep of pkg.dependsOn) {
      const target = spdxIds.get(dep);
      if (target)
        relationships.push({ spdxElementId: id, relationshipType: 'DEPENDS_ON', relatedSpdxElement: target });
    }
    for (const inner of pkg.contains ?? []) {
      const target = spdxIds.get(inner);
      if (target)
        relationships.push({ spdxElementId: id, relationshipType: 'CONTAINS', relatedSpdxElement: target });
    }
    // Built-Using names the sources whose code is compiled into this binary: the binary is (in
    // part) generated from them. STATIC_LINK relates two artifacts, a binary linking a library
    // binary; these are source packages, so GENERATED_FROM, with the dpkg field in the comment.
    for (const ref of pkg.builtUsing ?? []) {
      const target = spdxIds.get(ref.id);
      if (target)
        relationships.push({
          spdxElementId: id,
          relationshipType: 'GENERATED_FROM',
          relatedSpdxElement: target,
          comment: `dpkg ${ref.field}`,
        });
    }
    if (pkg.type === 'deb' && pkg.source && !isDebianSourcePackage(pkg)) {
      const sourceId = debianSourceId(pkg.source);
      if (!sourcePackages.has(sourceId) && !modelSources.has(sourceId))
        sourcePackages.set(sourceId, sourceElement(pkg.source, sourceId, doc));
      relationships.push({
        spdxElementId: id,
        relationshipType: 'GENERATED_FROM',
        relatedSpdxElement: sourceId,
      });
    }
    for (const fileId of fileIds)
      relationships.push({ spdxElementId: id, relationshipType: 'CONTAINS', relatedSpdxElement: fileId });
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

function packageElement(
  pkg: SbomPackage,
  id: string,
  declared: string,
  fileSha1s: readonly string[] | undefined,
): Record<string, unknown> {
  const listed = pkg.files?.length ?? 0;
  const analyzed = fileSha1s !== undefined && fileSha1s.length > 0;
  const notInRoot = fileSha1s === undefined ? 0 : listed - fileSha1s.length;
  return {
    SPDXID: id,
    name: pkg.name,
    ...(pkg.version ? { versionInfo: pkg.version } : {}),
    ...(pkg.supplier ? { supplier: spdxActor(pkg.supplier) } : {}),
    downloadLocation: 'NOASSERTION',
    ...(pkg.homepage && isSpdxUri(pkg.homepage) ? { homepage: pkg.homepage } : {}),
    // A package that CONTAINS files has them analysed, and then SPDX 2.3 requires the
    // verification code over their SHA-1s (§7.9).
    filesAnalyzed: analyzed,
    ...(analyzed
      ? { packageVerificationCode: { packageVerificationCodeValue: verificationCode(fileSha1s) } }
      : {}),
    ...(pkg.sha256 ? { checksums: [{ algorithm: 'SHA256', checksumValue: pkg.sha256 }] } : {}),
    ...(pkg.source && !isDebianSourcePackage(pkg)
      ? { sourceInfo: `built from source package ${pkg.source.name} ${pkg.source.version}` }
      : {}),
    licenseConcluded: 'NOASSERTION',
    licenseDeclared: declared,
    copyrightText: 'NOASSERTION',
    ...(pkg.description ? { summary: pkg.description } : {}),
    externalRefs: [
      { referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: pkg.purl },
      ...pkg.cpes.map((cpe) => ({
        referenceCategory: 'SECURITY',
        referenceType: 'cpe23Type',
        referenceLocator: cpe,
      })),
    ],
    primaryPackagePurpose: pkg.application
      ? 'APPLICATION'
      : isDebianSourcePackage(pkg)
        ? 'SOURCE'
        : 'LIBRARY',
    ...(pkg.architecture || pkg.locations.length > 0 || notInRoot > 0
      ? {
          comment: [
            pkg.architecture && `architecture: ${pkg.architecture}`,
            `found at: ${pkg.locations.join(', ')}`,
            notInRoot > 0 && `${notInRoot} of ${listed} listed files are not in the root`,
          ]
            .filter(Boolean)
            .join('; '),
        }
      : {}),
  };
}

/**
 * SPDX 2.3 §7.9: SHA-1 of the files' SHA-1s (lower-case hex) sorted ascending and concatenated
 * with no separator. A path listed twice is one file.
 */
export function verificationCode(sha1s: readonly string[]): string {
  const sorted = [...sha1s].sort(compareText);
  return createHash('sha1').update(sorted.join('')).digest('hex');
}

function debianSourceId(source: { name: string; version: string }): string {
  return spdxIdFor('SourcePackage', 'deb', source.name, `${source.name}@${source.version}`);
}

function spdxIdOf(pkg: SbomPackage): string {
  return isDebianSourcePackage(pkg) ? debianSourceId(pkg) : spdxIdFor('Package', pkg.type, pkg.name, pkg.id);
}

/** SPDX `homepage` must be a URI; a metadata field holding prose is left out rather than invalid. */
function isSpdxUri(value: string): boolean {
  return /^https?:\/\/[^\s]+$/.test(value);
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

function fileElement(
  file: NonNullable<SbomPackage['files']>[number],
  sha1: string,
  id: string,
): Record<string, unknown> {
  const checksums = [{ algorithm: 'SHA1', checksumValue: sha1 }];
  // The package manager's own record (dpkg md5sums, RECORD sha256) is kept beside the computed SHA-1.
  if (file.digest && file.digest.algorithm !== 'sha1')
    checksums.push({ algorithm: file.digest.algorithm.toUpperCase(), checksumValue: file.digest.value });
  return {
    SPDXID: id,
    // SPDX 2.3 §8.1: a relative path from the package root, `./usr/bin/x`.
    fileName: `.${file.path.startsWith('/') ? '' : '/'}${file.path}`,
    checksums: checksums.sort((a, b) => compareText(a.algorithm, b.algorithm)),
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
