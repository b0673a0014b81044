/**
 * The throwaway servers a drill restores production data into (and the private redis-server a Redis restore loads
 * the backup into) must not let other local users in, also while a drill kept with --keep leaves them running:
 * another user (`nobody`) tries with psql and redis-cli and fails, while we connect with the server's URL.
 * No password reaches the servers' command lines or the `where` a drill report shows.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScratchServer } from '../../src/sources/shared/scratch-server.js';
import { findPostgresBinDir, startScratchPostgres } from '../../src/sources/postgres/scratch-server.js';
import { startScratchRedis } from '../../src/sources/redis/scratch-server.js';
import { startThrowawayRedis, type ThrowawayRedis } from '../../src/sources/redis/loader-server.js';
import { connectPg } from '../../src/sources/postgres/tools.js';
import { redactUrl } from '../../src/util/redact.js';
import { PG_BIN } from '../support/postgres.js';

const run = promisify(execFile);
const asRoot = process.getuid?.() === 0;

/** Runs a command as `nobody`; resolves with its exit code and output, never rejects. */
async function asNobody(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await run('runuser', ['-u', 'nobody', '--', cmd, ...args], { timeout: 30_000, cwd: '/' });
    return { code: 0, out: `${r.stdout}${r.stderr}` };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe.skipIf(!asRoot)('throwaway servers: other local users cannot reach the restored data', () => {
  describe('the drill scratch PostgreSQL', () => {
    let srv: ScratchServer;
    beforeAll(async () => {
      srv = await startScratchPostgres(await findPostgresBinDir(15));
      const c = await connectPg(srv.url, 'postgres');
      try {
        await c.query('create table restored_secret (v text)');
        await c.query("insert into restored_secret values ('production data')");
      } finally {
        await c.end();
      }
    }, 120_000);
    afterAll(() => srv?.stop());

    it('we connect with its URL; it has no TCP listener', async () => {
      const c = await connectPg(srv.url, 'postgres');
      try {
        expect((await c.query<{ one: number }>('select 1 as one')).rows[0].one).toBe(1);
        expect((await c.query<{ v: string }>('select v from restored_secret')).rows).toEqual([{ v: 'production data' }]);
        expect((await c.query<{ listen_addresses: string }>('show listen_addresses')).rows[0].listen_addresses).toBe('');
      } finally {
        await c.end();
      }
    });

    it('another local user cannot connect with the same URL', async () => {
      const r = await asNobody(join(PG_BIN, 'psql'), ['-X', '-At', '-w', '-d', srv.url, '-c', "select 'in' || 'side', v from restored_secret"]);
      expect(r.out).not.toContain('inside');
      expect(r.out).not.toContain('production data');
      expect(r.code, r.out).not.toBe(0);
    });

    it('its socket directory is private to the server user; where says how to reach it', async () => {
      const host = new URL(srv.url).searchParams.get('host')!;
      const st = await stat(host);
      expect(st.mode & 0o777).toBe(0o700);
      expect(st.uid).toBe(Number((await run('id', ['-u', 'postgres'])).stdout.trim()));
      expect(srv.where).toContain(host);
      expect(srv.where).toMatch(/no TCP/);
    });
  });

  describe('the drill scratch Redis', () => {
    let srv: ScratchServer;
    let password: string;
    let port: number;
    beforeAll(async () => {
      srv = await startScratchRedis();
      const u = new URL(srv.url);
      password = decodeURIComponent(u.password);
      port = Number(u.port);
    }, 60_000);
    afterAll(() => srv?.stop());

    it('has a random password; we connect with its URL, another local user gets NOAUTH', async () => {
      const c = new Redis(srv.url);
      try {
        await c.set('restored-secret', 'production data');
      } finally {
        c.disconnect();
      }
      const r = await asNobody('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'get', 'restored-secret']);
      expect(r.out).not.toContain('production data');
      expect(r.out).toMatch(/NOAUTH/);
      expect(password.length).toBeGreaterThanOrEqual(32);
    });

    it('the password is in no command line and not in where; where names the 0600 file holding it', async () => {
      const pid = Number(/pid (\d+)/.exec(srv.where)?.[1]);
      expect(pid).toBeGreaterThan(0);
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
      expect(cmdline).toMatch(/redis-server/);
      expect(cmdline).not.toContain(password);
      expect(srv.where).not.toContain(password);
      expect(redactUrl(srv.url)).not.toContain(password);
      const file = /password in (\S+),/.exec(srv.where)?.[1];
      expect(file).toBeDefined();
      expect((await stat(file!)).mode & 0o777).toBe(0o600);
      expect((await stat(dirname(file!))).mode & 0o777).toBe(0o700);
      expect((await readFile(file!, 'utf8')).trim()).toBe(password);
    });
  });

  describe('the redis-server a Redis restore loads the backup into (loader-server.ts)', () => {
    let dir: string;
    let loader: ThrowawayRedis;
    beforeAll(async () => {
      // Staged like stageArtifact does: a mkdtemp directory (0700) holding the RDB. An empty RDB 9 without checksum.
      dir = await mkdtemp(join(tmpdir(), 'gushen-dr-stage-'));
      const rdb = join(dir, 'dump.rdb');
      await writeFile(rdb, Buffer.concat([Buffer.from('REDIS0009'), Buffer.from([0xff]), Buffer.alloc(8)]), { mode: 0o600 });
      loader = await startThrowawayRedis({ bin: 'redis-server', rdbPath: rdb, databases: 1 });
    }, 60_000);
    afterAll(async () => {
      await loader?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('listens on a Unix socket only, which another local user cannot open', async () => {
      const c = loader.client();
      await c.connect();
      await c.set('restored-secret', 'production data');
      expect((await stat(dirname(loader.socketPath))).mode & 0o777).toBe(0o700);
      const r = await asNobody('redis-cli', ['-s', loader.socketPath, 'get', 'restored-secret']);
      expect(r.out).not.toContain('production data');
      expect(r.out).toMatch(/Permission denied|Could not connect/i);
    });
  });
});
