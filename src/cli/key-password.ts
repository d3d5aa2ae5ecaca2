import { RampartError } from '../errors.js';

/**
 * The password of a private key: `RAMPART_PASSWORD`, else `COSIGN_PASSWORD` (cosign's, so scripts
 * keep working), else asked on the terminal (twice when a key is written). Never printed.
 */
export async function keyPassword(
  purpose: 'read' | 'write',
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const fromEnv = passwordFromEnvironment(env);
  if (fromEnv !== undefined) return fromEnv;
  if (!process.stdin.isTTY) {
    throw new RampartError(
      'USAGE',
      'the private key password is not set: export RAMPART_PASSWORD (or COSIGN_PASSWORD), or run on a terminal to be asked',
      { details: { option: 'RAMPART_PASSWORD' } },
    );
  }
  // Loaded only to ask: node:readline is not part of every signing command's start.
  const { promptHidden } = await import('./prompt.js');
  const first = await promptHidden('Enter password for private key: ');
  if (purpose === 'read') return first;
  const again = await promptHidden('Enter password for private key again: ');
  if (first !== again) {
    throw new RampartError('USAGE', 'the two passwords differ; nothing was written', {
      details: { option: 'password' },
    });
  }
  return first;
}

/** The private key password the environment sets (RAMPART_PASSWORD, else COSIGN_PASSWORD), if any. */
export function passwordFromEnvironment(env: NodeJS.ProcessEnv): string | undefined {
  return env.RAMPART_PASSWORD ?? env.COSIGN_PASSWORD;
}
