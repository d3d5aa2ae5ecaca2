import type * as z from 'zod';
import { array, boolean, literal, looseObject, number, record, string } from 'zod';
import { RampartError } from '../errors.js';
import type { Digest } from './digest.js';

const digestSchema = string()
  .regex(/^sha256:[a-f0-9]{64}$/, 'expected sha256:<64 hex>')
  .transform((value) => value as Digest);
const stringMap = record(string(), string());

export const PlatformSchema = looseObject({
  architecture: string(),
  os: string(),
  'os.version': string().optional(),
  'os.features': array(string()).optional(),
  variant: string().optional(),
});
export type Platform = z.infer<typeof PlatformSchema>;

export const DescriptorSchema = looseObject({
  mediaType: string(),
  digest: digestSchema,
  size: number().int().nonnegative(),
  urls: array(string()).optional(),
  annotations: stringMap.optional(),
  data: string().optional(),
  artifactType: string().optional(),
  platform: PlatformSchema.optional(),
});
export type Descriptor = z.infer<typeof DescriptorSchema>;

export const ImageManifestSchema = looseObject({
  schemaVersion: literal(2),
  mediaType: string().optional(),
  artifactType: string().optional(),
  config: DescriptorSchema,
  layers: array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: stringMap.optional(),
});
export type ImageManifest = z.infer<typeof ImageManifestSchema>;

export const IndexManifestSchema = looseObject({
  schemaVersion: literal(2),
  mediaType: string().optional(),
  artifactType: string().optional(),
  manifests: array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: stringMap.optional(),
});
export type IndexManifest = z.infer<typeof IndexManifestSchema>;

// Go serialises empty slices/maps as null; accept that rather than reject real-world configs.
const nullableStrings = array(string()).nullish();
const emptyObjectMap = record(string(), looseObject({})).nullish();

export const ContainerConfigSchema = looseObject({
  User: string().optional(),
  ExposedPorts: emptyObjectMap,
  Env: nullableStrings,
  Entrypoint: nullableStrings,
  Cmd: nullableStrings,
  Volumes: emptyObjectMap,
  WorkingDir: string().optional(),
  Labels: stringMap.nullish(),
  StopSignal: string().optional(),
});
export type ContainerConfig = z.infer<typeof ContainerConfigSchema>;

export const HistorySchema = looseObject({
  created: string().optional(),
  created_by: string().optional(),
  author: string().optional(),
  comment: string().optional(),
  empty_layer: boolean().optional(),
});
export type History = z.infer<typeof HistorySchema>;

export const ImageConfigSchema = looseObject({
  created: string().optional(),
  author: string().optional(),
  architecture: string(),
  os: string(),
  'os.version': string().optional(),
  'os.features': array(string()).optional(),
  variant: string().optional(),
  config: ContainerConfigSchema.nullish(),
  rootfs: looseObject({ type: string(), diff_ids: array(digestSchema) }),
  history: array(HistorySchema).nullish(),
});
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

/** Parses JSON bytes with a schema; errors name `what` (a file or digest) and the first bad field. */
export function parseJsonBytes<T>(schema: z.ZodType<T>, bytes: Uint8Array, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new RampartError('MALFORMED_MANIFEST', `${what} is not valid JSON`, {
      cause: error,
      details: { location: what },
    });
  }
  // jitless: zod would compile each object schema's parser with `new Function` at its first parse
  // (~1 ms each: ~7 ms of a `verify`, whose parses then took ~3 ms), paid back only after hundreds
  // of objects parsed with that schema; the manifests, indexes and configs read here are a few each.
  const result = schema.safeParse(value, { jitless: true });
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid';
    throw new RampartError('MALFORMED_MANIFEST', `${what} is malformed at ${where}`, {
      cause: result.error,
      details: { location: what, ...(issue ? { field: issue.path.join('.') || '(root)' } : {}) },
    });
  }
  return result.data;
}
