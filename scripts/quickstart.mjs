// `npm run quickstart` (after `npm run build`): proves gushen-dr end to end on this machine without touching any
// server it did not start. It starts a throwaway PostgreSQL and Redis (the drill's own scratch-server modules, from
// dist/), seeds them with the GuShen-like demo dataset (src/demo/dataset.ts), writes backups/demo/gushen-dr.yaml for
// them (key pair keys/demo.key + keys/demo.pub, made on first use), then runs the built CLI: backup into
// ./backups/demo, verify --deep, a local-mode drill (a second pair of throwaway servers), list; and prints what was
// proven: rows and keys seeded = backed up = restored, per table and per database, and the drill's RTO.
// The servers are stopped at the end, also after a failure or Ctrl-C. examples/local.yaml is not read.
/* global AbortController */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
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
};

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
  const [{ findPostgresBinDir, startScratchPostgres }, { startScratchRedis }, { pgClientUrl }, { generateDataset }, { reportMarkdown, fmtSeconds }, { stringify }] =
    await Promise.all([
      dist('sources/postgres/scratch-server.js'),
      dist('sources/redis/scratch-server.js'),
      dist('sources/postgres/tools.js'),
      dist('demo/dataset.js'),
      dist('engine/drill/report.js'),
      import('yaml'),
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
  /** Stops every server started so far (one at a time; a server that finishes starting later is stopped by a later call). */
  const stopServers = () =>
    (stopping = stopping.then(async () => {
      for (let s = servers.pop(); s; s = servers.pop()) {
        try {
          await s.stop();
          say(`quickstart: stopped the throwaway ${s.what}`);
        } catch (err) {
          say(`quickstart: could not stop the throwaway ${s.what} (${s.where}): ${err instanceof Error ? err.message : err}`);
        }
      }
    }));
  let child;
  const onAbort = () => {
    say('quickstart: interrupted; cleaning up');
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    // In-process work (starting, seeding) fails fast once its servers are gone.
    else void stopServers();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  const check = () => {
    if (signal?.aborted) throw new Interrupted('interrupted');
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

  try {
    // 1. Two throwaway servers of our own.
    say('quickstart: starting a throwaway PostgreSQL and Redis (stopped again at the end; no other server is touched)');
    const binDir = await findPostgresBinDir(13);
    const started = await Promise.allSettled([startScratchPostgres(binDir), startScratchRedis()]);
    started.forEach((r, i) => r.status === 'fulfilled' && servers.push({ ...r.value, stop: r.value.stop, what: i === 0 ? 'PostgreSQL' : 'Redis' }));
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const [pg, redis] = started.map((r) => r.value);
    say(`quickstart: PostgreSQL ${pg.where}`);
    say(`quickstart: Redis ${redis.where}`);
    check();

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
    const demoConfig = {
      store: { url: `file://./${DEMO.dir}` },
      encryption: { recipientsFile: `./${DEMO.pub}`, identityFile: `./${DEMO.key}` },
      sources: {
        postgres: { url: pg.url, databases: [DATABASE], globals: true, binDir },
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
        stringify(demoConfig),
      ].join('\n'),
      { mode: 0o600 },
    );

    // 4. Backup, deep verify, drill, list: the built CLI, as a user runs it.
    const id = (await cli([...config, 'backup'])).trim().split('\n').pop();
    const manifest = JSON.parse(await cli([...config, '-o', 'json', 'show', id], { quiet: true }));
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
    await cli([...config, 'list']);
    if (report.status !== 'Passed') throw new Error(`the drill failed in phase ${report.failure?.phase}: ${report.failure?.error}`);

    // 5. What was proven.
    const proof = compare(seeded, manifest, report);
    for (const line of summary(proof, manifest, report, fmtSeconds)) print(line);
    if (proof.problems.length > 0) throw new Error(`counts differ: ${proof.problems.join('; ')}`);
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
    await stopServers();
    Object.assign(process.env, savedEnv);
  }
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

function summary(p, manifest, report, fmtSeconds) {
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
    'The throwaway servers are stopped; no other server on this machine was contacted.',
    '',
    `Next: the demo backups stay in ./${DEMO.dir} (\`npx gushen-dr --config ${DEMO.config} list\`, \`show latest\`, \`drill\`).`,
    'Your own servers: examples/local.yaml; the cluster: examples/gushen.yaml and k8s/ (README).',
  );
  return lines;
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
