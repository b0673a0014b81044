import { execFileSync, spawn } from 'node:child_process';
import { chmod, cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatMicros } from '../../src/sources/postgres/pitr/wal-names.js';
import { runCliProcess, type CliProcess } from '../support/cli-process.js';
import { PG_BIN } from '../support/postgres.js';
import { commitTimes, pitrEnv, startArchiver, startDataDir, startPitrServer, type PitrEnv, type PitrServer } from '../support/pitr.js';
import { hasCommand, runbookScript } from '../support/commands.js';

/** Runs the script as the postgres user (PostgreSQL refuses root), with only the variables it documents. */
function runAsPostgres(file: string, vars: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  const env = Object.entries(vars).map(([k, v]) => `${k}=${v}`);
  const argv = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', 'env', ...env, 'bash', file]] : ['env', [...env, 'bash', file]];
  return new Promise((resolve) => {
    const p = spawn(argv[0] as string, argv[1] as string[], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c) => (out += c));
    p.stderr.on('data', (c) => (err += c));
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

const tools = ['age', 'zstd', 'jq', 'sha256sum', 'tar', 'date'];
const missing = tools.filter((t) => !hasCommand(t));

describe.skipIf(missing.length > 0)(`break-glass PITR with standard tools only${missing.length ? ` (skipped: ${missing.join(', ')} not installed)` : ''}`, () => {
  let server: PitrServer;
  let env: PitrEnv;
  let archiver: CliProcess;
  let rows: Array<{ id: number; us: bigint }>;

  beforeAll(async () => {
    [server, env] = await Promise.all([startPitrServer(), pitrEnv()]);
    const config = await env.writeConfig(server);
    await server.query('postgres', 'create database app');
    await server.query('app', 'create table ev (id serial primary key, note text not null)');
    ({ p: archiver } = await startArchiver(config));
    const backup = await runCliProcess(['--config', config, 'backup']);
    expect(backup.code, backup.stderr).toBe(0);
    for (let i = 0; i < 12; i++) {
      await server.query('app', `insert into ev (note) values ('row ${i}')`);
      await new Promise((r) => setTimeout(r, 150));
    }
    rows = await commitTimes(server, 'app', 'ev');
    await new Promise((r) => setTimeout(r, 2500));
    archiver.signal('SIGTERM');
    expect((await archiver.exited).code).toBe(0);
  }, 180_000);
  afterAll(async () => {
    archiver?.signal('SIGKILL');
    await Promise.all([server?.stop(), env?.cleanup()]);
  });

  it('the runbook script recovers to a moment between two commits, importing none of our code', async () => {
    const script = join(env.dir, 'break-glass-pitr.sh');
    const text = await runbookScript('break-glass-pitr');
    expect(text).not.toMatch(/^[^#]*\b(gushen-dr|npx|node|tsx)\s/m);
    await writeFile(script, text, { mode: 0o755 });
    // What an operator has at hand: a copy of the store and the key, readable by the user who runs PostgreSQL.
    const store = join(env.dir, 'store-copy');
    await cp(env.storeDir, store, { recursive: true });
    const key = join(env.dir, 'key-copy');
    await writeFile(key, await readFile(env.identityFile), { mode: 0o600 });
    if (process.getuid?.() === 0) execFileSync('chown', ['-R', 'postgres:postgres', store, key, script]);
    const target = (rows[6].us + rows[7].us) / 2n;
    // PostgreSQL refuses `Z`: a numeric zone, as the runbook says.
    const targetText = formatMicros(target).replace('T', ' ').replace('Z', '+00:00');
    const pgdata = join(env.dir, 'bg-data');
    await mkdir(pgdata);
    await chmod(pgdata, 0o700);
    if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', pgdata]);
    const r = await runAsPostgres(script, { STORE: store, KEY: key, PGDATA: pgdata, TARGET: targetText, PG_BIN, PATH: process.env.PATH ?? '/usr/bin:/bin' });
    expect(r.code, r.err + r.out).toBe(0);
    expect(r.out).toMatch(/^backup \d{8}T\d{6}Z-manual: base backup of cluster \d+, WAL from [0-9A-F]{24}$/m);
    expect(r.out).toMatch(/recovery stopping before commit of transaction \d+/);
    const s = await startDataDir(pgdata);
    try {
      const got = (await s.query<{ id: number }>('app', 'select id from ev order by id')).rows.map((x) => Number(x.id));
      expect(got).toEqual(rows.filter((x) => x.us <= target).map((x) => x.id));
      expect(got).toHaveLength(7);
    } finally {
      await s.stop();
    }
  });
});
