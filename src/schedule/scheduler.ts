import cron, { type ScheduledTask } from 'node-cron';
import { Gauge, Registry } from 'prom-client';
import type { Manifest } from '../repository/manifest.js';
import { backupMetrics } from '../observe/metrics.js';
import { UsageError, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { checkTimeZone, parseCron } from './cron.js';
import { SchedulerMetrics } from './metrics.js';
import { startStatusServer, type StatusServer } from './server.js';

/** A backup schedule's name (`nightly`, `hourly`, any name configured under `schedules`). */
export type BackupScheduleName = string;
/** A backup schedule's name, or `drill`. */
export type JobName = string;
/** Keys of `schedules` that are not jobs. */
const SETTINGS = new Set(['timeZone', 'listen']);
const JOB_NAME_RE = /^[a-z][a-z0-9-]{0,30}$/;

export interface DrillJobResult {
  passed: boolean;
  /** Drill id (the report's key). */
  id?: string;
  /** The drill's own metrics (gushen_dr_drill_*). Without them the scheduler sets status and last success itself. */
  metrics?: Registry;
  /** One line for /healthz, e.g. "RTO 412s, RPO 7h". */
  summary?: string;
}

/**
 * What the scheduler runs. Each job gets an AbortSignal that fires on shutdown and must settle after
 * cleaning up (runBackup releases its lock and writes a Failed manifest when aborted).
 */
export interface ScheduleJobs {
  backup(schedule: BackupScheduleName, signal: AbortSignal): Promise<Manifest>;
  drill?(signal: AbortSignal): Promise<DrillJobResult>;
}

export interface SchedulerOptions {
  /** Cron expression per job: each backup schedule by name, and `drill`; plus the time zone and the listen address. */
  schedules: { drill?: string; timeZone?: string; listen: string; [job: string]: string | undefined };
  jobs: ScheduleJobs;
  log: Logger;
  /** Accept six-field expressions (seconds first). Tests only; production schedules have five fields. */
  allowSeconds?: boolean;
  /** Newest Completed backup per schedule, so /metrics has the last success right after a restart. */
  lastCompleted?: Partial<Record<BackupScheduleName, Manifest>>;
}

export interface RunRecord {
  startedAt: string;
  finishedAt?: string;
  /** Completed | PartiallyFailed | Failed (backups), passed | failed (drills), error (the job threw). */
  result?: string;
  id?: string;
  error?: string;
  failures?: number;
  summary?: string;
}

interface JobState {
  name: JobName;
  expression: string;
  task: ScheduledTask;
  skipped: number;
  /** The last finished run (the one going is `running` in /healthz). */
  lastRun?: RunRecord;
}

interface Running {
  job: JobName;
  startedAt: Date;
  controller: AbortController;
  done: Promise<void>;
}

const RESULT_VALUE: Record<string, number> = { Completed: 1, passed: 1, PartiallyFailed: 0.5, Failed: 0, failed: 0, error: 0 };

/**
 * The `schedule` daemon: cron triggers for every named backup schedule and the drill, one run at a time across
 * all of them (a trigger that comes while a run is going is skipped and counted), an HTTP server for
 * /healthz and /metrics, and a clean stop: no new runs, the running one aborted and awaited, server closed.
 */
export class Scheduler {
  readonly metrics = new SchedulerMetrics();
  private readonly jobs = new Map<JobName, JobState>();
  private running: Running | undefined;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private server: StatusServer | undefined;
  private readonly startedAt = new Date();
  private readonly timeZone: string;
  private readonly log: Logger;

  private constructor(private readonly opts: SchedulerOptions) {
    this.log = opts.log;
    this.timeZone = opts.schedules.timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  }

  /** Checks every schedule, starts the HTTP server, then the triggers. Bad input is a UsageError and nothing starts. */
  static async start(opts: SchedulerOptions): Promise<Scheduler> {
    const s = new Scheduler(opts);
    const planned = s.plan();
    s.server = await startStatusServer(
      opts.schedules.listen,
      {
        health: () => s.health(),
        metrics: async () => ({ contentType: s.metrics.contentType, body: await s.renderMetrics() }),
      },
      opts.log,
    );
    try {
      await s.startTasks(planned);
    } catch (err) {
      await s.stop('start failed');
      throw err;
    }
    return s;
  }

  private async startTasks(planned: Array<{ name: JobName; expression: string }>): Promise<void> {
    for (const [schedule, m] of Object.entries(this.opts.lastCompleted ?? {}) as Array<[BackupScheduleName, Manifest]>) {
      await this.metrics.setJobMetrics(schedule, backupMetrics(m));
    }
    this.metrics.up.set(1);
    for (const { name, expression } of planned) {
      const task = cron.createTask(expression, () => this.trigger(name), {
        name: `gushen-dr-${name}`,
        timezone: this.timeZone,
        logger: nodeCronLogger(this.opts.log.child({ job: name })),
      });
      this.jobs.set(name, { name, expression, task, skipped: 0 });
      this.metrics.skipped.inc({ job: name, reason: 'overlap' }, 0);
      await task.start();
      this.updateNextRun(name);
      this.opts.log.info({ job: name, schedule: expression, timeZone: this.timeZone, nextRun: task.getNextRun()?.toISOString() }, 'scheduled');
    }
    this.opts.log.info({ listen: this.address, jobs: planned.map((p) => p.name) }, 'scheduler running: GET /healthz, GET /metrics');
  }

  /** host:port the status server listens on. */
  get address(): string {
    return this.server?.address ?? '';
  }

  private plan(): Array<{ name: JobName; expression: string }> {
    const { schedules, jobs, allowSeconds } = this.opts;
    if (schedules.timeZone) checkTimeZone(schedules.timeZone);
    const planned: Array<{ name: JobName; expression: string }> = [];
    // Backup schedules in config order, then the drill.
    const names = Object.keys(schedules).filter((n) => !SETTINGS.has(n) && n !== 'drill' && schedules[n] !== undefined);
    if (schedules.drill !== undefined) names.push('drill');
    for (const name of names) {
      const expression = schedules[name]!;
      if (!JOB_NAME_RE.test(name)) throw new UsageError(`schedules.${name}: not a schedule name (lower case letters, digits, -; at most 31)`);
      parseCron(expression, { allowSeconds });
      if (name === 'drill' && !jobs.drill) {
        throw new UsageError('schedules.drill is set, but this build cannot run drills from the scheduler; remove schedules.drill or run `gushen-dr drill` from cron');
      }
      planned.push({ name, expression: expression.trim().split(/\s+/).join(' ') });
    }
    if (planned.length === 0) throw new UsageError('schedules: nothing to run; give a backup schedule a cron (e.g. schedules.nightly: "0 2 * * *") and/or set schedules.drill');
    return planned;
  }

  /** A cron tick: start the job unless something is running or we are stopping. */
  trigger(job: JobName): void {
    const state = this.jobs.get(job);
    this.updateNextRun(job);
    if (this.stopping) {
      this.metrics.skipped.inc({ job, reason: 'stopping' });
      return;
    }
    if (this.running) {
      if (state) state.skipped += 1;
      this.metrics.skipped.inc({ job, reason: 'overlap' });
      this.log.warn(
        { job, running: this.running.job, runningSince: this.running.startedAt.toISOString() },
        `skipping scheduled ${job} run: ${this.running.job} is still running`,
      );
      return;
    }
    const controller = new AbortController();
    const startedAt = new Date();
    const record: RunRecord = { startedAt: startedAt.toISOString() };
    this.metrics.running.set({ job }, 1);
    this.metrics.lastRunStart.set({ job }, startedAt.getTime() / 1000);
    this.log.info({ job }, `scheduled ${job} run starting`);
    const done = this.runJob(job, controller.signal, record).finally(() => {
      record.finishedAt = new Date().toISOString();
      if (state) state.lastRun = record;
      this.metrics.running.set({ job }, 0);
      this.metrics.runs.inc({ job, result: record.result ?? 'error' });
      this.metrics.lastRunResult.set({ job }, RESULT_VALUE[record.result ?? 'error'] ?? 0);
      this.running = undefined;
      this.log.info({ job, result: record.result, id: record.id, seconds: (Date.now() - startedAt.getTime()) / 1000 }, `scheduled ${job} run finished`);
    });
    this.running = { job, startedAt, controller, done };
  }

  private async runJob(job: JobName, signal: AbortSignal, record: RunRecord): Promise<void> {
    try {
      if (job === 'drill') {
        const r = await this.opts.jobs.drill!(signal);
        record.result = r.passed ? 'passed' : 'failed';
        record.id = r.id;
        record.summary = r.summary;
        const previous = this.metrics.lastDrillSuccess;
        const reg = r.metrics ?? drillFallbackMetrics(r, new Date(), previous);
        if (r.metrics && previous !== undefined) await keepDrillSuccess(reg, previous);
        await this.metrics.setJobMetrics('drill', reg);
      } else {
        const m = await this.opts.jobs.backup(job, signal);
        record.result = m.status;
        record.id = m.id;
        record.failures = m.failures.length;
        const reg = backupMetrics(m);
        if (m.status !== 'Completed') await this.keepLastSuccess(job, reg);
        await this.metrics.setJobMetrics(job, reg);
      }
    } catch (err) {
      record.result = 'error';
      record.error = errorMessage(err);
      this.log.error({ job, err: record.error }, `scheduled ${job} run failed`);
    }
  }

  /** A failed run's metrics have no last-success sample; carry the previous one over so alerts age it correctly. */
  private async keepLastSuccess(job: BackupScheduleName, reg: Registry): Promise<void> {
    const name = 'gushen_dr_backup_last_success_timestamp_seconds';
    const prev = (await this.metrics.registryJson(job)).find((m) => m.name === name)?.values.find((v) => v.labels?.schedule === job);
    if (!prev) return;
    const gauge = reg.getSingleMetric(name) ?? new Gauge({ name, help: 'Finish time of the last Completed backup', labelNames: ['schedule'], registers: [reg] });
    if (gauge instanceof Gauge) gauge.set({ schedule: job }, prev.value);
  }

  private updateNextRun(job: JobName): void {
    const next = this.jobs.get(job)?.task.getNextRun();
    if (next) this.metrics.nextRun.set({ job }, next.getTime() / 1000);
  }

  health(): { ok: boolean; body: unknown } {
    const jobs: Record<string, unknown> = {};
    for (const [name, s] of this.jobs) {
      jobs[name] = { schedule: s.expression, nextRun: this.stopping ? null : (s.task.getNextRun()?.toISOString() ?? null), skipped: s.skipped, lastRun: s.lastRun ?? null };
    }
    return {
      ok: !this.stopping,
      body: {
        status: this.stopping ? 'stopping' : 'ok',
        startedAt: this.startedAt.toISOString(),
        timeZone: this.timeZone,
        running: this.running ? { job: this.running.job, startedAt: this.running.startedAt.toISOString() } : null,
        jobs,
      },
    };
  }

  async renderMetrics(): Promise<string> {
    for (const job of this.jobs.keys()) this.updateNextRun(job);
    return this.metrics.render();
  }

  /**
   * Stops scheduling, aborts the running job and waits until it has cleaned up, then closes the server.
   * Idempotent; resolves when everything is down.
   */
  stop(reason = 'shutdown'): Promise<void> {
    if (this.stopped) return this.stopped;
    this.stopping = true;
    this.metrics.up.set(0);
    this.stopped = (async () => {
      for (const s of this.jobs.values()) {
        await s.task.stop();
        await s.task.destroy();
      }
      const r = this.running;
      if (r) {
        this.log.warn({ job: r.job, reason }, `stopping: aborting the running ${r.job} run and waiting for its cleanup`);
        r.controller.abort(new Error(reason));
        await r.done;
      }
      await this.server?.close();
      this.log.info({ reason }, 'scheduler stopped');
    })();
    return this.stopped;
  }

  /** The running job, if any (for tests and diagnostics). */
  get current(): { job: JobName; startedAt: Date } | undefined {
    return this.running ? { job: this.running.job, startedAt: this.running.startedAt } : undefined;
  }
}

const DRILL_LAST_SUCCESS = 'gushen_dr_drill_last_success_timestamp_seconds';

/** A failed drill's own metrics carry no last-success sample: keep the previous one, so the age alert stays right. */
async function keepDrillSuccess(reg: Registry, previous: number): Promise<void> {
  const existing = (await reg.getMetricsAsJSON()).find((m) => m.name === DRILL_LAST_SUCCESS);
  if (existing && existing.values.length > 0) return;
  const gauge = reg.getSingleMetric(DRILL_LAST_SUCCESS) ?? new Gauge({ name: DRILL_LAST_SUCCESS, help: 'Finish time of the last passed drill', registers: [reg] });
  if (gauge instanceof Gauge) gauge.set(previous);
}

/** Drill metrics when the drill job does not bring its own. */
function drillFallbackMetrics(r: DrillJobResult, finishedAt: Date, previousSuccess: number | undefined): Registry {
  const registry = new Registry();
  const status = new Gauge({ name: 'gushen_dr_drill_status', help: 'Last drill: 1 passed, 0 failed', registers: [registry] });
  const last = new Gauge({ name: DRILL_LAST_SUCCESS, help: 'Finish time of the last passed drill', registers: [registry] });
  status.set(r.passed ? 1 : 0);
  const ts = r.passed ? finishedAt.getTime() / 1000 : previousSuccess;
  if (ts !== undefined) last.set(ts);
  return registry;
}

function nodeCronLogger(log: Logger) {
  return {
    info: (m: string) => log.debug({ from: 'node-cron' }, m),
    warn: (m: string) => log.warn({ from: 'node-cron' }, m),
    error: (m: string | Error, err?: Error) => log.error({ from: 'node-cron', err: errorMessage(err ?? m) }, errorMessage(m)),
    debug: (m: string | Error) => log.debug({ from: 'node-cron' }, errorMessage(m)),
  };
}
