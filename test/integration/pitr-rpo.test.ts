import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliProcess } from '../support/cli-process.js';
import { pitrEnv, startArchiver, startDataDir, startPitrServer, type PitrEnv, type PitrServer } from '../support/pitr.js';
import pg from 'pg';

const PARTIAL_UPLOAD_SECONDS = 1;

/** The source server dies (kill -9) under writes every 100 ms; a restore to latest loses at most the last seconds. */
describe('PITR recovery point after kill -9 of the source server', () => {
  let server: PitrServer;
  let env: PitrEnv;
  let config: string;

  beforeAll(async () => {
    [server, env] = await Promise.all([startPitrServer(), pitrEnv()]);
    config = await env.writeConfig(server, { partialUploadSeconds: PARTIAL_UPLOAD_SECONDS });
    await server.query('postgres', 'create database app');
    await server.query('app', 'create table w (id int primary key, at timestamptz not null default clock_timestamp())');
  });
  afterAll(async () => {
    await Promise.all([server?.stop(), env?.cleanup()]);
  });

  it(`recovers every write acknowledged more than partialUploadSeconds (${PARTIAL_UPLOAD_SECONDS}) + 5 s before the kill`, async () => {
    const { p: archiver } = await startArchiver(config);
    try {
      const backup = await runCliProcess(['--config', config, 'backup']);
      expect(backup.code, backup.stderr).toBe(0);

      // One client, one committed insert every 100 ms; each id's acknowledgement time is what the application saw.
      const acked = new Map<number, number>();
      const c = new pg.Client({ connectionString: server.urlFor('app') });
      c.on('error', () => undefined);
      await c.connect();
      let killedAt = 0;
      const writer = (async () => {
        for (let id = 1; ; id++) {
          try {
            await c.query('insert into w (id) values ($1)', [id]);
          } catch {
            return; // the server is gone
          }
          acked.set(id, Date.now());
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      await new Promise((r) => setTimeout(r, 8000));
      killedAt = Date.now();
      await server.kill9();
      await writer;
      await c.end().catch(() => undefined);
      expect(acked.size).toBeGreaterThan(30);

      // The archiver keeps running: what pg_receivewal had received is stored within partialUploadSeconds.
      await new Promise((r) => setTimeout(r, (PARTIAL_UPLOAD_SECONDS + 2) * 1000));
      archiver.signal('SIGTERM');
      expect((await archiver.exited).code).toBe(0);

      const dir = join(env.dir, 'after-kill');
      const restore = await runCliProcess(['--config', config, 'restore', 'latest', '--only', 'postgres', '--to-time', 'latest', '--pgdata', dir]);
      expect(restore.code, restore.stderr.slice(-3000)).toBe(0);
      const s = await startDataDir(dir);
      let got: Set<number>;
      try {
        got = new Set((await s.query<{ id: number }>('app', 'select id from w')).rows.map((r) => r.id));
      } finally {
        await s.stop();
      }
      const bound = killedAt - (PARTIAL_UPLOAD_SECONDS + 5) * 1000;
      const required = [...acked].filter(([, t]) => t <= bound).map(([id]) => id);
      expect(required.length).toBeGreaterThan(10);
      expect(required.filter((id) => !got.has(id))).toEqual([]);
      // Nothing that was not written, and (for the record) how close to the kill the recovery point came.
      expect([...got].every((id) => acked.has(id) || id === acked.size + 1)).toBe(true);
      const newest = Math.max(...[...got].map((id) => acked.get(id) ?? killedAt));
      console.log(`RPO: ${got.size} of ${acked.size} acknowledged writes recovered; the newest recovered was acknowledged ${killedAt - newest} ms before kill -9`);
    } finally {
      archiver.signal('SIGKILL');
    }
  });
});
