/**
 * `npm run quickstart` (scripts/quickstart.mjs on the built CLI): it must prove something (non-zero row counts for
 * every demo table and non-zero key counts in the drill report it prints, seeded = backed up = restored) and touch
 * nothing it did not start. A PostgreSQL and a Redis of our own stand in for this machine's 5432 and 6379: the
 * defaults (PGHOST/PGPORT, REDIS_PORT, GUSHEN_DR_CONFIG, ./gushen-dr.yaml, examples/local.yaml in the working
 * directory) all point at them, so reading any of those would reach them. A Node preload records every connection
 * the quickstart and its CLI children open.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { Redis } from 'ioredis';
import { generateX25519Identity } from '../../src/crypto/index.js';
import { REPO_ROOT } from '../support/cli-process.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { waitFor } from '../support/ports.js';
import { tempDir } from '../support/tmp.js';

const run = promisify(execFile);

/** Every table the demo dataset creates (src/demo/dataset.ts). */
const DEMO_TABLES = [
  'audit.events',
  'auth.users',
  'market.bars',
  'market.instruments',
  'market.ticks',
  'market.ticks_2025h1',
  'market.ticks_2025h2',
  'strategy.backtests',
  'strategy.strategies',
  'trading.fills',
  'trading.orders',
];

/** Records every socket connect (TCP port or Unix path) of the Node process it is preloaded into. */
const CONNECT_HOOK = `
import net from 'node:net';
import { appendFileSync } from 'node:fs';
const log = process.env.QUICKSTART_TEST_CONNECT_LOG;
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  try {
    let o = args[0];
    if (Array.isArray(o)) o = o[0];
    const e = { pid: process.pid, argv: process.argv.slice(1, 4).join(' ') };
    if (o && typeof o === 'object') Object.assign(e, o.path ? { path: String(o.path) } : { host: o.host ?? 'localhost', port: Number(o.port) });
    else if (typeof o === 'number' || /^\\d+$/.test(String(o))) Object.assign(e, { host: args[1] ?? 'localhost', port: Number(o) });
    else Object.assign(e, { path: String(o) });
    appendFileSync(log, JSON.stringify(e) + '\\n');
  } catch {}
  return connect.apply(this, args);
};
`;

interface Connect {
  pid: number;
  argv: string;
  host?: string;
  port?: number;
  path?: string;
}

/** Builds dist/ unless every src/ file has a built counterpart at least as new (CI's `npm run quickstart` built it). */
async function ensureBuilt(): Promise<void> {
  const stale: string[] = [];
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        const out = join(REPO_ROOT, 'dist', relative(join(REPO_ROOT, 'src'), p).replace(/\.ts$/, '.js'));
        if (!existsSync(out) || statSync(out).mtimeMs < statSync(p).mtimeMs) stale.push(p);
      }
    }
  };
  await walk(join(REPO_ROOT, 'src'));
  if (stale.length === 0) return;
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  // tsc emits also when other files have type errors; what matters here is that the quickstart's modules are built.
  await run(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT }).catch((err: { stdout?: string }) => {
    console.warn(`npm run build reported errors (dist/ was written anyway):\n${String(err.stdout ?? err).slice(0, 2000)}`);
  });
  for (const f of ['cli.js', 'demo/dataset.js', 'sources/postgres/scratch-server.js', 'sources/redis/scratch-server.js', 'engine/drill/report.js', 'sources/postgres/pitr/recover.js']) {
    expect(existsSync(join(REPO_ROOT, 'dist', f)), `dist/${f} after the build`).toBe(true);
  }
}

interface Quickstart {
  pid: number;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForStderr(re: RegExp): Promise<void>;
  kill(sig: NodeJS.Signals): void;
}

function startQuickstart(cwd: string, env: NodeJS.ProcessEnv): Quickstart {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'scripts', 'quickstart.mjs')], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: Array<{ re: RegExp; resolve: () => void }> = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    for (const w of [...waiters]) {
      if (w.re.test(err)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  return {
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForStderr: (re) =>
      re.test(err)
        ? Promise.resolve()
        : Promise.race([
            new Promise<void>((resolve) => waiters.push({ re, resolve })),
            exited.then(() => {
              throw new Error(`the quickstart exited before ${re}; stderr:\n${err.slice(-3000)}`);
            }),
          ]),
    kill: (sig) => child.kill(sig),
  };
}

/** The rows of the drill report's checks table (`| kind | check | result | expected | actual | detail |`). */
function reportChecks(stdout: string): Array<{ kind: string; name: string; result: string; expected: string; actual: string }> {
  const section = stdout.split('\n## Checks\n')[1];
  expect(section, 'the drill report with its checks is printed').toBeDefined();
  return section
    .split('\n## ')[0]
    .split('\n')
    .filter((l) => /^\| (postgres|redis) \|/.test(l))
    .map((l) => {
      const [kind, name, result, expected, actual] = l.split(' | ').map((c) => c.replace(/^\| /, '').trim());
      return { kind, name, result, expected, actual };
    });
}

async function readConnects(file: string): Promise<Connect[]> {
  if (!existsSync(file)) return [];
  return (await readFile(file, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Connect);
}

/** Resolves with the error code of connecting to an endpoint the quickstart used (ECONNREFUSED, ENOENT), or 'open'. */
function probe(c: Connect): Promise<string> {
  return new Promise((resolve) => {
    const s = c.path ? createConnection(c.path) : createConnection(c.port!, c.host === 'localhost' ? '127.0.0.1' : c.host);
    s.setTimeout(5000);
    s.once('connect', () => {
      s.destroy();
      resolve('open');
    });
    s.once('timeout', () => {
      s.destroy();
      resolve('timeout');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** What a backup of the stand-in Redis would change, read on one connection (so the count of connections is ours). */
async function redisState(c: Redis): Promise<Record<string, string>> {
  const persistence = await c.info('persistence');
  const field = (info: string, k: string) => new RegExp(`^${k}:(.*)$`, 'm').exec(info)?.[1].trim() ?? 'absent';
  return {
    lastsave: String(await c.lastsave()),
    rdb_saves: field(persistence, 'rdb_saves'),
    rdb_bgsave_in_progress: field(persistence, 'rdb_bgsave_in_progress'),
    keyspace: (await c.info('keyspace')).trim(),
    total_connections_received: field(await c.info('stats'), 'total_connections_received'),
  };
}

async function pgDatabases(pg: TestPostgres): Promise<string[]> {
  return (await pg.query<{ datname: string }>('postgres', 'select datname from pg_database order by 1')).rows.map((r) => r.datname);
}

describe('npm run quickstart', () => {
  let machinePg: TestPostgres;
  let machineRedis: TestRedis;
  let redisClient: Redis;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let env: NodeJS.ProcessEnv;

  /** A working directory full of decoys that name the stand-ins; a fresh connection log. */
  async function workDir(name: string): Promise<{ cwd: string; connectLog: string; env: NodeJS.ProcessEnv }> {
    const cwd = join(dir.path, name);
    await mkdir(join(cwd, 'examples'), { recursive: true });
    await copyFile(join(REPO_ROOT, 'examples', 'local.yaml'), join(cwd, 'examples', 'local.yaml'));
    const decoy = stringify({
      store: { url: 'file://./decoy-store' },
      encryption: { recipients: [generateX25519Identity().recipient] },
      sources: { postgres: { url: `${machinePg.url}/`, databases: ['gushen'] }, redis: { url: machineRedis.url, method: 'file' } },
    });
    await writeFile(join(cwd, 'gushen-dr.yaml'), decoy);
    await writeFile(join(cwd, 'decoy.yaml'), decoy);
    const connectLog = join(cwd, 'connects.jsonl');
    return { cwd, connectLog, env: { ...env, GUSHEN_DR_CONFIG: join(cwd, 'decoy.yaml'), QUICKSTART_TEST_CONNECT_LOG: connectLog } };
  }

  /** Nothing the quickstart connected to is this machine's 5432/6379 or a stand-in; everything it used is stopped. */
  async function checkConnects(connectLog: string): Promise<Connect[]> {
    const connects = await readConnects(connectLog);
    const forbidden = new Set([5432, 6379, machinePg.port, machineRedis.port]);
    expect(connects.filter((c) => c.port !== undefined && forbidden.has(c.port))).toEqual([]);
    // Nor the machine's own Unix sockets (Debian's PostgreSQL and Redis packages put them under /run).
    expect(connects.filter((c) => c.path !== undefined && /\/run\/(postgresql|redis)\//.test(c.path))).toEqual([]);
    // The quickstart itself seeded its servers, and its CLI children backed them up: the preload saw both.
    expect(connects.some((c) => c.argv.includes('quickstart.mjs'))).toBe(true);
    expect(connects.some((c) => c.argv.includes('gushen-dr.js'))).toBe(true);
    const endpoints = [...new Map(connects.map((c) => [c.path ?? `${c.host}:${c.port}`, c])).values()];
    for (const e of endpoints) expect({ endpoint: e.path ?? `${e.host}:${e.port}`, now: await probe(e) }).toMatchObject({ now: expect.stringMatching(/^(ECONNREFUSED|ENOENT)$/) });
    return connects;
  }

  beforeAll(async () => {
    await ensureBuilt();
    dir = await tempDir('gushen-dr-quickstart-');
    [machinePg, machineRedis] = await Promise.all([startPostgres(), startRedis()]);
    await machinePg.query('postgres', 'create database gushen');
    await machinePg.query('gushen', "create table not_for_the_demo (x text); insert into not_for_the_demo values ('mine')");
    redisClient = machineRedis.client();
    await redisClient.set('mine', 'not for the demo');
    // Settled: no save or AOF rewrite of its own start-up still running when the "before" state is read.
    await waitFor('stand-in Redis idle', async () => {
      const p = await redisClient.info('persistence');
      return /rdb_bgsave_in_progress:0/.test(p) && /aof_rewrite_in_progress:0/.test(p) ? true : undefined;
    });
    const hook = join(dir.path, 'connect-hook.mjs');
    await writeFile(hook, CONNECT_HOOK);
    env = {
      ...process.env,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${pathToFileURL(hook).href}`.trim(),
      // Everything a default would use points at the stand-ins.
      PGHOST: '127.0.0.1',
      PGPORT: String(machinePg.port),
      PGUSER: 'postgres',
      PGDATABASE: 'gushen',
      REDIS_HOST: '127.0.0.1',
      REDIS_PORT: String(machineRedis.port),
    };
  });

  afterAll(async () => {
    redisClient?.disconnect();
    await Promise.all([machinePg?.stop(), machineRedis?.stop()]);
    await dir?.cleanup();
  });

  it('backs up, deep-verifies and drills its own seeded servers: every demo table and database non-zero and equal; touches nothing else', async () => {
    const w = await workDir('run');
    const redisBefore = await redisState(redisClient);
    const pgBefore = await pgDatabases(machinePg);

    const qs = startQuickstart(w.cwd, w.env);
    const { code } = await qs.exited;
    expect(code, `exit code; stderr:\n${qs.stderr().slice(-4000)}`).toBe(0);
    const out = qs.stdout();

    // The drill report it printed: every demo table restored with a non-zero row count equal to the backup's.
    const checks = reportChecks(out);
    // The drill's point-in-time part (the demo config enables PITR): recovered to latest, it starts and answers.
    const pitrChecks = checks.filter((c) => c.kind === 'postgres' && c.name.startsWith('PITR: '));
    expect(pitrChecks.map((c) => c.name)).toEqual(['PITR: recovered to latest, starts and answers', 'PITR: recovery point']);
    for (const c of pitrChecks) expect(c.result, c.name).toBe('ok');
    const pgChecks = checks.filter((c) => c.kind === 'postgres' && !c.name.endsWith(': tables') && !c.name.startsWith('PITR: '));
    expect(pgChecks.map((c) => c.name.replace(/^[^:]+: /, '')).sort()).toEqual(DEMO_TABLES);
    for (const c of pgChecks) {
      expect(c.result, c.name).toBe('ok');
      expect(Number(c.actual), c.name).toBeGreaterThan(0);
      expect(c.actual, c.name).toBe(c.expected);
    }
    expect(checks.find((c) => c.kind === 'postgres' && c.name.endsWith(': tables'))).toMatchObject({ result: 'ok', actual: String(DEMO_TABLES.length) });
    const redisChecks = checks.filter((c) => c.kind === 'redis');
    expect(redisChecks.map((c) => c.name)).toEqual(expect.arrayContaining(['keys in all databases', 'db0 keys', 'db1 keys', 'db2 keys']));
    for (const c of redisChecks) {
      expect(c.result, c.name).toBe('ok');
      expect(Number(c.actual), c.name).toBeGreaterThan(0);
    }
    expect(out).toMatch(/\| RTO \(until every check passed\) \| \d+(\.\d)? (s|min) \|/);
    expect(out).toContain('Seeded = backed up = restored, for every table and every Redis database.');
    for (const t of DEMO_TABLES) expect(out).toMatch(new RegExp(`^${t.replace('.', '\\.')} +[\\d,]+ +[\\d,]+ +[\\d,]+  equal$`, 'm'));

    // Point-in-time recovery: the WAL archiver ran through the demo writes; a restore to T between the two batches
    // holds every row of batch 1 and none of batch 2; the archiver stopped on SIGTERM with exit 0.
    const pitr = /^Point-in-time restore: to (\S+): batch 1 \(([\d,]+) rows\) present, batch 2 \(([\d,]+) rows, committed after T\) absent; last replayed commit (\S+)\.$/m.exec(out);
    expect(pitr, `the point-in-time section; stdout:\n${out.slice(-3000)}`).not.toBeNull();
    const [, target, batch1, batch2, lastReplayed] = pitr!;
    expect(Number(batch1.replace(/,/g, ''))).toBeGreaterThan(0);
    expect(Number(batch2.replace(/,/g, ''))).toBeGreaterThan(0);
    expect(target).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    // Both are UTC with microseconds: as strings they order as times do.
    expect(lastReplayed).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(lastReplayed <= target, `last replayed commit ${lastReplayed} <= T ${target}`).toBe(true);
    expect(out).toMatch(/^- WAL archiver: exited 0 on SIGTERM; it ran from before the backup .* through the demo writes,$/m);
    expect(qs.stderr()).toContain('quickstart: stopped the WAL archiver (SIGTERM; exit 0)');
    expect(qs.stderr()).toMatch(/quickstart: stopped the PostgreSQL restored to T and removed its data directory \((\/[^)]+)\)/);
    const restoredDir = /removed its data directory \((\/[^)]+)\)/.exec(qs.stderr())![1];
    expect(existsSync(restoredDir)).toBe(false);

    // What it left behind: the demo store, its config and key pair, in the working directory.
    const manifests = (await readdir(join(w.cwd, 'backups', 'demo', 'backups'))).filter((d) => existsSync(join(w.cwd, 'backups', 'demo', 'backups', d, 'manifest.json')));
    expect(manifests).toHaveLength(1);
    expect(out).toContain(manifests[0]);
    expect((await stat(join(w.cwd, 'keys', 'demo.key'))).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(w.cwd, 'backups', 'demo', 'gushen-dr.yaml'), 'utf8')).not.toContain(String(machinePg.port));
    expect(readFileSync(join(w.cwd, 'backups', 'demo', 'gushen-dr.yaml'), 'utf8')).toMatch(/pitr:\n +enabled: true/);
    // The spool is removed; the archiver's log stays.
    expect(existsSync(join(w.cwd, 'backups', 'demo', 'wal-spool'))).toBe(false);
    expect(readFileSync(join(w.cwd, 'backups', 'demo', 'wal-archive.log'), 'utf8')).toMatch(/"msg":"wal-archive stopped; everything spooled is stored"/);
    expect(existsSync(join(w.cwd, 'decoy-store'))).toBe(false);

    // Nothing on this machine's 5432/6379 or the stand-ins was contacted; the servers it used are all stopped.
    await checkConnects(w.connectLog);
    expect(await redisState(redisClient)).toEqual(redisBefore);
    expect(await pgDatabases(machinePg)).toEqual(pgBefore);
    expect((await machinePg.query('gushen', 'select x from not_for_the_demo')).rows).toEqual([{ x: 'mine' }]);
  }, 600_000);

  it('Ctrl-C during the backup: the CLI child cleans up, the throwaway servers are stopped, exit 130', async () => {
    const w = await workDir('interrupted');
    const redisBefore = await redisState(redisClient);
    const qs = startQuickstart(w.cwd, w.env);
    // The backup child is at work on the demo Redis (its BGSAVE), not merely starting.
    await qs.waitForStderr(/"msg":"BGSAVE"/);
    qs.kill('SIGINT');
    const { code } = await qs.exited;
    expect(code, `exit code; stderr:\n${qs.stderr().slice(-4000)}`).toBe(130);
    expect(qs.stderr()).toContain('quickstart: interrupted');
    expect(qs.stderr()).toMatch(/stopped the throwaway Redis/);
    expect(qs.stderr()).toMatch(/stopped the throwaway PostgreSQL/);
    // The WAL archiver (running since before the backup) got SIGTERM, stored what it had and exited 0.
    expect(qs.stderr()).toContain('quickstart: stopped the WAL archiver (SIGTERM; exit 0)');
    expect(qs.stdout()).not.toContain('What the quick start just proved');
    await checkConnects(w.connectLog);
    expect(await redisState(redisClient)).toEqual(redisBefore);
  }, 300_000);
});
