import { listBackups } from '../repository/catalog.js';
import { backupSchedule, backupSchedules } from '../config/schedules.js';
import { loadSigningKey, loadSigningPublicKeys } from '../config/signing.js';
import { prune } from '../repository/prune.js';
import { runBackup } from '../engine/backup.js';
import type { Manifest } from '../repository/manifest.js';
import { Scheduler, type BackupScheduleName, type DrillJobResult } from '../schedule/index.js';
import { errorMessage } from '../util/errors.js';
import type { Env } from './common.js';
import { reportBackup } from './backup.js';
import { pruneWalCommand } from './pitr.js';

export interface ScheduleCommandOptions {
  /**
   * Accept six-field cron expressions (seconds first) — for tests and demos only. Default: the environment
   * variable GUSHEN_DR_SCHEDULE_SECONDS=1. Production schedules have five fields, like a CronJob's.
   */
  allowSeconds?: boolean;
  /** Overrides schedules.listen (`host:port`). */
  listen?: string;
  /** Runs one drill; the scheduler passes the shutdown signal. Needed when schedules.drill is set. */
  drill?: (env: Env, signal: AbortSignal) => Promise<DrillJobResult>;
  /** Prune after each Completed backup (default true), like the CronJobs do. */
  prune?: boolean;
}

/**
 * `gushen-dr schedule`: runs until SIGTERM/SIGINT, then stops scheduling, aborts a running job, waits for
 * its cleanup (lock released, a Failed manifest written), closes the HTTP server and exits 0.
 * A second signal exits at once (130).
 */
export async function scheduleCommand(env: Env, opts: ScheduleCommandOptions = {}): Promise<number> {
  const { config, store, log } = env;
  const allowSeconds = opts.allowSeconds ?? ['1', 'true', 'yes'].includes((process.env.GUSHEN_DR_SCHEDULE_SECONDS ?? '').toLowerCase());
  const shouldPrune = opts.prune ?? true;
  // A bad signing key or public key file is bad configuration: refused now (exit 2), not at the first backup.
  await Promise.all([loadSigningKey(config), loadSigningPublicKeys(config)]);

  const backup = async (schedule: BackupScheduleName, signal: AbortSignal): Promise<Manifest> => {
    const jobLog = log.child({ job: schedule });
    // A schedule's `only` narrows its backups (an hourly PostgreSQL-only schedule, say).
    const manifest = await runBackup({ config, store, schedule, only: backupSchedule(config, schedule).only, log: jobLog, signal });
    await reportBackup({ ...env, log: jobLog }, manifest);
    if (manifest.status === 'Completed' && shouldPrune && !signal.aborted) {
      try {
        const r = await prune({ store, config, log: jobLog });
        if (r.deleted.length > 0 || r.errors.length > 0) jobLog.info({ deleted: r.deleted.length, errors: r.errors.length }, 'retention applied');
        // Archived WAL (PITR) that no retained base backup needs, as `gushen-dr prune` does.
        if (!r.aborted) await pruneWalCommand({ ...env, log: jobLog }, false);
      } catch (err) {
        jobLog.error({ err: errorMessage(err) }, 'retention (prune) failed; the backup itself is Completed');
      }
    }
    return manifest;
  };
  const drill = opts.drill;
  // Every named backup schedule that has a cron (one without is run from elsewhere: `backup --schedule <name>`).
  const cronBySchedule = Object.fromEntries(backupSchedules(config).flatMap((s) => (s.cron ? [[s.name, s.cron]] : [])));

  const scheduler = await Scheduler.start({
    schedules: { ...cronBySchedule, drill: config.schedules.drill, timeZone: config.schedules.timeZone, listen: opts.listen ?? config.schedules.listen },
    jobs: { backup, drill: drill ? (signal) => drill(env, signal) : undefined },
    log,
    allowSeconds,
    lastCompleted: await newestCompleted(env, Object.keys(cronBySchedule)),
  });

  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals += 1;
      if (signals > 1) {
        log.error({ signal: sig }, 'second signal: exiting now');
        process.exit(130);
      }
      log.warn({ signal: sig }, 'signal received: stopping the scheduler');
      scheduler.stop(`received ${sig}`).then(
        () => {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          resolve();
        },
        (err: unknown) => {
          log.error({ err: errorMessage(err) }, 'error while stopping');
          resolve();
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  return 0;
}

/** Newest Completed manifest per schedule, so /metrics shows the last success from the start. */
async function newestCompleted(env: Env, schedules: readonly BackupScheduleName[]): Promise<Partial<Record<BackupScheduleName, Manifest>>> {
  const out: Partial<Record<BackupScheduleName, Manifest>> = {};
  try {
    for (const e of await listBackups(env.store, { publicKeys: await loadSigningPublicKeys(env.config) })) {
      if (e.status === 'Completed' && e.manifest && schedules.includes(e.schedule)) out[e.schedule] = e.manifest;
    }
  } catch (err) {
    env.log.warn({ err: errorMessage(err) }, 'could not read the catalog; last-success metrics start empty');
  }
  return out;
}
