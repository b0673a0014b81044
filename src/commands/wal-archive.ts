import { startStatusServer } from '../schedule/server.js';
import { WalArchiver } from '../sources/postgres/pitr/archiver.js';
import { UsageError, errorMessage } from '../util/errors.js';
import type { Env } from './common.js';

export interface WalArchiveFlags {
  slot?: string;
  /** false with --no-create-slot: a missing slot is an error instead of being created. */
  createSlot?: boolean;
  /** Overrides sources.postgres.pitr.listen. */
  listen?: string;
}

/**
 * `gushen-dr wal-archive`: streams WAL into the store until SIGTERM/SIGINT, then stops pg_receivewal, stores
 * what it wrote (the partial segment too) and exits 0. Serves /healthz and /metrics meanwhile. A second signal
 * exits at once (130).
 */
export async function walArchiveCommand(env: Env, f: WalArchiveFlags): Promise<number> {
  const pitr = env.config.sources.postgres?.pitr;
  if (!pitr?.enabled) throw new UsageError('wal-archive needs sources.postgres.pitr.enabled: true in the config');
  const ac = new AbortController();
  const archiver = new WalArchiver({ config: env.config, store: env.store, log: env.log, slot: f.slot, createSlot: f.createSlot, signal: ac.signal });
  const listen = f.listen ?? pitr.listen;
  const server = await startStatusServer(
    listen,
    {
      health: () => archiver.health(),
      metrics: async () => ({ contentType: archiver.registry.contentType, body: await archiver.registry.metrics() }),
    },
    env.log,
  ).catch((err: unknown) => {
    throw err instanceof UsageError ? new UsageError(errorMessage(err).replace('schedules.listen', 'sources.postgres.pitr.listen (--listen)')) : err;
  });
  env.log.info({ listen: server.address }, 'serving /healthz and /metrics');
  const onSignal = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) {
      env.log.error({ signal: sig }, 'second signal: exiting now');
      process.exit(130);
    }
    env.log.warn({ signal: sig }, 'signal received: stopping pg_receivewal and storing what it wrote');
    ac.abort(new Error(`received ${sig}`));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await archiver.run();
    return 0;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await server.close();
  }
}
