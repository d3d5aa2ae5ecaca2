/**
 * One error type for the whole library (undici's and sigstore-js's shape). `code` is a stable
 * literal users can match on; `details` carries the facts (which package, URL, digest, path...)
 * typed per code, so callers read fields instead of parsing the message; the message names the
 * thing that failed and what to do. Errors are JSON-serialisable (`toJSON`), so a service can
 * store and show them.
 */

/** Where in a file (a spec, a control file) something was found; 1-based. */
export type SourcePosition = { file?: string; line?: number; column?: number };

/**
 * The facts each code carries. Every field is optional where a throw site may not know it; a
 * code missing here carries a free-form record.
 */
export interface ErrorDetailsByCode {
  // Invocation: the user fixes the command line, the environment or the spec. Exit 2.
  USAGE: { option?: string; value?: string };
  INVALID_ENVIRONMENT: { variable: string; value?: string };
  UNSUPPORTED_OPERATION: { reference?: string; operation?: string };
  INVALID_REFERENCE: { reference: string };
  UNSUPPORTED_TRANSPORT: { reference?: string; transport?: string };
  SPEC_INVALID: { position?: SourcePosition; key?: string };
  SOURCE_OUTSIDE_CONTEXT: { path: string; context?: string; position?: SourcePosition };
  // The local filesystem: the user fixes a path, a permission or frees space.
  NOT_FOUND: { path?: string; reference?: string };
  PERMISSION_DENIED: { path?: string; syscall?: string };
  READ_ONLY_FILESYSTEM: { path?: string };
  NO_SPACE: { path?: string };
  LOCKED: { path: string; holder?: string; pid?: number };
  IO: { path?: string; syscall?: string; errno?: string };
  // Images: the source is damaged or not what it claims.
  UNKNOWN_MEDIA_TYPE: { mediaType?: string; digest?: string; location?: string };
  MALFORMED_MANIFEST: { digest?: string; location?: string; field?: string };
  MALFORMED_LAYOUT: { path?: string };
  MALFORMED_ARCHIVE: { path?: string; digest?: string; format?: string };
  DIGEST_MISMATCH: { expected: string; actual?: string; location?: string; url?: string; path?: string };
  SIZE_MISMATCH: { digest?: string; expected: number; actual?: number; location?: string; url?: string };
  TOO_LARGE: { limit: number; url?: string; path?: string; digest?: string };
  BLOB_NOT_FOUND: { digest: string; location?: string };
  MANIFEST_NOT_FOUND: { reference?: string; digest?: string; platform?: string; available?: string[] };
  PATH_TRAVERSAL: { path: string; location?: string };
  UNSAFE_LINK: { path: string; target?: string; location?: string };
  INVALID_LAYER_ENTRY: { path?: string; layer?: string };
  UNSAFE_ENTRIES: { count: number; entries?: Array<{ path: string; reason: string; layer?: string }> };
  // The network and the archive's trust chain.
  NETWORK: { url?: string; status?: number; attempts?: number };
  TIMEOUT: { url?: string; timeoutMs?: number; attempts?: number };
  SIGNATURE_INVALID: { url?: string; keyIds?: string[] };
  RELEASE_EXPIRED: { url?: string; validUntil?: string };
  RELEASE_DATE_INVALID: { url?: string; date?: string; newestSeen?: string; reason?: 'future' | 'downgrade' };
  INDEX_MISSING: { url?: string; suite?: string; component?: string; architecture?: string };
  // Packages and their resolution.
  PACKAGE_NOT_FOUND: { package: string; architecture?: string; suite?: string };
  UNSATISFIABLE: { package?: string; relation?: string; chain?: string[] };
  EXCLUDED_REQUIRED: { package: string; requiredBy?: string[] };
  MALFORMED_DEB: { path?: string; package?: string; member?: string };
  MALFORMED_CONTROL: { path?: string; url?: string; line?: number; field?: string };
  FILE_CONFLICT: { path: string; packages?: string[] };
  LOCK_STALE: { lock?: string; package?: string };
  // Everything else.
  TOOL_FAILED: { tool: string; exitCode?: number | null };
  SBOM_INVALID: { path?: string; format?: string };
  CANCELLED: { operation?: string };
}

export type RampartErrorCode = keyof ErrorDetailsByCode;
export type ErrorDetails<C extends RampartErrorCode = RampartErrorCode> = ErrorDetailsByCode[C];

export type RampartErrorOptions<C extends RampartErrorCode> = {
  cause?: unknown;
  details?: ErrorDetails<C>;
};

/** The JSON form of an error: what the CLI prints with `-o json` and what a service stores. */
export type SerializedError = {
  name: string;
  code: string;
  message: string;
  details?: Record<string, unknown>;
  cause?: SerializedError | { name: string; message: string; code?: string };
};

export class RampartError<C extends RampartErrorCode = RampartErrorCode> extends Error {
  readonly code: C;
  readonly details: Partial<ErrorDetails<C>>;

  constructor(code: C, message: string, options?: RampartErrorOptions<C>) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RampartError';
    this.code = code;
    this.details = options?.details ?? {};
  }

  toJSON(): SerializedError {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      ...(Object.keys(this.details).length > 0 ? { details: { ...this.details } } : {}),
      ...(this.cause !== undefined ? { cause: serializeCause(this.cause) } : {}),
    };
  }
}

function serializeCause(cause: unknown): SerializedError['cause'] {
  if (cause instanceof RampartError) return cause.toJSON();
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return { name: cause.name, message: cause.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(cause) };
}

export function isRampartError<C extends RampartErrorCode>(
  value: unknown,
  code?: C,
): value is RampartError<C> {
  return value instanceof RampartError && (code === undefined || value.code === code);
}
