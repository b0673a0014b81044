import { Counter, Gauge, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';

/**
 * What `gushen-dr schedule` serves on /metrics: its own counters and gauges, plus the metrics of the last run
 * of each job (the same ones a CronJob pushes to the Pushgateway), re-registered under one registry so every
 * metric name appears once.
 */
export class SchedulerMetrics {
  readonly registry = new Registry();
  readonly skipped: Counter<'job' | 'reason'>;
  readonly runs: Counter<'job' | 'result'>;
  readonly running: Gauge<'job'>;
  readonly lastRunStart: Gauge<'job'>;
  readonly lastRunResult: Gauge<'job'>;
  readonly nextRun: Gauge<'job'>;
  readonly up: Gauge;
  /** Last run metrics per job, as prom-client JSON (so they can be merged at scrape time). */
  private readonly jobMetrics = new Map<string, MetricObjectWithValues<MetricValue<string>>[]>();

  constructor() {
    const registers = [this.registry];
    this.skipped = new Counter({
      name: 'gushen_dr_schedule_skipped_total',
      help: 'Scheduled runs not started because another run was still going (reason=overlap) or the scheduler was stopping',
      labelNames: ['job', 'reason'],
      registers,
    });
    this.runs = new Counter({
      name: 'gushen_dr_schedule_runs_total',
      help: 'Runs started by the scheduler, by result (Completed, PartiallyFailed, Failed, passed, failed, error)',
      labelNames: ['job', 'result'],
      registers,
    });
    this.running = new Gauge({ name: 'gushen_dr_schedule_running', help: '1 while the job runs', labelNames: ['job'], registers });
    this.lastRunStart = new Gauge({
      name: 'gushen_dr_schedule_last_run_start_timestamp_seconds',
      help: 'When the job last started',
      labelNames: ['job'],
      registers,
    });
    this.lastRunResult = new Gauge({
      name: 'gushen_dr_schedule_last_run_result',
      help: 'Result of the last run: 1 Completed/passed, 0.5 PartiallyFailed, 0 Failed/failed/error',
      labelNames: ['job'],
      registers,
    });
    this.nextRun = new Gauge({ name: 'gushen_dr_schedule_next_run_timestamp_seconds', help: 'Next scheduled start', labelNames: ['job'], registers });
    this.up = new Gauge({ name: 'gushen_dr_schedule_up', help: '1 while the scheduler loop runs, 0 while it shuts down', registers });
  }

  /** Keeps a finished run's own metrics (e.g. backupMetrics(manifest)) to serve until the job's next run. */
  async setJobMetrics(job: string, registry: Registry): Promise<void> {
    this.jobMetrics.set(job, await registry.getMetricsAsJSON());
  }

  /** The kept metrics of a job's last run (empty before its first). */
  async registryJson(job: string): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
    return this.jobMetrics.get(job) ?? [];
  }

  /** The last passed drill's time, as kept from the previous drill run. */
  get lastDrillSuccess(): number | undefined {
    const m = this.jobMetrics.get('drill')?.find((x) => x.name === 'gushen_dr_drill_last_success_timestamp_seconds');
    return m?.values[0]?.value;
  }

  /** Prometheus text exposition. */
  async render(): Promise<string> {
    const merged = new Registry();
    const byName = new Map<string, { help: string; type: string; labelNames: Set<string>; values: MetricValue<string>[] }>();
    for (const metrics of this.jobMetrics.values()) {
      for (const m of metrics) {
        const type = String(m.type);
        if (type !== 'gauge' && type !== 'counter') continue; // backup and drill metrics are gauges
        const e = byName.get(m.name) ?? { help: m.help, type, labelNames: new Set<string>(), values: [] };
        for (const v of m.values) {
          for (const k of Object.keys(v.labels ?? {})) e.labelNames.add(k);
          e.values.push(v);
        }
        byName.set(m.name, e);
      }
    }
    for (const [name, e] of byName) {
      const labelNames = [...e.labelNames];
      if (e.type === 'counter') {
        const c = new Counter({ name, help: e.help, labelNames, registers: [merged] });
        for (const v of e.values) c.inc(v.labels as Record<string, string | number>, v.value);
      } else {
        const g = new Gauge({ name, help: e.help, labelNames, registers: [merged] });
        for (const v of e.values) g.set(v.labels as Record<string, string | number>, v.value);
      }
    }
    return Registry.merge([this.registry, merged]).metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
