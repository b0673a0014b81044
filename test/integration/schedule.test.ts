import { chmod, mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry, Gauge } from 'prom-client';
import { stringify } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listBackups } from '../../src/repository/catalog.js';
import { generateX25519Identity } from '../../src/crypto/index.js';
import type { Manifest } from '../../src/repository/manifest.js';
import { Scheduler, type BackupScheduleName } from '../../src/schedule/index.js';
import { FileStore } from '../../src/store/file.js';
import { UsageError } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/log.js';
import { startCliProcess, type CliProcess } from '../support/cli-process.js';
import { PG_BIN, startPostgres, type TestPostgres } from '../support/postgres.js';
import { freePort, waitFor } from '../support/ports.js';
import { parseMetrics } from '../support/metrics.js';
import { tempDir } from '../support/tmp.js';

async function getJson(url: string): Promise<{ status: number; body: any }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.json() };
}

async function getText(url: string): Promise<{ status: number; type: string; body: string }> {
  const r = await fetch(url);
  return { status: r.status, type: r.headers.get('content-type') ?? '', body: await r.text() };
}

describe('gushen-dr schedule (the real CLI, PostgreSQL source, file:// store)', () => {
  let pg: TestPostgres;
  let dir: { path: string; cleanup: () => Promise<void> };
  let cli: CliProcess | undefined;
  let gate: string;

  beforeAll(async () => {
    pg = await startPostgres();
    await pg.query('postgres', 'create database gushen');
    await pg.query('gushen', 'create table strategies (id serial primary key, name text not null, created_at timestamptz default now())');
    await pg.query('gushen', "insert into strategies (name) select 'strategy-' || g from generate_series(1, 500) g");
    dir = await tempDir('gushen-dr-schedule-');
  });

  afterAll(async () => {
    if (cli) cli.signal('SIGKILL');
    if (gate) await rm(gate, { force: true });
    await pg?.stop();
    await dir?.cleanup();
  });

  it('runs two backups on a 20-second schedule, never overlaps, serves /healthz and /metrics, and stops cleanly on SIGTERM mid-backup', async () => {
    const storeDir = join(dir.path, 'store');
    const binDir = join(dir.path, 'pgbin');
    gate = join(dir.path, 'hold-pg_dump');
    await mkdir(binDir);
    // The real pg_dump behind a gate the test controls: while the gate file exists, a started pg_dump waits,
    // so "mid-backup" is a state the test can hold without racing the clock.
    await writeFile(
      join(binDir, 'pg_dump'),
      [
        '#!/bin/sh',
        `if [ "$1" = "--version" ]; then exec ${PG_BIN}/pg_dump "$@"; fi`,
        `while [ -e '${gate}' ]; do /bin/sleep 0.1; done`,
        `exec ${PG_BIN}/pg_dump "$@"`,
        '',
      ].join('\n'),
    );
    await chmod(join(binDir, 'pg_dump'), 0o755);
    await symlink(join(PG_BIN, 'pg_dumpall'), join(binDir, 'pg_dumpall'));

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const { recipient } = generateX25519Identity();
    const configFile = join(dir.path, 'gushen-dr.yaml');
    await writeFile(
      configFile,
      stringify({
        store: { url: `file://${storeDir}` },
        encryption: { recipients: [recipient] },
        sources: { postgres: { url: `${pg.url}/`, databases: ['gushen'], globals: true, binDir } },
        backup: { lockLeaseSeconds: 600 },
        schedules: { nightly: '*/20 * * * * *', timeZone: 'Asia/Shanghai', listen: `127.0.0.1:${port}` },
      }),
    );

    cli = startCliProcess(['--config', configFile, '--log-level', 'info', 'schedule'], { env: { GUSHEN_DR_SCHEDULE_SECONDS: '1' } });
    await cli.waitForStderr(/scheduler running/, 60_000);

    const h0 = await getJson(`${base}/healthz`);
    expect(h0.status).toBe(200);
    expect(h0.body.status).toBe('ok');
    expect(h0.body.timeZone).toBe('Asia/Shanghai');
    expect(h0.body.jobs.nightly.schedule).toBe('*/20 * * * * *');
    expect(Date.parse(h0.body.jobs.nightly.nextRun)).toBeGreaterThan(Date.now() - 1000);
    expect((await getText(`${base}/nope`)).status).toBe(404);

    // Two scheduled backups complete.
    const finished = await waitFor(
      'two Completed nightly backups',
      async () => {
        const done = cli!.logs().filter((l) => l.msg === 'scheduled nightly run finished');
        return done.length >= 2 ? done : undefined;
      },
      90_000,
      250,
    );
    expect(finished.slice(0, 2).map((l) => l.result)).toEqual(['Completed', 'Completed']);

    const h1 = await getJson(`${base}/healthz`);
    expect(h1.status).toBe(200);
    expect(h1.body.jobs.nightly.lastRun.result).toBe('Completed');
    expect(h1.body.jobs.nightly.lastRun.id).toMatch(/^\d{8}T\d{6}Z-nightly$/);

    const m1 = await getText(`${base}/metrics`);
    expect(m1.status).toBe(200);
    expect(m1.type).toMatch(/^text\/plain/);
    const metrics1 = parseMetrics(m1.body);
    expect(metrics1.get('gushen_dr_backup_status{schedule="nightly",status="Completed"}')).toBe(1);
    const lastSuccess = metrics1.get('gushen_dr_backup_last_success_timestamp_seconds{schedule="nightly"}');
    expect(lastSuccess).toBeGreaterThan(Date.now() / 1000 - 120);
    expect(metrics1.get('gushen_dr_schedule_runs_total{job="nightly",result="Completed"}')).toBeGreaterThanOrEqual(2);
    expect(metrics1.get('gushen_dr_schedule_up')).toBe(1);
    expect(metrics1.get('gushen_dr_backup_size_bytes{schedule="nightly",artifact="postgres/gushen.dump"}')).toBeGreaterThan(0);
    // Every metric name appears with one TYPE line only (a valid exposition).
    const typeLines = m1.body.split('\n').filter((l) => l.startsWith('# TYPE '));
    expect(new Set(typeLines).size).toBe(typeLines.length);

    // Hold the next run inside pg_dump, then let the schedule fire again while it is held.
    await writeFile(gate, 'held by the test\n');
    const runsBefore = cli.logs().filter((l) => l.msg === 'scheduled nightly run starting').length;
    await waitFor('the next run to reach pg_dump', async () => {
      const logs = cli!.logs();
      const starts = logs.filter((l) => l.msg === 'scheduled nightly run starting').length;
      return starts > runsBefore && logs.filter((l) => l.msg === 'postgres: dumping database').length > finished.length ? true : undefined;
    }, 60_000, 100);
    const locksDir = join(storeDir, 'locks', 'backup');
    expect((await readdir(locksDir)).filter((f) => f.endsWith('.json'))).toHaveLength(1);
    const skipLine = await cli.waitForStderr(/skipping scheduled nightly run/, 45_000);
    expect(JSON.parse(skipLine)).toMatchObject({ job: 'nightly', running: 'nightly' });

    const h2 = await getJson(`${base}/healthz`);
    expect(h2.body.running.job).toBe('nightly');
    expect(h2.body.jobs.nightly.skipped).toBeGreaterThanOrEqual(1);
    const metrics2 = parseMetrics((await getText(`${base}/metrics`)).body);
    expect(metrics2.get('gushen_dr_schedule_skipped_total{job="nightly",reason="overlap"}')).toBeGreaterThanOrEqual(1);
    expect(metrics2.get('gushen_dr_schedule_running{job="nightly"}')).toBe(1);

    // Never two runs at once: every start is followed by its finish before the next start.
    let open = 0;
    for (const l of cli.logs()) {
      if (l.msg === 'scheduled nightly run starting') {
        expect(open).toBe(0);
        open += 1;
      } else if (l.msg === 'scheduled nightly run finished') open -= 1;
    }

    // SIGTERM while the backup is inside pg_dump: abort, clean up, exit 0.
    cli.signal('SIGTERM');
    const exit = await cli.exited;
    expect(exit, cli.stderr().slice(-3000)).toEqual({ code: 0, signal: null });
    const msgs = cli.logs().map((l) => String(l.msg));
    expect(msgs).toContain('stopping: aborting the running nightly run and waiting for its cleanup');
    expect(msgs).toContain('scheduler stopped');
    expect(msgs.indexOf('scheduled nightly run finished', msgs.lastIndexOf('scheduled nightly run starting'))).toBeLessThan(msgs.indexOf('scheduler stopped'));

    // No lock left; the interrupted backup does not look complete; the two scheduled ones are intact.
    expect((await readdir(locksDir)).filter((f) => f.endsWith('.json'))).toEqual([]);
    const backups = await listBackups(new FileStore(storeDir));
    expect(backups.length).toBeGreaterThanOrEqual(3);
    const completed = backups.filter((b) => b.status === 'Completed');
    expect(completed.length).toBeGreaterThanOrEqual(2);
    for (const b of completed) {
      expect(b.manifest!.artifacts.map((a) => a.name).sort()).toEqual(['postgres/globals.sql', 'postgres/gushen.dump']);
      expect(b.manifest!.artifacts.every((a) => a.verifiedAt)).toBe(true);
    }
    const last = backups[backups.length - 1];
    expect(last.status).not.toBe('Completed');
    expect(['Failed', 'PartiallyFailed', 'Incomplete']).toContain(last.status);
    if (last.manifest) expect(last.manifest.failures.some((f) => /interrupt|abort|SIGTERM|signal/i.test(f.error))).toBe(true);
    // The status server is gone with the process.
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
    cli = undefined;
  }, 150_000);
});

/** A backup manifest as a job would return it. */
function manifestFor(schedule: BackupScheduleName, status: Manifest['status'], at = new Date()): Manifest {
  return {
    formatVersion: 1,
    id: `${at.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '')}-${schedule}`,
    schedule,
    status,
    startedAt: new Date(at.getTime() - 1000).toISOString(),
    finishedAt: at.toISOString(),
    tool: { name: 'gushen-dr', version: 'test' },
    host: 'test',
    sources: ['postgres'],
    artifacts: [],
    failures: status === 'Completed' ? [] : [{ source: 'postgres', error: 'boom' }],
  } as Manifest;
}

describe('Scheduler (in-process, controllable jobs)', () => {
  let scheduler: Scheduler | undefined;
  afterEach(async () => {
    await scheduler?.stop('test end');
    scheduler = undefined;
  });

  it('runs one job at a time across schedules, counts skipped ticks, keeps the last success across a failed run, and aborts on stop', async () => {
    const port = await freePort();
    const calls: Array<{ job: string; signal: AbortSignal }> = [];
    let release: (() => void) | undefined;
    let nextStatus: Manifest['status'] = 'Completed';
    const successAt = new Date(Date.now() - 3600_000);
    scheduler = await Scheduler.start({
      schedules: { nightly: '* * * * * *', monthly: '* * * * * *', listen: `127.0.0.1:${port}`, timeZone: 'UTC' },
      allowSeconds: true,
      log: silentLogger,
      lastCompleted: { nightly: manifestFor('nightly', 'Completed', successAt) },
      jobs: {
        backup: (schedule, signal) => {
          calls.push({ job: schedule, signal });
          return new Promise<Manifest>((resolve) => {
            const finish = () => resolve(manifestFor(schedule, signal.aborted ? 'Failed' : nextStatus));
            release = finish;
            signal.addEventListener('abort', finish, { once: true });
          });
        },
      },
    });
    const base = `http://${scheduler.address}`;
    // Seeded from the catalog: the last success is served before any run.
    const m0 = parseMetrics(await (await fetch(`${base}/metrics`)).text());
    expect(m0.get('gushen_dr_backup_last_success_timestamp_seconds{schedule="nightly"}')).toBe(successAt.getTime() / 1000);

    // Both schedules fire every second, but while the first run is held everything else is skipped.
    await waitFor('a run to start', async () => (calls.length === 1 ? true : undefined), 10_000, 20);
    await waitFor('two skipped ticks', async () => {
      const m = parseMetrics(await (await fetch(`${base}/metrics`)).text());
      const skipped = (m.get('gushen_dr_schedule_skipped_total{job="nightly",reason="overlap"}') ?? 0) + (m.get('gushen_dr_schedule_skipped_total{job="monthly",reason="overlap"}') ?? 0);
      return skipped >= 2 ? true : undefined;
    }, 10_000, 50);
    expect(calls).toHaveLength(1);
    const first = calls[0].job as BackupScheduleName;

    // Let it finish as Failed: status 0, but the last success is still the seeded one.
    nextStatus = 'Failed';
    release!();
    await waitFor('a second run', async () => (calls.length >= 2 ? true : undefined), 10_000, 20);
    const h = (await (await fetch(`${base}/healthz`)).json()) as any;
    expect(h.jobs[first].lastRun.result).toBe('Failed');
    const m1 = parseMetrics(await scheduler.renderMetrics());
    expect(m1.get(`gushen_dr_backup_status{schedule="${first}",status="Completed"}`)).toBe(0);
    expect(m1.get(`gushen_dr_backup_status{schedule="${first}",status="Failed"}`)).toBe(1);
    if (first === 'nightly') {
      expect(m1.get('gushen_dr_backup_last_success_timestamp_seconds{schedule="nightly"}')).toBe(successAt.getTime() / 1000);
    }

    // Stop while the second run is held: it is aborted and awaited; no further runs start.
    const held = calls[calls.length - 1];
    expect(held.signal.aborted).toBe(false);
    await scheduler.stop('test stop');
    expect(held.signal.aborted).toBe(true);
    expect(scheduler.current).toBeUndefined();
    const n = calls.length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(calls).toHaveLength(n);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });

  it('runs the drill job it is given and serves drill status metrics', async () => {
    const port = await freePort();
    const results: Array<() => { passed: boolean; id: string; metrics?: Registry }> = [
      () => ({ passed: true, id: 'drill-1' }),
      () => ({ passed: false, id: 'drill-2' }),
      () => {
        // A failed drill that brings its own metrics (no last-success sample in them).
        const r = new Registry();
        new Gauge({ name: 'gushen_dr_drill_status', help: 'status', registers: [r] }).set(0);
        new Gauge({ name: 'gushen_dr_drill_rto_seconds', help: 'RTO', registers: [r] }).set(42);
        return { passed: false, id: 'drill-3', metrics: r };
      },
    ];
    let runs = 0;
    let release: (() => void) | undefined;
    scheduler = await Scheduler.start({
      schedules: { drill: '* * * * * *', listen: `127.0.0.1:${port}` },
      allowSeconds: true,
      log: silentLogger,
      jobs: {
        backup: () => Promise.reject(new Error('not used')),
        // Each drill waits until the test releases it (or the scheduler aborts it).
        drill: (signal) => {
          const result = results[Math.min(runs, results.length - 1)];
          runs += 1;
          return new Promise((resolve) => {
            release = () => resolve(result());
            signal.addEventListener('abort', () => resolve({ passed: false, id: 'aborted' }), { once: true });
          });
        },
      },
    });
    const metricsWhileRun = async (n: number) => {
      await waitFor(`drill run ${n} to be running`, async () => (runs === n && scheduler!.current ? true : undefined), 10_000, 20);
      return parseMetrics(await scheduler!.renderMetrics());
    };
    await metricsWhileRun(1);
    release!();
    const afterFirst = await metricsWhileRun(2);
    expect(afterFirst.get('gushen_dr_drill_status')).toBe(1);
    const firstSuccess = afterFirst.get('gushen_dr_drill_last_success_timestamp_seconds')!;
    expect(firstSuccess).toBeGreaterThan(Date.now() / 1000 - 30);
    expect(afterFirst.get('gushen_dr_schedule_runs_total{job="drill",result="passed"}')).toBe(1);
    release!();
    const afterSecond = await metricsWhileRun(3);
    expect(afterSecond.get('gushen_dr_drill_status')).toBe(0);
    expect(afterSecond.get('gushen_dr_drill_last_success_timestamp_seconds')).toBe(firstSuccess);
    expect(((scheduler.health().body as any).jobs.drill.lastRun as { result: string }).result).toBe('failed');
    release!();
    const afterThird = await metricsWhileRun(4);
    expect(afterThird.get('gushen_dr_drill_rto_seconds')).toBe(42);
    expect(afterThird.get('gushen_dr_drill_status')).toBe(0);
    expect(afterThird.get('gushen_dr_drill_last_success_timestamp_seconds')).toBe(firstSuccess);
    await scheduler.stop();
    const h = scheduler.health();
    expect(h.ok).toBe(false);
    expect((h.body as any).status).toBe('stopping');
    expect((h.body as any).jobs.drill.lastRun.id).toBe('aborted');
    scheduler = undefined;
  });

  it('refuses bad schedules before starting anything', async () => {
    const port = await freePort();
    const jobs = { backup: () => Promise.reject(new Error('not used')) };
    const start = (schedules: Record<string, string>, allowSeconds = false) =>
      Scheduler.start({ schedules: { listen: `127.0.0.1:${port}`, ...schedules }, jobs, log: silentLogger, allowSeconds });
    await expect(start({ nightly: '*/20 * * * * *' })).rejects.toThrow(/six fields/);
    await expect(start({ nightly: '0 2 * *' })).rejects.toThrow(/expected 5 fields/);
    await expect(start({ nightly: '0 2 1 * 1' })).rejects.toThrow(/both day-of-month and day-of-week/);
    await expect(start({ nightly: '0 2 * * *', timeZone: 'Mars/Olympus' })).rejects.toThrow(UsageError);
    await expect(start({ drill: '0 4 1 1,4,7,10 *' })).rejects.toThrow(/cannot run drills/);
    await expect(start({})).rejects.toThrow(/nothing to run/);
    await expect(start({ nightly: '0 2 * * *', listen: 'nonsense' })).rejects.toThrow(/host:port/);
    // The port is still free: nothing was left listening by the refusals.
    scheduler = await start({ nightly: '0 2 * * *' });
    expect(scheduler.address).toBe(`127.0.0.1:${port}`);
    // A second scheduler on the same port is refused.
    await expect(start({ nightly: '0 2 * * *' })).rejects.toThrow(/cannot listen/);
  });
});
