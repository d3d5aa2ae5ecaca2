import { RampartError } from '../errors.js';

/**
 * Terminal input for secrets: a question answered with echo (a username), one answered without
 * (a password: raw mode, nothing written back but the final newline), and a secret read whole
 * from a pipe (`--password-stdin`). Only `cli/` reads the terminal; library functions take values.
 */

/** The longest secret read from stdin; a password or token is far shorter. */
const STDIN_LIMIT = 64 * 1024;

/** Reads all of `input` (a pipe), without its final newline (`\n` or `\r\n`), as docker does. */
export async function readSecretFromStdin(input: NodeJS.ReadableStream, option: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (size > STDIN_LIMIT)
      throw new RampartError(
        'USAGE',
        `${option}: stdin holds more than ${STDIN_LIMIT} bytes; give only the password`,
        {
          details: { option },
        },
      );
    chunks.push(buffer);
  }
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Asks a question on stderr and reads the answer from the terminal, echoed. */
export async function promptVisible(question: string): Promise<string> {
  // Loaded when a prompt is shown: every registry command imports this module, few prompt.
  const rl = process
    .getBuiltinModule('node:readline/promises')
    .createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}

/** Asks on stderr and reads a line from the terminal with echo off; Ctrl-C cancels. */
export async function promptHidden(question: string): Promise<string> {
  const input = process.stdin;
  process.stderr.write(question);
  input.setRawMode(true);
  input.resume();
  input.setEncoding('utf8');
  let detach = (): void => undefined;
  try {
    return await new Promise<string>((resolve, reject) => {
      let answer = '';
      const onData = (text: string) => {
        for (const char of text) {
          if (char === '\r' || char === '\n' || char === '\u0004') {
            input.off('data', onData);
            resolve(answer);
            return;
          }
          if (char === '\u0003') {
            input.off('data', onData);
            reject(
              new RampartError('CANCELLED', 'the password prompt was cancelled', {
                details: { operation: 'login', signal: 'SIGINT' },
              }),
            );
            return;
          }
          if (char === '\u007f' || char === '\b') answer = answer.slice(0, -1);
          else answer += char;
        }
      };
      // The terminal closed (or stdin was not one after all): what was typed is the answer.
      const onEnd = () => resolve(answer);
      // Both listeners go however the prompt ends: `key generate` asks twice on the same stdin.
      detach = () => {
        input.off('data', onData);
        input.off('end', onEnd);
      };
      input.on('data', onData);
      input.once('end', onEnd);
    });
  } finally {
    detach();
    input.setRawMode(false);
    input.pause();
    process.stderr.write('\n');
  }
}
