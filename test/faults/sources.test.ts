/**
 * Source faults: gushen-dr talks to PostgreSQL and Redis through TCP fault proxies. Latency must not matter;
 * a reset, a dead peer, a peer that stops reading, pg_dump being killed, PostgreSQL restarting mid-dump and
 * Redis restarting during BGSAVE must each fail the affected artifact cleanly (nothing under its key, the
 * backup not Completed, the other artifacts intact) within the configured timeouts, and the next run must
 * complete with the right data.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/engine/backup.js';
import { loadIdentities } from '../../src/config/keys.js';
import type { Config } from '../../src/config/schema.js';
import type { Identity } from '../../src/crypto/index.js';
import type { Manifest } from '../../src/repository/manifest.js';
import { openStore } from '../../src/store/open.js';
import { silentLogger } from '../../src/util/log.js';
import { PG_PASSWORD, REDIS_PASSWORD, startPlatform, type Platform } from '../support/platform.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { waitFor } from '../support/ports.js';
import { FaultCounter, auditStore, completedProblems, nextSecond, redisKeyBounds, referenceOf, type Reference } from './support.js';

const execFileP = promisify(execFile);
const counter = new FaultCounter(import.meta.filename);

describe('PostgreSQL and Redis faults', () => {
  let p: Platform;
  let pgProxy: FaultProxy;
  let redisProxy: FaultProxy;
  let config: Config;
  let identities: Identity[];
  let ref: Reference;
  const store = () => openStore(config.store);
  const keyOf = (m: Manifest, name: string) => `backups/${m.id}/${name}.zst.age`;

  const backup = async () => {
    await nextSecond();
    counter.backup();
    return runBackup({ config, store: store(), schedule: 'manual', log: silentLogger });
  };
  /** The backup failed on exactly this artifact, cleanly: nothing under its key, everything else stored and verified. */
  const expectCleanFailure = async (m: Manifest, artifact: string, error: RegExp) => {
    expect(m.status).toBe('PartiallyFailed');
    expect(m.failures.length, JSON.stringify(m.failures)).toBe(1);
    // a source that fails as a whole (Redis: one artifact) is recorded without an artifact name
    expect([m.failures[0].artifact ?? `${m.failures[0].source}/dump.rdb`, m.failures[0].error]).toEqual([artifact, expect.stringMatching(error)]);
    expect(await store().head(keyOf(m, artifact))).toBeUndefined();
    expect(await store().list(`.tmp/`)).toEqual([]);
    const stored = (await store().list(`backups/${m.id}/`)).map((o) => o.key).sort();
    const expected = ['kube/resources.tar', 'postgres/globals.sql', 'postgres/gushen.dump', 'redis/dump.rdb'].filter((n) => n !== artifact);
    expect(stored).toEqual([...expected.map((n) => keyOf(m, n)), `backups/${m.id}/manifest.json`].sort());
    expect(m.artifacts.every((a) => a.verifiedAt)).toBe(true);
  };
  /** After a fault: heal, then the next run must be Completed with the platform's data. */
  const expectRecovery = async () => {
    pgProxy.heal();
    redisProxy.heal();
    const m = await backup();
    expect(m.failures).toEqual([]);
    expect(m.status).toBe('Completed');
    const problems = completedProblems(m, ref);
    for (const pr of problems) counter.mismatch(pr);
    expect(problems).toEqual([]);
    const audit = await auditStore({ store: store(), config, ref, identities, deep: (e) => e.id === m.id });
    for (const pr of audit.problems) counter.mismatch(pr);
    expect(audit.problems).toEqual([]);
  };

  beforeAll(async () => {
    p = await startPlatform({ rows: 60_000, redisKeys: 3000 });
    pgProxy = await startFaultProxy({ port: p.pg.port });
    redisProxy = await startFaultProxy({ port: p.redis.port });
    const base = p.config();
    config = p.config({
      sources: {
        ...base.sources,
        postgres: { ...base.sources.postgres, url: `postgres://postgres:${PG_PASSWORD}@127.0.0.1:${pgProxy.port}/`, timeoutSeconds: 3 },
        redis: { ...base.sources.redis, url: `redis://:${REDIS_PASSWORD}@127.0.0.1:${redisProxy.port}`, timeoutSeconds: 3 },
      },
    });
    identities = await loadIdentities(config);
    const bounds = await redisKeyBounds(p.redis.client());
    counter.backup();
    const first = await runBackup({ config, store: store(), schedule: 'manual', log: silentLogger });
    expect(first.failures).toEqual([]);
    expect(first.status).toBe('Completed');
    ref = referenceOf(first, bounds);
  });
  afterAll(async () => {
    await pgProxy?.close();
    await redisProxy?.close();
    await p?.stop();
    await counter.report();
  });

  it('latency on both servers: the backup completes with the same data', async () => {
    pgProxy.latencyMs = 3;
    redisProxy.latencyMs = 3;
    await expectRecovery();
  });

  it('PostgreSQL connection reset mid-dump: the database artifact fails cleanly; the next run completes', async () => {
    pgProxy.bytesPerSecond = 4_000_000; // a few seconds of dump
    const reset = pgProxy.resetAfter(2_000_000, 'down');
    const m = await backup();
    await reset;
    counter.fault(pgProxy.faults);
    await expectCleanFailure(m, 'postgres/gushen.dump', /pg_dump|connection|terminat|closed|reset/i);
    await expectRecovery();
  });

  it('pg_dump killed mid-dump (SIGKILL): the database artifact fails naming it; the next run completes', async () => {
    pgProxy.bytesPerSecond = 4_000_000;
    const killed = pgProxy.waitForBytes(pgProxy.bytesDown + 2_000_000, 'down').then(async () => {
      // the test's own pg_dump: the one whose connection string names the proxy's port
      const { stdout } = await execFileP('pgrep', ['-f', `pg_dump.*127\\.0\\.0\\.1:${pgProxy.port}/gushen`]);
      const pids = stdout.trim().split('\n').filter(Boolean).map(Number);
      expect(pids.length).toBe(1);
      process.kill(pids[0], 'SIGKILL');
    });
    const m = await backup();
    await killed;
    counter.fault();
    await expectCleanFailure(m, 'postgres/gushen.dump', /pg_dump was killed by SIGKILL/);
    await expectRecovery();
  });

  it('PostgreSQL restarting mid-dump: the database artifact fails cleanly; after the restart the next run completes', async () => {
    pgProxy.bytesPerSecond = 4_000_000;
    const restarted = pgProxy.waitForBytes(pgProxy.bytesDown + 2_000_000, 'down').then(async () => {
      await p.pg.kill();
      await p.pg.start();
    });
    const m = await backup();
    await restarted;
    counter.fault();
    await expectCleanFailure(m, 'postgres/gushen.dump', /pg_dump|terminat|connection|closed|shut/i);
    await expectRecovery();
  });

  it('PostgreSQL stops answering mid-dump: the database artifact fails within the timeout, nothing under its key; the next run completes', async () => {
    pgProxy.bytesPerSecond = 4_000_000;
    const faultsBefore = pgProxy.faults;
    const stalled = pgProxy.waitForBytes(pgProxy.bytesDown + 2_000_000, 'down').then(() => {
      pgProxy.mode = 'blackhole';
    });
    const m = await backup();
    await stalled;
    counter.fault(pgProxy.faults - faultsBefore);
    pgProxy.heal();
    await expectCleanFailure(m, 'postgres/gushen.dump', /pg_dump sent no data for 3 s/);
    await expectRecovery();
  });

  it('PostgreSQL dead (accepts connections, never answers): the PostgreSQL artifacts fail within the timeout', async () => {
    pgProxy.mode = 'blackhole';
    const m = await backup();
    counter.fault(pgProxy.faults);
    expect(m.status).toBe('PartiallyFailed');
    expect(m.failures.map((f) => f.source)).toEqual(expect.arrayContaining(['postgres']));
    expect(m.failures.every((f) => f.source === 'postgres' && /timeout|timed out/i.test(f.error))).toBe(true);
    expect(m.artifacts.map((a) => a.name).sort()).toEqual(['kube/resources.tar', 'redis/dump.rdb']);
    expect(await store().head(keyOf(m, 'postgres/gushen.dump'))).toBeUndefined();
    await expectRecovery();
  });

  it('Redis restarting during BGSAVE: the Redis artifact fails cleanly; after the restart the next run completes', async () => {
    // A slow BGSAVE (1 ms per key in the child), so the restart lands in the middle of it.
    const direct = p.redis.client();
    await direct.config('SET', 'rdb-key-save-delay', '1000');
    const restarted = waitFor(
      'BGSAVE in progress',
      async () => ((await direct.info('persistence')).includes('rdb_bgsave_in_progress:1') ? true : undefined),
      60_000,
      20,
    ).then(async () => {
      await p.redis.kill();
      await p.redis.start(); // the delay is not persisted: the restarted server saves at full speed
    });
    const m = await backup();
    await restarted;
    counter.fault();
    await expectCleanFailure(m, 'redis/dump.rdb', /redis|connection|closed|ECONNRESET|BGSAVE/i);
    // the killed server's BGSAVE child must not outlive it and rename a stale snapshot over the next one
    await waitFor('the orphaned BGSAVE child to exit', async () => ((await rdbChildRunning(p.redis.port)) ? undefined : true), 30_000);
    await expectRecovery();
  });

  it('Redis connection reset while BGSAVE is polled: the Redis artifact fails cleanly; the next run completes', async () => {
    const direct = p.redis.client();
    await direct.config('SET', 'rdb-key-save-delay', '1000');
    try {
      const reset = waitFor('BGSAVE in progress', async () => ((await direct.info('persistence')).includes('rdb_bgsave_in_progress:1') ? true : undefined), 60_000, 20).then(
        () => redisProxy.resetAll(),
      );
      const m = await backup();
      await reset;
      counter.fault(redisProxy.faults);
      await expectCleanFailure(m, 'redis/dump.rdb', /redis|connection|closed|ECONNRESET/i);
    } finally {
      await direct.config('SET', 'rdb-key-save-delay', '0');
      await waitFor('BGSAVE done', async () => ((await direct.info('persistence')).includes('rdb_bgsave_in_progress:0') ? true : undefined), 60_000);
    }
    await expectRecovery();
  });

  it('Redis stops answering mid-BGSAVE (reads nothing, answers nothing): the Redis artifact fails within the timeout', async () => {
    const direct = p.redis.client();
    await direct.config('SET', 'rdb-key-save-delay', '1000');
    const faultsBefore = redisProxy.faults;
    try {
      const stalled = waitFor('BGSAVE in progress', async () => ((await direct.info('persistence')).includes('rdb_bgsave_in_progress:1') ? true : undefined), 60_000, 20).then(
        () => {
          redisProxy.mode = 'stop-reading';
        },
      );
      const m = await backup();
      await stalled;
      counter.fault(redisProxy.faults - faultsBefore);
      await expectCleanFailure(m, 'redis/dump.rdb', /timeout|timed out/i);
    } finally {
      redisProxy.heal();
      await direct.config('SET', 'rdb-key-save-delay', '0');
      await waitFor('BGSAVE done', async () => ((await direct.info('persistence')).includes('rdb_bgsave_in_progress:0') ? true : undefined), 60_000);
    }
    await expectRecovery();
  });

  it('Redis dead from the start: the Redis artifact fails within the timeout', async () => {
    redisProxy.mode = 'blackhole';
    const faultsBefore = redisProxy.faults;
    const m = await backup();
    counter.fault(redisProxy.faults - faultsBefore);
    await expectCleanFailure(m, 'redis/dump.rdb', /timeout|timed out/i);
    await expectRecovery();
  });
});

/** Is a BGSAVE child (process title `redis-rdb-bgsave 127.0.0.1:<port>`) of the server on this port still running? */
async function rdbChildRunning(port: number): Promise<boolean> {
  try {
    await execFileP('pgrep', ['-f', `redis-rdb-bgsave 127\\.0\\.0\\.1:${port}$`]);
    return true;
  } catch {
    return false;
  }
}
