// `npm run quickstart` (after `npm run build`): proves gushen-dr end to end on this machine without touching any
// server it did not start. It starts a throwaway PostgreSQL and Redis (the drill's own scratch-server modules, from
// dist/), seeds them with the GuShen-like demo dataset (src/demo/dataset.ts), writes backups/demo/gushen-dr.yaml for
// them (key pair keys/demo.key + keys/demo.pub, made on first use), then runs the built CLI: backup into
// ./backups/demo, verify --deep, a local-mode drill (a second pair of throwaway servers), list; and prints what was
// proven: rows and keys seeded = backed up = restored, per table and per database, and the drill's RTO.
// With point-in-time recovery available (pg_receivewal and pg_basebackup of PostgreSQL 15+ among the server
// binaries), the demo config enables sources.postgres.pitr and `gushen-dr wal-archive` runs from before the backup
// (which then holds a base backup) until the end; two batches of marked rows are written after the backup, with a
// time T between them, and `restore latest --only postgres --to-time T` must bring back the first and not the second
// (counted on the restored data directory, started privately).
// The servers are stopped at the end, also after a failure or Ctrl-C. examples/local.yaml is not read.
/* global AbortController, fetch */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'gushen-dr.js');
const DIST = join(ROOT, 'dist');

/** Paths relative to the working directory, as the config and the README name them. */
export const DEMO = {
  dir: 'backups/demo',
  config: 'backups/demo/gushen-dr.yaml',
  key: 'keys/demo.key',
  pub: 'keys/demo.pub',
  /** pg_receivewal's spool (emptied at the start and removed at the end) and the WAL archiver's log. */
  spool: 'backups/demo/wal-spool',
  walLog: 'backups/demo/wal-archive.log',
};

/** Rows written in each batch of the point-in-time demo (one transaction each). */
const PITR_BATCH_ROWS = 5;
/** How often the WAL archiver stores the segment being written (sources.postgres.pitr.partialUploadSeconds). */
const PITR_PARTIAL_SECONDS = 2;

/** The demo database's name on the throwaway PostgreSQL. */
const DATABASE = 'gushen';

/** The demo dataset's default size: ~32 MiB of PostgreSQL and ~30,000 Redis keys (with ~6 MB of large values). */
export const DEFAULT_SIZE = { pgMiB: 32, redisKeys: 30_000 };

/** libpq's connection variables (PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD, PGSERVICE, PGSSLMODE, …). */
const LIBPQ_ENV = /^PG[A-Z]+$/;

const dist = (rel) => import(pathToFileURL(join(DIST, rel)).href);

class Interrupted extends Error {}

/**
 * Runs the quick start in `cwd` (default: the current directory). Results go to `stdout`, progress to `stderr`.
 * `signal` aborts it (the running CLI child gets SIGINT and cleans up; the demo servers are stopped).
 * Returns the exit code: 0 proven, 1 failed, 2 cannot run here (Node < 24, no build), 130 interrupted.
 */
export async function main(opts = {}) {
  const cwd = resolve(opts.cwd ?? process.cwd());
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const size = { ...DEFAULT_SIZE, ...opts.size };
  const signal = opts.signal;
  const say = (line = '') => stderr.write(`${line}\n`);
  const print = (line = '') => stdout.write(`${line}\n`);
  if (Number(process.versions.node.split('.')[0]) < 24) {
    say(`quickstart: gushen-dr needs Node.js 24 or newer (this is ${process.version}); run \`npm run quickstart\`, which uses the project's Node 24`);
    return 2;
  }
  if (!existsSync(join(DIST, 'cli.js')) || !existsSync(join(DIST, 'demo', 'dataset.js'))) {
    say(`quickstart: ${DIST} is missing or incomplete; run \`npm run build\` first (npm run quickstart does)`);
    return 2;
  }
  const [
    { findPostgresBinDir, startScratchPostgres },
    { startScratchRedis },
    { pgClientUrl },
    { generateDataset },
    { reportMarkdown, fmtSeconds },
    { startPrivate },
    { silentLogger },
    { stringify },
    { default: pgModule },
  ] = await Promise.all([
    dist('sources/postgres/scratch-server.js'),
    dist('sources/redis/scratch-server.js'),
    dist('sources/postgres/tools.js'),
    dist('demo/dataset.js'),
    dist('engine/drill/report.js'),
    dist('sources/postgres/pitr/recover.js'),
    dist('util/log.js'),
    import('yaml'),
    import('pg'),
  ]);

  // The quickstart talks only to servers it started, named by URL: libpq's and node-postgres's environment defaults
  // (PGPORT fills in a Unix-socket URL's missing port, …) must not redirect it or its CLI children.
  const savedEnv = {};
  for (const k of Object.keys(process.env)) {
    if (LIBPQ_ENV.test(k)) {
      savedEnv[k] = process.env[k];
      delete process.env[k];
    }
  }

  const servers = [];
  let stopping = Promise.resolve();
  const stopOne = async (s) => {
    try {
      await s.stop();
      say(s.done ?? `quickstart: stopped the throwaway ${s.what}`);
    } catch (err) {
      say(`quickstart: could not stop the throwaway ${s.what} (${s.where}): ${err instanceof Error ? err.message : err}`);
    }
  };
  /** Stops every server started so far (one at a time; a server that finishes starting later is stopped by a later call). */
  const stopServers = () =>
    (stopping = stopping.then(async () => {
      for (let s = servers.pop(); s; s = servers.pop()) await stopOne(s);
    }));
  let child;
  /** `gushen-dr wal-archive` while it runs (point-in-time recovery): { proc, exited, address, streaming, tail }. */
  let archiver;
  /** SIGTERM to the WAL archiver (it stores what pg_receivewal wrote and exits 0); resolves with its exit. Idempotent. */
  const stopArchiver = () => {
    const a = archiver;
    if (!a) return Promise.resolve(undefined);
    a.stopped ??= (async () => {
      if (a.proc.exitCode === null && a.proc.signalCode === null) a.proc.kill('SIGTERM');
      const ac = new AbortController();
      const end = await Promise.race([
        a.exited,
        sleep(60_000, undefined, { signal: ac.signal }).then(
          () => {
            say('quickstart: the WAL archiver did not stop within 60 s of SIGTERM; killing it');
            try {
              process.kill(-a.proc.pid, 'SIGKILL');
            } catch {
              // gone already
            }
            return a.exited;
          },
          () => undefined,
        ),
      ]);
      ac.abort();
      say(`quickstart: stopped the WAL archiver (SIGTERM; ${end.signal ? `killed by ${end.signal}` : `exit ${end.code}`})`);
      return end;
    })();
    return a.stopped;
  };
  const onAbort = () => {
    say('quickstart: interrupted; cleaning up');
    void stopArchiver();
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    // In-process work (starting, seeding) fails fast once its servers are gone.
    else void stopServers();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  const check = () => {
    if (signal?.aborted) throw new Interrupted('interrupted');
  };
  /** Polls `probe` until it returns something truthy; fails when the WAL archiver exits meanwhile or after `ms`. */
  const until = async (what, ms, probe) => {
    const deadline = Date.now() + ms;
    for (;;) {
      check();
      const v = await probe();
      if (v) return v;
      if (archiver && (archiver.proc.exitCode !== null || archiver.proc.signalCode !== null)) {
        throw new Error(`the WAL archiver exited (${archiver.proc.signalCode ?? `exit ${archiver.proc.exitCode}`}) while waiting for ${what}; its last lines (${DEMO.walLog}):\n${archiver.tail.join('\n')}`);
      }
      if (Date.now() > deadline) throw new Error(`waited ${ms / 1000} s for ${what}${archiver ? `; the WAL archiver's last lines (${DEMO.walLog}):\n${archiver.tail.join('\n')}` : ''}`);
      await sleep(200, undefined, signal ? { signal } : {}).catch(() => check());
    }
  };

  /**
   * Runs the built CLI in `cwd`, in its own process group (a terminal's Ctrl-C reaches it once, through us), and
   * resolves with its stdout; a non-zero exit rejects unless `mayFail`, which resolves with `{ code, text }`.
   */
  const cli = (args, { quiet = false, mayFail = false } = {}) =>
    new Promise((resolvePromise, reject) => {
      check();
      say(`$ gushen-dr ${args.join(' ')}`);
      child = spawn(process.execPath, [BIN, ...args], {
        cwd,
        detached: true,
        stdio: ['ignore', 'pipe', stderr === process.stderr ? 'inherit' : 'pipe'],
      });
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (d) => {
        text += d;
        if (!quiet) stdout.write(d);
      });
      child.stderr?.setEncoding('utf8').on('data', (d) => stderr.write(d));
      child.once('error', reject);
      child.once('close', (code, sig) => {
        child = undefined;
        if (signal?.aborted) reject(new Interrupted(`gushen-dr ${args.join(' ')}: interrupted`));
        else if (mayFail) resolvePromise({ code, text });
        else if (code !== 0) reject(new Error(`gushen-dr ${args.join(' ')} failed (exit ${code ?? sig})`));
        else resolvePromise(text);
      });
    });
  const config = ['--config', DEMO.config];

  /** Starts `gushen-dr wal-archive` (own process group, log in DEMO.walLog) and waits until it streams and /healthz says ok. */
  const startArchiver = async () => {
    check();
    const args = [...config, 'wal-archive'];
    say(`$ gushen-dr ${args.join(' ')} &   (until the end; log: ${DEMO.walLog})`);
    const proc = spawn(process.execPath, [BIN, ...args], { cwd, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    const log = createWriteStream(join(cwd, DEMO.walLog), { mode: 0o600 });
    const a = { proc, address: undefined, streaming: false, tail: [] };
    a.exited = new Promise((resolvePromise) => {
      proc.once('error', (err) => {
        a.tail.push(String(err));
        resolvePromise({ code: null, signal: null });
      });
      proc.once('close', (code, sig) => {
        log.end();
        resolvePromise({ code, signal: sig });
      });
    });
    let buf = '';
    proc.stderr.setEncoding('utf8').on('data', (d) => {
      log.write(d);
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines.filter(Boolean)) {
        a.tail.push(line);
        if (a.tail.length > 12) a.tail.shift();
        let e;
        try {
          e = JSON.parse(line);
        } catch {
          e = undefined;
        }
        if (e?.msg === 'serving /healthz and /metrics') a.address = e.listen;
        else if (e?.msg === 'streaming WAL') a.streaming = true;
        // Its warnings and errors, live (our own SIGTERM's notice aside); everything is in its log.
        if ((e?.level ?? 40) >= 40 && e?.signal === undefined) say(`wal-archive: ${e ? `${e.msg}${e.err ? `: ${e.err}` : ''}` : line}`);
      }
    });
    archiver = a;
    await until('the WAL archiver to stream', 60_000, () => a.streaming && a.address);
    await until('the WAL archiver to be healthy (/healthz)', 30_000, () => healthz().then((h) => h?.ok));
    say(`quickstart: the WAL archiver streams (pg_receivewal, slot gushen_dr); /healthz and /metrics on ${a.address}`);
  };
  /** The WAL archiver's /healthz: { ok, body }, or undefined when it does not answer. */
  const healthz = () =>
    fetch(`http://${archiver.address}/healthz`)
      .then(async (r) => ({ ok: r.ok, body: await r.json() }))
      .catch(() => undefined);

  /** One statement on the throwaway PostgreSQL's database `db`, on a connection of its own. */
  let pgUrl;
  const sql = async (db, text, params) => {
    const c = new pgModule.Client({ connectionString: pgClientUrl(pgUrl, db), connectionTimeoutMillis: 30_000 });
    c.on('error', () => undefined);
    await c.connect();
    try {
      return await c.query(text, params);
    } finally {
      await c.end().catch(() => undefined);
    }
  };

  try {
    // 1. Two throwaway servers of our own.
    say('quickstart: starting a throwaway PostgreSQL and Redis (stopped again at the end; no other server is touched)');
    const binDir = await findPostgresBinDir(13);
    const started = await Promise.allSettled([startScratchPostgres(binDir), startScratchRedis()]);
    started.forEach((r, i) => r.status === 'fulfilled' && servers.push({ ...r.value, stop: r.value.stop, what: i === 0 ? 'PostgreSQL' : 'Redis' }));
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const [pg, redis] = started.map((r) => r.value);
    pgUrl = pg.url;
    say(`quickstart: PostgreSQL ${pg.where}`);
    say(`quickstart: Redis ${redis.where}`);
    check();
    // Point-in-time recovery needs pg_receivewal and pg_basebackup, and PostgreSQL 15+ (backup_manifest in the tar).
    const major = Math.floor(Number((await sql('postgres', 'show server_version_num')).rows[0].server_version_num) / 10000);
    const missing = ['pg_receivewal', 'pg_basebackup'].filter((t) => !existsSync(join(binDir, t)));
    const pitrSkipped = missing.length
      ? `${binDir} has no ${missing.join(' or ')}`
      : major < 15
        ? `PostgreSQL ${major}: a base backup needs 15 or newer (pg_basebackup writes the backup_manifest into the tar on stdout from 15 on)`
        : undefined;
    if (pitrSkipped) say(`quickstart: point-in-time recovery demo skipped: ${pitrSkipped}`);

    // 2. The demo dataset.
    say(`quickstart: seeding the GuShen-like demo dataset (~${size.pgMiB} MiB of PostgreSQL, ~${size.redisKeys} Redis keys)`);
    const seeded = await generateDataset({
      pgUrl: pgClientUrl(pg.url, DATABASE),
      pgMiB: size.pgMiB,
      redisUrl: redis.url,
      redisKeys: size.redisKeys,
      log: (l) => say(`quickstart: ${l}`),
    });
    check();

    // 3. A key pair and a config for the demo (never examples/local.yaml).
    await mkdir(join(cwd, DEMO.dir), { recursive: true });
    if (!existsSync(join(cwd, DEMO.key))) {
      if (existsSync(join(cwd, DEMO.pub))) throw new Error(`${DEMO.pub} exists without ${DEMO.key}: remove it, and a new key pair is made`);
      await cli(['keygen', '--out', DEMO.key, '--recipient-out', DEMO.pub], { quiet: true });
    } else if (!existsSync(join(cwd, DEMO.pub))) {
      throw new Error(`${DEMO.key} exists without ${DEMO.pub}: remove ${DEMO.key} (only demo backups use it), and a new key pair is made`);
    }
    const pitrConfig = {
      enabled: true,
      slot: 'gushen_dr',
      partialUploadSeconds: PITR_PARTIAL_SECONDS,
      spoolDir: join(cwd, DEMO.spool),
      listen: '127.0.0.1:0',
      walWaitSeconds: 60,
    };
    const demoConfig = {
      store: { url: `file://./${DEMO.dir}` },
      encryption: { recipientsFile: `./${DEMO.pub}`, identityFile: `./${DEMO.key}` },
      sources: {
        postgres: { url: pg.url, databases: [DATABASE], globals: true, binDir, ...(pitrSkipped ? {} : { pitr: pitrConfig }) },
        redis: { url: redis.url, method: 'file' },
      },
      retention: { manual: 3 },
      drill: { binDir },
    };
    await writeFile(
      join(cwd, DEMO.config),
      [
        '# Written by `npm run quickstart` for its throwaway PostgreSQL and Redis, which it stopped when it ended:',
        '# list, show, verify and drill (local mode: its own throwaway servers) work with this file; backup and restore',
        '# against these URLs do not. For your own servers start from examples/local.yaml.',
        ...(pitrSkipped ? [] : ['# sources.postgres.pitr: `gushen-dr wal-archive` archived the throwaway server\'s WAL during the quickstart.']),
        stringify(demoConfig),
      ].join('\n'),
      { mode: 0o600 },
    );

    // 4. With PITR: the WAL archiver, from before the backup (whose base backup needs its WAL stored) to the end.
    if (!pitrSkipped) {
      // A spool left by an earlier run holds another (long gone) cluster's WAL.
      await rm(join(cwd, DEMO.spool), { recursive: true, force: true });
      await startArchiver();
    }

    // 5. Backup, deep verify, drill, list: the built CLI, as a user runs it.
    const id = (await cli([...config, 'backup'])).trim().split('\n').pop();
    const manifest = JSON.parse(await cli([...config, '-o', 'json', 'show', id], { quiet: true }));
    // After the backup, with the archiver running: batch 1, the time T, batch 2 (verify --deep runs while the
    // archiver stores the WAL of batch 2).
    const marks = pitrSkipped ? undefined : await demoWrites();
    await cli([...config, 'verify', id, '--deep']);
    // -o json for the summary below; the report is printed as `drill` prints it.
    const drill = await cli([...config, '--log-level', 'warn', '-o', 'json', 'drill', '--backup', id], { quiet: true, mayFail: true });
    let report;
    try {
      report = JSON.parse(drill.text);
    } catch {
      throw new Error(`gushen-dr drill failed (exit ${drill.code}) without a report`);
    }
    print(reportMarkdown(report));
    // 6. With PITR: restore to T; the restored copy must hold batch 1 and none of batch 2. Then stop the archiver.
    let pitr = pitrSkipped ? { skipped: pitrSkipped } : undefined;
    if (marks) {
      pitr = await restoreToT(marks, binDir);
      pitr.archiverExit = await stopArchiver();
    }
    await cli([...config, 'list']);
    if (report.status !== 'Passed') throw new Error(`the drill failed in phase ${report.failure?.phase}: ${report.failure?.error}`);

    // 7. What was proven.
    const proof = compare(seeded, manifest, report);
    const problems = [...proof.problems, ...pitrProblems(pitr)];
    for (const line of summary(proof, manifest, report, fmtSeconds, pitr)) print(line);
    if (problems.length > 0) throw new Error(`not proven: ${problems.join('; ')}`);
    return 0;
  } catch (err) {
    if (err instanceof Interrupted || signal?.aborted) {
      say('quickstart: interrupted');
      return 130;
    }
    say(`quickstart: FAILED: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (archiver) {
      await stopArchiver();
      await rm(join(cwd, DEMO.spool), { recursive: true, force: true }).catch(() => undefined);
    }
    await stopServers();
    Object.assign(process.env, savedEnv);
  }

  /**
   * The demo writes: `demo.pitr_marks`, created after the backup; batch 1 (one transaction a row), ~1 s, the time T
   * (the server's clock, UTC, microseconds), ~1 s, batch 2; and the WAL position just past batch 2.
   */
  async function demoWrites() {
    check();
    say(`quickstart: demo writes for point-in-time recovery: batch 1 (${PITR_BATCH_ROWS} rows into demo.pitr_marks), T, batch 2 (${PITR_BATCH_ROWS} rows)`);
    await sql(DATABASE, 'create schema demo; create table demo.pitr_marks (batch int not null, n int not null, at timestamptz not null default clock_timestamp())');
    const batch = async (b) => {
      for (let n = 1; n <= PITR_BATCH_ROWS; n++) await sql(DATABASE, 'insert into demo.pitr_marks (batch, n) values ($1, $2)', [b, n]);
    };
    const pause = () => sleep(1000, undefined, signal ? { signal } : {}).catch(() => check());
    await batch(1);
    await pause();
    const t = (await sql(DATABASE, `select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as t`)).rows[0].t;
    await pause();
    await batch(2);
    const { rows } = await sql(DATABASE, 'select batch, count(*)::int as rows from demo.pitr_marks group by batch order by batch');
    const lsn = (await sql(DATABASE, 'select pg_current_wal_insert_lsn()::text as lsn')).rows[0].lsn;
    const written = Object.fromEntries(rows.map((r) => [r.batch, r.rows]));
    say(`quickstart: T = ${t}; batch 1: ${written[1]} rows before it, batch 2: ${written[2]} rows after it (WAL up to ${lsn})`);
    return { t, lsn, written };
  }

  /**
   * Waits until the archiver has stored the WAL of batch 2, restores the latest backup to T into a throwaway data
   * directory, starts it privately (the project's own helper: Unix socket in a 0700 directory, no TCP), counts the
   * marks by batch, stops it and removes the directory.
   */
  async function restoreToT(marks, binDir) {
    const t0 = Date.now();
    const archivedLsn = await until(`the WAL archiver to store the WAL of batch 2 (up to ${marks.lsn})`, 60_000, async () => {
      const h = await healthz();
      const at = h?.body?.archivedLsn;
      // Rounded up to the WAL page: a record's last bytes may be zeros, which the archiver cannot tell from padding.
      return at && ((parseLsn(at) + 8191n) / 8192n) * 8192n >= parseLsn(marks.lsn) ? at : undefined;
    });
    say(`quickstart: the archiver has stored WAL up to ${archivedLsn} (batch 2 is in the archive)`);
    const base = await mkdtemp(join(tmpdir(), 'gushen-dr-quickstart-pitr-'));
    // The restored directory is owned by postgres (when we are root), which must reach it; it is 0700 itself.
    await chmod(base, 0o755);
    let srv;
    const entry = {
      what: 'PostgreSQL restored to T',
      where: base,
      stop: async () => {
        await srv?.stop();
        await rm(base, { recursive: true, force: true });
      },
      done: `quickstart: stopped the PostgreSQL restored to T and removed its data directory (${base})`,
    };
    servers.push(entry);
    const pgdata = join(base, 'data');
    const restored = JSON.parse(await cli([...config, '-o', 'json', 'restore', 'latest', '--only', 'postgres', '--to-time', marks.t, '--pgdata', pgdata], { quiet: true }));
    const r = restored.postgres?.pitr ?? {};
    print(`restore latest --only postgres --to-time ${marks.t}:`);
    for (const i of restored.items ?? []) print(`  ${i.item}: ${i.result}${i.detail ? ` (${i.detail})` : ''}`);
    print();
    check();
    const st = await stat(pgdata);
    const owner = process.getuid?.() === 0 ? { uid: st.uid, gid: st.gid } : undefined;
    const run = join(base, 'run');
    await mkdir(run, { mode: 0o700 });
    if (owner) await chown(run, owner.uid, owner.gid);
    srv = await startPrivate({ pgdata, postgres: join(binDir, 'postgres'), socketDir: run, owner, log: silentLogger });
    const counts = (await srv.query(DATABASE, 'select batch, count(*)::int as rows from demo.pitr_marks group by batch')).rows;
    servers.splice(servers.indexOf(entry), 1);
    await stopOne(entry);
    const has = Object.fromEntries(counts.map((c) => [c.batch, c.rows]));
    return {
      target: marks.t,
      written: marks.written,
      restored: { 1: has[1] ?? 0, 2: has[2] ?? 0 },
      lastReplayed: r.lastReplayedTransaction,
      stoppedBefore: r.recoveryStoppedBefore,
      recoveredAll: r.recoveredAll,
      baseBackup: r.baseBackup?.backup,
      walFetched: r.walFetched,
      seconds: (Date.now() - t0) / 1000,
    };
  }
}

/** `16/B374D848` → a number. */
function parseLsn(s) {
  const [hi, lo] = String(s).split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

/** What the point-in-time restore failed to prove (nothing when it was skipped: that is said in the summary). */
function pitrProblems(p) {
  if (!p || p.skipped) return [];
  const out = [];
  if (!(p.written[1] > 0) || p.restored[1] !== p.written[1]) out.push(`point-in-time restore to ${p.target}: batch 1 has ${p.restored[1]} of ${p.written[1]} rows`);
  if (!(p.written[2] > 0) || p.restored[2] !== 0) out.push(`point-in-time restore to ${p.target}: batch 2 (written after T) has ${p.restored[2]} rows, expected none`);
  if (p.recoveredAll) out.push(`point-in-time restore to ${p.target}: the archive held no commit after T (batch 2's WAL was not archived)`);
  if (p.archiverExit?.code !== 0) out.push(`the WAL archiver ended with ${p.archiverExit?.signal ?? `exit ${p.archiverExit?.code}`} on SIGTERM, not 0`);
  return out;
}

/**
 * Seeded (the generator's own counts) against backed up (the manifest's facts) against restored (the drill's
 * checks), per table and per Redis database.
 */
function compare(seeded, manifest, report) {
  const problems = [];
  const pgFacts = manifest.artifacts.find((a) => a.facts?.type === 'postgres')?.facts;
  const redisFacts = manifest.artifacts.find((a) => a.facts?.type === 'redis')?.facts;
  const checks = new Map(report.checks.map((c) => [`${c.kind}:${c.name}`, c]));
  const restoredDb = report.scratch.databases[0];
  const tables = [];
  const backedUp = new Map((pgFacts?.tables ?? []).map((t) => [`${t.schema}.${t.name}`, t.rows]));
  for (const t of seeded.postgres?.tables ?? []) {
    const name = `${t.schema}.${t.name}`;
    const c = checks.get(`postgres:${restoredDb}: ${name}`);
    const row = { name, seeded: t.rows, backedUp: backedUp.get(name), restored: c?.actual };
    row.equal = row.seeded > 0 && row.backedUp === row.seeded && row.restored === row.seeded && c?.ok === true;
    if (!row.equal) problems.push(`${name}: seeded ${row.seeded}, backed up ${row.backedUp ?? 'missing'}, restored ${row.restored ?? 'missing'}`);
    tables.push(row);
    backedUp.delete(name);
  }
  for (const name of backedUp.keys()) problems.push(`${name}: in the backup but not seeded`);
  const quotes = seeded.redis?.families.quote ?? 0;
  const dbs = [];
  for (const [db, n] of Object.entries(seeded.redis?.perDb ?? {})) {
    const f = redisFacts?.databases.find((d) => d.db === Number(db));
    const c = checks.get(`redis:db${db} keys`);
    // Quotes live one minute: a slow machine may see some expire between seeding and the snapshot.
    const lost = f ? n - f.keys : n;
    const row = { db: Number(db), seeded: n, backedUp: f?.keys, restored: c?.actual, expired: f && typeof c?.expected === 'number' ? f.keys - c.expected : undefined };
    row.equal = n > 0 && f !== undefined && lost >= 0 && lost <= (Number(db) === 0 ? quotes : 0) && c?.ok === true && typeof row.restored === 'number' && row.restored > 0;
    if (!row.equal) problems.push(`redis db${db}: seeded ${n}, backed up ${f?.keys ?? 'missing'}, restored ${row.restored ?? 'missing'}`);
    dbs.push(row);
  }
  if (tables.length === 0) problems.push('no PostgreSQL tables were seeded');
  if (dbs.length === 0) problems.push('no Redis keys were seeded');
  return { tables, dbs, problems, pgFacts, redisFacts, families: seeded.redis?.families ?? {}, seeded };
}

function summary(p, manifest, report, fmtSeconds, pitr) {
  const n = (v) => (typeof v === 'number' ? v.toLocaleString('en-US') : String(v ?? '—'));
  const pad = (s, w) => String(s).padEnd(w);
  const num = (v, w) => n(v).padStart(w);
  const stored = manifest.artifacts.reduce((s, a) => s + a.stored.size, 0);
  const rows = p.tables.reduce((s, t) => s + t.seeded, 0);
  const keys = p.dbs.reduce((s, d) => s + d.seeded, 0);
  const f = p.families;
  const lines = [
    '',
    '## What the quick start just proved',
    '',
    `Backup ${manifest.id} (${manifest.status}, ${manifest.artifacts.length} artifacts, ${(stored / 1024 / 1024).toFixed(1)} MiB stored in ./${DEMO.dir}, encrypted to ${DEMO.pub})`,
    `of a throwaway PostgreSQL ${p.pgFacts?.serverVersion ?? '?'} and Redis ${p.redisFacts?.redisVersion ?? '?'} seeded with the GuShen-like demo dataset:`,
    `${n(rows)} rows in ${p.tables.length} tables (${p.seeded.postgres?.databaseMiB ?? '?'} MiB); ${n(keys)} Redis keys: K-lines ${n(f.kline)} (TTL 1 h), backtests ${n(f.backtest)} (24 h),`,
    `sessions ${n(f.session)} (3 h), quotes ${n(f.quote)} (1 min), ${n(f.stream)} streams with consumer groups, and more.`,
    '',
    '- verify --deep: every artifact decrypted; sizes, SHA-256 and each source\'s own check (pg_restore --list, the RDB parser) passed.',
    `- drill (${report.mode} mode): restored into a second pair of throwaway servers; every count below equal; RTO ${fmtSeconds(report.rtoSeconds)}, RPO ${fmtSeconds(report.rpoSeconds)}.`,
    '',
    `${pad('table', 26)}${'seeded'.padStart(10)}${'backed up'.padStart(11)}${'restored'.padStart(10)}`,
  ];
  for (const t of p.tables) lines.push(`${pad(t.name, 26)}${num(t.seeded, 10)}${num(t.backedUp, 11)}${num(t.restored, 10)}  ${t.equal ? 'equal' : 'DIFFERENT'}`);
  lines.push('', `${pad('redis keys', 26)}${'seeded'.padStart(10)}${'backed up'.padStart(11)}${'restored'.padStart(10)}`);
  for (const d of p.dbs) {
    const note = d.expired ? ` (${d.expired} expired since the backup: TTL)` : '';
    lines.push(`${pad(`db${d.db}`, 26)}${num(d.seeded, 10)}${num(d.backedUp, 11)}${num(d.restored, 10)}  ${d.equal ? 'equal' : 'DIFFERENT'}${note}`);
  }
  lines.push(
    '',
    p.problems.length === 0 ? 'Seeded = backed up = restored, for every table and every Redis database.' : `NOT PROVEN: ${p.problems.length} count(s) differ.`,
    '',
    ...pitrSummary(pitr, n),
    'The throwaway servers are stopped; no other server on this machine was contacted.',
    '',
    `Next: the demo backups stay in ./${DEMO.dir} (\`npx gushen-dr --config ${DEMO.config} list\`, \`show latest\`, \`drill\`).`,
    'Your own servers: examples/local.yaml; the cluster: examples/gushen.yaml and k8s/ (README).',
  );
  return lines;
}

/** The point-in-time part of the summary: what a restore to T held, or why it was skipped. */
function pitrSummary(pitr, n) {
  if (!pitr) return [];
  if (pitr.skipped) return [`Point-in-time restore: skipped: ${pitr.skipped}.`, ''];
  const w = pitr.written;
  const r = pitr.restored;
  const proven = pitrProblems(pitr).length === 0;
  const exit = pitr.archiverExit?.signal ? `was killed by ${pitr.archiverExit.signal}` : `exited ${pitr.archiverExit?.code}`;
  return [
    proven
      ? `Point-in-time restore: to ${pitr.target}: batch 1 (${n(r[1])} rows) present, batch 2 (${n(w[2])} rows, committed after T) absent; last replayed commit ${pitr.lastReplayed ?? '?'}.`
      : `Point-in-time restore: to ${pitr.target}: NOT PROVEN: batch 1 ${n(r[1])} of ${n(w[1])} rows, batch 2 ${n(r[2])} of ${n(w[2])} rows (expected none)${pitr.recoveredAll ? '; the archive held no commit after T' : ''}.`,
    `- WAL archiver: ${exit} on SIGTERM; it ran from before the backup (which therefore holds a base backup) through the demo writes,`,
    `  streaming with pg_receivewal through a replication slot and storing the segment being written every ${PITR_PARTIAL_SECONDS} s.`,
    `- restore latest --only postgres --to-time ${pitr.target}: base backup of ${pitr.baseBackup ?? '?'} + ${pitr.walFetched ?? '?'} archived WAL files replayed,`,
    `  stopping before the first commit after T (${pitr.stoppedBefore ?? '?'}); the copy was started privately (Unix socket only),`,
    `  counted, stopped and its data directory removed (${pitr.seconds.toFixed(1)} s). Batch 1 is in no backup: it came from the archived WAL.`,
    '',
  ];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const ac = new AbortController();
  const onSignal = (sig) => {
    if (ac.signal.aborted) {
      console.error(`quickstart: second ${sig}: exiting now (throwaway servers may be left running)`);
      process.exit(130);
    }
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  main({ signal: ac.signal }).then(
    (code) => process.exit(code),
    (err) => {
      console.error(`quickstart: ${err instanceof Error ? err.stack : String(err)}`);
      process.exit(1);
    },
  );
}
