import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateX25519Identity } from '../../src/crypto/index.js';
import { listBackups } from '../../src/repository/catalog.js';
import type { Manifest } from '../../src/repository/manifest.js';
import { Scheduler } from '../../src/schedule/index.js';
import { FileStore } from '../../src/store/file.js';
import { UsageError } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/log.js';
import { startCliProcess, type CliProcess } from '../support/cli-process.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import { freePort, waitFor } from '../support/ports.js';
import { tempDir } from '../support/tmp.js';

describe('gushen-dr schedule runs named schedules (real CLI, PostgreSQL, file:// store)', () => {
  let pg: TestPostgres;
  let dir: { path: string; cleanup: () => Promise<void> };
  let cli: CliProcess | undefined;

  beforeAll(async () => {
    pg = await startPostgres();
    await pg.query('postgres', 'create database gushen');
    await pg.query('gushen', 'create table t (id int primary key)');
    dir = await tempDir('gushen-dr-schedule-named-');
  });
  afterAll(async () => {
    if (cli) cli.signal('SIGKILL');
    await pg?.stop();
    await dir?.cleanup();
  });

  it("an hourly-style PostgreSQL-only schedule backs up only PostgreSQL under its own name and applies its own retention", async () => {
    const storeDir = join(dir.path, 'store');
    const port = await freePort();
    const configFile = join(dir.path, 'gushen-dr.yaml');
    await writeFile(
      configFile,
      stringify({
        store: { url: `file://${storeDir}` },
        encryption: { recipients: [generateX25519Identity().recipient] },
        // Redis is configured but nothing listens there: a full backup would not be Completed, this schedule's are.
        sources: { postgres: { url: `${pg.url}/`, databases: ['gushen'], globals: false }, redis: { url: `redis://127.0.0.1:${await freePort()}` } },
        schedules: { 'pg-often': { cron: '*/2 * * * * *', only: ['postgres'], retention: { keepLast: 1 } }, listen: `127.0.0.1:${port}` },
      }),
    );
    cli = startCliProcess(['--config', configFile, '--log-level', 'info', 'schedule'], { env: { GUSHEN_DR_SCHEDULE_SECONDS: '1' } });
    await cli.waitForStderr(/scheduler running/, 60_000);
    const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { jobs: Record<string, { schedule: string }> };
    expect(Object.keys(health.jobs)).toEqual(['pg-often']);
    expect(health.jobs['pg-often'].schedule).toBe('*/2 * * * * *');

    await waitFor(
      'three finished runs',
      async () => (cli!.logs().filter((l) => l.msg === 'scheduled pg-often run finished').length >= 3 ? true : undefined),
      90_000,
      200,
    );
    cli.signal('SIGTERM');
    expect((await cli.exited).code, cli.stderr().slice(-3000)).toBe(0);
    const logs = cli.logs();
    cli = undefined;

    const runs = logs.filter((l) => l.msg === 'scheduled pg-often run finished');
    expect(runs.filter((l) => l.result === 'Completed').length).toBeGreaterThanOrEqual(2);
    // keepLast 1, applied after each Completed run: older runs were deleted (a SIGTERM between a backup and its prune
    // can leave the newest two).
    expect(logs.some((l) => l.msg === 'retention applied')).toBe(true);
    const backups = await listBackups(new FileStore(storeDir));
    const completed = backups.filter((b) => b.status === 'Completed');
    expect(completed.length).toBeGreaterThanOrEqual(1);
    expect(completed.length).toBeLessThanOrEqual(2);
    const m = completed.at(-1)!.manifest!;
    expect(m.id).toMatch(/^\d{8}T\d{6}Z-pg-often$/);
    expect(m.schedule).toBe('pg-often');
    expect(m.sources).toEqual(['postgres']);
    expect(m.artifacts.map((a) => a.name)).toEqual(['postgres/gushen.dump']);
  }, 150_000);
});

describe('Scheduler with named jobs (in-process)', () => {
  let scheduler: Scheduler | undefined;
  afterEach(async () => {
    await scheduler?.stop('test end');
    scheduler = undefined;
  });

  it('runs any named backup schedule with its own name, lists the jobs in config order with the drill last', async () => {
    const port = await freePort();
    const calls: string[] = [];
    scheduler = await Scheduler.start({
      schedules: { drill: '0 4 1 1,4,7,10 *', 'pg-hourly': '* * * * * *', nightly: '0 2 * * *', listen: `127.0.0.1:${port}`, timeZone: 'UTC' },
      allowSeconds: true,
      log: silentLogger,
      jobs: {
        backup: async (schedule) => {
          calls.push(schedule);
          return { id: `20260101T000000Z-${schedule}`, schedule, status: 'Completed', failures: [], artifacts: [], startedAt: new Date().toISOString(), finishedAt: new Date().toISOString() } as unknown as Manifest;
        },
        drill: async () => ({ passed: true }),
      },
    });
    expect(Object.keys((scheduler.health().body as { jobs: object }).jobs)).toEqual(['pg-hourly', 'nightly', 'drill']);
    await waitFor('a pg-hourly run', async () => (calls.includes('pg-hourly') ? true : undefined), 10_000, 20);
    expect(new Set(calls)).toEqual(new Set(['pg-hourly']));
  });

  it('refuses a job name that cannot be a schedule name, before listening', async () => {
    const port = await freePort();
    await expect(
      Scheduler.start({ schedules: { 'Pg Hourly': '0 * * * *', listen: `127.0.0.1:${port}` }, jobs: { backup: () => Promise.reject(new Error('unused')) }, log: silentLogger }),
    ).rejects.toThrow(UsageError);
    scheduler = await Scheduler.start({ schedules: { hourly: '0 * * * *', listen: `127.0.0.1:${port}` }, jobs: { backup: () => Promise.reject(new Error('unused')) }, log: silentLogger });
    expect(scheduler.address).toBe(`127.0.0.1:${port}`);
  });
});
