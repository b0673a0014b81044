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
 * Not part of `npm run bench` (it needs a minute of pgbench and a full restore on top of the others): its numbers
 * are copied into docs/performance.md by hand.
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
  const server = await startPitrServer({ segSizeMiB: 16 });
  const env = await pitrEnv();
  const config = await env.writeConfig(server, { partialUploadSeconds: 10, walWaitSeconds: 600 });
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

      const rows = [
        ['pgbench -c 4 -j 2', `${benchSeconds.toFixed(0)} s, ${tps.toFixed(0)} tps (scale ${scale})`],
        ['WAL generated during pgbench', `${(generated / MiB).toFixed(0)} MiB (${(generated / MiB / benchSeconds).toFixed(1)} MiB/s)`],
        ['WAL archived (finished segments, whole run)', `${(archivedTotal / MiB).toFixed(0)} MiB in ${metrics.get('gushen_dr_wal_segments_archived_total')} segments, ${metrics.get('gushen_dr_wal_partial_uploads_total')} partial uploads, ${metrics.get('gushen_dr_wal_upload_failures_total')} failures`],
        ['archive lag during pgbench (max, sampled every s)', `${maxLag.toFixed(1)} s, ${(maxLagBytes / MiB).toFixed(1)} MiB (target < 30 s: ${maxLag < 30 ? 'met' : 'NOT met'})`],
        ['caught up after pgbench ended', `${catchUp.toFixed(1)} s`],
        ['base backup, gushen-dr (pg_basebackup → store)', `${Math.min(...ours).toFixed(2)} s for ${(baseBytes / MiB).toFixed(0)} MiB (runs: ${ours.map((x) => x.toFixed(2)).join(', ')})`],
        ['base backup, bare pg_basebackup -Ft -D - > /dev/null', `${Math.min(...bare).toFixed(2)} s (runs: ${bare.map((x) => x.toFixed(2)).join(', ')}); ratio ${(Math.min(...ours) / Math.min(...bare)).toFixed(2)}`],
        ['restore --to-time latest', `${restoreSeconds.toFixed(1)} s (CLI), ${rep.seconds.toFixed(1)} s in the restore, ${rep.walFetched} WAL files`],
        ['replay rate (WAL from base start to end / restore time)', `${(replayed / MiB).toFixed(0)} MiB in ${rep.seconds.toFixed(1)} s = ${(replayed / MiB / rep.seconds).toFixed(1)} MiB/s`],
      ];
      if (process.argv.includes('--json')) console.log(JSON.stringify({ rows: Object.fromEntries(rows) }, null, 2));
      else {
        console.log('| measurement | result |\n| --- | --- |');
        for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
      }
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
