import { isRampartError, RampartError } from '../errors.js';

/**
 * Runs a long command with SIGINT/SIGTERM turned into an abort of `signal`, so the work drops its
 * staging; the CANCELLED error names the signal, and the exit status is 130 or 143. A second signal
 * exits at once.
 */
export async function withInterrupt<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const stop = (signal: NodeJS.Signals) => {
    if (received) process.exit(signal === 'SIGINT' ? 130 : 143);
    received = signal;
    controller.abort(new Error(`received ${signal}`));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    return await run(controller.signal);
  } catch (error) {
    if (received && isRampartError(error, 'CANCELLED')) {
      throw new RampartError('CANCELLED', `${error.message} (${received})`, {
        cause: error,
        details: { ...error.details, signal: received },
      });
    }
    throw error;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
