/**
 * Passwords for a real PostgreSQL that requires them (scram-sha-256 over TCP) and a Redis with `requirepass`, both
 * with passwords holding `#?/@` (PostgreSQL's also `:` and `\`): backup and restore through each documented route
 * (PGPASSWORD, PGPASSFILE, password files in the config and as restore flags, percent-encoded URL passwords), a
 * drill into configured servers with password files, and the spawned pg_dump's /proc/<pid>/cmdline and our logs
 * never holding the password, sampled while pg_dump is held mid-dump behind a table lock.
 */
import type { ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Command } from 'commander';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/engine/backup.js';
import { runRestore } from '../../src/engine/restore.js';
import { runDrill } from '../../src/engine/drill/run.js';
import { loadIdentities } from '../../src/config/keys.js';
import type { Config } from '../../src/config/schema.js';
import { generateX25519Identity, formatIdentityFile } from '../../src/crypto/index.js';
import { ArtifactWriter } from '../../src/repository/artifact-writer.js';
import { backupPostgresWith } from '../../src/sources/postgres/backup.js';
import { postgresSource } from '../../src/sources/postgres/index.js';
import { redisSource } from '../../src/sources/redis/index.js';
import { configSchema } from '../../src/sources/registry.js';
import { openStore } from '../../src/store/open.js';
import { silentLogger } from '../../src/util/log.js';
import { startPostgres, withClient, type TestPostgres } from '../support/postgres.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { tempDir } from '../support/tmp.js';

const PG_PW = 'Pq7Kd#Zx9Qa?Wv4Hy/Ku2Bn@Lm5Xe:Np8Fs\\Rt3Jw';
const REDIS_PW = 'Rd5Gh#Yt6Uj?Io7Pk/Lz8Mx@Cv9Bn';
const TARGET_PW = 'Tg3Wq#Er4Ty?Ui5Op/As6Df@Gh7Jk';
const ROWS = 3000;

/** A password as it may show: raw, percent-encoded, and the parts around its `#?/@`. */
const leaks = (pw: string) => [pw, encodeURIComponent(pw), ...pw.split(/[#?/@:\\]/).filter((p) => p.length >= 4)];

describe('credentials: PGPASSWORD, PGPASSFILE, password files, URL passwords; never on a command line', () => {
  let pgServer: TestPostgres;
  let redis: TestRedis;
  let target: TestRedis;
  let tmp: { path: string; cleanup: () => Promise<void> };
  let recipient: string;
  let identityFile: string;
  let pgPasswordFile: string;
  let redisPasswordFile: string;
  let targetPasswordFile: string;
  let stores = 0;
  const saved = { PGPASSWORD: process.env.PGPASSWORD, PGPASSFILE: process.env.PGPASSFILE };

  const pgUrl = () => `postgres://postgres@127.0.0.1:${pgServer.port}/`;
  const config = (sources: { postgres?: Record<string, unknown>; redis?: Record<string, unknown> }, over: Record<string, unknown> = {}): Config =>
    configSchema.parse({
      store: { url: `file://${join(tmp.path, `store-${++stores}`)}` },
      encryption: { recipients: [recipient], identityFile },
      sources: {
        postgres: { url: pgUrl(), databases: ['app'], globals: true, ...sources.postgres },
        redis: { url: `redis://127.0.0.1:${redis.port}`, method: 'file', ...sources.redis },
      },
      ...over,
    }) as Config;
  /** Parses restore flags as the CLI does (commander, each source's restoreFlags) into that source's options. */
  const flags = (source: typeof postgresSource | typeof redisSource, argv: string[]) => {
    const cmd = new Command().exitOverride();
    for (const f of source.restoreFlags) cmd.option(f.flags, f.description);
    cmd.parse(argv, { from: 'user' });
    return cmd.opts();
  };
  const rows = async (db: string) => Number((await pgServer.query<{ n: string }>(db, 'select count(*) as n from items')).rows[0].n);
  const targetKeys = async () => (await target.client(0).dbsize()) + (await target.client(1).dbsize());

  /** Backup, then restore PostgreSQL into `database` (with the roles: psql) and Redis into the target; both checked. */
  const roundTrip = async (cfg: Config, pgRestore: Record<string, unknown>, redisRestore: Record<string, unknown>) => {
    const log = capture();
    const manifest = await runBackup({ config: cfg, store: openStore(cfg.store), schedule: 'manual', log: log.logger });
    expect(manifest.failures ?? [], JSON.stringify(manifest.failures)).toEqual([]);
    expect(manifest.status).toBe('Completed');
    await target.client(0).flushall();
    const report = await runRestore({
      store: openStore(cfg.store),
      manifest,
      identities: await loadIdentities(cfg),
      config: cfg,
      log: log.logger,
      postgres: { withGlobals: true, ...pgRestore },
      redis: redisRestore,
    } as Parameters<typeof runRestore>[0]);
    expect(report.failed).toBe(0);
    expect(await rows(String(pgRestore.database))).toBe(ROWS);
    expect(await targetKeys()).toBe(30);
    expect(log.hits()).toEqual([]);
  };

  /** A logger at debug level whose every line is kept, and the password leaks found in them. */
  const capture = () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }));
    const hits = () => lines.flatMap((l) => [...leaks(PG_PW), ...leaks(REDIS_PW), ...leaks(TARGET_PW)].filter((s) => l.includes(s)).map((s) => `${s} in ${l.slice(0, 200)}`));
    return { logger, lines, hits };
  };

  beforeAll(async () => {
    [pgServer, redis, target, tmp] = await Promise.all([
      startPostgres({ password: PG_PW }),
      startRedis({ password: REDIS_PW, appendonly: false, save: '' }),
      startRedis({ password: TARGET_PW, appendonly: false, save: '' }),
      tempDir('gushen-dr-credentials-'),
    ]);
    await pgServer.query('postgres', 'create database app');
    await pgServer.query('app', `create table items (id int primary key, body text); insert into items select g, repeat('x', 200) from generate_series(1, ${ROWS}) g`);
    for (let i = 0; i < 20; i++) await redis.client(0).set(`k${i}`, `v${i}`);
    for (let i = 0; i < 10; i++) await redis.client(1).set(`k${i}`, `v${i}`);
    const key = generateX25519Identity();
    recipient = key.recipient;
    identityFile = join(tmp.path, 'dr.key');
    await writeFile(identityFile, formatIdentityFile(key.identity, key.recipient, new Date()), { mode: 0o600 });
    // Password files hold the password raw: no percent-encoding, no escapes.
    pgPasswordFile = join(tmp.path, 'pg.pw');
    redisPasswordFile = join(tmp.path, 'redis.pw');
    targetPasswordFile = join(tmp.path, 'target.pw');
    await writeFile(pgPasswordFile, `${PG_PW}\n`, { mode: 0o600 });
    await writeFile(redisPasswordFile, REDIS_PW, { mode: 0o600 });
    await writeFile(targetPasswordFile, `${TARGET_PW}\n`, { mode: 0o600 });
  }, 120_000);
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  afterAll(async () => {
    await Promise.all([pgServer?.stop(), redis?.stop(), target?.stop()]);
    await tmp?.cleanup();
  });

  it('the server really requires the password (control)', async () => {
    delete process.env.PGPASSWORD;
    delete process.env.PGPASSFILE;
    await expect(withClient(`${pgUrl()}app`, (c) => c.query('select 1'))).rejects.toThrow(/password/);
    const cfg = config({});
    const manifest = await runBackup({ config: cfg, store: openStore(cfg.store), schedule: 'manual', log: silentLogger });
    expect(manifest.status).not.toBe('Completed');
  });

  it('PGPASSWORD: pg_dump, pg_dumpall, pg_restore, psql and our own connections; Redis with a percent-encoded URL password', async () => {
    process.env.PGPASSWORD = PG_PW;
    delete process.env.PGPASSFILE;
    const cfg = config({ redis: { url: `redis://:${encodeURIComponent(REDIS_PW)}@127.0.0.1:${redis.port}` } });
    await roundTrip(cfg, { pgUrl: pgUrl(), database: 'r_env' }, { redisUrl: `redis://:${encodeURIComponent(TARGET_PW)}@127.0.0.1:${target.port}` });
  }, 120_000);

  it('PGPASSFILE (mode 0600, with : and \\ escaped)', async () => {
    delete process.env.PGPASSWORD;
    const passfile = join(tmp.path, 'pgpass');
    await writeFile(passfile, `127.0.0.1:${pgServer.port}:*:postgres:${PG_PW.replace(/\\/g, '\\\\').replace(/:/g, '\\:')}\n`, { mode: 0o600 });
    process.env.PGPASSFILE = passfile;
    const cfg = config({ redis: { url: `redis://:${encodeURIComponent(REDIS_PW)}@127.0.0.1:${redis.port}` } });
    await roundTrip(cfg, { pgUrl: pgUrl(), database: 'r_passfile' }, { redisUrl: `redis://:${encodeURIComponent(TARGET_PW)}@127.0.0.1:${target.port}` });
  }, 120_000);

  it('a percent-encoded password in the PostgreSQL URLs of the backup and the restore', async () => {
    delete process.env.PGPASSWORD;
    delete process.env.PGPASSFILE;
    const encoded = `postgres://postgres:${encodeURIComponent(PG_PW)}@127.0.0.1:${pgServer.port}/`;
    await roundTrip(config({ postgres: { url: encoded }, redis: { passwordFile: redisPasswordFile } }), { pgUrl: encoded, database: 'r_encoded' }, { redisUrl: `redis://127.0.0.1:${target.port}`, passwordFile: targetPasswordFile });
  }, 120_000);

  it('password files: sources.*.passwordFile for the backup, --pg-password-file / --redis-password-file for the restore', async () => {
    delete process.env.PGPASSWORD;
    delete process.env.PGPASSFILE;
    const cfg = config({ postgres: { passwordFile: pgPasswordFile }, redis: { passwordFile: redisPasswordFile } });
    const common = { force: false, dryRun: false };
    const pgOpts = postgresSource.restoreOptions(flags(postgresSource, ['--pg-url', pgUrl(), '--pg-password-file', pgPasswordFile, '--database', 'r_file']), common);
    const redisOpts = redisSource.restoreOptions(flags(redisSource, ['--redis-url', `redis://127.0.0.1:${target.port}`, '--redis-password-file', targetPasswordFile]), common);
    await roundTrip(cfg, { ...pgOpts }, { ...redisOpts });
  }, 120_000);

  it('drill into configured servers with drill.postgres.passwordFile and drill.redis.passwordFile', async () => {
    delete process.env.PGPASSWORD;
    delete process.env.PGPASSFILE;
    const cfg = config(
      { postgres: { passwordFile: pgPasswordFile }, redis: { passwordFile: redisPasswordFile } },
      { drill: { postgres: { url: pgUrl(), passwordFile: pgPasswordFile }, redis: { url: `redis://127.0.0.1:${target.port}`, passwordFile: targetPasswordFile } } },
    );
    const manifest = await runBackup({ config: cfg, store: openStore(cfg.store), schedule: 'manual', log: silentLogger });
    expect(manifest.status).toBe('Completed');
    await target.client(0).flushall();
    const log = capture();
    const r = await runDrill({ store: openStore(cfg.store), config: cfg, log: log.logger, identities: await loadIdentities(cfg) });
    expect(r.failure).toBeUndefined();
    expect(r.status).toBe('Passed');
    expect(r.scratch.servers).toEqual({ postgres: 'configured', redis: 'configured' });
    expect(log.hits()).toEqual([]);
    expect([...leaks(PG_PW), ...leaks(TARGET_PW)].filter((s) => JSON.stringify(r).includes(s))).toEqual([]);
  }, 120_000);

  describe("the spawned pg_dump's /proc/<pid>/cmdline, sampled while it waits for a table lock", () => {
    /**
     * Backs up with `url` (and `passwordFile`), holding an ACCESS EXCLUSIVE lock on the table from the moment the
     * snapshot is exported until pg_dump is connected and waiting for it; /proc/<pid>/cmdline is read over and
     * over meanwhile and until pg_dump exits.
     */
    const sampledBackup = async (url: string, passwordFile?: string) => {
      const cfg = config({ postgres: { url, globals: false, ...(passwordFile ? { passwordFile } : {}) }, redis: { url: `redis://:${encodeURIComponent(REDIS_PW)}@127.0.0.1:${redis.port}` } });
      const adminUrl = `postgres://postgres:${encodeURIComponent(PG_PW)}@127.0.0.1:${pgServer.port}/app`;
      const locker = new pg.Client({ connectionString: adminUrl });
      // Outside any transaction: pg_stat_activity is read once per transaction.
      const monitor = new pg.Client({ connectionString: adminUrl });
      await Promise.all([locker.connect(), monitor.connect()]);
      const samples: string[] = [];
      let sampling: Promise<void> | undefined;
      let released: Promise<void> | undefined;
      let sawWaiting = false;
      const log = capture();
      try {
        const store = openStore(cfg.store);
        const result = await backupPostgresWith(
          { backupId: '20260301T020000Z-manual', config: cfg, writer: new ArtifactWriter(store, '20260301T020000Z-manual', [recipient]), log: log.logger, signal: new AbortController().signal },
          {
            onSnapshot: async () => {
              await locker.query('begin');
              await locker.query('lock table items in access exclusive mode');
            },
            onChild: (tool, _db, child: ChildProcess) => {
              if (tool !== 'pg_dump') return;
              sampling = sample(child.pid!, samples, child);
              released = (async () => {
                try {
                  // pg_dump is connected (it authenticated) and waits for the lock: its command line is final.
                  while (child.exitCode === null && child.signalCode === null) {
                    const r = await monitor.query<{ n: string }>("select count(*) as n from pg_stat_activity where wait_event_type = 'Lock' and query ilike 'lock table%'");
                    if (Number(r.rows[0].n) > 0 && samples.some((x) => /pg_dump$/.test(x.split('\0')[0]))) {
                      sawWaiting = true;
                      break;
                    }
                    await new Promise((res) => setTimeout(res, 20));
                  }
                } finally {
                  await locker.query('commit');
                }
              })();
            },
          },
        );
        await released;
        await sampling;
        expect(result.failures).toEqual([]);
        expect(result.artifacts.map((a) => a.name)).toEqual(['postgres/app.dump']);
        expect(sawWaiting, 'pg_dump was seen waiting for the lock').toBe(true);
      } finally {
        await Promise.all([locker.end().catch(() => undefined), monitor.end().catch(() => undefined)]);
      }
      return { samples, hits: log.hits() };
    };

    const check = ({ samples, hits }: { samples: string[]; hits: string[] }) => {
      const dumpSamples = samples.filter((s) => /pg_dump/.test(s.split('\0')[0]));
      expect(dumpSamples.length).toBeGreaterThan(0);
      expect(dumpSamples[0]).toContain(`--dbname=postgres://postgres@127.0.0.1:${pgServer.port}/app`);
      for (const s of samples) {
        for (const needle of [...leaks(PG_PW), 'password=']) expect(s.replace(/\0/g, ' ')).not.toContain(needle);
      }
      expect(hits).toEqual([]);
    };

    it('?password= in the URL: moved into PGPASSWORD, not in argv nor in the logs', async () => {
      delete process.env.PGPASSWORD;
      check(await sampledBackup(`${pgUrl()}?password=${encodeURIComponent(PG_PW)}`));
    }, 120_000);

    it('a percent-encoded userinfo password', async () => {
      delete process.env.PGPASSWORD;
      check(await sampledBackup(`postgres://postgres:${encodeURIComponent(PG_PW)}@127.0.0.1:${pgServer.port}/`));
    }, 120_000);

    it('sources.postgres.passwordFile', async () => {
      delete process.env.PGPASSWORD;
      check(await sampledBackup(pgUrl(), pgPasswordFile));
    }, 120_000);
  });
});

/** Reads /proc/<pid>/cmdline until the process is gone, appending every distinct reading. */
async function sample(pid: number, out: string[], child: ChildProcess): Promise<void> {
  while (child.exitCode === null && child.signalCode === null) {
    let s: string;
    try {
      s = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return;
    }
    if (s && out[out.length - 1] !== s) out.push(s);
    await new Promise((r) => setImmediate(r));
  }
}
