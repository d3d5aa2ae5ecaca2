import { describe, expect, it } from 'vitest';
import { commandModules } from '../../../src/cli/commands/index.js';
import { createProgram, main } from '../../../src/cli/main.js';

/** Runs the CLI in-process and returns what it wrote to stdout, and its exit code. */
async function runCli(args: string[]): Promise<{ stdout: string; code: number }> {
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  }) as typeof process.stdout.write;
  try {
    const code = await main(['node', 'rampart', ...args]);
    return { stdout: chunks.join(''), code };
  } finally {
    process.stdout.write = write;
  }
}

describe('--help teaches every command', async () => {
  const program = await createProgram();
  // Every leaf command path, e.g. ['inspect'], ['apt', 'resolve'].
  const paths: string[][] = [];
  for (const command of program.commands) {
    if (command.commands.length === 0) paths.push([command.name()]);
    for (const sub of command.commands) paths.push([command.name(), sub.name()]);
  }

  it('registers every command module', () => {
    expect(program.commands.map((c) => c.name()).sort()).toEqual(Object.keys(commandModules).sort());
  });

  it.each(paths.map((p) => [p.join(' '), p]))(
    'rampart %s --help shows an example of itself',
    async (_, path) => {
      const { stdout, code } = await runCli([...(path as string[]), '--help']);
      expect(code).toBe(0);
      expect(stdout).toContain(`Usage: rampart ${(path as string[]).join(' ')}`);
      expect(stdout).toMatch(new RegExp(`\\$ rampart ${(path as string[])[0]}\\b`));
    },
  );

  it('rampart --help lists the commands with examples', async () => {
    const { stdout, code } = await runCli(['--help']);
    expect(code).toBe(0);
    for (const name of Object.keys(commandModules)) expect(stdout).toContain(`  ${name}`);
    expect(stdout).toContain('$ rampart ');
  });
});
