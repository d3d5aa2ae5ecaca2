import { RampartError } from '../errors.js';

/**
 * Commands users expect from cosign, grype and crane that rampart does not have yet, and the
 * roadmap issue that brings each, so `rampart sign` says what is coming instead of `unknown command`.
 */
const COMING: Record<string, string> = {
  push: 'the registry transport issue (docker://: pull, push and copy images with their signatures, attestations and referrers)',
  pull: 'the registry transport issue (docker://: pull, push and copy images with their signatures, attestations and referrers)',
};

/** The error for a command on the roadmap, or undefined for any other name. */
export function comingLater(command: string | undefined): RampartError | undefined {
  if (command === undefined || !Object.hasOwn(COMING, command)) return undefined;
  return new RampartError(
    'UNSUPPORTED_OPERATION',
    `'rampart ${command}' is not available yet: it comes with ${COMING[command]}; see 'rampart --help' for what exists today`,
    { details: { operation: command } },
  );
}
