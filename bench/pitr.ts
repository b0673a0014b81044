/**
 * Point-in-time recovery benchmark (issue 17): a PostgreSQL 15 with 16 MiB WAL segments (production's size),
 * `gushen-dr wal-archive` streaming it into a file:// store, and
 *   1. `pgbench -c 4 -j 2 -T <seconds>`: WAL generated against WAL archived, and the archive lag every second
 *      (gushen_dr_wal_archive_lag_seconds, target: under 30 s throughout);
 *   2. the base backup of `gushen-dr backup` (pg_basebackup | SHA-256 | zstd | age | store) against a bare
 *      `pg_basebackup -Ft -D - > /dev/null` of the same cluster, best of two each;
 *   3. `restore --to-time latest`: WAL replayed per second (base backup unpack included).
 *
 *   npx tsx bench/pitr.ts [--seconds 60] [--scale 10] [--json]
 *
 * Part of `npm run bench` (bench/run.ts runs it last, `--only pitr` alone, `--pitr-seconds N` for a shorter
 * pgbench) and renders the "Point-in-time recovery" section of docs/performance.md from its result: with --json
 * the last stdout line is the result as one line of JSON, without it the same object, indented.
 */
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseLsn } from '../src/sources/postgres/pitr/wal-names.js';
import { runCliProcess } from '../test/support/cli-process.js';
import { PG_BIN } from '../test/support/postgres.js';
import { pitrEnv, scrape, startArchiver, startPitrServer } from '../test/support/pitr.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
/** Production's WAL segment size, and the archiver's upload interval of the segment being written. */
const SEG_SIZE_MIB = 16;
const PARTIAL_UPLOAD_SECONDS = 10;

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  return [Number(process.hrtime.bigint() - t0) / 1e9, r];
}

async function bareBasebackup(port: number): Promise<number> {
  const [s] = await timed(
    () =>
      new Promise<void>((resolve, reject) => {
        const p = spawn(join(PG_BIN, 'pg_basebackup'), ['-D', '-', '-Ft', '-X', 'none', '--checkpoint=fast', '-d', `postgres://postgres@127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'inherit'] });
        p.stdout.resume();
        p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`pg_basebackup exited ${code}`))));
      }),
  );
  return s;
}

async function main(): Promise<void> {
  const seconds = arg('seconds', 60);
  const scale = arg('scale', 10);
  const server = await startPitrServer({ segSizeMiB: SEG_SIZE_MIB });
  const env = await pitrEnv();
  const config = await env.writeConfig(server, { partialUploadSeconds: PARTIAL_UPLOAD_SECONDS, walWaitSeconds: 600 });
  const lsn = async () => parseLsn(String((await server.query('postgres', 'select pg_current_wal_lsn()::text as l')).rows[0].l));
  const pgbench = (args: string[]) => run(join(PG_BIN, 'pgbench'), ['-h', '127.0.0.1', '-p', String(server.port), '-U', 'postgres', ...args, 'app'], { maxBuffer: 64 * MiB });
  try {
    await server.query('postgres', 'create database app');
    await pgbench(['-i', '-q', '-s', String(scale)]);
    const { p: archiver, address } = await startArchiver(config);
    try {
      // Base backup: ours (the pg_basebackup part of a backup run, from its facts) against bare, best of two.
      const bare = [await bareBasebackup(server.port)];
      const ours: number[] = [];
      let baseBytes = 0;
      for (let i = 0; i < 2; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 1100));
        const b = await runCliProcess(['--config', config, '-o', 'json', 'backup', '--only', 'postgres']);
        if (b.code !== 0) throw new Error(`backup failed: ${b.stderr.slice(-2000)}`);
        const m = JSON.parse(b.stdout) as { artifacts: Array<{ kind: string; size: number; facts: { startedAt: string; stoppedAt: string } }> };
        const base = m.artifacts.find((a) => a.kind === 'pg_basebackup-tar')!;
        ours.push((Date.parse(base.facts.stoppedAt) - Date.parse(base.facts.startedAt)) / 1000);
        baseBytes = base.size;
        bare.push(await bareBasebackup(server.port));
      }

      // pgbench under the archiver.
      const from = await lsn();
      let maxLag = 0;
      let maxLagBytes = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const m = await scrape(address).catch(() => new Map<string, number>());
          maxLag = Math.max(maxLag, m.get('gushen_dr_wal_archive_lag_seconds') ?? 0);
          maxLagBytes = Math.max(maxLagBytes, m.get('gushen_dr_wal_archive_lag_bytes') ?? 0);
          await new Promise((r) => setTimeout(r, 1000));
        }
      })();
      const [benchSeconds, out] = await timed(() => pgbench(['-c', '4', '-j', '2', '-T', String(seconds), '-n']));
      const tps = Number(/tps = ([\d.]+)/.exec(out.stdout)?.[1] ?? NaN);
      const to = await lsn();
      const [catchUp] = await timed(async () => {
        for (;;) {
          const m = await scrape(address);
          if ((m.get('gushen_dr_wal_archive_lag_seconds') ?? 1) === 0) return;
          await new Promise((r) => setTimeout(r, 500));
        }
      });
      sampling = false;
      await sampler;
      const metrics = await scrape(address);
      const generated = Number(to - from);
      const archivedTotal = metrics.get('gushen_dr_wal_archived_bytes_total') ?? 0;

      // Replay: restore to latest.
      const dir = join(env.dir, 'replayed');
      const [restoreSeconds, r] = await timed(() => runCliProcess(['--config', config, '-o', 'json', 'restore', 'latest', '--only', 'postgres', '--to-time', 'latest', '--pgdata', dir]));
      if (r.code !== 0) throw new Error(`restore failed: ${r.stderr.slice(-2000)}`);
      const rep = (JSON.parse(r.stdout) as { postgres: { pitr: { baseBackup: { startLsn: string }; redoDoneAt: string; walFetched: number; seconds: number } } }).postgres.pitr;
      const replayed = Number(parseLsn(rep.redoDoneAt) - parseLsn(rep.baseBackup.startLsn));

      const oursBest = Math.min(...ours);
      const bareBest = Math.min(...bare);
      const round = (n: number, d = 3) => Number(n.toFixed(d));
      const result = {
        pgbenchSecondsRequested: seconds,
        scale,
        clients: 4,
        threads: 2,
        segSizeMiB: SEG_SIZE_MIB,
        partialUploadSeconds: PARTIAL_UPLOAD_SECONDS,
        store: 'file://',
        serverVersion: String((await server.query('postgres', 'show server_version')).rows[0].server_version),
        pgbenchSeconds: round(benchSeconds),
        tps: round(tps, 1),
        walGeneratedMiB: round(generated / MiB),
        walGeneratedMiBps: round(generated / MiB / benchSeconds),
        walArchivedMiB: round(archivedTotal / MiB),
        segmentsArchived: metrics.get('gushen_dr_wal_segments_archived_total') ?? 0,
        partialUploads: metrics.get('gushen_dr_wal_partial_uploads_total') ?? 0,
        uploadFailures: metrics.get('gushen_dr_wal_upload_failures_total') ?? 0,
        maxLagSeconds: round(maxLag),
        maxLagMiB: round(maxLagBytes / MiB),
        lagTargetSeconds: 30,
        catchUpSeconds: round(catchUp),
        baseBackupMiB: round(baseBytes / MiB),
        baseBackupSeconds: round(oursBest),
        baseBackupRuns: ours.map((x) => round(x, 2)).join(' / '),
        bareBaseBackupSeconds: round(bareBest),
        bareBaseBackupRuns: bare.map((x) => round(x, 2)).join(' / '),
        ratioBaseBackupVsBare: round(oursBest / bareBest, 2),
        restoreCliSeconds: round(restoreSeconds),
        restoreSeconds: round(rep.seconds),
        walFetched: rep.walFetched,
        replayedMiB: round(replayed / MiB),
        replayMiBps: round(replayed / MiB / rep.seconds),
      };
      console.log(process.argv.includes('--json') ? JSON.stringify(result) : JSON.stringify(result, null, 2));
    } finally {
      archiver.signal('SIGTERM');
      await archiver.exited;
    }
  } finally {
    await server.stop();
    await env.cleanup();
  }
}

await main();
