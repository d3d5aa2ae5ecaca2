import { z } from 'zod';
import { RampartError } from '../errors.js';
import type { Digest } from './digest.js';

const digestSchema = z
  .string()
  .regex(/^sha256:[a-f0-9]{64}$/, 'expected sha256:<64 hex>')
  .transform((value) => value as Digest);
const stringMap = z.record(z.string(), z.string());

export const PlatformSchema = z.looseObject({
  architecture: z.string(),
  os: z.string(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
});
export type Platform = z.infer<typeof PlatformSchema>;

export const DescriptorSchema = z.looseObject({
  mediaType: z.string(),
  digest: digestSchema,
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: stringMap.optional(),
  data: z.string().optional(),
  artifactType: z.string().optional(),
  platform: PlatformSchema.optional(),
});
export type Descriptor = z.infer<typeof DescriptorSchema>;

export const ImageManifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: DescriptorSchema,
  layers: z.array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: stringMap.optional(),
});
export type ImageManifest = z.infer<typeof ImageManifestSchema>;

export const IndexManifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  manifests: z.array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: stringMap.optional(),
});
export type IndexManifest = z.infer<typeof IndexManifestSchema>;

// Go serialises empty slices/maps as null; accept that rather than reject real-world configs.
const nullableStrings = z.array(z.string()).nullish();
const emptyObjectMap = z.record(z.string(), z.looseObject({})).nullish();

export const ContainerConfigSchema = z.looseObject({
  User: z.string().optional(),
  ExposedPorts: emptyObjectMap,
  Env: nullableStrings,
  Entrypoint: nullableStrings,
  Cmd: nullableStrings,
  Volumes: emptyObjectMap,
  WorkingDir: z.string().optional(),
  Labels: stringMap.nullish(),
  StopSignal: z.string().optional(),
});
export type ContainerConfig = z.infer<typeof ContainerConfigSchema>;

export const HistorySchema = z.looseObject({
  created: z.string().optional(),
  created_by: z.string().optional(),
  author: z.string().optional(),
  comment: z.string().optional(),
  empty_layer: z.boolean().optional(),
});
export type History = z.infer<typeof HistorySchema>;

export const ImageConfigSchema = z.looseObject({
  created: z.string().optional(),
  author: z.string().optional(),
  architecture: z.string(),
  os: z.string(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
  config: ContainerConfigSchema.nullish(),
  rootfs: z.looseObject({ type: z.string(), diff_ids: z.array(digestSchema) }),
  history: z.array(HistorySchema).nullish(),
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
  const result = schema.safeParse(value);
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
