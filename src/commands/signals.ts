import type { Logger } from '../util/log.js';

/**
 * Runs work with an AbortSignal that SIGTERM/SIGINT abort, so locks are released and uploads aborted
 * on the way out. A second signal exits at once.
 */
export async function withSignals<T>(log: Logger, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) {
      log.error({ signal: sig }, 'second signal: exiting now');
      process.exit(130);
    }
    log.warn({ signal: sig }, 'signal received: aborting, cleaning up');
    ac.abort(new Error(`received ${sig}`));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    return await work(ac.signal);
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
