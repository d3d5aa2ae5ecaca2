import { randomUUID } from 'node:crypto';
import type { BuildRecord } from '../builder/record.js';
import { RampartError } from '../errors.js';
import type { Digest } from '../oci/digest.js';
import type { OciObject } from '../oci/image.js';
import type { OpenOptions } from '../oci/open.js';
import { platformToDebianArch } from '../oci/platform.js';
import { formatImageReference, parseImageReference } from '../oci/reference.js';
import type { SbomDocument } from '../sbom/model.js';
import type { WrittenAttestation } from './attest.js';
import { attestTarget } from './attest.js';
import { PREDICATE_TYPES } from './formats.js';
import type { Signer } from './keys.js';
import { noVexStatements, openVexDocument, type VexStatementSource } from './openvex.js';
import { buildProvenance } from './provenance.js';
import type { SignatureFormat, SignatureMaterial, WrittenSignature } from './sign.js';
import { openAttachmentTarget, signImage } from './sign.js';

/**
 * `rampart build --sign-key` (or `--sign-keyless`): what a build attaches to what it wrote. Every manifest and the index
 * are signed; each platform image gets its SLSA provenance, its SPDX and CycloneDX SBOMs and an
 * OpenVEX document as attestations, and the index gets the provenance of the whole build (so a
 * verifier given the tag, which names the index, finds it too). Nothing here touches the image:
 * its digest is the one the build wrote.
 */

export interface BuildSigningOptions {
  /** A key's signer, or signature material (keyless: `keylessMaterial`). */
  signer: Signer | SignatureMaterial;
  /** SLSA `runDetails.builder.id` (default: the record's, `pkg:npm/rampart@VERSION`). */
  builderId?: string;
  formats?: readonly SignatureFormat[];
  /** SLSA `runDetails.metadata.invocationId` (default: a random UUID URN). */
  invocationId?: string;
  /** Statements for each platform's OpenVEX document: the scanner's hook (default: none). */
  vexStatements?: VexStatementSource;
}

export interface BuildAttestation {
  /** The manifest attested (the index, or a platform image). */
  subject: Digest;
  architecture?: string;
  predicateType: string;
  attestations: WrittenAttestation[];
}

export interface SignedBuild {
  signatures: WrittenSignature[];
  attestations: BuildAttestation[];
}

export interface AttachBuildInput {
  /** The written output, `oci:DIR[:TAG]` or `docker://…` (an oci-archive is signed in a staged layout). */
  reference: string;
  /** The digest the build wrote (the index). */
  digest: Digest;
  record: BuildRecord;
  specText: string;
  lockText: string;
  /** Each platform image's SBOM, by Debian architecture. */
  sboms: ReadonlyMap<string, SbomDocument>;
  /** For the bundle referrers' `org.opencontainers.image.created`. */
  clock: () => Date;
  signal?: AbortSignal;
}

export async function attachBuildAttestations(
  input: AttachBuildInput,
  signing: BuildSigningOptions,
  open: OpenOptions = {},
): Promise<SignedBuild> {
  const parsed = parseImageReference(input.reference);
  const pinned = { ...parsed, tag: undefined, digest: input.digest };
  const ref = `${parsed.transport === 'docker' ? 'docker://' : ''}${formatImageReference(pinned)}`;
  const common = {
    ...(signing.formats ? { formats: signing.formats } : {}),
    ...(open.registry ? { registry: open.registry } : {}),
    ...(input.signal ? { signal: input.signal } : {}),
    now: input.clock,
  };
  const signed = await signImage(ref, signing.signer, { ...common, recursive: true });
  const target = await openAttachmentTarget(ref, common);
  const invocationId = signing.invocationId ?? `urn:uuid:${randomUUID()}`;
  const provenanceOf = (arch?: string) =>
    buildProvenance({
      record: input.record,
      specText: input.specText,
      lockText: input.lockText,
      ...(arch ? { arch } : {}),
      ...(signing.builderId ? { builderId: signing.builderId } : {}),
      invocationId,
    });
  const attestations: BuildAttestation[] = [];
  const attest = async (object: OciObject, type: string, predicate: unknown, architecture?: string) => {
    const result = await attestTarget({ ...target, object }, signing.signer, type, predicate, common);
    attestations.push({
      subject: object.digest,
      ...(architecture ? { architecture } : {}),
      predicateType: type,
      attestations: result.attestations,
    });
  };
  const { encodeSpdxJson } = await import('../sbom/encode/spdx.js');
  const { encodeCycloneDxJson } = await import('../sbom/encode/cyclonedx.js');
  const vex = signing.vexStatements ?? noVexStatements;
  for (const { object, architecture } of await platformImages(target.object)) {
    input.signal?.throwIfAborted();
    const sbom = input.sboms.get(architecture);
    if (!sbom) {
      throw new RampartError('USAGE', `no SBOM of the ${architecture} image to attest`, {
        details: { value: architecture },
      });
    }
    await attest(object, PREDICATE_TYPES.slsaprovenance1, provenanceOf(architecture), architecture);
    await attest(object, PREDICATE_TYPES.spdxjson, JSON.parse(encodeSpdxJson(sbom)), architecture);
    await attest(object, PREDICATE_TYPES.cyclonedx, JSON.parse(encodeCycloneDxJson(sbom)), architecture);
    const statements = await vex({
      digest: object.digest,
      architecture,
      ...(input.signal ? { signal: input.signal } : {}),
    });
    const document = openVexDocument(
      object.digest,
      statements,
      input.record.finishedOn,
      signing.builderId ?? input.record.builder.id,
      `rampart ${input.record.builder.version}`,
    );
    await attest(object, PREDICATE_TYPES.openvex, document, architecture);
  }
  if (target.object.kind === 'index') {
    await attest(target.object, PREDICATE_TYPES.slsaprovenance1, provenanceOf());
  }
  return { signatures: signed.signatures, attestations };
}

/** The platform images of what a build wrote: an index's children, or the one image. */
async function platformImages(root: OciObject): Promise<Array<{ object: OciObject; architecture: string }>> {
  if (root.kind !== 'index') {
    const image = root.kind === 'image' ? root : await root.toImage();
    return [{ object: image, architecture: platformToDebianArch(image.config) }];
  }
  const out: Array<{ object: OciObject; architecture: string }> = [];
  for (const entry of root.manifest.manifests) {
    if (!entry.platform) continue;
    out.push({ object: await root.child(entry), architecture: platformToDebianArch(entry.platform) });
  }
  return out;
}
