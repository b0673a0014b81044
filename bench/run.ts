/**
 * Runs every benchmark and writes docs/performance.md: one table of the targets set in the issues, each with the
 * value measured here, as a ratio against baselines measured in the same run where the target is a ratio
 * (bare pg_dump, `pg_dump | age | aws s3 cp`, bare pg_restore, `redis-cli --rdb`), with peak RSS.
 *
 *   npm run bench                          (defaults below; about 15 minutes on 2 cores)
 *   npm run bench -- --pg-mib 256 --redis-keys 200000 --store-mib 512 --crypto-mib 256
 *
 * Flags: --pg-mib N (PostgreSQL database size, default 1024), --redis-keys N (default 2000000), --store-mib N
 * (stream size per store, default 2048), --crypto-mib N (default 1024), --jobs N (pg_restore jobs, default 2),
 * --only crypto,store,postgres,redis, --out FILE (default docs/performance.md), --no-build (do not rebuild dist/).
 *
 * The stream-to-store target is measured by bench/stream-child.mjs with dump-like data, at the default and 64 MiB S3 parts:
 * bench/store.ts's input compresses so well that an S3 upload of it is a single small part.
 *
 * Each benchmark runs in a child process of its own (bench/<name>.ts --json), and measures peak RSS in the
 * process that does the work (a child of its own again where the benchmark needs it), so one benchmark's memory
 * never counts against another's. dist/ is rebuilt first so that the CLI timings are of the current code.
 */
import { execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem, release, platform } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { productionNodeFlags } from './production-node.js';

const execFileP = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PG_BIN = process.env.GUSHEN_DR_PG_BIN ?? '/usr/lib/postgresql/15/bin';

type Json = Record<string, any>;

interface Options {
  pgMiB: number;
  redisKeys: number;
  storeMiB: number;
  cryptoMiB: number;
  jobs: number;
  only: Set<string>;
  out: string;
  build: boolean;
}

interface BenchRun {
  name: string;
  args: string[];
  seconds: number;
  result?: Json;
  error?: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    pgMiB: 1024,
    redisKeys: 2_000_000,
    storeMiB: 2048,
    cryptoMiB: 1024,
    jobs: 2,
    only: new Set(['crypto', 'store', 'postgres', 'redis']),
    out: join(ROOT, 'docs', 'performance.md'),
    build: true,
  };
  const num = (flag: string, v: string | undefined) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag}: expected a positive whole number, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [a, v] = [argv[i], argv[i + 1]];
    if (a === '--pg-mib') o.pgMiB = num(a, v);
    else if (a === '--redis-keys') o.redisKeys = num(a, v);
    else if (a === '--store-mib') o.storeMiB = num(a, v);
    else if (a === '--crypto-mib') o.cryptoMiB = num(a, v);
    else if (a === '--jobs') o.jobs = num(a, v);
    else if (a === '--out') o.out = v;
    else if (a === '--only') o.only = new Set(v.split(','));
    else if (a === '--no-build') {
      o.build = false;
      continue;
    } else throw new Error(`unknown argument ${a}`);
    i++;
  }
  return o;
}

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

/**
 * The stream-to-store measurement with data that compresses like a database dump does, so that an S3 upload
 * really is a multipart upload of many parts and its buffering shows in the peak RSS. (bench/store.ts repeats
 * one block, which zstd reduces to well under one part.) The child (bench/stream-child.mjs) runs the built code
 * with production's Node flags; the store (s3rver or a directory) is set up here, outside the measured process.
 */
async function runStream(kind: 'file' | 's3', mib: number, partMiB?: number): Promise<BenchRun> {
  const name = `stream-${kind}${kind === 's3' ? `-${partMiB ?? 'default'}` : ''}`;
  const t0 = Date.now();
  const { startS3 } = await import('../test/support/s3.js');
  const { tempDir } = await import('../test/support/tmp.js');
  const { generateX25519Identity } = await import('../src/crypto/index.js');
  const { storeSchema } = await import('../src/config/schema.js');
  const dir = await tempDir('gushen-dr-bench-stream-');
  const s3 = kind === 's3' ? await startS3('gushen-dr-bench-stream') : undefined;
  const defaults = storeSchema.parse({ url: 's3://x/' }).s3;
  const parts = partMiB ?? defaults.partSizeMiB;
  const store = s3
    ? { ...s3.storeConfig('bench'), s3: { ...s3.storeConfig('bench').s3, partSizeMiB: parts, queueSize: defaults.queueSize } }
    : { url: `file://${dir.path}` };
  const flags = productionNodeFlags();
  // What the report shows of the call (the store's JSON and the recipient are noise there).
  const shown = ['--mib', String(mib), ...(s3 ? ['--part-mib', String(parts)] : [])];
  const args = [...flags, join(ROOT, 'bench', 'stream-child.mjs'), '--mib', String(mib), '--store', JSON.stringify(store), '--recipient', generateX25519Identity().recipient];
  log(`${name} (node ${flags.join(' ')} bench/stream-child.mjs, ${mib} MiB${s3 ? `, ${parts} MiB parts` : ''}): starting`);
  try {
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...s3?.env }, stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`exited with code ${code}`))));
    });
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as Json;
    return { name, args: shown, seconds: (Date.now() - t0) / 1000, result: { ...result, partMiB: s3 ? parts : undefined, nodeFlags: flags } };
  } catch (err) {
    return { name, args: shown, seconds: (Date.now() - t0) / 1000, error: (err as Error).message };
  } finally {
    await s3?.stop();
    await dir.cleanup();
  }
}

/** Runs bench/<name>.ts --json … in a child; its last stdout line is the result. Its stderr streams through. */
function runBench(name: string, args: string[]): Promise<BenchRun> {
  const t0 = Date.now();
  log(`${name}: starting (${args.join(' ')})`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...productionNodeFlags(), '--import', 'tsx', join(ROOT, 'bench', `${name}.ts`), ...args, '--json'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => {
      const seconds = (Date.now() - t0) / 1000;
      const last = out.trim().split('\n').at(-1) ?? '';
      try {
        if (code !== 0) throw new Error(`exited with code ${code}`);
        const result = JSON.parse(last) as Json;
        log(`${name}: done in ${seconds.toFixed(0)} s`);
        resolve({ name, args, seconds, result });
      } catch (err) {
        log(`${name}: FAILED after ${seconds.toFixed(0)} s: ${(err as Error).message}`);
        resolve({ name, args, seconds, error: (err as Error).message });
      }
    });
  });
}

async function version(cmd: string, args: string[], re: RegExp = /\d+(\.\d+)+/): Promise<string> {
  try {
    const { stdout, stderr } = await execFileP(cmd, args, { timeout: 30_000 });
    return re.exec(`${stdout}${stderr}`)?.[0] ?? '?';
  } catch {
    return 'not installed';
  }
}

interface Row {
  what: string;
  measured: string;
  target: string;
  met: boolean | undefined;
  note?: string;
}

const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function rowsFor(runs: Map<string, BenchRun>, o: Options): Row[] {
  const rows: Row[] = [];
  const missing = (name: string, what: string, target: string) => {
    const r = runs.get(name);
    rows.push({ what, measured: r?.error ? `not measured: ${r.error}` : 'not run', target, met: undefined });
  };

  const crypto = runs.get('crypto')?.result;
  if (crypto) {
    const gib = crypto.ours.encMiBps / 1024;
    rows.push({ what: `Encryption (age X25519, streaming, ${o.cryptoMiB} MiB)`, measured: `${f2(gib)} GiB/s (decrypt ${f2(crypto.ours.decMiBps / 1024)} GiB/s)`, target: '≥ 1 GiB/s', met: gib >= 1 });
    rows.push({ what: 'Encryption vs the pure-JS age-encryption package', measured: `${f1(crypto.ratio)}× (${f1(crypto.pureJs.encMiBps)} MiB/s pure JS)`, target: '≥ 5×', met: crypto.ratio >= 5 });
  } else {
    missing('crypto', 'Encryption throughput', '≥ 1 GiB/s');
    missing('crypto', 'Encryption vs pure JS', '≥ 5×');
  }

  const size = (mib: number) => (mib >= 1024 ? `${(mib / 1024).toFixed(mib % 1024 ? 2 : 0)} GiB` : `${mib} MiB`);
  for (const [name, label] of [
    ['stream-file', 'file://'],
    ['stream-s3-64', 's3:// (s3rver), 64 MiB parts, 2 in flight'],
    ['stream-s3-default', 's3:// (s3rver), default parts and queue (store.s3.partSizeMiB 8, queueSize 2)'],
  ] as const) {
    const r = runs.get(name);
    if (!r) continue;
    const s = r.result;
    if (!s) {
      missing(name, `Stream to ${label}: peak RSS`, '≤ 150 MiB');
      continue;
    }
    rows.push({
      what: `${size(s.mib)} of dump-like data (half random) through the artifact writer (SHA-256, zstd, age) into ${label}: peak RSS`,
      measured: `${f1(s.peakRssMiB)} MiB (${Math.round(s.mbps)} MB/s, ${Math.round(s.storedMiB)} MiB stored)`,
      target: '≤ 150 MiB',
      // 64 MiB parts are a setting an operator may choose (memory = part size × (queueSize + 1)), not the default.
      met: name === 'stream-s3-64' ? undefined : s.peakRssMiB <= 150,
      note: name === 'stream-s3-64' ? 'not judged: a non-default setting, shown for its memory cost' : undefined,
    });
  }
  const store = runs.get('store')?.result;
  if (store) {
    for (const kind of ['file', 's3'] as const) {
      const s = store[kind] as { mbps: number; peakRssMiB: number };
      rows.push({
        what: `bench/store.ts: ${size(store.mib)} of one repeated block (zstd stores well under 1 %, so S3 gets a single part) into ${kind === 'file' ? 'file://' : 's3://'}: peak RSS`,
        measured: `${f1(s.peakRssMiB)} MiB (${Math.round(s.mbps)} MB/s)`,
        target: '≤ 150 MiB',
        met: undefined,
        note: 'not judged: the input hardly reaches the store (see the rows above)',
      });
    }
  }

  const pg = runs.get('postgres')?.result;
  if (pg) {
    const mib = `${pg.databaseMiB} MiB database, ${pg.rows} rows`;
    const ratio = (key: string) => num(pg[key]);
    const add = (what: string, key: string, target: string, limit: number, strict = false, note?: string) => {
      const v = ratio(key);
      rows.push({ what, measured: v === undefined ? String(pg[key] ?? 'not measured') : `${f2(v)}`, target, met: v === undefined || target === '—' ? undefined : strict ? v < limit : v <= limit, note });
    };
    const L = pg.zstdLevel;
    const rounds = (k: string) => (pg[`${k}_rounds`] ? `; rounds ${pg[`${k}_rounds`]}; best of each ${f2(pg[`${k}_best`])}; CPU ratio ${f2(pg[`cpuR${k.slice(1)}`] ?? NaN)}` : '');
    const cliFile = `whole \`gushen-dr backup --only postgres\` into a file:// store (lock, backup, read-back, manifest; ${pg.cliFileSeconds} s median)`;
    add(`PostgreSQL backup (${mib}): ${cliFile} / \`pg_dump -Fc -Z0 | zstd -${L} | age -r KEY > file\` (same level)`, 'ratio_cliFile_bareAge', '≤ 1.25', 1.25, false, `median of ${pg.rounds} interleaved rounds${rounds('ratio_cliFile_bareAge')}; bare ${pg.bareAgeSeconds} s`);
    add('PostgreSQL backup: the same / restic 0.14 `restic backup --stdin` of the same dump, first backup into a new repository', 'ratio_cliFile_resticFirst', '< 1.0', 1.0, true, `restic ${pg.resticFirstSeconds} s${rounds('ratio_cliFile_resticFirst')}`);
    add('PostgreSQL backup: the same / restic, repeat backup of unchanged data (deduplicated)', 'ratio_cliFile_resticRepeat', '—', Infinity, false, `reported, not judged: restic ${pg.resticRepeatSeconds} s${rounds('ratio_cliFile_resticRepeat')}`);
    add('PostgreSQL backup: the same / raw `pg_dump -Fc -Z0 > /dev/null` (moonshot)', 'ratio_cliFile_z0', '≤ 1.10', 1.1, false, `raw ${pg.z0Seconds} s${rounds('ratio_cliFile_z0')}`);
    if (pg.ratio_cliBefore_bareAge !== undefined) {
      add('PostgreSQL backup, the version before issue 19 (zstd 3, plaintext through Node, lock before connecting) / the same bare pipeline', 'ratio_cliBefore_bareAge', '—', Infinity, false, `reported: ${pg.cliBeforeSeconds} s median${rounds('ratio_cliBefore_bareAge')}`);
    }
    if (num(pg.nightlyOursStoredMiB) !== undefined) {
      rows.push({
        what: `PostgreSQL: stored size of ${pg.nightlyDays} nightly backups, 1 % of the rows of the four large tables changed each day, ours / restic (deduplicated, compressed)`,
        measured: `${f1(pg.nightlyOursStoredMiB)} / ${f1(pg.nightlyResticStoredMiB)} MiB (${f1(pg.nightlyOursStoredMiB / pg.nightlyResticStoredMiB)}×)`,
        target: 'reported',
        met: undefined,
        note: `cumulative after each day, ours / restic MiB: ${pg.nightlyStoredByDayMiB}`,
      });
    }
    add('PostgreSQL backup / `pg_dump -Fc | age | aws s3 cp -` (our backup function into s3rver)', 'ratioBackupVsShellPipeline', '< 1.0', 1.0, true, `shell pipeline ${pg.shellPipelineSeconds} s, ours ${pg.oursBackupProcessSeconds} s`);
    add('PostgreSQL backup / shell pipeline: whole `gushen-dr backup` into s3rver', 'ratioCliBackupVsShellPipeline', '< 1.0', 1.0, true, `${pg.cliBackupSeconds} s`);
    const rss = num(pg.oursBackupPeakRssMiB);
    rows.push({ what: 'PostgreSQL backup peak RSS (backup function, S3, default parts)', measured: rss === undefined ? 'not measured' : `${f1(rss)} MiB`, target: '≤ 200 MiB', met: rss === undefined ? undefined : rss <= 200 });
    for (const [k, label] of [['cliBackupPeakRssMiB', 'into s3rver'], ['cliFilePeakRssMiB', 'into a file:// store']] as const) {
      const v = num(pg[k]);
      if (v !== undefined) rows.push({ what: `PostgreSQL backup peak RSS: whole \`gushen-dr backup\` (dist/cli.js) ${label}`, measured: `${f1(v)} MiB`, target: '≤ 200 MiB', met: v <= 200 });
    }
    add(`PostgreSQL restore / bare \`pg_restore -j ${o.jobs}\` (restore function, staged)`, 'ratioRestoreVsBareRestore', '≤ 1.15', 1.15, false, `ours ${pg.oursRestoreSeconds} s vs ${pg.bareRestoreSeconds} s`);
    if (o.jobs !== 1) add('PostgreSQL restore / bare `pg_restore -j 1` (restore function, streamed)', 'ratioRestoreJobs1VsBareRestore', '≤ 1.15', 1.15, false, `ours ${pg.oursRestoreJobs1Seconds} s vs ${pg.bareRestoreJobs1Seconds} s`);
    add(`PostgreSQL restore / bare pg_restore -j ${o.jobs}: whole \`gushen-dr restore --only postgres\``, 'ratioCliRestoreVsBareRestore', '≤ 1.15', 1.15, false, `${pg.cliRestoreSeconds} s`);
    if (o.jobs !== 1) add('PostgreSQL restore / bare pg_restore -j 1: whole `gushen-dr restore` (streamed, artifact verified first)', 'ratioCliRestoreJobs1VsBareRestore', '≤ 1.15', 1.15, false, `${pg.cliRestoreJobs1Seconds} s`);
  } else {
    missing('postgres', 'PostgreSQL backup / bare pg_dump', '≤ 1.10');
  }

  const redis = runs.get('redis')?.result;
  if (redis) {
    rows.push({
      what: `Redis backup (${redis.keys} keys, ${redis.rdbMiB} MiB RDB) / \`redis-cli --rdb\``,
      measured:
        `${f2(redis.ratio)}, median of the rounds (${redis.roundRatios}); best of each ${f2(redis.ratioBestOfEach)} ` +
        `(ours ${redis.oursBackupSeconds} s vs ${redis.redisCliRdbSeconds} s); the first backup in the process ${redis.oursFirstRunSeconds} s`,
      target: o.redisKeys >= 2_000_000 ? '≤ 1.2 at 2M keys' : `≤ 1.2 (at 2M keys; run here at ${redis.keys})`,
      met: redis.ratio <= 1.2,
    });
    for (const [label, key, secs] of [
      ['with sources.redis.compressionLevel 3 (default 1)', 'ratioZstd3', 'oursBackupZstd3Seconds'],
      ['method replication (SYNC, like redis-cli --rdb, no BGSAVE file)', 'ratioReplication', 'oursReplicationSeconds'],
    ] as const) {
      const v = num(redis[key]);
      if (v !== undefined) rows.push({ what: `Redis backup / \`redis-cli --rdb\`, ${label}`, measured: `${f2(v)}, median of the rounds (best ${redis[secs]} s)`, target: '≤ 1.2 at 2M keys', met: v <= 1.2 });
    }
    const floor = num(redis.ratioBgsaveAlone);
    if (floor !== undefined) {
      rows.push({
        what: 'Redis: `BGSAVE` alone, nothing copied / `redis-cli --rdb` (the floor of any BGSAVE-based backup: the save to disk itself)',
        measured: `${f2(floor)}, median of the rounds (best ${redis.bgsaveAloneSeconds} s)`,
        target: '—',
        met: undefined,
      });
    }
    rows.push({
      what: 'Redis online restore (download, verify, throwaway load, DUMP/RESTORE into an empty server)',
      measured: `${Math.round(redis.restoreKeysPerSecond).toLocaleString('en-US')} keys/s overall (copy phase ${Math.round(redis.restoreCopyKeysPerSecond).toLocaleString('en-US')} keys/s)`,
      target: 'reported',
      met: undefined,
    });
  } else {
    missing('redis', 'Redis backup / redis-cli --rdb', '≤ 1.2 at 2M keys');
  }
  return rows;
}

function markdown(runs: Map<string, BenchRun>, o: Options, facts: Record<string, string>, command: string, totalSeconds: number): string {
  const rows = rowsFor(runs, o);
  const met = rows.filter((r) => r.met === true).length;
  const judged = rows.filter((r) => r.met !== undefined).length;
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const lines: string[] = [];
  lines.push('# Performance');
  lines.push('');
  lines.push(`Generated by \`${command}\` (bench/run.ts) on ${facts.Date}; total ${Math.round(totalSeconds / 60)} min. Do not edit by hand: rerun the command.`);
  lines.push('Every ratio is against a baseline measured in the same run, on the same data, on this machine.');
  lines.push('');
  lines.push('## Machine');
  lines.push('');
  lines.push('| | |');
  lines.push('|---|---|');
  for (const [k, v] of Object.entries(facts)) lines.push(`| ${k} | ${cell(v)} |`);
  lines.push('');
  lines.push(`## Targets (${met} of ${judged} met)`);
  lines.push('');
  lines.push('| What | Measured | Target | Met | Detail |');
  lines.push('|---|---|---|---|---|');
  for (const r of rows) lines.push(`| ${cell(r.what)} | ${cell(r.measured)} | ${cell(r.target)} | ${r.met === undefined ? '—' : r.met ? 'yes' : '**no**'} | ${cell(r.note ?? '')} |`);
  lines.push('');
  lines.push('## Baselines measured in this run');
  lines.push('');
  lines.push('| Baseline | Seconds |');
  lines.push('|---|---|');
  const pg = runs.get('postgres')?.result;
  const redis = runs.get('redis')?.result;
  const base: Array<[string, unknown]> = pg
    ? [
        [`\`pg_dump -Fc -Z0 | zstd -${pg.zstdLevel} | age -r KEY > file\` (median; runs; CPU)`, pg.bareAgeSeconds === undefined ? undefined : `${pg.bareAgeSeconds} (${pg.bareAgeRuns}; CPU ${pg.bareAgeCpuRuns})`],
        ['`pg_dump -Fc -Z0 > /dev/null` (median; runs; CPU)', pg.z0Seconds === undefined ? undefined : `${pg.z0Seconds} (${pg.z0Runs}; CPU ${pg.z0CpuRuns})`],
        ['whole `gushen-dr backup --only postgres`, file:// store (median; runs; CPU)', pg.cliFileSeconds === undefined ? undefined : `${pg.cliFileSeconds} (${pg.cliFileRuns}; CPU ${pg.cliFileCpuRuns})`],
        ['the same, the version before issue 19 (median; runs; CPU)', pg.cliBeforeSeconds === undefined ? undefined : `${pg.cliBeforeSeconds} (${pg.cliBeforeRuns}; CPU ${pg.cliBeforeCpuRuns})`],
        ['`pg_dump -Fc -Z0 | restic backup --stdin`, first (median; runs; CPU)', typeof pg.resticFirstSeconds === 'number' ? `${pg.resticFirstSeconds} (${pg.resticFirstRuns}; CPU ${pg.resticFirstCpuRuns})` : pg.resticFirstSeconds],
        ['the same, repeat (median; runs; CPU)', pg.resticRepeatSeconds === undefined ? undefined : `${pg.resticRepeatSeconds} (${pg.resticRepeatRuns}; CPU ${pg.resticRepeatCpuRuns})`],
        ['`pg_dump -Fc` (its default gzip)', pg.bareDumpGzipSeconds],
        ['`pg_dump -Fc | age -r KEY | aws s3 cp - s3://…` (s3rver)', pg.shellPipelineSeconds],
        [`\`pg_restore -j ${o.jobs}\` from a local file (best of 2)`, pg.bareRestoreSeconds],
        ['`pg_restore -j 1` from a local file (best of 2)', pg.bareRestoreJobs1Seconds],
      ]
    : [];
  if (redis) base.push(['`redis-cli --rdb FILE` (best of runs)', `${redis.redisCliRdbSeconds} (runs: ${redis.redisCliRdbRuns})`]);
  if (redis?.bgsaveAloneSeconds !== undefined) base.push(['`BGSAVE` alone, polled until done (best of runs)', `${redis.bgsaveAloneSeconds} (runs: ${redis.bgsaveAloneRuns})`]);
  for (const [k, v] of base) if (v !== undefined) lines.push(`| ${cell(k)} | ${cell(String(v))} |`);
  lines.push('');
  lines.push('## Notes');
  lines.push('');
  lines.push('- "Backup function" rows time the source alone (pg_dump → row counts in the snapshot → SHA-256 → zstd → age → S3) in a child process; "whole gushen-dr" rows time the built CLI end to end, which adds Node start-up, the lock (a one-second settle), reading every artifact back after writing it, and the manifest.');
  lines.push("- PostgreSQL backup: raw `pg_dump -Fc -Z0`, the bare `pg_dump | zstd | age` pipeline (at our default level), the whole CLI into a file:// store and restic (first backup into a new repository, then a repeat) run in interleaved rounds, each run after a CHECKPOINT with no autovacuum worker running. A ratio is the median of the rounds' ratios (the best of each is shown beside it); CPU is the user + system time of every process of the run (bash `times`), without the PostgreSQL backend (ours adds the exact row counts on a second backend). On a shared machine wall times follow the load; CPU ratios much less. restic is Debian's (`apt-get install -y restic`, not needed by CI); without it its rows are skipped. `GUSHEN_DR_BENCH_BEFORE=<checkout with dist/ built>` adds that version as another variant of the rounds.");
  lines.push('- PostgreSQL restores (bare, ours, CLI) and the S3 backup rows run twice, one after the other, and the best run of each is used; restored databases are dropped after their run.');
  lines.push('- PostgreSQL restore with more than one job: the dump is staged and verified first (pg_restore --jobs needs a file), then the data offsets that pg_dump could not write into its pipe are added to the staged copy (src/sources/postgres/archive.ts); without them the 2-job restore took as long as a 1-job one.');
  lines.push('- Redis: after the fill the server settles for a minute (the 1-minute keys expire) and one backup runs unmeasured (the first in a process loads modules and warms the JIT; its time is shown). Then each round runs `redis-cli --rdb`, `BGSAVE` alone and our three variants back to back. A ratio is the median of the rounds\' ratios: this machine drifted by 20 % and more within one run, and the best run of each could pair a fast moment of the baseline with a slow one of ours (or the other way round).');
  lines.push('- Peak RSS is the maxRSS of the process doing the work (the benchmark child or the CLI), including Node and tsx themselves.');
  lines.push('- s3rver (a local S3 implementation in Node) runs on the same two cores as the client, so S3 figures include its CPU use.');
  lines.push('- An S3 upload holds queueSize + 1 part buffers (the parts in flight and the one being filled), allocated once and reused (src/store/s3-upload.ts), so its peak RSS grows with store.s3.partSizeMiB × (queueSize + 1); the dump-like stream rows show it at the default 8 MiB and at 64 MiB parts.');
  lines.push('- The stream rows run the built code (dist/) in plain Node with the flags production uses (bin/gushen-dr.js\'s first line and the Dockerfile\'s ENTRYPOINT: `--max-semi-space-size=1`). A 1 MiB young generation makes V8 collect the short-lived Buffer wrappers of a stream sooner, so the memory behind them is given back sooner: it measured 40-50 MiB less peak RSS than the default, at the same throughput. The benchmark children that still run TypeScript through tsx carry about 16 MiB for it.');
  lines.push('- bench/store.ts streams one repeated 1 MiB block, which zstd compresses more than 100-fold, so little reaches the store; its rows are kept for comparison and not judged. The dump-like stream (bench/stream-child.mjs) is the measurement for the target.');
  lines.push('- A `gushen-dr restore` of several parts (or of one dump streamed with one job) reads and verifies those artifacts once before restoring anything, so that a tampered artifact restores nothing; that read is included in the whole-CLI restore rows.');
  for (const r of runs.values()) if (r.error) lines.push(`- ${r.name}: failed (${cell(r.error)}); its rows say "not measured".`);
  lines.push('');
  lines.push('## Raw results');
  lines.push('');
  for (const r of runs.values()) {
    const file = r.name.startsWith('stream-') ? 'run' : r.name;
    lines.push(`<details><summary>${r.name} (\`bench/${file}.ts ${r.args.join(' ')}\`, ${Math.round(r.seconds)} s)</summary>`);
    lines.push('');
    lines.push('```json');
    lines.push(JSON.stringify(r.result ?? { error: r.error }, null, 2));
    lines.push('```');
    lines.push('');
    lines.push('</details>');
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const startLoad = loadavg()[0].toFixed(2);
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  if (o.build) {
    log('building dist/ (npm run build) so the CLI rows time the current code');
    await execFileP('npm', ['run', 'build'], { cwd: ROOT, timeout: 600_000 });
  }
  const cpu = cpus();
  const facts: Record<string, string> = {
    Date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    CPU: `${cpu.length} × ${cpu[0]?.model ?? '?'}`,
    Memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    OS: `${platform()} ${release()}`,
    Node: process.version,
    PostgreSQL: await version(join(PG_BIN, 'pg_dump'), ['--version']),
    Redis: await version('redis-server', ['--version'], /v=(\S+)/).then((v) => v.replace(/^v=/, '')),
    'Baseline tools': `age ${await version('age', ['--version'], /v?\d+(\.\d+)+/)}, aws-cli ${await version('aws', ['--version'])}, zstd ${await version('zstd', ['--version'])}, redis-cli ${await version('redis-cli', ['--version'])}`,
    Sizes: `PostgreSQL ${o.pgMiB} MiB, Redis ${o.redisKeys.toLocaleString('en-US')} keys, ${o.storeMiB} MiB per store, ${o.cryptoMiB} MiB encrypted, pg_restore -j ${o.jobs}`,
  };
  const runs = new Map<string, BenchRun>();
  // One at a time: each benchmark gets the whole machine.
  if (o.only.has('crypto')) runs.set('crypto', await runBench('crypto', ['--mib', String(o.cryptoMiB)]));
  if (o.only.has('store')) {
    runs.set('store', await runBench('store', ['--mib', String(o.storeMiB)]));
    for (const [kind, part] of [['file'], ['s3', 64], ['s3']] as const) {
      const r = await runStream(kind, o.storeMiB, part);
      runs.set(r.name, r);
    }
  }
  if (o.only.has('postgres')) runs.set('postgres', await runBench('postgres', ['--mib', String(o.pgMiB), '--jobs', String(o.jobs)]));
  // Four rounds: single Redis runs here differ by up to 40 % (a BGSAVE alone took 5.8-7.0 s in five rounds).
  if (o.only.has('redis')) runs.set('redis', await runBench('redis', ['--keys', String(o.redisKeys), '--runs', '5']));
  facts['Load average (1 min) at start / end'] = `${startLoad} / ${loadavg()[0].toFixed(2)} (other work on the machine skews the figures)`;
  const md = markdown(runs, o, facts, command, (Date.now() - t0) / 1000);
  await writeFile(o.out, md);
  log(`wrote ${o.out} in ${Math.round((Date.now() - t0) / 60_000)} min`);
  process.stdout.write(md);
  if ([...runs.values()].some((r) => r.error)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/run.ts: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
