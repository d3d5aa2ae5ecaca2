import type { Command } from 'commander';
import { fromSystemError, isSystemError, serializeError } from '../errors.js';
import { printable, printableText } from '../util/printable.js';

/**
 * How the CLI shows an error that ends a command: one line `error: <message>`; its JSON form
 * instead (`{"error": {...}}`, one line) when the command was given `-o json`; under `--debug`,
 * the line, then the JSON form with every detail and cause, then the stack. A raw Node.js system
 * error that got this far is translated first, so the user reads "the file system is read-only"
 * and the path, not `EROFS`.
 */
export function formatCliError(error: unknown, options: { json: boolean; debug: boolean }): string {
  const shown = isSystemError(error) ? fromSystemError(error) : error;
  // serializeError never throws, whatever was thrown: the message is read through it.
  const serialized = { error: serializeError(shown) };
  if (options.json && !options.debug) return `${JSON.stringify(serialized)}\n`;
  // Messages carry what registries and images said (a media type, a name): escaped for the terminal.
  let text = `error: ${printable(serialized.error.message.split('\n')[0] ?? '')}\n`;
  if (options.debug) {
    text += `${printableText(JSON.stringify(serialized, null, 2))}\n`;
    const stack = shown instanceof Error ? (serializeStack(shown) ?? '') : '';
    if (stack) text += `${printableText(stack)}\n`;
  }
  return text;
}

/** Whether the command's `-o` option asked for JSON (`-o json`; for `sbom`, one of its `-o`s). */
export function jsonRequested(command: Command | undefined): boolean {
  const option = command?.options.find((o) => o.short === '-o');
  if (!command || !option) return false;
  const value: unknown = command.opts()[option.attributeName()];
  return value === 'json' || (Array.isArray(value) && value.includes('json'));
}

function serializeStack(error: Error): string | undefined {
  try {
    return typeof error.stack === 'string' ? error.stack : undefined;
  } catch {
    return undefined;
  }
}
