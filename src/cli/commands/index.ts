import type { Command } from 'commander';

/**
 * Every subcommand module exports a `register(program)` function; add it here.
 * Keeping the list in one place lets each domain own its command file.
 */
export const commandRegistrations: Array<(program: Command) => void> = [];
