import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, spawnTracked, stopProcess, type TrackedProcess, waitUntil } from './processes.js';

/**
 * A throwaway OCI registry (CNCF distribution's `docker-registry`) on 127.0.0.1 with its own
 * storage directory. It has no referrers API; see /work/shared/machine-notes.md.
 */
export interface TestRegistry {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT, for image references */
  host: string;
  storageDir: string;
  pid: number;
  /** stops the registry by PID and deletes its storage */
  stop(): Promise<void>;
}

const START_ATTEMPTS = 3;
const START_TIMEOUT_MS = 15_000;

export interface RegistryStartOptions {
  /** `storage.delete.enabled` (default true); false makes DELETE answer 405 UNSUPPORTED. */
  deleteEnabled?: boolean;
}

export async function startRegistry(options: RegistryStartOptions = {}): Promise<TestRegistry> {
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

async function startRegistryOnce(options: RegistryStartOptions): Promise<TestRegistry> {
  const base = await mkdtemp(join(tmpdir(), 'rampart-registry-'));
  const storageDir = join(base, 'storage');
  await mkdir(storageDir);
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const configPath = join(base, 'config.yml');
  await writeFile(configPath, registryConfig(storageDir, host, options.deleteEnabled ?? true));
  let registry: TrackedProcess;
  try {
    registry = spawnTracked('docker-registry', ['serve', configPath]);
  } catch (error) {
    await rm(base, { recursive: true, force: true });
    throw error;
  }
  const url = `http://${host}`;
  try {
    await waitUntil(
      async () => {
        if (registry.child.exitCode !== null) {
          throw new Error(`docker-registry exited early: ${registry.output().stderr.trim()}`);
        }
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

function registryConfig(storageDir: string, host: string, deleteEnabled: boolean): string {
  return `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${storageDir}
  delete:
    enabled: ${deleteEnabled}
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: ${host}
`;
}
