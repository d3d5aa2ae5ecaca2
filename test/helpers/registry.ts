import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, spawnTracked, stopProcess, type TrackedProcess, waitUntil } from './processes.js';

/**
 * A throwaway OCI registry (CNCF distribution's `docker-registry`) on 127.0.0.1 with its own
 * storage directory. It has no referrers API; see /work/shared/machine-notes.md.
 */
export interface TestRegistry {
  /** http://127.0.0.1:PORT (https:// with `tls`) */
  url: string;
  /** 127.0.0.1:PORT, for image references */
  host: string;
  storageDir: string;
  pid: number;
  /** stops the registry by PID and deletes its storage */
  stop(): Promise<void>;
}

/** How the registry is secured (see `test/helpers/registry-auth.ts` for making the files). */
export interface RegistryOptions {
  /** Serve https with this certificate and key (PEM files). */
  tls?: { certificate: string; key: string };
  /** Basic auth from an htpasswd file (bcrypt entries). */
  htpasswd?: string;
  /** Token auth (distribution's `auth.token`): JWTs signed by a certificate in `rootCertBundle`. */
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
}

const START_ATTEMPTS = 3;
const START_TIMEOUT_MS = 15_000;

export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  let lastError: unknown;
  // The free port may be taken between probing and binding; a fresh port usually fixes that.
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    try {
      return await startRegistryOnce(options);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function startRegistryOnce(options: RegistryOptions): Promise<TestRegistry> {
  const base = await mkdtemp(join(tmpdir(), 'rampart-registry-'));
  const storageDir = join(base, 'storage');
  await mkdir(storageDir);
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const configPath = join(base, 'config.yml');
  await writeFile(configPath, registryConfig(storageDir, host, options));
  let registry: TrackedProcess;
  try {
    registry = spawnTracked('docker-registry', ['serve', configPath]);
  } catch (error) {
    await rm(base, { recursive: true, force: true });
    throw error;
  }
  const url = `${options.tls ? 'https' : 'http'}://${host}`;
  try {
    await waitUntil(
      async () => {
        if (registry.child.exitCode !== null) {
          throw new Error(`docker-registry exited early: ${registry.output().stderr.trim()}`);
        }
        if (options.tls || options.htpasswd || options.token) return await listening(port);
        return (await fetch(`${url}/v2/`).catch(() => undefined))?.status === 200;
      },
      START_TIMEOUT_MS,
      `docker-registry on ${host}`,
    );
  } catch (error) {
    await stopAndClean(registry, base);
    throw error;
  }
  return { url, host, storageDir, pid: registry.pid, stop: () => stopAndClean(registry, base) };
}

async function stopAndClean(registry: TrackedProcess, base: string): Promise<void> {
  await stopProcess(registry);
  await rm(base, { recursive: true, force: true });
}

/** Whether the port accepts connections (with TLS or auth, `/v2/` alone says nothing). */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function registryConfig(storageDir: string, host: string, options: RegistryOptions): string {
  const tls = options.tls
    ? `  tls:
    certificate: ${options.tls.certificate}
    key: ${options.tls.key}
`
    : '';
  const auth = options.htpasswd
    ? `auth:
  htpasswd:
    realm: rampart-test
    path: ${options.htpasswd}
`
    : options.token
      ? `auth:
  token:
    realm: ${options.token.realm}
    service: ${options.token.service}
    issuer: ${options.token.issuer}
    rootcertbundle: ${options.token.rootCertBundle}
`
      : '';
  return `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${storageDir}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
${auth}http:
  addr: ${host}
${tls}`;
}
