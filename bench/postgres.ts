/**
 * PostgreSQL backup/restore benchmark: gushen-dr against the bare tools, on a platform-like dataset
 * (test/support/pg-dataset.ts) in a private PostgreSQL 15, with a local S3 server (s3rver).
 *
 *   npx tsx bench/postgres.ts --gib 1          (or --mib 256; --jobs N for the restores, default 2; --runs N,
 *                                               default 2; --rounds N, default 3; --nightly-days N, default 7
 *                                               (0 skips); --no-restic; --json)
 *
 * Needs: PostgreSQL 15 binaries (postgresql-15), zstd, age; for the restic rows restic (apt-get install -y restic:
 * Debian's 0.14; CI does not run the benchmark and does not install it); for the shell-pipeline comparison `aws`
 * (apt-get install -y awscli). Without one of them its rows are reported as skipped.
 * GUSHEN_DR_BENCH_BEFORE=<a checkout of an earlier version with dist/ built> adds that version's CLI to the rounds.
 *
 * The backup comparison (issue 19) runs in interleaved rounds (--rounds): each round runs each of these once, in
 * this order, each after a CHECKPOINT with no autovacuum worker running; a ratio is the median of the rounds'
 * ratios, and the CPU of each run (user + system of all its processes, from bash's `times`) is recorded beside
 * its wall time, because on a shared machine the wall time follows the load far more than the CPU does:
 *   z0               pg_dump -Fc -Z0 > /dev/null                              the floor (the "moonshot" row)
 *   bareAge          pg_dump -Fc -Z0 | zstd -L | age -r KEY > file            at our default level L
 *   cliFile          the built `gushen-dr backup --only postgres` into a file:// store: start-up, lock, backup,
 *                    read-back, manifest (dist/cli.js, production's Node flags); peak RSS via maxRSS at exit
 *   cliBefore        the same with GUSHEN_DR_BENCH_BEFORE's dist/ (when set)
 *   resticFirst      pg_dump -Fc -Z0 | restic backup --stdin, into a new repository (init not timed)
 *   resticRepeat     the same again into that repository (unchanged data: deduplicated)
 * then, once or --runs times: our backup function into s3rver in a child (its peak RSS), the CLI into s3rver,
 * `pg_dump -Fc | age | aws s3 cp -`, pg_dump's gzip and Node's zstd (compression reference), and --nightly-days
 * nights of: 1 % of the rows of the four large tables updated, vacuum, our CLI backup (schedule nightly, file://
 * store) and a restic backup into one repository; the stored sizes after each night are compared.
 * The restores, each run --runs times (best of each):
 *   bareRestore      pg_restore -j N -d new_db from a local -Z0 file
 *   oursRestore      restorePostgres() from S3 with jobs N: download, decrypt, verify, stage, pg_restore, row counts
 *   cliRestore       the built `gushen-dr restore latest --only postgres --jobs N`
 * Restores run at --jobs N (staged) and at 1 (streamed).
 * Every measured run starts on a quiet server: the source is vacuumed and frozen once, each run waits for a
 * CHECKPOINT and for no autovacuum worker to be running, and each restored database is dropped after its run
 * (a freshly restored database is autovacuumed a minute later, which used to land in the next run's time).
 *
 * Compression, measured on this machine (2 cores, PostgreSQL 15.20, Node 24) with this benchmark at --mib 256
 * (database 232 MiB, 1.2 M rows; pg_dump -Fc -Z0 output 131.7 MiB), two runs each:
 *   pg_dump -Fc, its default gzip (level 6):          3.21 / 3.51 s   35.5 MiB
 *   pg_dump -Fc -Z0 + zstd level 3 in-process (Node):  1.56 / 2.05 s   35.9 MiB
 *   pg_dump -Fc -Z0 | zstd -3 (CLI, for reference):    1.14 / 1.33 s   35.6 MiB
 *   pg_dump -Fc -Z0, uncompressed:                     1.09 / 1.33 s  131.7 MiB
 * So -Z0 + our zstd is 1.7–2.1× faster than pg_dump's gzip at the same size (±1 %) on this synthetic data
 * (less than the 5–10× seen on production-like data, which compresses less readily than these generated
 * rows), and it takes compression off pg_dump's single thread. backupPostgres therefore runs pg_dump with
 * --compress=0 and compresses the stream itself (see src/sources/postgres/backup.ts).
 *
 * Current figures are in docs/performance.md (npm run bench). What they showed on these machines (2 vCPUs,
 * s3rver on the same host), measured piece by piece on a 1 GiB database whose -Z0 dump is 531 MiB:
 *   - pg_dump's PostgreSQL backend is single-threaded and fills one core for the whole dump (4.0 s of CPU
 *     in a 4.0 s dump); pg_dump itself uses 0.9 s and `zstd -3` 2.3 s, so the bare baseline already keeps
 *     both cores ~80 % busy. Our backup must add: moving 531 MiB through our process (read, SHA-256, write to
 *     the compressor: ~2 s of CPU), age and SHA-256 of the stored bytes, the S3 client, the exact row counts
 *     in the snapshot (0.5 s of backend CPU), and s3rver storing 141 MiB (2.5 s of CPU). That is ≥ 12 s of
 *     CPU where the baseline has 7: on two cores ≥ 6 s against 5, about 1.2× at the very best, so ≤ 1.10
 *     cannot be shown here; with the S3 server elsewhere (production) its 2.5 s leave this machine.
 *   - Node's built-in zstd took 5.0 s of CPU at level 3 on that dump, the zstd CLI 2.5 s (same library, built
 *     differently): the CLI is the default engine when installed (src/util/compression.ts), ~1 s faster per
 *     backup here. pg_dump writes through stdio's 4 KiB pipe buffer; under `stdbuf -o1M` we read the dump in
 *     ~12,000 instead of ~60,000 pieces (0.8 s less CPU).
 *   - Measured process by process at --mib 512 (dump 264 MiB), CPU seconds: the bare baseline took 2.3–2.9 s of
 *     wall time for 2.1–2.6 s of pg_dump + zstd and 2.0–2.1 s of backend, i.e. both cores full. Our backup
 *     (4.1–4.8 s) added Node 2.1–2.6 s (a third of it garbage collection and writing into zstd's pipe), the
 *     backend's row counts 0.8–1.5 s, and s3rver 0.9–1.2 s: wall time followed total CPU / 2 closely.
 *   - Restore with --jobs 2 stages the dump first (download, decrypt, decompress, verify: ~2.2 s for 531 MiB at
 *     best here, with either zstd engine), adds the data offsets pg_dump could not write into its pipe
 *     (src/sources/postgres/archive.ts: without them pg_restore -j 2 took as long as -j 1, 14.9–16.9 s against
 *     11.7–12.3 s on the 1 GiB dataset), then runs pg_restore -j 2 and counts rows with 2 connections. With one
 *     job the dump streams into pg_restore. The whole CLI verifies a streamed artifact once before applying it,
 *     so its one-job restore reads it twice.
 *   - Issue 19 (measured on the 1 GiB dataset, dump 557 MB; CPU = user + system of the client processes):
 *     pg_dump → Node (SHA-256) → zstd CLI → Node (age) took 7.8–8.4 s of CPU where pg_dump's stdout handed
 *     straight to zstd's stdin took 6.3–7.1 s (a loaded machine, three rounds each); keeping a plaintext SHA-256
 *     with `tee >(sha256sum) | zstd` instead cost 8.8–9.3 s, more than Node. zstd on the dump: level 1 134.6 MB in
 *     2.3 s of CPU, level 2 140.4 MB / 2.5–2.9 s, level 3 147.5 MB / 4.0–4.4 s, level 6 142.0 MB / 11 s, so level 1
 *     is the PostgreSQL default (smaller and half the CPU of 3 on this data; real data may differ). The exact row
 *     counts ran as parallel queries (two workers) next to pg_dump: 0.84 s on three processes against 0.41 s on
 *     one with max_parallel_workers_per_gather = 0, which the counting transaction now sets. In a CPU profile of
 *     the whole CLI (file store) Node spent 2.3 s busy in a 9.2 s run, 0.8 s of it garbage collection under
 *     production's --max-semi-space-size=1 (0.37 s with V8's default), then writing, hashing and encrypting.
 */
import { storeSchema } from '../src/config/schema.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { constants, createZstdCompress } from 'node:zlib';
import { productionNodeFlags } from './production-node.js';
import { bestOf, median } from './stats.js';
import type { LogLevel } from '../src/util/log.js';

const MiB = 1024 * 1024;
const HERE = fileURLToPath(import.meta.url);
const ROOT = join(HERE, '..', '..');
const PG_BIN = process.env.GUSHEN_DR_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface PostgresBenchOptions {
  sizeMiB: number;
  /** pg_restore --jobs for both restores (default 2). */
  jobs?: number;
  /** S3 multipart part size for our backup (default 64, the store's default). */
  partSizeMiB?: number;
  /** Also time the built CLI (dist/cli.js); default: when it exists. */
  cli?: boolean;
  /** Runs of the S3 backup and of the restores, taken in turn; the best of each is reported. Default 2. */
  runs?: number;
  /** Interleaved rounds of the backup comparison (bare pg_dump, bare pipeline, CLI, restic). Default 3. */
  rounds?: number;
  /** restic as a baseline when installed (default true). */
  restic?: boolean;
  /** Nightly backups for the stored-size comparison with restic (default 7; 0 skips it). */
  nightlyDays?: number;
  log?: (line: string) => void;
}

interface ChildResult {
  seconds: number;
  maxRssMiB: number;
  result: unknown;
}

function secondsSince(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Runs a shell command, returns wall seconds; stdout is returned when `capture`. */
async function sh(cmd: string, env: NodeJS.ProcessEnv = process.env, capture = false): Promise<{ seconds: number; stdout: string }> {
  const t0 = process.hrtime.bigint();
  const child = spawn('/bin/bash', ['-o', 'pipefail', '-c', cmd], { env, stdio: ['ignore', capture ? 'pipe' : 'ignore', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`command failed (${code}): ${cmd.slice(0, 200)}: ${err.slice(-500)}`);
  return { seconds: secondsSince(t0), stdout: out };
}

async function have(cmd: string): Promise<boolean> {
  return sh(`command -v ${cmd}`).then(
    () => true,
    () => false,
  );
}

/** Runs this file as a child in `--child` mode with the JSON request on stdin; its maxRSS is the peak RSS. */
async function runChild(request: unknown, env: NodeJS.ProcessEnv): Promise<ChildResult & { wallSeconds: number }> {
  const t0 = process.hrtime.bigint();
  const child: ChildProcess = spawn(process.execPath, [...productionNodeFlags(), '--import', 'tsx', HERE, '--child'], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stdin!.end(JSON.stringify(request));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const wallSeconds = secondsSince(t0);
  if (code !== 0) throw new Error(`bench child failed with code ${code}`);
  return { ...(JSON.parse(out.trim().split('\n').pop()!) as ChildResult), wallSeconds };
}

/**
 * Runs the built CLI (`dist/cli.js`, as `bin/gushen-dr.js` does) with a hook that reports the process's
 * maxRSS (VmHWM) on exit. Returns wall seconds and peak RSS.
 */
async function runBuiltCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  root = ROOT,
): Promise<{ wallSeconds: number; maxRssMiB: number; cpuSeconds: number; code: number | null; stderr: string }> {
  const cli = pathToFileURL(join(root, 'dist', 'cli.js')).href;
  const code = [
    "process.on('exit', () => require('node:fs').writeSync(2, '\\nGDR_BENCH_MAXRSS_KIB ' + process.resourceUsage().maxRSS + '\\n'));",
    `import(${JSON.stringify(cli)}).then((m) => m.main([process.argv[0], 'gushen-dr', ...process.argv.slice(1)]));`,
  ].join('\n');
  // Through bash, whose `times` adds up the CPU of the CLI and of every process it waited for (pg_dump, zstd).
  const argv = [process.execPath, ...productionNodeFlags(), '-e', code, '--', ...args].map(shq).join(' ');
  const t0 = process.hrtime.bigint();
  const child = spawn('/bin/bash', ['-c', `${argv}; s=$?; times >&2; exit $s`], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const wallSeconds = secondsSince(t0);
  const m = /GDR_BENCH_MAXRSS_KIB (\d+)/.exec(err);
  return { wallSeconds, maxRssMiB: m ? Number(m[1]) / 1024 : NaN, cpuSeconds: childCpu(err), code: exit, stderr: err.replace(/\n?GDR_BENCH_MAXRSS_KIB \d+\n/, '') };
}

const shq = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

/** The children's user + system CPU seconds from the second line of bash's `times` (`0m1.2s 0m0.3s`). */
function childCpu(stderr: string): number {
  const lines = stderr.trim().split('\n').slice(-2);
  const t = [...(lines[1] ?? '').matchAll(/(\d+)m([\d.]+)s/g)].map((x) => Number(x[1]) * 60 + Number(x[2]));
  return t.length === 2 ? t[0] + t[1] : NaN;
}

/** A shell command's wall seconds and the CPU seconds of everything it ran (bash `times`). */
async function shTimed(cmd: string, env: NodeJS.ProcessEnv): Promise<{ seconds: number; cpuSeconds: number; stdout: string }> {
  const t0 = process.hrtime.bigint();
  const child = spawn('/bin/bash', ['-o', 'pipefail', '-c', `${cmd}; s=$?; times >&2; exit $s`], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`command failed (${code}): ${cmd.slice(0, 200)}: ${err.slice(-500)}`);
  return { seconds: secondsSince(t0), cpuSeconds: childCpu(err), stdout: out };
}

/** Bytes under a directory (`du -sb`). */
async function du(dir: string): Promise<number> {
  return Number((await sh(`du -sb ${shq(dir)} | cut -f1`, process.env, true)).stdout.trim());
}

/** The child side: one backup or one restore, timed in-process; prints one JSON line. */
async function childMain(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const req = JSON.parse(Buffer.concat(chunks).toString()) as {
    mode: 'backup' | 'restore';
    config: unknown;
    backupId: string;
    identity?: string;
    artifacts?: unknown[];
    restore?: { pgUrl: string; database: string; jobs: number };
  };
  const { configSchema } = await import('../src/sources/registry.js');
  const { openStore } = await import('../src/store/open.js');
  const { createLogger, silentLogger } = await import('../src/util/log.js');
  // GUSHEN_DR_BENCH_LOG=debug prints the child's log (with the timings of each step) to stderr.
  const logLevel = process.env.GUSHEN_DR_BENCH_LOG as LogLevel | undefined;
  const log = logLevel ? createLogger(logLevel, false) : silentLogger;
  const config = configSchema.parse(req.config);
  const store = openStore(config.store);
  let result: unknown;
  const t0 = process.hrtime.bigint();
  if (req.mode === 'backup') {
    const { ArtifactWriter } = await import('../src/repository/artifact-writer.js');
    const { backupPostgres } = await import('../src/sources/postgres/backup.js');
    const writer = new ArtifactWriter(store, req.backupId, config.encryption.recipients);
    const r = await backupPostgres({ backupId: req.backupId, config, writer, log, signal: new AbortController().signal });
    if (r.failures.length > 0) throw new Error(`backup failed: ${JSON.stringify(r.failures)}`);
    result = r.artifacts;
  } else {
    const { parseIdentity } = await import('../src/crypto/index.js');
    const { restorePostgres } = await import('../src/sources/postgres/restore.js');
    const manifest = {
      formatVersion: 2 as const,
      id: req.backupId,
      schedule: 'manual' as const,
      status: 'Completed' as const,
      startedAt: new Date().toISOString(),
      finishedAt: new Date().toISOString(),
      tool: { name: 'gushen-dr' as const, version: 'bench' },
      host: 'bench',
      sources: ['postgres' as const],
      artifacts: req.artifacts as never,
      failures: [],
    };
    result = await restorePostgres(
      { store, manifest, identities: [parseIdentity(req.identity!)], config, log },
      { pgUrl: req.restore!.pgUrl, database: req.restore!.database, jobs: req.restore!.jobs },
    );
  }
  const seconds = secondsSince(t0);
  const maxRssMiB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`${JSON.stringify({ seconds, maxRssMiB, result })}\n`);
}

/** pg_dump -Z0 piped through Node's zstd (level 3) in this process: the compression measurement. */
async function dumpThroughNodeZstd(env: NodeJS.ProcessEnv, db: string): Promise<{ seconds: number; bytes: number }> {
  const t0 = process.hrtime.bigint();
  const child = spawn(join(PG_BIN, 'pg_dump'), ['-Fc', '-Z0', '-d', db], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let bytes = 0;
  await pipeline(
    child.stdout!,
    createZstdCompress({ params: { [constants.ZSTD_c_compressionLevel]: 3, [constants.ZSTD_c_checksumFlag]: 1 } }),
    new Writable({
      write(c: Buffer, _e, cb) {
        bytes += c.length;
        cb();
      },
    }),
  );
  await new Promise((r) => (child.exitCode !== null ? r(null) : child.on('close', r)));
  if (child.exitCode !== 0) throw new Error(`pg_dump exited with ${child.exitCode}`);
  return { seconds: secondsSince(t0), bytes };
}

export async function runPostgresBench(opts: PostgresBenchOptions): Promise<Record<string, number | string>> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const jobs = opts.jobs ?? 2;
  const runs = Math.max(1, opts.runs ?? 2);
  const { startPostgres } = await import('../test/support/postgres.js');
  const { startS3, useS3rverCredentials } = await import('../test/support/s3.js');
  const { createPlatformDataset, rowsForMiB } = await import('../test/support/pg-dataset.js');
  const { generateX25519Identity } = await import('../src/crypto/index.js');
  useS3rverCredentials();
  const out: Record<string, number | string> = { sizeMiBRequested: opts.sizeMiB, jobs };
  const work = await mkdtemp(join(tmpdir(), 'gushen-dr-bench-pg-'));
  const [pgs, s3] = await Promise.all([startPostgres(), startS3('gushen-dr-bench')]);
  try {
    const env = { ...process.env, PGHOST: '127.0.0.1', PGPORT: String(pgs.port), PGUSER: 'postgres', ...s3.env };
    await pgs.query('postgres', 'create database bench');
    log(`creating a ~${opts.sizeMiB} MiB platform-like dataset…`);
    const t0 = process.hrtime.bigint();
    const info = await createPlatformDataset(pgs.urlFor('bench'), { rows: rowsForMiB(opts.sizeMiB) });
    out.datasetSeconds = round(secondsSince(t0));
    out.databaseMiB = round(info.databaseSizeBytes / MiB);
    out.rows = info.tables.reduce((s, t) => s + t.rows, 0);
    log(`dataset: ${out.databaseMiB} MiB, ${out.rows} rows in ${out.datasetSeconds} s`);

    // Nothing left for autovacuum to do in the source, so it cannot run during a measurement.
    await pgs.query('bench', 'vacuum (analyze, freeze)');
    const quiet = () => quiesce(pgs);
    // Warm-up (page cache), and the plain size of a dump.
    const plain = await sh(`${PG_BIN}/pg_dump -Fc -Z0 -d bench | wc -c`, env, true);
    out.dumpPlainMiB = round(Number(plain.stdout.trim()) / MiB);

    // Compression: pg_dump's default gzip vs -Z0 + Node's zstd 3 (for reference; ours uses the zstd CLI).
    await quiet();
    const gz = await sh(`${PG_BIN}/pg_dump -Fc -d bench | wc -c`, env, true);
    out.bareDumpGzipSeconds = round(gz.seconds);
    out.bareDumpGzipMiB = round(Number(gz.stdout.trim()) / MiB);
    await quiet();
    const nodeZstd = await dumpThroughNodeZstd(env, 'bench');
    out.dumpZ0NodeZstdSeconds = round(nodeZstd.seconds);
    out.dumpZ0NodeZstdMiB = round(nodeZstd.bytes / MiB);
    log(`compression: gzip ${out.bareDumpGzipSeconds} s / ${out.bareDumpGzipMiB} MiB; -Z0 + node zstd ${out.dumpZ0NodeZstdSeconds} s / ${out.dumpZ0NodeZstdMiB} MiB`);

    const key = generateX25519Identity();
    // The store's default multipart settings (storeSchema's part size, 2 in flight), as a user gets them.
    const defaults = storeSchema.parse({ url: 's3://x/' }).s3;
    const storeCfg = { ...s3.storeConfig('ours'), s3: { ...s3.storeConfig('ours').s3, partSizeMiB: opts.partSizeMiB ?? defaults.partSizeMiB, queueSize: defaults.queueSize } };
    const config = {
      store: storeCfg,
      encryption: { recipients: [key.recipient] },
      sources: { postgres: { url: `${pgs.url}/`, databases: ['bench'], globals: false } },
    };
    // The zstd level ours uses by default (sources.postgres.compressionLevel); the bare pipeline uses the same.
    const { postgresConfigSchema } = await import('../src/sources/postgres/config.js');
    const level = postgresConfigSchema.parse({ url: 'postgres://x/', databases: ['x'] }).compressionLevel;
    out.zstdLevel = level;
    const useCli = opts.cli ?? (await stat(join(ROOT, 'dist', 'cli.js')).then(() => true, () => false));
    const idFile = join(work, 'bench-identity.txt'); // a throwaway key for this run, 0600, removed with `work`
    const { formatIdentityFile } = await import('../src/crypto/index.js');
    await writeFile(idFile, formatIdentityFile(key.identity, key.recipient, new Date()), { mode: 0o600 });
    /** A config file for the built CLI: the S3 store (restores, the s3 rows) or a file:// directory. */
    const cliConfig = async (name: string, storeUrl?: string) => {
      const file = join(work, `${name}.yaml`);
      const yaml = {
        store: storeUrl ? { url: storeUrl } : { ...storeCfg, url: `s3://${s3.bucket}/${name}` },
        encryption: { recipients: [key.recipient], identityFile: idFile },
        sources: config.sources,
        scratchDir: work,
      };
      await writeFile(file, JSON.stringify(yaml, null, 2)); // JSON is YAML
      return file;
    };
    const cliBackup = async (cfgFile: string, root = ROOT, extra: string[] = []) => {
      const run = await runBuiltCli(['--config', cfgFile, '--log-level', 'warn', 'backup', '--only', 'postgres', ...extra], env, root);
      if (run.code !== 0) throw new Error(`gushen-dr backup failed (${run.code}): ${run.stderr.slice(-1000)}`);
      return { ...run, seconds: run.wallSeconds };
    };

    // Interleaved rounds: each round runs every backup variant once, in the same order, each after a CHECKPOINT with
    // no autovacuum running. Ratios are taken within a round (both sides of a ratio ran minutes apart at most) and the
    // median of the rounds is reported, with the best run of each beside it.
    const haveAge = await have('age');
    const haveRestic = opts.restic !== false && (await have('restic'));
    const before = process.env.GUSHEN_DR_BENCH_BEFORE; // a checkout of the previous version with dist/ built
    const fileStore = join(work, 'file-store');
    const cliFileCfg = useCli ? await cliConfig('cli-file', `file://${fileStore}`) : undefined;
    const cliBeforeCfg = useCli && before ? await cliConfig('cli-before', `file://${join(work, 'before-store')}`) : undefined;
    const resticEnv = { ...env, RESTIC_PASSWORD: 'bench', RESTIC_CACHE_DIR: join(work, 'restic-cache') };
    const dumpCmd = `${PG_BIN}/pg_dump -Fc -Z0 -d bench`;
    type Variant = { name: string; run: () => Promise<{ seconds: number; cpuSeconds: number; maxRssMiB?: number }> };
    const variants: Variant[] = [{ name: 'z0', run: () => shTimed(`${dumpCmd} > /dev/null`, env) }];
    if (haveAge) variants.push({ name: 'bareAge', run: () => shTimed(`${dumpCmd} | zstd -q -c -${level} | age -r ${key.recipient} > ${join(work, 'bare.age')}`, env) });
    if (cliFileCfg) {
      variants.push({
        name: 'cliFile',
        run: async () => {
          await rm(fileStore, { recursive: true, force: true });
          return cliBackup(cliFileCfg);
        },
      });
    }
    if (cliBeforeCfg) {
      variants.push({
        name: 'cliBefore',
        run: async () => {
          await rm(join(work, 'before-store'), { recursive: true, force: true });
          return cliBackup(cliBeforeCfg, before);
        },
      });
    }
    if (haveRestic) {
      const repo = join(work, 'restic');
      variants.push({
        name: 'resticFirst',
        run: async () => {
          await rm(repo, { recursive: true, force: true });
          await rm(resticEnv.RESTIC_CACHE_DIR, { recursive: true, force: true });
          await sh(`restic init -q --repo ${repo}`, resticEnv);
          return shTimed(`${dumpCmd} | restic backup -q --repo ${repo} --stdin --stdin-filename bench.dump`, resticEnv);
        },
      });
      variants.push({ name: 'resticRepeat', run: () => shTimed(`${dumpCmd} | restic backup -q --repo ${repo} --stdin --stdin-filename bench.dump`, resticEnv) });
    }
    const rounds = Math.max(1, opts.rounds ?? 3);
    out.rounds = rounds;
    const runsOf: Record<string, Array<{ seconds: number; cpuSeconds: number; maxRssMiB?: number }>> = {};
    for (let r = 0; r < rounds; r++) {
      for (const v of variants) {
        await quiet();
        const x = await v.run();
        (runsOf[v.name] ??= []).push(x);
        log(`round ${r + 1}/${rounds}: ${v.name} ${x.seconds.toFixed(2)} s (CPU ${x.cpuSeconds.toFixed(2)} s), load ${loadavg()[0].toFixed(1)}`);
        if (v.name === 'bareAge') out.bareZstdAgeMiB = round((await stat(join(work, 'bare.age'))).size / MiB);
        if (v.name === 'cliFile') out.cliFileStoredMiB = round((await du(join(fileStore, 'backups'))) / MiB);
        if (v.name === 'resticFirst') out.resticFirstRepoMiB = round((await du(join(work, 'restic'))) / MiB);
      }
    }
    await rm(join(work, 'bare.age'), { force: true });
    for (const [name, rs] of Object.entries(runsOf)) {
      out[`${name}Runs`] = rs.map((x) => x.seconds.toFixed(2)).join(' / ');
      out[`${name}CpuRuns`] = rs.map((x) => x.cpuSeconds.toFixed(2)).join(' / ');
      out[`${name}Seconds`] = round(median(rs.map((x) => x.seconds)));
      out[`${name}BestSeconds`] = round(Math.min(...rs.map((x) => x.seconds)));
      out[`${name}CpuSeconds`] = round(median(rs.map((x) => x.cpuSeconds)));
    }
    const roundRatio = (a: string, b: string) => {
      if (!runsOf[a] || !runsOf[b]) return;
      const rs = runsOf[a].map((x, i) => x.seconds / runsOf[b][i].seconds);
      out[`ratio_${a}_${b}`] = round(median(rs));
      out[`ratio_${a}_${b}_rounds`] = rs.map((x) => x.toFixed(2)).join(' / ');
      out[`ratio_${a}_${b}_best`] = round(Math.min(...runsOf[a].map((x) => x.seconds)) / Math.min(...runsOf[b].map((x) => x.seconds)));
      out[`cpuRatio_${a}_${b}`] = round(median(runsOf[a].map((x, i) => x.cpuSeconds / runsOf[b][i].cpuSeconds)));
    };
    roundRatio('cliFile', 'bareAge');
    roundRatio('cliFile', 'z0');
    roundRatio('cliFile', 'resticFirst');
    roundRatio('cliFile', 'resticRepeat');
    roundRatio('cliBefore', 'bareAge');
    roundRatio('cliBefore', 'z0');
    roundRatio('bareAge', 'z0');
    if (runsOf.cliFile) out.cliFilePeakRssMiB = round(Math.max(...runsOf.cliFile.map((x) => x.maxRssMiB ?? 0)));
    if (runsOf.cliBefore) out.cliBeforePeakRssMiB = round(Math.max(...runsOf.cliBefore.map((x) => x.maxRssMiB ?? 0)));
    if (!haveRestic) out.resticFirstSeconds = 'skipped: restic not installed (apt-get install -y restic)';

    // Ours: backup function to S3, encrypted, in a child process (its maxRSS is the peak RSS).
    // Each run writes its own backup (same id = same object keys; the restores use the fastest run's).
    let run = 0;
    const ours = await bestOf(runs, async () => {
      const backupId = `20260101T00000${run++}Z-manual`;
      await quiet();
      return { ...(await runChild({ mode: 'backup', config, backupId }, env)), backupId };
    });
    const backupId = ours.backupId;
    const artifacts = ours.result as Array<{ stored: { size: number } }>;
    out.oursBackupSeconds = round(ours.seconds);
    out.oursBackupProcessSeconds = round(ours.wallSeconds);
    out.oursBackupPeakRssMiB = round(ours.maxRssMiB);
    out.oursStoredMiB = round(artifacts[0].stored.size / MiB);
    log(`ours (function, S3): ${out.oursBackupSeconds} s (process ${out.oursBackupProcessSeconds} s), peak RSS ${out.oursBackupPeakRssMiB} MiB`);

    // The real command into S3 (s3rver on the same two cores): lock, backup, read-back verification, manifest.
    const cfgFile = await cliConfig('cli');
    if (useCli) {
      const r = await bestOf(runs, async () => {
        await quiet();
        return cliBackup(cfgFile);
      });
      out.cliBackupSeconds = round(r.wallSeconds);
      out.cliBackupPeakRssMiB = round(r.maxRssMiB);
      log(`gushen-dr backup into s3rver (dist/cli.js): ${out.cliBackupSeconds} s, peak RSS ${out.cliBackupPeakRssMiB} MiB`);
    } else {
      out.cliBackupSeconds = 'skipped: dist/cli.js not built (npm run build)';
    }

    // The shell pipeline most people would write.
    if ((await have('aws')) && haveAge) {
      const cmd = `${PG_BIN}/pg_dump -Fc -d bench | age -r ${key.recipient} | aws s3 cp - s3://${s3.bucket}/shell/bench.dump.age --endpoint-url ${s3.endpoint} --only-show-errors`;
      await quiet();
      const shell = await sh(cmd, env);
      out.shellPipelineSeconds = round(shell.seconds);
      out.ratioBackupVsShellPipeline = round(ours.wallSeconds / shell.seconds);
      if (typeof out.cliBackupSeconds === 'number') out.ratioCliBackupVsShellPipeline = round(out.cliBackupSeconds / shell.seconds);
      log(`shell pipeline: ${out.shellPipelineSeconds} s; ratio (our process) ${out.ratioBackupVsShellPipeline}`);
    } else {
      out.shellPipelineSeconds = 'skipped: needs aws (apt-get install -y awscli) and age';
      out.ratioBackupVsShellPipeline = 'skipped';
    }

    // Seven nightly backups, 1 % of the rows of the four large tables updated before each after the first: what
    // each keeps in its store (ours: a full encrypted dump per night; restic: deduplicated chunks, compressed).
    const days = opts.nightlyDays ?? 7;
    if (useCli && haveRestic && days > 0) {
      const nightlyStore = join(work, 'nightly-store');
      const nightlyCfg = await cliConfig('nightly', `file://${nightlyStore}`);
      const repo = join(work, 'restic-nightly');
      await sh(`restic init -q --repo ${repo}`, resticEnv);
      const sizes: string[] = [];
      for (let day = 1; day <= days; day++) {
        if (day > 1) {
          await pgs.query('bench', `select setseed(${day / 100})`);
          for (const sql of NIGHTLY_CHANGES) await pgs.query('bench', sql);
          await pgs.query('bench', 'vacuum');
        }
        await quiet();
        await cliBackup(nightlyCfg, ROOT, ['--schedule', 'nightly']);
        await shTimed(`${dumpCmd} | restic backup -q --repo ${repo} --stdin --stdin-filename bench.dump`, resticEnv);
        const [o, rs] = [await du(join(nightlyStore, 'backups')), await du(repo)];
        sizes.push(`${(o / MiB).toFixed(0)}/${(rs / MiB).toFixed(0)}`);
        log(`nightly day ${day}: ours ${(o / MiB).toFixed(1)} MiB, restic ${(rs / MiB).toFixed(1)} MiB`);
        await new Promise((res) => setTimeout(res, 1100)); // backup ids are per second
      }
      out.nightlyDays = days;
      out.nightlyOursStoredMiB = round((await du(join(nightlyStore, 'backups'))) / MiB);
      out.nightlyResticStoredMiB = round((await du(repo)) / MiB);
      out.nightlyStoredByDayMiB = sizes.join(' ');
      await rm(nightlyStore, { recursive: true, force: true });
      await rm(repo, { recursive: true, force: true });
    }

    // Restores: bare pg_restore from a local file vs ours from S3, same jobs.
    const file = join(work, 'bench.dump');
    await sh(`${PG_BIN}/pg_dump -Fc -Z0 -d bench -f ${file}`, env);
    out.dumpFileMiB = round((await stat(file)).size / MiB);
    // With jobs > 1 ours stages the decrypted archive in the scratch directory first (pg_restore -j needs a
    // seekable file); with one job it streams. Both are compared with the bare tool at the same jobs.
    for (const j of [...new Set([jobs, 1])]) {
      const sfx = j === jobs ? '' : `Jobs${j}`;
      // Each restore starts on a quiet server: the databases restored before it are dropped (their
      // autovacuum and checkpoints would otherwise run during it, and favour whichever ran first).
      const bare = await bestOf(runs, async () => {
        await pgs.query('postgres', `create database bare_restore_${j}`);
        await quiet();
        const run = await sh(`${PG_BIN}/pg_restore -j ${j} -d bare_restore_${j} ${file}`, env);
        await pgs.query('postgres', `drop database bare_restore_${j}`);
        return run;
      });
      out[`bareRestore${sfx}Seconds`] = round(bare.seconds);
      const restore = await bestOf(runs, async () => {
        await quiet();
        const run = await runChild(
          { mode: 'restore', config: { ...config, scratchDir: work }, backupId, identity: key.identity, artifacts, restore: { pgUrl: pgs.url, database: `ours_restore_${j}`, jobs: j } },
          env,
        );
        await pgs.query('postgres', `drop database ours_restore_${j}`);
        return run;
      });
      out[`oursRestore${sfx}Seconds`] = round(restore.seconds);
      out[`oursRestore${sfx}ProcessSeconds`] = round(restore.wallSeconds);
      out[`oursRestore${sfx}PeakRssMiB`] = round(restore.maxRssMiB);
      out[`ratioRestore${sfx}VsBareRestore`] = round(restore.seconds / bare.seconds);
      out[`ratioRestore${sfx}ProcessVsBareRestore`] = round(restore.wallSeconds / bare.seconds);
      log(`restore -j ${j}: bare ${bare.seconds.toFixed(2)} s, ours ${restore.seconds.toFixed(2)} s (process ${restore.wallSeconds.toFixed(2)} s)`);
      if (useCli) {
        const r = await bestOf(runs, async () => {
          await quiet();
          const run = await runBuiltCli(
            ['--config', cfgFile, '--log-level', 'warn', 'restore', 'latest', '--only', 'postgres', '--pg-url', pgs.url, '--database', `cli_restore_${j}`, '--jobs', String(j)],
            env,
          );
          if (run.code !== 0) throw new Error(`gushen-dr restore failed (${run.code}): ${run.stderr.slice(-1000)}`);
          await pgs.query('postgres', `drop database cli_restore_${j}`);
          return { ...run, seconds: run.wallSeconds };
        });
        out[`cliRestore${sfx}Seconds`] = round(r.wallSeconds);
        out[`cliRestore${sfx}PeakRssMiB`] = round(r.maxRssMiB);
        out[`ratioCliRestore${sfx}VsBareRestore`] = round(r.wallSeconds / bare.seconds);
        log(`gushen-dr restore -j ${j} (dist/cli.js): ${r.wallSeconds.toFixed(2)} s`);
      }
    }
    await rm(file, { force: true });
    return out;
  } finally {
    await Promise.all([pgs.stop(), s3.stop(), rm(work, { recursive: true, force: true })]);
  }
}

/** Waits until the server has written its dirty buffers (CHECKPOINT) and no autovacuum worker runs. */
async function quiesce(pgs: { query: (db: string, sql: string) => Promise<{ rows: Array<Record<string, unknown>> }> }): Promise<void> {
  await pgs.query('postgres', 'checkpoint');
  for (let i = 0; i < 300; i++) {
    const r = await pgs.query('postgres', "select count(*)::int as n from pg_stat_activity where backend_type = 'autovacuum worker'");
    if (r.rows[0].n === 0) return;
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** One night's changes: 1 % of the rows of each large table (pg_dump writes updated rows elsewhere in the table). */
const NIGHTLY_CHANGES = [
  'update trading.orders set price = price + 0.01, updated_at = now() where random() < 0.01',
  'update market.bars set close = close + 0.000001 where random() < 0.01',
  'update trading.fills set price = price + 0.0001 where random() < 0.01',
  'update market.ticks set price = price + 0.0001 where random() < 0.01',
];

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv.includes('--child')) {
    childMain().catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
  } else {
    const gib = argValue('--gib');
    const mib = argValue('--mib');
    const sizeMiB = mib ? Number(mib) : gib ? Number(gib) * 1024 : 1024;
    const jobs = argValue('--jobs') ? Number(argValue('--jobs')) : 2;
    const partSizeMiB = argValue('--part-mib') ? Number(argValue('--part-mib')) : undefined;
    const runs = argValue('--runs') ? Number(argValue('--runs')) : undefined;
    const rounds = argValue('--rounds') ? Number(argValue('--rounds')) : undefined;
    const nightlyDays = argValue('--nightly-days') ? Number(argValue('--nightly-days')) : undefined;
    runPostgresBench({ sizeMiB, jobs, partSizeMiB, runs, rounds, nightlyDays, restic: !process.argv.includes('--no-restic') })
      .then((r) => {
        if (process.argv.includes('--json')) console.log(JSON.stringify(r));
        else for (const [k, v] of Object.entries(r)) console.log(`${k.padEnd(36)} ${v}`);
      })
      .catch((err: unknown) => {
        console.error(err);
        process.exit(1);
      });
  }
}
