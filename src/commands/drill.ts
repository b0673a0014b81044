import { loadIdentities } from '../config/keys.js';
import { runDrill } from '../drill/run.js';
import { drillMetrics, fmtSeconds, listReports, reportMarkdown } from '../drill/report.js';
import { publishMetrics } from '../observe/metrics.js';
import { notifyWebhook } from '../observe/notify.js';
import { out, printJson, table, type Env } from './common.js';
import { withSignals } from './signals.js';

export interface DrillFlags {
  backup: string;
  keep?: boolean;
  keepOnFailure?: boolean;
  list?: boolean;
  identity?: string;
  namespace?: string;
}

export async function drillCommand(env: Env, f: DrillFlags): Promise<number> {
  if (f.list) {
    const reports = await listReports(env.store);
    if (env.output === 'json') printJson(reports);
    else if (reports.length === 0) out('no drill reports');
    else
      out(
        table(
          ['DRILL', 'BACKUP', 'STATUS', 'RPO', 'RTO', 'FAILED PHASE'],
          reports.map((r) => [r.id, r.backup ?? '-', r.status, fmtSeconds(r.rpoSeconds), fmtSeconds(r.rtoSeconds), r.failure?.phase ?? '']),
        ),
      );
    return 0;
  }
  const identities = await loadIdentities(env.config, f.identity);
  const report = await withSignals(env.log, (signal) =>
    runDrill({
      store: env.store,
      config: env.config,
      log: env.log,
      identities,
      backup: f.backup,
      keep: f.keep,
      keepOnFailure: f.keepOnFailure,
      namespace: f.namespace,
      signal,
    }),
  );
  await publishMetrics(drillMetrics(report), env.config.metrics, env.log, { schedule: 'drill' });
  if (report.status !== 'Passed' || env.config.notify.onSuccess) {
    await notifyWebhook(
      env.config.notify.webhook,
      { event: 'drill', id: report.id, backup: report.backup, status: report.status, rpoSeconds: report.rpoSeconds, rtoSeconds: report.rtoSeconds, failure: report.failure },
      env.log,
    );
  }
  if (env.output === 'json') printJson(report);
  else out(reportMarkdown(report));
  return report.status === 'Passed' ? 0 : 1;
}
