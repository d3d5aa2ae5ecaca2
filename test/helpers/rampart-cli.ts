/**
 * The CLI as a child process without a build: `node --import tsx test/helpers/rampart-cli.ts ARGS`
 * runs the same `main` as bin/rampart.js, from the TypeScript sources.
 */
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv);
