import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from './processes.js';
import type { RunResult } from './runc.js';

/**
 * Runs a program of an arm64 image on this amd64 host with Debian's qemu-user-static, from an
 * unpacked root (`qemu-aarch64-static -L ROOTFS`, see shared/machine-notes.md). The image is
 * picked out of the layout's index by skopeo and unpacked by umoci — neither is rampart — and
 * the program runs with the image config's environment and user (via setpriv), so what it sees
 * is what it would see under runc on an arm64 machine, minus the kernel's namespaces.
 */
export async function runArm64Image(
  layoutDir: string,
  tag: string,
  args: string[],
  opts: { timeoutMs?: number } = {},
): Promise<RunResult> {
  const work = await mkdtemp(join(tmpdir(), 'rampart-qemu-'));
  // The program runs as the image's user (65532), which must be able to reach the root.
  await chmod(work, 0o755);
  try {
    const single = join(work, 'single');
    const bundle = join(work, 'bundle');
    await must('skopeo', [
      'copy',
      '--quiet',
      '--override-arch',
      'arm64',
      `oci:${layoutDir}:${tag}`,
      `oci:${single}:arm64`,
    ]);
    await must('umoci', ['unpack', '--image', `${single}:arm64`, bundle]);
    await chmod(bundle, 0o755); // umoci makes it 0700
    const config = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as {
      process: { env?: string[]; user?: { uid: number; gid: number }; cwd?: string };
    };
    const rootfs = join(bundle, 'rootfs');
    const user = config.process.user ?? { uid: 0, gid: 0 };
    const [program, ...rest] = args;
    if (!program?.startsWith('/'))
      throw new Error(`runArm64Image needs an absolute program path, got ${program}`);
    const result = await runCommand(
      'setpriv',
      [
        `--reuid=${user.uid}`,
        `--regid=${user.gid}`,
        '--clear-groups',
        '--',
        'env',
        '-i',
        ...(config.process.env ?? []),
        'qemu-aarch64-static',
        '-L',
        rootfs,
        join(rootfs, program),
        ...rest,
      ],
      { cwd: rootfs, timeoutMs: opts.timeoutMs ?? 120_000 },
    );
    return { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function must(command: string, args: string[]): Promise<void> {
  const result = await runCommand(command, args, { timeoutMs: 300_000 });
  if (result.exitCode !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.exitCode}): ${result.stderr.trim()}`);
  }
}
