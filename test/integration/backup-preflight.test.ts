import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { generateX25519Identity } from '../../src/crypto/index.js';
import { encodeRecipient } from '../../src/crypto/keys.js';
import { runCliProcess } from '../support/cli-process.js';
import { freePort } from '../support/ports.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { tempDir } from '../support/tmp.js';

/**
 * Bad input is found before the first side effect: no lock claim, no object in the store, no BGSAVE on the
 * (production) Redis. Each run is the real CLI against a real redis-server whose snapshot counters are compared.
 */
describe('backup preflight: bad input changes nothing', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let redis: TestRedis;
  let recipient: string;
  let n = 0;
  let closedPort: number;

  beforeAll(async () => {
    dir = await tempDir();
    // No automatic saves: only a backup's BGSAVE moves the counters.
    redis = await startRedis({ save: '', appendonly: false });
    await redis.client().set('k', 'v');
    recipient = generateX25519Identity().recipient;
    closedPort = await freePort();
  });
  afterAll(async () => {
    await redis?.stop();
    await dir?.cleanup();
  });

  /** LASTSAVE and INFO persistence rdb_saves: both move with every BGSAVE. */
  const snapshots = async () => {
    const c = redis.client();
    const info = await c.info('persistence');
    return { lastsave: await c.lastsave(), rdbSaves: /rdb_saves:(\d+)/.exec(info)?.[1], changesSinceSave: /rdb_changes_since_last_save:(\d+)/.exec(info)?.[1] };
  };

  const kubeconfig = async (name: string, server: string | undefined) => {
    const file = join(dir.path, name);
    await writeFile(
      file,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: server ?? 'http://127.0.0.1:1' } }],
        users: [{ name: 'u', user: { token: 'not-a-secret' } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': server === undefined ? '' : 'x',
      }),
    );
    return file;
  };

  /** Runs `backup` with this config; returns the result and what the store and Redis show afterwards. */
  const backup = async (over: { recipients?: string[]; sources: Record<string, unknown> }, args: string[] = []) => {
    const store = join(dir.path, `store-${++n}`);
    const file = join(dir.path, `config-${n}.yaml`);
    await writeFile(file, stringify({ store: { url: `file://${store}` }, encryption: { recipients: over.recipients ?? [recipient] }, sources: over.sources }));
    const before = await snapshots();
    const r = await runCliProcess(['--config', file, 'backup', ...args]);
    const stored = existsSync(store) ? await readdir(store, { recursive: true }) : [];
    return { ...r, stored, before, after: await snapshots() };
  };

  const redisExec = () => ({ url: redis.url, method: 'exec', namespace: 'ai-qtrd', pod: 'redis-0', container: 'redis' });
  const unchanged = (r: Awaited<ReturnType<typeof backup>>) => {
    expect(r.stored, 'nothing written to the store').toEqual([]);
    expect(r.before.rdbSaves).toBeDefined();
    expect(r.after, 'no BGSAVE on Redis').toEqual(r.before);
  };

  it('positive control: a good config backs up, and BGSAVE moves the counters', async () => {
    const r = await backup({ sources: { redis: { url: redis.url, method: 'file' } } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stored.length).toBeGreaterThan(0);
    expect(Number(r.after.rdbSaves)).toBeGreaterThan(Number(r.before.rdbSaves));
  });

  it('a low-order (all-zero) recipient: exit 2 naming it', async () => {
    const r = await backup({ recipients: [recipient, encodeRecipient(Buffer.alloc(32))], sources: { redis: { url: redis.url, method: 'file' } } });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/encryption\.recipients\[1\]: invalid age recipient .*low-order X25519 point/);
    unchanged(r);
  });

  it('a missing kubeconfig (sources.kube, Redis method exec): exit 2 naming it', async () => {
    const missing = join(dir.path, 'no-such-kubeconfig');
    const r = await backup({ sources: { kube: { namespace: 'ai-qtrd', kubeconfig: missing }, redis: redisExec() } });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`sources.kube.kubeconfig ${missing}: no such file`);
    unchanged(r);
  });

  it('a kubeconfig without a current cluster, Redis method exec alone: exit 2', async () => {
    const kc = await kubeconfig('kubeconfig-no-context', undefined);
    const r = await backup({ sources: { kube: { namespace: 'ai-qtrd', kubeconfig: kc }, redis: redisExec() } }, ['--only', 'redis']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/no current cluster/);
    unchanged(r);
  });

  it('an unreachable API server: exit 1 before any source starts (no BGSAVE), with and without the kube source', async () => {
    const kc = await kubeconfig('kubeconfig-unreachable', `http://127.0.0.1:${closedPort}`);
    for (const args of [[], ['--only', 'redis']]) {
      const r = await backup({ sources: { kube: { namespace: 'ai-qtrd', kubeconfig: kc }, redis: redisExec() } }, args);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/the Kubernetes API does not answer, so the backup did not start: .*127\.0\.0\.1:\d+.*GET \/version/);
      unchanged(r);
    }
  });

  it('a PostgreSQL binDir that does not exist, or lacks pg_dump: exit 2 naming it', async () => {
    const emptyBin = join(dir.path, 'empty-bin');
    await mkdir(emptyBin, { recursive: true });
    for (const [binDir, message] of [
      [join(dir.path, 'no-such-bin'), 'no such directory'],
      [emptyBin, 'no executable pg_dump in it'],
    ]) {
      const r = await backup({ sources: { postgres: { url: `postgres://postgres@127.0.0.1:${closedPort}/`, databases: ['gushen'], binDir }, redis: { url: redis.url, method: 'file' } } });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`sources.postgres.binDir ${binDir}: ${message}`);
      unchanged(r);
    }
  });

  it('a postgres URL that is not postgres://, a Redis URL that is not redis://: exit 2', async () => {
    const r1 = await backup({ sources: { postgres: { url: 'http://127.0.0.1/', databases: ['gushen'] }, redis: { url: redis.url, method: 'file' } } });
    expect(r1.code, r1.stderr).toBe(2);
    expect(r1.stderr).toMatch(/sources\.postgres\.url: expected a postgres:\/\/ URL/);
    unchanged(r1);
    const r2 = await backup({ sources: { redis: { url: 'http://127.0.0.1/', method: 'file' } } });
    expect(r2.code, r2.stderr).toBe(2);
    expect(r2.stderr).toMatch(/sources\.redis\.url .*expected redis:\/\//);
    unchanged(r2);
  });

  it('--config naming a directory: exit 2', async () => {
    const r = await runCliProcess(['--config', dir.path, 'backup']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`config file ${dir.path} is a directory, not a file`);
  });
});
