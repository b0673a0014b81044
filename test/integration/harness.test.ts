import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import { startRedis, type TestRedis } from '../support/redis.js';

describe('test harness servers', () => {
  let pg: TestPostgres;
  let redis: TestRedis;
  beforeAll(async () => {
    [pg, redis] = await Promise.all([startPostgres({ password: 'harness-pw' }), startRedis()]);
  });
  afterAll(async () => {
    await Promise.all([pg?.stop(), redis?.stop()]);
  });

  it('starts a PostgreSQL 15 server of its own that requires its password', async () => {
    const r = await pg.query('postgres', 'show server_version');
    expect(r.rows[0].server_version).toMatch(/^15\./);
    expect(pg.port).not.toBe(5432);
    const { withClient } = await import('../support/postgres.js');
    await expect(withClient(`postgres://postgres:wrong@127.0.0.1:${pg.port}/postgres`, (c) => c.query('select 1'))).rejects.toThrow(/password/);
  });

  it('starts a redis-server of its own with AOF on', async () => {
    const c = redis.client();
    expect(await c.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    expect(redis.port).not.toBe(6379);
  });
});
