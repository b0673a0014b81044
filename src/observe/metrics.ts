import { writeFile, rename } from 'node:fs/promises';
import { Gauge, Pushgateway, Registry } from 'prom-client';
import type { Manifest } from '../repository/manifest.js';
import type { Logger } from '../util/log.js';

const STATUS_VALUE: Record<Manifest['status'], number> = { Completed: 1, PartiallyFailed: 0.5, Failed: 0 };

/** The backup metrics of one run, in a registry of their own. */
export function backupMetrics(m: Manifest, registry = new Registry()): Registry {
  const labels = ['schedule'];
  const duration = new Gauge({ name: 'gushen_dr_backup_duration_seconds', help: 'Duration of the last backup', labelNames: labels, registers: [registry] });
  const size = new Gauge({ name: 'gushen_dr_backup_size_bytes', help: 'Stored size of the last backup per artifact', labelNames: ['schedule', 'artifact'], registers: [registry] });
  const status = new Gauge({ name: 'gushen_dr_backup_status', help: 'Last backup status: 1 Completed, 0.5 PartiallyFailed, 0 Failed', labelNames: labels, registers: [registry] });
  const failures = new Gauge({ name: 'gushen_dr_backup_failures', help: 'Failed artifacts or sources in the last backup', labelNames: ['schedule', 'source'], registers: [registry] });
  const s = { schedule: m.schedule };
  // Registered only on success: an empty family pushed to a Pushgateway could replace the previous success.
  if (m.status === 'Completed') {
    new Gauge({ name: 'gushen_dr_backup_last_success_timestamp_seconds', help: 'Finish time of the last Completed backup', labelNames: labels, registers: [registry] }).set(
      s,
      Date.parse(m.finishedAt) / 1000,
    );
  }
  duration.set(s, (Date.parse(m.finishedAt) - Date.parse(m.startedAt)) / 1000);
  status.set(s, STATUS_VALUE[m.status]);
  for (const a of m.artifacts) size.set({ schedule: m.schedule, artifact: a.name }, a.stored.size);
  for (const src of ['kube', 'postgres', 'redis'] as const) {
    failures.set({ schedule: m.schedule, source: src }, m.failures.filter((f) => f.source === src).length);
  }
  return registry;
}

/**
 * Publishes a run's metrics where configured: a Pushgateway (CronJobs are short-lived) and/or a textfile
 * for node_exporter. Publishing problems are logged, never fatal: the backup itself is what matters.
 */
export async function publishMetrics(
  registry: Registry,
  cfg: { pushgateway?: string; textfile?: string; job: string },
  log: Logger,
  grouping: Record<string, string> = {},
): Promise<void> {
  if (cfg.textfile) {
    try {
      const tmp = `${cfg.textfile}.tmp-${process.pid}`;
      await writeFile(tmp, await registry.metrics());
      await rename(tmp, cfg.textfile);
    } catch (err) {
      log.error({ file: cfg.textfile, err: (err as Error).message }, 'could not write the metrics textfile');
    }
  }
  if (cfg.pushgateway) {
    try {
      await new Pushgateway(cfg.pushgateway, {}, registry).pushAdd({ jobName: cfg.job, groupings: grouping });
    } catch (err) {
      log.error({ err: (err as Error).message }, 'could not push metrics to the Pushgateway');
    }
  }
}
