import type * as z from 'zod/mini';
import { RampartError } from '../errors.js';
import {
  array,
  boolean,
  int,
  literal,
  looseObject,
  nonnegative,
  nullish,
  number,
  optional,
  pipe,
  record,
  regex,
  string,
  transform,
} from '../util/zod.js';
import type { Digest } from './digest.js';

const digestSchema = pipe(
  string().check(regex(/^sha256:[a-f0-9]{64}$/, 'expected sha256:<64 hex>')),
  transform((value: string) => value as Digest),
);
const stringMap = record(string(), string());

export const PlatformSchema = looseObject({
  architecture: string(),
  os: string(),
  'os.version': optional(string()),
  'os.features': optional(array(string())),
  variant: optional(string()),
});
export type Platform = z.infer<typeof PlatformSchema>;

export const DescriptorSchema = looseObject({
  mediaType: string(),
  digest: digestSchema,
  size: number().check(int(), nonnegative()),
  urls: optional(array(string())),
  annotations: optional(stringMap),
  data: optional(string()),
  artifactType: optional(string()),
  platform: optional(PlatformSchema),
});
export type Descriptor = z.infer<typeof DescriptorSchema>;

export const ImageManifestSchema = looseObject({
  schemaVersion: literal(2),
  mediaType: optional(string()),
  artifactType: optional(string()),
  config: DescriptorSchema,
  layers: array(DescriptorSchema),
  subject: optional(DescriptorSchema),
  annotations: optional(stringMap),
});
export type ImageManifest = z.infer<typeof ImageManifestSchema>;

export const IndexManifestSchema = looseObject({
  schemaVersion: literal(2),
  mediaType: optional(string()),
  artifactType: optional(string()),
  manifests: array(DescriptorSchema),
  subject: optional(DescriptorSchema),
  annotations: optional(stringMap),
});
export type IndexManifest = z.infer<typeof IndexManifestSchema>;

// Go serialises empty slices/maps as null; accept that rather than reject real-world configs.
const nullableStrings = nullish(array(string()));
const emptyObjectMap = nullish(record(string(), looseObject({})));

export const ContainerConfigSchema = looseObject({
  User: optional(string()),
  ExposedPorts: emptyObjectMap,
  Env: nullableStrings,
  Entrypoint: nullableStrings,
  Cmd: nullableStrings,
  Volumes: emptyObjectMap,
  WorkingDir: optional(string()),
  Labels: nullish(stringMap),
  StopSignal: optional(string()),
});
export type ContainerConfig = z.infer<typeof ContainerConfigSchema>;

export const HistorySchema = looseObject({
  created: optional(string()),
  created_by: optional(string()),
  author: optional(string()),
  comment: optional(string()),
  empty_layer: optional(boolean()),
});
export type History = z.infer<typeof HistorySchema>;

export const ImageConfigSchema = looseObject({
  created: optional(string()),
  author: optional(string()),
  architecture: string(),
  os: string(),
  'os.version': optional(string()),
  'os.features': optional(array(string())),
  variant: optional(string()),
  config: nullish(ContainerConfigSchema),
  rootfs: looseObject({ type: string(), diff_ids: array(digestSchema) }),
  history: nullish(array(HistorySchema)),
});
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

/** Parses JSON bytes with a schema; errors name `what` (a file or digest) and the first bad field. */
export function parseJsonBytes<T>(schema: z.ZodMiniType<T>, bytes: Uint8Array, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new RampartError('MALFORMED_MANIFEST', `${what} is not valid JSON`, {
      cause: error,
      details: { location: what },
    });
  }
  // zod/mini parses objects without generating code (no `new Function` per object schema, which
  // classic zod's first parse paid ~1 ms for, ~7 ms of a `verify`): a command reads a few each.
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid';
    // zod/mini's error class is core's `$ZodError`; the cause keeps the name classic zod gave it
    // (a report's JSON error names its cause).
    result.error.name = 'ZodError';
    throw new RampartError('MALFORMED_MANIFEST', `${what} is malformed at ${where}`, {
      cause: result.error,
      details: { location: what, ...(issue ? { field: issue.path.join('.') || '(root)' } : {}) },
    });
  }
  return result.data;
}
