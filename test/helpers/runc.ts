import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from './processes.js';

/**
 * Runs an image from an OCI layout directory: `umoci unpack` into a fresh bundle, then
 * `runc run` with stdin from /dev/null. Each run gets its own runc state root and container id,
 * and the container, state and bundle are deleted afterwards whatever happened.
 */
export interface RunOptions {
  /** replaces process.args (entrypoint + cmd) */
  args?: string[];
  /** replaces process.env */
  env?: string[];
  user?: { uid: number; gid: number };
  /** default 60 s; on timeout the container is killed and exitCode is 137 */
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export async function runOciImage(layoutDir: string, tag: string, opts: RunOptions = {}): Promise<RunResult> {
  const work = await mkdtemp(join(tmpdir(), 'rampart-runc-'));
  const bundle = join(work, 'bundle');
  const stateRoot = join(work, 'state');
  const id = `rampart-test-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const unpack = await runCommand('umoci', ['unpack', '--image', `${layoutDir}:${tag}`, bundle], {
      timeoutMs: 120_000,
    });
    if (unpack.exitCode !== 0) {
      throw new Error(
        `umoci unpack ${layoutDir}:${tag} failed (${unpack.exitCode}): ${unpack.stderr.trim()}`,
      );
    }
    await adjustRuntimeConfig(join(bundle, 'config.json'), opts);
    const run = await runCommand('runc', ['--root', stateRoot, 'run', '-b', bundle, id], {
      timeoutMs: opts.timeoutMs ?? 60_000,
    });
    return { stdout: run.stdout, stderr: run.stderr, exitCode: run.exitCode };
  } finally {
    // runc may be gone (timeout) while the container lives on: delete -f kills and removes it.
    await runCommand('runc', ['--root', stateRoot, 'delete', '-f', id], { timeoutMs: 30_000 }).catch(
      () => undefined,
    );
    await rm(work, { recursive: true, force: true });
  }
}

interface RuntimeConfig {
  process: { terminal?: boolean; args?: string[]; env?: string[]; user?: { uid: number; gid: number } };
}

async function adjustRuntimeConfig(path: string, opts: RunOptions): Promise<void> {
  const config = JSON.parse(await readFile(path, 'utf8')) as RuntimeConfig;
  // No TTY here: runc would wait for a console socket.
  config.process.terminal = false;
  if (opts.args) config.process.args = opts.args;
  if (opts.env) config.process.env = opts.env;
  if (opts.user) config.process.user = { ...config.process.user, uid: opts.user.uid, gid: opts.user.gid };
  await writeFile(path, JSON.stringify(config, null, 2));
}
