import { readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { Counter, Gauge, Histogram, Pushgateway, Registry } from 'prom-client';
import type { Manifest } from '../repository/manifest.js';
import type { Logger } from '../util/log.js';
import { TOOL_VERSION } from '../version.js';

const BACKUP_STATUSES: readonly Manifest['status'][] = ['Completed', 'PartiallyFailed', 'Failed'];

/** Run durations, in seconds: a backup takes minutes, a drill of a large database an hour or more. */
const DURATION_BUCKETS = [30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400];

/** One run of a command, as the metrics see it. */
export interface RunOutcome {
  command: 'backup' | 'drill';
  /** The backup schedule (`nightly`, `manual`, ...) or `drill`. */
  schedule: string;
  /** Every source the run covered, and those of them it left without a good copy. */
  sources: readonly string[];
  failedSources: readonly string[];
  startedAt: string;
  finishedAt: string;
}

/**
 * What a process has counted and last seen, per series: counters keep growing from run to run (in `gushen-dr schedule`
 * in memory; a one-shot CronJob adds what its Pushgateway group or textfile said before, once: carryOver), and a
 * source's last success stays reported after a run in which it failed.
 */
const totals = new Map<string, number>();
const lastSuccess = new Map<string, number>();
const keyOf = (name: string, labels: Record<string, string>) => `${name}${JSON.stringify(Object.entries(labels).sort())}`;

function bump(name: string, labels: Record<string, string>, by: number): void {
  const k = keyOf(name, labels);
  totals.set(k, (totals.get(k) ?? 0) + by);
}

/** Counts a run into this process's totals and last successes (once per run: a manifest id, a drill id). */
const recorded = new Set<string>();
function recordRun(run: RunOutcome, id: string): void {
  if (recorded.has(id)) return;
  recorded.add(id);
  const base = { command: run.command, schedule: run.schedule };
  for (const source of run.sources) {
    bump('gushen_dr_attempts_total', { ...base, source }, 1);
    bump('gushen_dr_failures_total', { ...base, source }, run.failedSources.includes(source) ? 1 : 0);
    const k = keyOf('last_success', { ...base, source });
    if (!run.failedSources.includes(source)) lastSuccess.set(k, Math.max(lastSuccess.get(k) ?? 0, Date.parse(run.finishedAt) / 1000));
    else if (!lastSuccess.has(k)) lastSuccess.set(k, 0);
  }
}

/** The run a registry describes, so that publishMetrics can re-render it with carried-over values. */
const runs = new WeakMap<Registry, RunOutcome>();
const RUN_METRICS = ['gushen_dr_attempts_total', 'gushen_dr_failures_total', 'gushen_dr_last_success_timestamp_seconds', 'gushen_dr_last_attempt_timestamp_seconds', 'gushen_dr_run_duration_seconds', 'gushen_dr_build_info'];

/**
 * The metrics every command run reports, added to `registry`: `gushen_dr_attempts_total` and
 * `gushen_dr_failures_total` per command, schedule and source (counters: they keep growing from run to run); the last
 * success per source (`gushen_dr_last_success_timestamp_seconds`: 0 while a source never had one, so an alert on its
 * age fires; kept for a source that failed this time); the last attempt; the run's duration (histogram); and
 * `gushen_dr_build_info`. `id` names the run (counted once however often it is rendered).
 */
export function runMetrics(run: RunOutcome, id: string, registry = new Registry()): Registry {
  recordRun(run, id);
  renderRun(run, registry);
  runs.set(registry, run);
  return registry;
}

function renderRun(run: RunOutcome, registry: Registry): void {
  const base = { command: run.command, schedule: run.schedule };
  const labelNames = ['command', 'schedule', 'source'];
  const attempts = new Counter({ name: 'gushen_dr_attempts_total', help: 'Runs of a command per source (a backup counts once for each source it covers)', labelNames, registers: [registry] });
  const failures = new Counter({ name: 'gushen_dr_failures_total', help: 'Runs of a command that left a source without a good copy (backup) or failed (drill)', labelNames, registers: [registry] });
  const success = new Gauge({
    name: 'gushen_dr_last_success_timestamp_seconds',
    help: 'When a run last finished with a good copy of the source (backup) or passed (drill); 0: never',
    labelNames,
    registers: [registry],
  });
  for (const [k, v] of totals) {
    const [name, labels] = splitKey(k);
    if (labels.command !== run.command || labels.schedule !== run.schedule) continue;
    (name === 'gushen_dr_attempts_total' ? attempts : failures).inc(labels, v);
  }
  for (const [k, v] of lastSuccess) {
    const [, labels] = splitKey(k);
    if (labels.command === run.command && labels.schedule === run.schedule) success.set(labels, v);
  }
  new Gauge({ name: 'gushen_dr_last_attempt_timestamp_seconds', help: 'When a run of the command last finished, whatever its result', labelNames: ['command', 'schedule'], registers: [registry] }).set(
    base,
    Date.parse(run.finishedAt) / 1000,
  );
  new Histogram({ name: 'gushen_dr_run_duration_seconds', help: 'How long runs of a command took', labelNames: ['command', 'schedule'], buckets: DURATION_BUCKETS, registers: [registry] }).observe(
    base,
    (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000,
  );
  new Gauge({ name: 'gushen_dr_build_info', help: 'Always 1: the gushen-dr version and host that reported', labelNames: ['version', 'host'], registers: [registry] }).set(
    { version: TOOL_VERSION, host: hostname() },
    1,
  );
}

function splitKey(k: string): [string, Record<string, string>] {
  const i = k.indexOf('[');
  return [k.slice(0, i), Object.fromEntries(JSON.parse(k.slice(i)) as Array<[string, string]>)];
}

/** The backup metrics of one run, in a registry of their own. */
export function backupMetrics(m: Manifest, registry = new Registry()): Registry {
  const labels = ['schedule'];
  const duration = new Gauge({ name: 'gushen_dr_backup_duration_seconds', help: 'Duration of the last backup', labelNames: labels, registers: [registry] });
  const size = new Gauge({ name: 'gushen_dr_backup_size_bytes', help: 'Stored size of the last backup per artifact', labelNames: ['schedule', 'artifact'], registers: [registry] });
  const status = new Gauge({
    name: 'gushen_dr_backup_status',
    help: 'Last backup status as a state: 1 for the status it ended in (Completed, PartiallyFailed, Failed), 0 for the others',
    labelNames: ['schedule', 'status'],
    registers: [registry],
  });
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
  for (const st of BACKUP_STATUSES) status.set({ ...s, status: st }, st === m.status ? 1 : 0);
  for (const a of m.artifacts) size.set({ schedule: m.schedule, artifact: a.name }, a.stored.size);
  for (const src of new Set(['kube', 'postgres', 'redis', ...m.sources])) {
    failures.set({ schedule: m.schedule, source: src }, m.failures.filter((f) => f.source === src).length);
  }
  // A source has a good copy when all its artifacts were read back and none of it failed (catalog's holdsCopy).
  const good = (src: string) => {
    const arts = m.artifacts.filter((a) => a.source === src);
    return arts.length > 0 && arts.every((a) => a.verifiedAt !== undefined) && !m.failures.some((f) => f.source === src);
  };
  return runMetrics(
    { command: 'backup', schedule: m.schedule, sources: m.sources, failedSources: m.sources.filter((src) => !good(src)), startedAt: m.startedAt, finishedAt: m.finishedAt },
    `backup ${m.id}`,
    registry,
  );
}

/** Series a publish target already holds: `name{labels}` → value (counters and last-success gauges to carry over). */
export function parseExposition(text: string): Map<string, { name: string; labels: Record<string, string>; value: number }> {
  const out = new Map<string, { name: string; labels: Record<string, string>; value: number }>();
  for (const line of text.split('\n')) {
    const m = /^(gushen_dr_(?:attempts_total|failures_total|last_success_timestamp_seconds))\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of m[2].matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    const value = Number(m[3]);
    if (Number.isFinite(value)) out.set(`${m[1]}{${m[2]}}`, { name: m[1], labels, value });
  }
  return out;
}

const carried = new Set<string>();

/**
 * Once per process and target: adds what the target held before (the previous run's textfile, the Pushgateway group)
 * to this process's counters, and keeps a source's last success that this process has not seen, so that counters
 * grow across one-shot CronJob runs and a failed source's last success is not dropped by the next push.
 */
async function carryOver(target: string, fetchText: () => Promise<string | undefined>): Promise<boolean> {
  if (carried.has(target)) return false;
  carried.add(target);
  const text = await fetchText();
  if (!text) return false;
  for (const s of parseExposition(text).values()) {
    const { command, schedule, source } = s.labels;
    if (!command || !schedule || !source) continue;
    const labels = { command, schedule, source };
    if (s.name === 'gushen_dr_last_success_timestamp_seconds') {
      const k = keyOf('last_success', labels);
      if ((lastSuccess.get(k) ?? 0) < s.value) lastSuccess.set(k, s.value);
    } else bump(s.name, labels, s.value);
  }
  return true;
}

/** The same registry with the run metrics rendered again (after carried-over values changed the totals). */
function rerendered(registry: Registry, run: RunOutcome): Registry {
  const fresh = new Registry();
  for (const m of registry.getMetricsAsArray()) if (!RUN_METRICS.includes(m.name)) fresh.registerMetric(m as unknown as Parameters<Registry['registerMetric']>[0]);
  renderRun(run, fresh);
  return fresh;
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
  let reg = registry;
  const run = runs.get(registry);
  if (run) {
    // What the targets held before this run: counters continue from there.
    let any = false;
    if (cfg.textfile) any = (await carryOver(`file:${cfg.textfile}`, () => readFile(cfg.textfile!, 'utf8').catch(() => undefined))) || any;
    if (cfg.pushgateway) {
      const url = `${cfg.pushgateway.replace(/\/+$/, '')}/metrics`;
      any =
        (await carryOver(`push:${cfg.pushgateway}`, async () => {
          try {
            const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
            const text = res.ok ? await res.text() : undefined;
            // Only this job's group: the same series of another job are not ours to continue.
            return text
              ?.split('\n')
              .filter((l) => l.includes(`job="${cfg.job}"`) && Object.entries(grouping).every(([k, v]) => l.includes(`${k}="${v}"`)))
              .map((l) => l.replace(/(,?)(job|instance)="[^"]*"/g, '').replace('{,', '{'))
              .join('\n');
          } catch (err) {
            log.warn({ err: (err as Error).message }, 'could not read the Pushgateway: counters restart from this run');
            return undefined;
          }
        })) || any;
    }
    if (any) reg = rerendered(registry, run);
  }
  if (cfg.textfile) {
    try {
      const tmp = `${cfg.textfile}.tmp-${process.pid}`;
      await writeFile(tmp, await reg.metrics());
      await rename(tmp, cfg.textfile);
    } catch (err) {
      log.error({ file: cfg.textfile, err: (err as Error).message }, 'could not write the metrics textfile');
    }
  }
  if (cfg.pushgateway) {
    try {
      await new Pushgateway(cfg.pushgateway, {}, reg).pushAdd({ jobName: cfg.job, groupings: grouping });
    } catch (err) {
      log.error({ err: (err as Error).message }, 'could not push metrics to the Pushgateway');
    }
  }
}
