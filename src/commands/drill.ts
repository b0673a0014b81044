import { loadIdentities } from '../config/keys.js';
import { runDrill } from '../engine/drill/run.js';
import { drillMetrics, fmtSeconds, listReports, reportMarkdown, type DrillReport } from '../engine/drill/report.js';
import type { DrillJobResult } from '../schedule/index.js';
import { publishMetrics, runMetrics } from '../observe/metrics.js';
import { notifyWebhook } from '../observe/notify.js';
import { out, printJson, progressFor, table, type Env } from './common.js';
import { withSignals } from './signals.js';
import { loadSigningPublicKeys } from '../config/signing.js';

export interface DrillFlags {
  backup: string;
  keep?: boolean;
  keepOnFailure?: boolean;
  list?: boolean;
  identity?: string;
  namespace?: string;
}

/** One drill with its metrics and webhook: what `drill` and the scheduler both run. */
export async function drillAndReport(env: Env, signal: AbortSignal, f: Partial<DrillFlags> = {}): Promise<DrillReport> {
  const identities = await loadIdentities(env.config, f.identity);
  const publicKeys = await loadSigningPublicKeys(env.config);
  const progress = progressFor(env, 'drill');
  const report = await runDrill({
    store: env.store,
    config: env.config,
    log: env.log,
    identities,
    publicKeys,
    backup: f.backup ?? 'latest',
    keep: f.keep,
    keepOnFailure: f.keepOnFailure,
    namespace: f.namespace,
    signal,
    progress,
  }).finally(() => progress.stop());
  await publishMetrics(drillRunMetrics(report), env.config.metrics, env.log, { schedule: 'drill' });
  if (report.status !== 'Passed' || env.config.notify.onSuccess) {
    await notifyWebhook(
      env.config.notify.webhook,
      { event: 'drill', id: report.id, backup: report.backup, status: report.status, rpoSeconds: report.rpoSeconds, rtoSeconds: report.rtoSeconds, failure: report.failure },
      env.log,
    );
  }
  return report;
}

/** The drill's own gauges and the metrics every command run reports (attempts, failures, last success: source "all"). */
function drillRunMetrics(r: DrillReport) {
  const run = { command: 'drill' as const, schedule: 'drill', sources: ['all'], failedSources: r.status === 'Passed' ? [] : ['all'], startedAt: r.startedAt, finishedAt: r.finishedAt };
  return runMetrics(run, r.id, drillMetrics(r));
}

/** The scheduler's drill job. */
export async function scheduledDrill(env: Env, signal: AbortSignal): Promise<DrillJobResult> {
  const r = await drillAndReport(env, signal);
  return {
    passed: r.status === 'Passed',
    id: r.id,
    metrics: drillRunMetrics(r),
    summary: r.status === 'Passed' ? `RTO ${fmtSeconds(r.rtoSeconds)}, RPO ${fmtSeconds(r.rpoSeconds)}` : `failed in ${r.failure?.phase}: ${r.failure?.error ?? ''}`.slice(0, 200),
  };
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
  const report = await withSignals(env.log, (signal) => drillAndReport(env, signal, f));
  if (env.output === 'json') printJson(report);
  else out(reportMarkdown(report));
  return report.status === 'Passed' ? 0 : 1;
}
