/**
 * PITR with a replication role that needs its password, read from `sources.postgres.pitr.passwordFile` (the Kubernetes
 * Secret file gushen-dr-replication). Before, `pitr.url` took no password file: the password had to be in the URL,
 * which in the manifests meant the PGREPL_PASSWORD environment variable, the one credential left in the environment.
 * Here the server requires scram-sha-256 of that role (replication and ordinary connections), and wal-archive and the
 * base backup of `gushen-dr backup` authenticate from the file; the password shows in no log line.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliProcess } from '../support/cli-process.js';
import { pitrEnv, startArchiver, startPitrServer, type PitrEnv, type PitrServer } from '../support/pitr.js';

const PW = 'R3pl#Pw?with/odd@chars:\\x';

describe('point-in-time recovery with the replication password in a file', () => {
  let server: PitrServer;
  let env: PitrEnv;
  let passwordFile: string;

  beforeAll(async () => {
    [server, env] = await Promise.all([startPitrServer(), pitrEnv()]);
    await server.query('postgres', 'create database app');
    await server.query('app', 'create table t (id serial primary key, at timestamptz default now())');
    await server.query('postgres', `create role repl with login replication password '${PW.replace(/'/g, "''")}'`);
    // The role must give its password over TCP, for replication and for ordinary connections (first match wins).
    const hba = join(server.data, 'pg_hba.conf');
    await writeFile(hba, `host replication repl 127.0.0.1/32 scram-sha-256\nhost all repl 127.0.0.1/32 scram-sha-256\n${await readFile(hba, 'utf8')}`);
    await server.query('postgres', 'select pg_reload_conf()');
    passwordFile = join(env.dir, 'replication-password');
    await writeFile(passwordFile, `${PW}\n`, { mode: 0o600 });
  });
  afterAll(async () => {
    await Promise.all([server?.stop(), env?.cleanup()]);
  });

  it('the server refuses the role without its password (control)', async () => {
    const c = new pg.Client({ connectionString: `postgres://repl@127.0.0.1:${server.port}/postgres` });
    await expect(c.connect()).rejects.toThrow(/password/);
    await c.end().catch(() => undefined);
  });

  it('wal-archive and the base backup authenticate with pitr.passwordFile; the password is in no log line', async () => {
    const config = await env.writeConfig(server, { url: `postgres://repl@127.0.0.1:${server.port}/`, passwordFile });
    const { p } = await startArchiver(config);
    let archiverStderr: string;
    try {
      await server.query('app', 'insert into t default values');
      const backup = await runCliProcess(['--config', config, 'backup']);
      expect(backup.code, backup.stderr.slice(-3000)).toBe(0);
      const shown = await runCliProcess(['--config', config, 'show', 'latest', '-o', 'json']);
      const manifest = JSON.parse(shown.stdout) as { status: string; artifacts: Array<{ kind: string }> };
      expect(manifest.status).toBe('Completed');
      expect(manifest.artifacts.map((a) => a.kind)).toContain('pg_basebackup-tar');
      for (const out of [backup.stdout, backup.stderr, shown.stdout]) for (const leak of [PW, encodeURIComponent(PW)]) expect(out).not.toContain(leak);
    } finally {
      p.signal('SIGTERM');
      const exit = await p.exited;
      archiverStderr = p.stderr();
      expect(exit.code, archiverStderr.slice(-3000)).toBe(0);
    }
    expect(archiverStderr).toContain('streaming WAL');
    for (const leak of [PW, encodeURIComponent(PW)]) expect(archiverStderr).not.toContain(leak);
  });
});
