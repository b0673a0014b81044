/**
 * Runs every benchmark and writes docs/performance.md: one table of the targets set in the issues, each with the
 * value measured here, as a ratio against baselines measured in the same run where the target is a ratio
 * (bare pg_dump, `pg_dump | age | aws s3 cp`, bare pg_restore, `redis-cli --rdb`), with peak RSS.
 *
 *   npm run bench                          (defaults below; about 18 minutes on 2 cores)
 *   npm run bench -- --pg-mib 256 --redis-keys 200000 --store-mib 512 --crypto-mib 256
 *   npm run bench -- --only pitr           (the point-in-time recovery section alone, about 3 minutes)
 *
 * Flags: --pg-mib N (PostgreSQL database size, default 1024), --redis-keys N (default 2000000), --store-mib N
 * (stream size per store, default 2048), --crypto-mib N (default 1024), --jobs N (pg_restore jobs, default 2),
 * --pitr-seconds N (pgbench duration of bench/pitr.ts, default 60, the lag target's), --pitr-scale N (default 10),
 * --only crypto,store,postgres,redis,pitr, --out FILE (default docs/performance.md), --no-build (do not rebuild dist/).
 *
 * With --only (some of the parts) and an existing FILE, only what those parts own is rewritten and the rest of the
 * file is kept byte for byte: the "Point-in-time recovery" section (pitr); the Targets and Baselines tables (crypto,
 * store, postgres, redis: rendered again from the new results and, for the parts not rerun, from the JSON in the
 * file's "Raw results") and the rerun parts' blocks there. The header, Machine, Notes and any prose stay as they are.
 *
 * The stream-to-store target is measured by bench/stream-child.mjs with dump-like data, at the default and 64 MiB S3 parts:
 * bench/store.ts's input compresses so well that an S3 upload of it is a single small part.
 *
 * Each benchmark runs in a child process of its own (bench/<name>.ts --json), and measures peak RSS in the
 * process that does the work (a child of its own again where the benchmark needs it), so one benchmark's memory
 * never counts against another's. dist/ is rebuilt first so that the CLI timings are of the current code.
 */
import { execFile, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
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
  pitrSeconds: number;
  pitrScale: number;
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
  /** Where a result of an earlier run came from (the command and date), shown in its Raw results block. */
  provenance?: string;
  /** Load average (1 min) before and after the run. */
  load?: [string, string];
}

/** The benchmarks, in the order they run; `--only` selects some of them. */
const PARTS = ['crypto', 'store', 'postgres', 'redis', 'pitr'] as const;
/** The part a run belongs to (store's dump-like stream runs are named stream-*). */
const partOf = (name: string) => (name.startsWith('stream-') ? 'store' : name);

function parseArgs(argv: string[]): Options {
  const o: Options = {
    pgMiB: 1024,
    redisKeys: 2_000_000,
    storeMiB: 2048,
    cryptoMiB: 1024,
    jobs: 2,
    pitrSeconds: 60,
    pitrScale: 10,
    only: new Set(PARTS),
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
    else if (a === '--pitr-seconds') o.pitrSeconds = num(a, v);
    else if (a === '--pitr-scale') o.pitrScale = num(a, v);
    else if (a === '--out') o.out = v;
    else if (a === '--only') {
      o.only = new Set(v.split(','));
      for (const part of o.only) if (!(PARTS as readonly string[]).includes(part)) throw new Error(`--only: unknown part ${part} (parts: ${PARTS.join(', ')})`);
    }
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

/** The Targets section: every judged or reported row of the parts that share it (all but pitr). */
function targetsSection(runs: Map<string, BenchRun>, o: Options): string[] {
  const rows = rowsFor(runs, o);
  const met = rows.filter((r) => r.met === true).length;
  const judged = rows.filter((r) => r.met !== undefined).length;
  const lines: string[] = [];
  lines.push(`## Targets (${met} of ${judged} met)`);
  lines.push('');
  lines.push('| What | Measured | Target | Met | Detail |');
  lines.push('|---|---|---|---|---|');
  for (const r of rows) lines.push(`| ${cell(r.what)} | ${cell(r.measured)} | ${cell(r.target)} | ${r.met === undefined ? '—' : r.met ? 'yes' : '**no**'} | ${cell(r.note ?? '')} |`);
  lines.push('');
  return lines;
}

function baselinesSection(runs: Map<string, BenchRun>, o: Options): string[] {
  const lines: string[] = [];
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
  return lines;
}

/** One run's result as a collapsed JSON block (the source of the rows, and of a later partial run's tables). */
function rawBlock(r: BenchRun): string[] {
  const file = r.name.startsWith('stream-') ? 'run' : r.name;
  return [
    `<details><summary>${r.name} (\`bench/${file}.ts ${r.args.join(' ')}\`, ${Math.round(r.seconds)} s${r.provenance ? `; ${r.provenance}` : ''})</summary>`,
    '',
    '```json',
    JSON.stringify(r.result ?? { error: r.error }, null, 2),
    '```',
    '',
    '</details>',
    '',
  ];
}

/** The Raw results blocks of a file: run name → the block's text and the run it records. */
function parseRawBlocks(text: string): Map<string, { text: string; run: BenchRun }> {
  const out = new Map<string, { text: string; run: BenchRun }>();
  const re = /<details><summary>(\S+) \(`bench\/\S+?\.ts ?(.*?)`, (\d+) s(?:; (.*?))?\)<\/summary>\n\n```json\n([\s\S]*?)\n```\n\n<\/details>\n\n?/g;
  for (const m of text.matchAll(re)) {
    const result = JSON.parse(m[5]) as Json;
    const run: BenchRun = { name: m[1], args: m[2] ? m[2].split(' ') : [], seconds: Number(m[3]), provenance: m[4] };
    if (typeof result.error === 'string' && Object.keys(result).length === 1) run.error = result.error;
    else run.result = result;
    out.set(m[1], { text: m[0], run });
  }
  return out;
}

/** The options a part ran with, from its arguments (a run kept from the file may have run with others). */
function optionsOf(runs: Map<string, BenchRun>, o: Options): Options {
  const arg = (name: string, flag: string) => {
    const args = runs.get(name)?.args ?? [];
    const i = args.indexOf(flag);
    return i >= 0 && Number.isInteger(Number(args[i + 1])) ? Number(args[i + 1]) : undefined;
  };
  return { ...o, cryptoMiB: arg('crypto', '--mib') ?? o.cryptoMiB, jobs: arg('postgres', '--jobs') ?? o.jobs, redisKeys: arg('redis', '--keys') ?? o.redisKeys };
}

/** The point-in-time recovery section (bench/pitr.ts): its table, what it means, and its raw result. */
function pitrSection(r: BenchRun | undefined, command: string, date: string): string[] {
  const lines: string[] = ['## Point-in-time recovery (bench/pitr.ts)', ''];
  const p = r?.result;
  if (!r || !p) {
    lines.push(`Not measured${r?.error ? `: bench/pitr.ts failed (${r.error})` : ''} by \`${command}\` on ${date}.`, '');
    if (r) lines.push(...rawBlock(r));
    return lines;
  }
  const load = r.load ? ` (load average, 1 min, at its start / end ${r.load[0]} / ${r.load[1]}: other work on the machine skews the figures)` : '';
  const short = p.pgbenchSecondsRequested < 60;
  lines.push(`Measured by \`${command}\` on ${date}${load}: PostgreSQL ${p.serverVersion} with`);
  lines.push(`${p.segSizeMiB} MiB segments, \`gushen-dr wal-archive\` into a \`${p.store}\` store with \`partialUploadSeconds: ${p.partialUploadSeconds}\`,`);
  lines.push(`pgbench scale ${p.scale}.${short ? ` pgbench ran ${p.pgbenchSecondsRequested} s, shorter than the lag target's 60 s: the target is not judged.` : ''}`);
  lines.push('');
  const mib = (n: number) => `${n.toFixed(0)} MiB`;
  const lagMet = p.maxLagSeconds < p.lagTargetSeconds;
  lines.push('| measurement | result |');
  lines.push('| --- | --- |');
  for (const [k, v] of [
    [`pgbench -c ${p.clients} -j ${p.threads}`, `${p.pgbenchSeconds.toFixed(0)} s, ${p.tps.toFixed(0)} tps (scale ${p.scale})`],
    ['WAL generated during pgbench', `${mib(p.walGeneratedMiB)} (${p.walGeneratedMiBps.toFixed(1)} MiB/s)`],
    ['WAL archived (finished segments, whole run)', `${mib(p.walArchivedMiB)} in ${p.segmentsArchived} segments, ${p.partialUploads} partial uploads, ${p.uploadFailures} failures`],
    ['archive lag during pgbench (max, sampled every s)', `${p.maxLagSeconds.toFixed(1)} s, ${p.maxLagMiB.toFixed(1)} MiB (target < ${p.lagTargetSeconds} s: ${short ? 'not judged' : lagMet ? 'met' : '**not met**'})`],
    ['caught up after pgbench ended', `${p.catchUpSeconds.toFixed(1)} s`],
    ['base backup, gushen-dr (pg_basebackup → store)', `${p.baseBackupSeconds.toFixed(2)} s for ${mib(p.baseBackupMiB)} (runs: ${p.baseBackupRuns})`],
    ['base backup, bare pg_basebackup -Ft -D - > /dev/null', `${p.bareBaseBackupSeconds.toFixed(2)} s (runs: ${p.bareBaseBackupRuns}); ratio ${p.ratioBaseBackupVsBare.toFixed(2)}`],
    ['restore --to-time latest', `${p.restoreCliSeconds.toFixed(1)} s (CLI), ${p.restoreSeconds.toFixed(1)} s in the restore, ${p.walFetched} WAL files`],
    ['replay rate (WAL from base start to end / restore time)', `${mib(p.replayedMiB)} in ${p.restoreSeconds.toFixed(1)} s = ${p.replayMiBps.toFixed(1)} MiB/s`],
  ] as const) {
    lines.push(`| ${cell(k)} | ${cell(v)} |`);
  }
  lines.push('');
  lines.push(
    `- **Lag target (< ${p.lagTargetSeconds} s under \`pgbench -c ${p.clients} -T 60\`): ${short ? 'not judged' : lagMet ? 'met' : 'not met'}**, at most ${p.maxLagSeconds.toFixed(1)} s. The lag counts from the oldest WAL not yet`,
  );
  lines.push(`  stored, so it saw-tooths up to \`partialUploadSeconds\` (${p.partialUploadSeconds} s between uploads of the segment being written) plus an upload.`);
  lines.push(`- The base backup takes ${p.ratioBaseBackupVsBare.toFixed(1)}× a bare \`pg_basebackup\` to \`/dev/null\` here: the same stream also goes through`);
  lines.push('  SHA-256, zstd and age and is written and fsynced to the store. The WAL wait that follows (the stop segment must be');
  lines.push('  stored) is not counted in either.');
  lines.push(`- Replay includes unpacking the base backup (${mib(p.baseBackupMiB)}) and decrypting every segment before PostgreSQL applies it.`);
  lines.push('');
  lines.push(...rawBlock(r));
  return lines;
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

function markdown(runs: Map<string, BenchRun>, o: Options, facts: Record<string, string>, command: string, totalSeconds: number): string {
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
  lines.push(...targetsSection(runs, o));
  lines.push(...baselinesSection(runs, o));
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
  for (const r of runs.values()) if (r.error && r.name !== 'pitr') lines.push(`- ${r.name}: failed (${cell(r.error)}); its rows say "not measured".`);
  lines.push('');
  if (runs.has('pitr')) lines.push(...pitrSection(runs.get('pitr'), command, facts.Date));
  lines.push('## Raw results');
  lines.push('');
  for (const r of runs.values()) if (r.name !== 'pitr') lines.push(...rawBlock(r));
  return `${lines.join('\n')}\n`;
}

/**
 * A partial run (--only some parts) into an existing file: the sections the rerun parts own are replaced, everything
 * else is kept byte for byte. The shared Targets and Baselines tables are rendered from the new results and the
 * file's Raw results of the parts not rerun.
 */
function mergeInto(old: string, runs: Map<string, BenchRun>, o: Options, command: string, date: string): string {
  // `## ` sections, each from its heading to the line before the next one (the first one is the preamble).
  const sections: string[][] = [[]];
  for (const line of old.split('\n')) {
    if (line.startsWith('## ')) sections.push([]);
    sections.at(-1)!.push(line);
  }
  const find = (prefix: string) => sections.findIndex((sec) => sec[0]?.startsWith(prefix));
  const rawAt = find('## Raw results');
  if ([...runs.keys()].some((n) => partOf(n) !== 'pitr')) {
    const targetsAt = find('## Targets');
    const baselinesAt = find('## Baselines');
    if (targetsAt < 0 || baselinesAt < 0 || rawAt < 0) throw new Error(`cannot merge the new results into ${o.out}: it has no Targets, Baselines or Raw results section (rerun every part, or use --out)`);
    const kept = parseRawBlocks(sections[rawAt].join('\n'));
    const all = new Map<string, BenchRun>();
    for (const [name, b] of kept) if (!runs.has(name)) all.set(name, b.run);
    for (const [name, r] of runs) if (partOf(name) !== 'pitr') all.set(name, { ...r, provenance: `\`${command}\` on ${date}` });
    const ro = optionsOf(all, o);
    sections[targetsAt] = targetsSection(all, ro);
    sections[baselinesAt] = baselinesSection(all, ro);
    // Raw results: the kept blocks verbatim, the rerun ones in their place (new ones at the end).
    const raw = ['## Raw results', ''];
    for (const [name, b] of kept) raw.push(...(runs.has(name) ? rawBlock(all.get(name)!) : b.text.replace(/\n+$/, '\n\n').split('\n').slice(0, -1)));
    for (const [name] of runs) if (partOf(name) !== 'pitr' && !kept.has(name)) raw.push(...rawBlock(all.get(name)!));
    const last = rawAt === sections.length - 1;
    sections[rawAt] = last ? [...raw, ''] : raw;
  }
  if (runs.has('pitr')) {
    const section = pitrSection(runs.get('pitr'), command, date);
    const at = find('## Point-in-time recovery');
    if (at >= 0) sections[at] = at === sections.length - 1 ? [...section, ''] : section;
    else sections.splice(rawAt >= 0 ? rawAt : sections.length, 0, section);
  }
  return sections.map((sec) => sec.join('\n')).join('\n');
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
  if (o.only.has('pitr')) facts.Sizes += `, PITR pgbench ${o.pitrSeconds} s at scale ${o.pitrScale}`;
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
  if (o.only.has('pitr')) {
    const before = loadavg()[0].toFixed(2);
    const r = await runBench('pitr', ['--seconds', String(o.pitrSeconds), '--scale', String(o.pitrScale)]);
    runs.set('pitr', { ...r, load: [before, loadavg()[0].toFixed(2)] });
  }
  facts['Load average (1 min) at start / end'] = `${startLoad} / ${loadavg()[0].toFixed(2)} (other work on the machine skews the figures)`;
  const partial = PARTS.some((p) => !o.only.has(p));
  const old = partial ? await readFile(o.out, 'utf8').catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err))) : undefined;
  const md = old === undefined ? markdown(runs, o, facts, command, (Date.now() - t0) / 1000) : mergeInto(old, runs, o, command, facts.Date);
  await writeFile(o.out, md);
  log(`wrote ${o.out} in ${Math.round((Date.now() - t0) / 60_000)} min`);
  process.stdout.write(md);
  if ([...runs.values()].some((r) => r.error)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/run.ts: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
