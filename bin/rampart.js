#!/usr/bin/env node
// Checked before anything is loaded, so an old Node gets one line instead of a missing-export stack.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 15)) {
  process.stderr.write(
    `error: rampart needs Node.js >= 22.15 (this is ${process.version}); Node 24 LTS is recommended\n`,
  );
  process.exit(2);
}

// `rampart ... | head` closes the pipe early; that is not an error worth a stack trace.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv);
