/**
 * One error type for the whole library. `code` is a stable literal users can match on;
 * the message names the thing that failed and, where possible, what to do about it.
 */
export type RampartErrorCode =
  | 'USAGE'
  | 'NOT_FOUND'
  | 'INVALID_REFERENCE'
  | 'UNSUPPORTED_TRANSPORT'
  | 'UNKNOWN_MEDIA_TYPE'
  | 'MALFORMED_MANIFEST'
  | 'MALFORMED_LAYOUT'
  | 'MALFORMED_ARCHIVE'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'BLOB_NOT_FOUND'
  | 'MANIFEST_NOT_FOUND'
  | 'PATH_TRAVERSAL'
  | 'UNSAFE_LINK'
  | 'IO'
  | 'NETWORK'
  | 'SIGNATURE_INVALID'
  | 'RELEASE_EXPIRED'
  | 'INDEX_MISSING'
  | 'HASH_MISMATCH'
  | 'PACKAGE_NOT_FOUND'
  | 'UNSATISFIABLE'
  | 'EXCLUDED_REQUIRED'
  | 'MALFORMED_DEB'
  | 'MALFORMED_CONTROL'
  | 'SPEC_INVALID'
  | 'FILE_CONFLICT'
  | 'LOCK_STALE'
  | 'TOOL_FAILED'
  | 'SBOM_INVALID'
  | 'INVALID_LAYER_ENTRY';

export class RampartError extends Error {
  readonly code: RampartErrorCode;

  constructor(code: RampartErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RampartError';
    this.code = code;
  }
}

export function isRampartError(value: unknown, code?: RampartErrorCode): value is RampartError {
  return value instanceof RampartError && (code === undefined || value.code === code);
}
