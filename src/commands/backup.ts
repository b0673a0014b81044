import { runBackup } from '../engine/backup.js';
import { backupMetrics, publishMetrics } from '../observe/metrics.js';
import { notifyWebhook } from '../observe/notify.js';
import type { SourceName } from '../config/schema.js';
import type { Schedule } from '../repository/layout.js';
import type { Manifest } from '../repository/manifest.js';
import { formatBytes, out, printJson, progressFor, type Env } from './common.js';
import { withSignals } from './signals.js';

export async function backupCommand(env: Env, opts: { schedule: Schedule; only?: SourceName[] }): Promise<number> {
  // Reporting stays inside the signal handling: a SIGTERM after the manifest is written must not skip metrics and webhook.
  const progress = progressFor(env, 'backup');
  const manifest = await withSignals(env.log, async (signal) => {
    const m = await runBackup({
      config: env.config,
      store: env.store,
      schedule: opts.schedule,
      only: opts.only,
      log: env.log,
      signal,
      progress,
      logCapture: env.logCapture,
    }).finally(() => progress.stop());
    await reportBackup(env, m);
    return m;
  });
  if (env.output === 'json') printJson(manifest);
  else {
    for (const a of manifest.artifacts) out(`${a.name}  ${formatBytes(a.size)} -> ${formatBytes(a.stored.size)} stored${a.verifiedAt ? '  verified' : ''}`);
    for (const f of manifest.failures) out(`FAILED ${f.artifact ?? f.source}: ${f.error}`);
    out(`status: ${manifest.status}`);
    out(manifest.id);
  }
  return manifest.status === 'Completed' ? 0 : 1;
}

/** Metrics and webhook for a finished backup. */
export async function reportBackup(env: Env, m: Manifest): Promise<void> {
  await publishMetrics(backupMetrics(m), env.config.metrics, env.log, { schedule: m.schedule });
  if (m.status !== 'Completed' || env.config.notify.onSuccess) {
    await notifyWebhook(
      env.config.notify.webhook,
      {
        event: 'backup',
        id: m.id,
        schedule: m.schedule,
        status: m.status,
        startedAt: m.startedAt,
        finishedAt: m.finishedAt,
        artifacts: m.artifacts.map((a) => ({ name: a.name, storedBytes: a.stored.size, verified: a.verifiedAt !== undefined })),
        failures: m.failures,
      },
      env.log,
    );
  }
}
