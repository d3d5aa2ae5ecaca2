import type * as z from 'zod/mini';
import type { BuildRecord } from '../builder/record.js';
import { RampartError } from '../errors.js';
import { sha256Digest } from '../oci/digest.js';
import { array, literal, minLength, object, optional, regex, startsWith, string } from '../util/zod.js';
import { VERSION } from '../version.js';

/**
 * SLSA Provenance v1 (https://slsa.dev/spec/v1.0/provenance) of a rampart build, from its build
 * record (which holds every input and its digest) plus the spec and lock texts, embedded so that
 * `verify --rebuild` can build the same image again from the provenance alone.
 */

/** `buildDefinition.buildType`: rampart's build, with the tool version that defines it. */
export const BUILD_TYPE_PREFIX = 'urn:rampart:build:image:v1';
export function rampartBuildType(version = VERSION): string {
  return `${BUILD_TYPE_PREFIX}?version=${encodeURIComponent(version)}`;
}

export interface ResourceDescriptor {
  uri?: string;
  name?: string;
  digest: { sha256: string };
  annotations?: Record<string, string | number>;
}

export interface RampartProvenance {
  buildDefinition: {
    buildType: string;
    externalParameters: {
      /** `content`: the spec's text; `redacted` when URL credentials were removed from it. */
      spec: { path: string; name: string; sha256: string; content: string; redacted?: true };
      variant?: string;
      archs: string[];
      locked: boolean;
      sourceDateEpoch?: string;
    };
    internalParameters: {
      lock: { sha256: string; content: string; redacted?: true };
      created: string;
      repository?: { mirror?: string; securityMirror?: string; keyring?: string };
    };
    resolvedDependencies: ResourceDescriptor[];
  };
  runDetails: {
    builder: { id: string; version: Record<string, string> };
    metadata: { invocationId: string; startedOn: string; finishedOn: string };
  };
}

export interface ProvenanceInput {
  record: BuildRecord;
  /** The spec's text, as the build read it (its sha256 is the record's). */
  specText: string;
  /** The lock's text, as the build used it. */
  lockText: string;
  /** Only this Debian architecture's packages (a platform image); all of them for the index. */
  arch?: string;
  builderId?: string;
  invocationId: string;
}

/** The provenance predicate (pure). Dependencies sorted by kind, then as the record lists them. */
export function buildProvenance(input: ProvenanceInput): RampartProvenance {
  const { record, arch } = input;
  const specSha256 = sha256Digest(input.specText).slice('sha256:'.length);
  if (specSha256 !== record.spec.sha256) {
    throw new RampartError('DIGEST_MISMATCH', `the spec ${record.spec.path} changed during the build`, {
      details: { expected: record.spec.sha256, actual: specSha256, path: record.spec.path },
    });
  }
  const lockSha256 = sha256Digest(input.lockText).slice('sha256:'.length);
  const packages = record.packages.filter(
    (p) => arch === undefined || p.architecture === arch || p.architecture === 'all',
  );
  const resolvedDependencies: ResourceDescriptor[] = [
    ...record.releases.map((r) => ({
      uri: r.url,
      name: `${r.suite}/InRelease`,
      digest: { sha256: r.inReleaseSha256 },
    })),
    ...packages.map((p) => ({
      uri: p.url,
      name: `${p.name}_${p.version}_${p.architecture}.deb`,
      digest: { sha256: p.sha256 },
    })),
    ...record.files.map((f) => ({
      name: f.source,
      digest: { sha256: f.sha256 },
      annotations: { type: f.type, files: f.files },
    })),
  ];
  const invocation = record.invocation;
  // A signed attestation is published: a mirror's credentials in the spec or the lock stay out.
  const spec = withoutCredentials(input.specText);
  const lock = withoutCredentials(input.lockText);
  return {
    buildDefinition: {
      buildType: rampartBuildType(record.builder.version),
      externalParameters: {
        spec: {
          path: record.spec.path,
          name: record.spec.name,
          sha256: record.spec.sha256,
          content: spec.text,
          ...(spec.redacted ? { redacted: true as const } : {}),
        },
        ...(invocation.variant ? { variant: invocation.variant } : {}),
        archs: arch === undefined ? [...invocation.archs] : [arch],
        locked: invocation.locked,
        ...(invocation.sourceDateEpoch ? { sourceDateEpoch: invocation.sourceDateEpoch } : {}),
      },
      internalParameters: {
        lock: {
          sha256: lockSha256,
          content: lock.text,
          ...(lock.redacted ? { redacted: true as const } : {}),
        },
        created: record.created,
        ...(invocation.repository ? { repository: invocation.repository } : {}),
      },
      resolvedDependencies,
    },
    runDetails: {
      builder: { id: input.builderId ?? record.builder.id, version: { rampart: record.builder.version } },
      metadata: {
        invocationId: input.invocationId,
        startedOn: record.startedOn,
        finishedOn: record.finishedOn,
      },
    },
  };
}

/** `scheme://user:password@host` -> `scheme://host` everywhere in a text (spec YAML, lock JSON). */
export function withoutCredentials(text: string): { text: string; redacted: boolean } {
  const redacted = text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@"'?#]+@/gi, '$1');
  return { text: redacted, redacted: redacted !== text };
}

const provenanceSchema = object({
  buildDefinition: object({
    buildType: string().check(startsWith(BUILD_TYPE_PREFIX)),
    externalParameters: object({
      spec: object({
        path: string(),
        name: string(),
        sha256: string().check(regex(/^[0-9a-f]{64}$/)),
        content: optional(string()),
        redacted: optional(literal(true)),
      }),
      variant: optional(string()),
      archs: array(string().check(regex(/^[a-z0-9]+$/))).check(minLength(1)),
      sourceDateEpoch: optional(string()),
    }),
    internalParameters: object({
      lock: object({ sha256: string(), content: string(), redacted: optional(literal(true)) }),
      repository: optional(
        object({
          mirror: optional(string()),
          securityMirror: optional(string()),
          keyring: optional(string()),
        }),
      ),
    }),
  }),
});

/** What `verify --rebuild` reads from a verified provenance predicate. */
export type RebuildParameters = z.infer<typeof provenanceSchema>['buildDefinition'];

/** The rebuild parameters of a predicate, or PROVENANCE_INVALID naming what is missing. */
export function parseRampartProvenance(predicate: unknown): RebuildParameters {
  const parsed = provenanceSchema.safeParse(predicate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') ?? '';
    throw new RampartError(
      'PROVENANCE_INVALID',
      `the provenance is not a rampart build's: ${field || 'predicate'}: ${issue?.message ?? 'invalid'}`,
      { details: { field } },
    );
  }
  return parsed.data.buildDefinition;
}
