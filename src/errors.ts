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
  USAGE: { option?: string; value?: string; conflictsWith?: string };
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
  MALFORMED_ARCHIVE: { path?: string; reference?: string; digest?: string; format?: string };
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
  NETWORK: {
    url?: string;
    status?: number;
    attempts?: number /** Where a refused redirect pointed. */;
    location?: string;
  };
  TIMEOUT: { url?: string; timeoutMs?: number; attempts?: number };
  /** The registry refused the credentials (401) or the action (403) for a repository. */
  UNAUTHORIZED: { registry: string; repository?: string; status?: number; action?: string };
  /** A read-modify-write of a shared document (the referrers tag-schema index) lost to other writers. */
  CONCURRENT_UPDATE: { reference: string; attempts: number };
  /** A credential file (docker config.json, podman auth.json) or its helper setting rampart cannot use. */
  CREDENTIALS_INVALID: { path?: string; registry?: string; field?: string };
  SIGNATURE_INVALID: { url?: string; keyIds?: string[] };
  /** A signing or verification key rampart cannot use: its file, the password, or the algorithm. */
  KEY_INVALID: {
    path?: string;
    reason: 'format' | 'password' | 'kdf' | 'cipher' | 'algorithm' | 'unencrypted';
    label?: string;
  };
  RELEASE_EXPIRED: { url?: string; validUntil?: string };
  RELEASE_DATE_INVALID: { url?: string; date?: string; newestSeen?: string; reason?: 'future' | 'downgrade' };
  INDEX_MISSING: { url?: string; suite?: string; component?: string; architecture?: string };
  // Packages and their resolution.
  PACKAGE_NOT_FOUND: { package: string; architecture?: string; suite?: string };
  UNSATISFIABLE: { package?: string; relation?: string; chain?: string[] };
  EXCLUDED_REQUIRED: { package: string; requiredBy?: string[] };
  MALFORMED_DEB: { path?: string; package?: string; member?: string };
  MALFORMED_CONTROL: {
    path?: string;
    url?: string;
    document?: string;
    line?: number;
    field?: string;
    value?: string;
  };
  FILE_CONFLICT: { path: string; packages?: string[] };
  LOCK_STALE: { lock?: string; package?: string };
  // Everything else.
  TOOL_FAILED: { tool: string; exitCode?: number | null };
  SBOM_INVALID: { path?: string; format?: string };
  SBOM_EMPTY: { reference: string };
  PREDICATE_INVALID: { path?: string; type?: string };
  /** The advisory store is unreadable, corrupt, or of a schema this version cannot migrate. */
  ADVISORY_DB_INVALID: { path: string; schemaVersion?: number; supported?: number };
  /** A whole advisory feed or VEX document could not be read (bad records inside one are counted and skipped). */
  FEED_INVALID: { source: string; path?: string; url?: string; format?: string };
  /** A verification policy or lint configuration file is not valid. */
  POLICY_INVALID: { path: string; field?: string };
  /** A verified SLSA provenance is not a rampart build's (verify --rebuild cannot rebuild from it). */
  PROVENANCE_INVALID: { field?: string; digest?: string };
  /** An OIDC identity token expired before Fulcio was asked (`variable` or `option`: where it was read). */
  TOKEN_EXPIRED: { expiredAt: string; variable?: string; option?: string };
  /** `signal`: the signal that cancelled (SIGTERM exits 143, as a shell reports it). */
  CANCELLED: { operation?: string; signal?: string };
}

export type RampartErrorCode = keyof ErrorDetailsByCode;

/**
 * The process exit status for each code, and with it the runtime list of codes: 2 when the user
 * fixes the invocation (command line, environment, spec), 130 for a cancellation (as for SIGINT),
 * 1 for every other failure. `satisfies` makes the compiler refuse a code missing here or one
 * that is not in ErrorDetailsByCode, so the list cannot drift from the type.
 */
const EXIT_STATUS_BY_CODE = {
  USAGE: 2,
  INVALID_ENVIRONMENT: 2,
  UNSUPPORTED_OPERATION: 2,
  INVALID_REFERENCE: 2,
  UNSUPPORTED_TRANSPORT: 2,
  SPEC_INVALID: 2,
  SOURCE_OUTSIDE_CONTEXT: 2,
  NOT_FOUND: 1,
  PERMISSION_DENIED: 1,
  READ_ONLY_FILESYSTEM: 1,
  NO_SPACE: 1,
  LOCKED: 1,
  IO: 1,
  UNKNOWN_MEDIA_TYPE: 1,
  MALFORMED_MANIFEST: 1,
  MALFORMED_LAYOUT: 1,
  MALFORMED_ARCHIVE: 1,
  DIGEST_MISMATCH: 1,
  SIZE_MISMATCH: 1,
  TOO_LARGE: 1,
  BLOB_NOT_FOUND: 1,
  MANIFEST_NOT_FOUND: 1,
  PATH_TRAVERSAL: 1,
  UNSAFE_LINK: 1,
  INVALID_LAYER_ENTRY: 1,
  UNSAFE_ENTRIES: 1,
  NETWORK: 1,
  TIMEOUT: 1,
  UNAUTHORIZED: 1,
  CONCURRENT_UPDATE: 1,
  CREDENTIALS_INVALID: 1,
  SIGNATURE_INVALID: 1,
  KEY_INVALID: 1,
  RELEASE_EXPIRED: 1,
  RELEASE_DATE_INVALID: 1,
  INDEX_MISSING: 1,
  PACKAGE_NOT_FOUND: 1,
  UNSATISFIABLE: 1,
  EXCLUDED_REQUIRED: 1,
  MALFORMED_DEB: 1,
  MALFORMED_CONTROL: 1,
  FILE_CONFLICT: 1,
  LOCK_STALE: 1,
  TOOL_FAILED: 1,
  SBOM_INVALID: 1,
  SBOM_EMPTY: 1,
  PREDICATE_INVALID: 1,
  ADVISORY_DB_INVALID: 1,
  FEED_INVALID: 1,
  POLICY_INVALID: 2,
  PROVENANCE_INVALID: 1,
  TOKEN_EXPIRED: 2,
  CANCELLED: 130,
} as const satisfies Record<RampartErrorCode, 1 | 2 | 130>;

/** Every error code, in the order of ErrorDetailsByCode. */
export const ERROR_CODES = Object.freeze(Object.keys(EXIT_STATUS_BY_CODE)) as readonly RampartErrorCode[];

/**
 * The exit status for an error: 2 for usage-type codes, 130 for CANCELLED, 1 for any other
 * failure, including values that are not RampartErrors.
 */
export function exitStatusOf(error: unknown): 1 | 2 | 130 {
  return error instanceof RampartError && isErrorCode(error.code) ? EXIT_STATUS_BY_CODE[error.code] : 1;
}
export type ErrorDetails<C extends RampartErrorCode = RampartErrorCode> = ErrorDetailsByCode[C];

export type RampartErrorOptions<C extends RampartErrorCode> = {
  cause?: unknown;
  details?: ErrorDetails<C>;
};

/** The JSON form of an error: what the CLI prints with `-o json` and what a service stores. */
export type SerializedError = {
  name: string;
  code?: string;
  message: string;
  details?: Record<string, unknown>;
  /** For a Node.js system error: the failed call and the path it was given. */
  syscall?: string;
  path?: string;
  cause?: SerializedError;
};

/** How deep a cause chain is serialised; a longer (or cyclic) chain is cut there. */
const MAX_CAUSE_DEPTH = 8;

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
    return serializeError(this);
  }

  /**
   * Rebuilds an error from its JSON form (a stored error shown again): RampartErrors for entries
   * with a known code, plain Errors (keeping a system error's code, syscall and path) otherwise.
   */
  static fromJSON(value: SerializedError, depth = 0): Error {
    // A stored chain is data from elsewhere: cut it where toJSON would have.
    const cause =
      !isPlainRecord(value.cause) || depth >= MAX_CAUSE_DEPTH
        ? undefined
        : RampartError.fromJSON(value.cause as SerializedError, depth + 1);
    if (value.name === 'RampartError' && isErrorCode(value.code)) {
      return new RampartError(value.code, value.message, {
        ...(cause !== undefined ? { cause } : {}),
        details: (isPlainRecord(value.details) ? { ...value.details } : {}) as ErrorDetails,
      });
    }
    const error: Error & { code?: string; syscall?: string; path?: string } = new Error(
      typeof value.message === 'string' ? value.message : '(no message)',
      cause !== undefined ? { cause } : undefined,
    );
    if (typeof value.name === 'string') error.name = value.name;
    if (typeof value.code === 'string') error.code = value.code;
    if (typeof value.syscall === 'string') error.syscall = value.syscall;
    if (typeof value.path === 'string') error.path = value.path;
    return error;
  }
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isErrorCode(value: unknown): value is RampartErrorCode {
  return typeof value === 'string' && Object.hasOwn(EXIT_STATUS_BY_CODE, value);
}

/** `String(value)` that cannot throw (a hostile toString, a null-prototype object). */
function describeThrown(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Reads a property of a thrown value; a throwing getter reads as undefined. */
function readSafely(value: object, key: string): unknown {
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

/** Details as JSON can hold them: a value JSON.stringify would throw on (a bigint) becomes its string. */
function jsonSafe(details: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify(details, (key, value: unknown) =>
      SECRET_KEYS.test(key) && value !== undefined
        ? '<redacted>'
        : typeof value === 'bigint'
          ? value.toString()
          : value,
    ),
  ) as Record<string, unknown>;
}

/**
 * Detail fields that can only hold a secret: whatever a throw site put there (a header map, a
 * credential-shaped object) is printed as `<redacted>`, so one careless detail cannot leak it.
 */
const SECRET_KEYS =
  /^(password|secret|token|auth|authorization|identitytoken|registrytoken|proxy-authorization)$/i;

/**
 * The JSON form of any thrown value: a RampartError's code and details, a system error's code,
 * syscall and path. It never throws, whatever was thrown: the CLI prints errors with it.
 */
export function serializeError(error: unknown, depth = 0): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: describeThrown(error) };
  const name = readSafely(error, 'name');
  const message = readSafely(error, 'message');
  const out: SerializedError = {
    name: typeof name === 'string' ? name : 'Error',
    message: typeof message === 'string' ? message : describeThrown(message),
  };
  if (error instanceof RampartError) {
    out.code = error.code;
    if (Object.keys(error.details).length > 0) {
      try {
        out.details = jsonSafe({ ...error.details });
      } catch {
        // Details that cannot be written as JSON (a cycle) are left out rather than lose the error.
      }
    }
  } else {
    const code = readSafely(error, 'code');
    const syscall = readSafely(error, 'syscall');
    const path = readSafely(error, 'path');
    if (typeof code === 'string') out.code = code;
    if (typeof syscall === 'string') out.syscall = syscall;
    if (typeof path === 'string') out.path = path;
  }
  const cause = readSafely(error, 'cause');
  if (cause !== undefined && depth < MAX_CAUSE_DEPTH) out.cause = serializeError(cause, depth + 1);
  return out;
}

export function isRampartError<C extends RampartErrorCode>(
  value: unknown,
  code?: C,
): value is RampartError<C> {
  return value instanceof RampartError && (code === undefined || value.code === code);
}

const LOCAL_FILESYSTEM_CODES: ReadonlySet<string> = new Set([
  'NOT_FOUND',
  'PERMISSION_DENIED',
  'READ_ONLY_FILESYSTEM',
  'NO_SPACE',
  'IO',
]);

/** A failure of the local filesystem (what `fromSystemError` gives): retrying a download will not help. */
export function isLocalFilesystemError(value: unknown): value is RampartError {
  return value instanceof RampartError && LOCAL_FILESYSTEM_CODES.has(value.code);
}

/** A Node.js system error (errno): it has a string `code` and the `syscall` that failed. */
export function isSystemError(
  value: unknown,
): value is NodeJS.ErrnoException & { code: string; syscall: string } {
  return (
    value instanceof Error &&
    typeof (value as NodeJS.ErrnoException).code === 'string' &&
    typeof (value as NodeJS.ErrnoException).syscall === 'string'
  );
}

/** What was being done when a system call failed, in words for a message ("write", "create the directory"). */
export type SystemErrorContext = { path?: string; operation?: string };

const OPERATION_BY_SYSCALL: Record<string, string> = {
  open: 'open',
  read: 'read',
  write: 'write',
  mkdir: 'create the directory',
  rmdir: 'remove the directory',
  unlink: 'remove',
  rename: 'rename',
  scandir: 'list',
  stat: 'read',
  lstat: 'read',
  fstat: 'read',
  fsync: 'write',
  copyfile: 'copy',
  symlink: 'create the link',
  link: 'create the link',
  chmod: 'change the mode of',
  utime: 'change the times of',
};

/**
 * Translates a Node.js system error into a RampartError the user can act on, at the edge where
 * the filesystem was touched: ENOENT/ENOTDIR are NOT_FOUND, EACCES/EPERM PERMISSION_DENIED, EROFS
 * READ_ONLY_FILESYSTEM, ENOSPC/EDQUOT NO_SPACE, any other errno IO with its errno and syscall.
 * The message names `path` (what the user asked for, not a temp file beside it) and says what to
 * do; the original error is the `cause`. A RampartError passes through unchanged; any other
 * value becomes IO.
 */
export function fromSystemError(error: unknown, context: SystemErrorContext = {}): RampartError {
  if (error instanceof RampartError) return error;
  const system = isSystemError(error) ? error : undefined;
  const path = context.path ?? system?.path;
  const operation =
    context.operation ??
    (system
      ? Object.hasOwn(OPERATION_BY_SYSCALL, system.syscall)
        ? OPERATION_BY_SYSCALL[system.syscall]
        : system.syscall
      : 'access');
  const subject = `cannot ${operation}${path !== undefined ? ` ${displayPath(path)}` : ''}`;
  const withPath = path !== undefined ? { path } : {};
  switch (system?.code) {
    case 'ENOENT':
      return new RampartError('NOT_FOUND', `${subject}: no such file or directory; check the path`, {
        cause: error,
        details: withPath,
      });
    case 'ENOTDIR':
      return new RampartError(
        'NOT_FOUND',
        `${subject}: a part of the path is a file, not a directory; check the path`,
        { cause: error, details: withPath },
      );
    case 'EACCES':
    case 'EPERM':
      return new RampartError(
        'PERMISSION_DENIED',
        `${subject}: permission denied; choose a location this user may use, or change its permissions`,
        { cause: error, details: { ...withPath, syscall: system.syscall } },
      );
    case 'EROFS':
      return new RampartError(
        'READ_ONLY_FILESYSTEM',
        `${subject}: the file system is read-only; choose a writable location`,
        { cause: error, details: withPath },
      );
    case 'ENOSPC':
    case 'EDQUOT':
      return new RampartError(
        'NO_SPACE',
        `${subject}: ${system.code === 'EDQUOT' ? 'the disk quota is exceeded' : 'no space left on the device'}; free some space (\`rampart cache prune\` frees the cache) or choose another location`,
        { cause: error, details: withPath },
      );
    default: {
      // Node's own message names the path it was given, which may be a temp file beside `path`.
      const reason = system
        ? `${systemErrorDescription(system)} (${system.code})`
        : error instanceof Error
          ? error.message
          : String(error);
      return new RampartError('IO', `${subject}: ${reason}`, {
        cause: error,
        details: {
          ...withPath,
          ...(system ? { syscall: system.syscall, errno: system.code } : {}),
        },
      });
    }
  }
}

function systemErrorDescription(error: NodeJS.ErrnoException): string {
  // Not an ESM import of node:util: that reads every lazy export (~17 more built-in modules
  // compiled at every command's start); getBuiltinModule does not.
  const known =
    typeof error.errno === 'number'
      ? process.getBuiltinModule('node:util').getSystemErrorMap().get(error.errno)?.[1]
      : undefined;
  return known ?? `${error.syscall ?? 'a system call'} failed`;
}

/** A path as a message shows it: quoted when it holds control characters (a newline, an escape sequence). */
export function displayPath(path: string): string {
  return /[\u0000-\u001f\u007f]/.test(path) ? JSON.stringify(path) : path;
}
