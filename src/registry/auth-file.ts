/**
 * Where credential files are, and reading and rewriting them. The read order is skopeo's and
 * podman's, then docker's: `REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
 * `$DOCKER_CONFIG/config.json` (or `$HOME/.docker/config.json`). Every location comes from the
 * environment passed in, never from the process's globals.
 *
 * A rewrite (login, logout) holds rampart's path lock for its read-modify-write, writes a temp
 * file created 0600 beside the real file (a symlinked config is followed, as docker does), fsyncs
 * and renames it over; a parent directory it has to create is 0700. Other keys and entries are
 * kept as parsed (numbers as their source text); the formatting becomes docker's (tab-indented).
 */
import { constants } from 'node:fs';
import { mkdir, open, realpath } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fromSystemError, RampartError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { acquirePathLock } from '../util/path-lock.js';
import { type AuthConfig, formatAuthConfig, parseAuthConfig } from './auth-config.js';

/** A credential file and why it is read (for warnings and `--help`). */
export interface AuthFileLocation {
  path: string;
  source: 'REGISTRY_AUTH_FILE' | 'containers-auth' | 'docker-config';
}

/** A credential file is a few KiB; this bounds what a hostile or broken one can make rampart read. */
export const AUTH_FILE_LIMIT = 4 * 1024 * 1024;

/** The credential files, in the order they are read. */
export function authFileLocations(env: NodeJS.ProcessEnv): AuthFileLocation[] {
  const locations: AuthFileLocation[] = [];
  if (env.REGISTRY_AUTH_FILE) locations.push({ path: env.REGISTRY_AUTH_FILE, source: 'REGISTRY_AUTH_FILE' });
  if (env.XDG_RUNTIME_DIR)
    locations.push({ path: join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'), source: 'containers-auth' });
  const docker = dockerConfigPath(env);
  if (docker) locations.push({ path: docker, source: 'docker-config' });
  return locations;
}

/** `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`; undefined without either. */
export function dockerConfigPath(env: NodeJS.ProcessEnv): string | undefined {
  if (env.DOCKER_CONFIG) return join(env.DOCKER_CONFIG, 'config.json');
  if (env.HOME) return join(env.HOME, '.docker', 'config.json');
  return undefined;
}

/** A credential file, parsed; undefined when it does not exist. */
export async function readAuthFile(path: string): Promise<AuthConfig | undefined> {
  const text = await readBounded(path);
  return text === undefined ? undefined : parseAuthConfig(text, path);
}

/**
 * Rewrites a credential file under rampart's lock: `change` gets the current content (an empty
 * config when the file is missing) and returns the new document, or undefined to leave the file
 * as it is.
 */
export async function updateAuthFile(
  path: string,
  change: (
    config: AuthConfig,
  ) => Record<string, unknown> | undefined | Promise<Record<string, unknown> | undefined>,
  options: { signal?: AbortSignal; command?: string } = {},
): Promise<void> {
  const target = await realpath(path).catch(() => path);
  const directory = dirname(target);
  await mkdir(directory, { recursive: true, mode: 0o700 }).catch((error: unknown) => {
    throw fromSystemError(error, { path: directory, operation: 'create the directory' });
  });
  const lock = await acquirePathLock(target, {
    command: options.command ?? 'rampart login',
    ...(options.signal ? { signal: options.signal } : {}),
  });
  try {
    const current = (await readAuthFile(target)) ?? parseAuthConfig('', target);
    const next = await change(current);
    if (next === undefined) return;
    await writeFileAtomic(target, formatAuthConfig(next), {
      mode: 0o600,
      operation: 'write the credentials to',
    });
  } finally {
    await lock.release();
  }
}

/** The file's text, or undefined when missing; only a regular file is read (a FIFO cannot hang it). */
async function readBounded(path: string): Promise<string | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fromSystemError(error, { path, operation: 'read' });
  }
  try {
    const info = await handle.stat();
    if (!info.isFile())
      throw new RampartError('CREDENTIALS_INVALID', `the credential file ${path} is not a regular file`, {
        details: { path },
      });
    if (info.size > AUTH_FILE_LIMIT)
      throw new RampartError(
        'TOO_LARGE',
        `the credential file ${path} is larger than ${AUTH_FILE_LIMIT} bytes; a credential file is a few KiB`,
        { details: { limit: AUTH_FILE_LIMIT, path } },
      );
    const buffer = Buffer.alloc(Number(info.size));
    let read = 0;
    while (read < buffer.length) {
      const { bytesRead } = await handle.read(buffer, read, buffer.length - read, read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    return buffer.subarray(0, read).toString('utf8');
  } catch (error) {
    throw fromSystemError(error, { path, operation: 'read' });
  } finally {
    await handle.close();
  }
}
