import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/engine/backup.js';
import { runDrill } from '../../src/engine/drill/run.js';
import { listReports } from '../../src/engine/drill/report.js';
import { loadIdentities } from '../../src/config/keys.js';
import { openStore } from '../../src/store/open.js';
import { readObject } from '../../src/store/text.js';
import { FileStore } from '../../src/store/file.js';
import { silentLogger } from '../../src/util/log.js';
import type { Config } from '../../src/config/schema.js';
import type { Manifest } from '../../src/repository/manifest.js';
import { PG_PASSWORD, startPlatform, type Platform } from '../support/platform.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';

describe('recovery drill against the Kubernetes emulator and real PostgreSQL/Redis', () => {
  let p: Platform;
  let drillRedis: TestRedis;
  let config: Config;
  let manifest: Manifest;

  beforeAll(async () => {
    p = await startPlatform({ rows: 5000, redisKeys: 1500 });
    drillRedis = await startRedis({ password: 'drill-redis-pw', appendonly: false });
    config = p.config({
      drill: {
        readyTimeoutSeconds: 30,
        redis: { url: `redis://:drill-redis-pw@127.0.0.1:${drillRedis.port}` },
        postgres: { url: `postgres://postgres:${PG_PASSWORD}@127.0.0.1:${p.pg.port}/` },
        env: { DATABASE_URL: 'postgres://app@scratch/{{database}}' },
      },
    });
    manifest = await runBackup({ config, store: openStore(config.store), schedule: 'nightly', log: silentLogger });
    expect(manifest.status).toBe('Completed');
  });
  afterAll(async () => {
    await Promise.all([p?.stop(), drillRedis?.stop()]);
  });

  const drill = async (over: Partial<Parameters<typeof runDrill>[0]> = {}, cfg = config) => {
    await drillRedis.client().flushall();
    return runDrill({ store: openStore(cfg.store), config: cfg, log: silentLogger, identities: await loadIdentities(cfg), ...over });
  };
  const nsObjects = (ns: string) => p.kube.objects().filter((o) => o.metadata?.namespace === ns || (o.kind === 'Namespace' && o.metadata?.name === ns));

  it('passes: namespace created and labelled, transforms applied, health through the services proxy, data equal, report stored', async () => {
    const r = await drill({ keep: true });
    expect(r.failure).toBeUndefined();
    expect(r.status).toBe('Passed');
    expect(r.mode).toBe('kubernetes');
    expect(r.backup).toBe(manifest.id);
    expect(r.rpoSeconds).toBeGreaterThanOrEqual(0);
    expect(r.rtoSeconds).toBeGreaterThan(0);
    expect(r.phases.map((x) => x.name)).toEqual(['select', 'scratch', 'kube', 'postgres', 'redis', 'rollout', 'health', 'data', 'cleanup']);
    const ns = r.scratch.namespace!;
    expect(ns).toMatch(/^dr-drill-\d{8}-\d{6}$/);
    const objs = nsObjects(ns);
    expect(objs.find((o) => o.kind === 'Namespace')?.metadata.labels['gushen-dr.io/drill']).toBe('true');
    // no production host anywhere, no Certificate, no IngressRoute (no drill domain configured)
    expect(JSON.stringify(objs)).not.toContain('gushen.lurus.cn');
    expect(objs.some((o) => o.kind === 'Certificate' || o.kind === 'IngressRoute')).toBe(false);
    expect(r.transforms.dropped.map((d) => d.by).sort()).toEqual(['drill-no-certificates', 'drill-routing']);
    // one replica of the Redis StatefulSet, env pointed at the drill database
    const sts = objs.find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'redis');
    expect(sts?.spec.replicas).toBe(1);
    const api = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'ai-qtrd-api');
    const env = api?.spec.template.spec.containers[0].env.find((e: any) => e.name === 'DATABASE_URL');
    expect(env).toEqual({ name: 'DATABASE_URL', value: `postgres://app@scratch/${r.scratch.databases[0]}` });
    // checks: every table, every Redis db, every kind, both services
    const kinds = new Set(r.checks.map((c) => c.kind));
    expect([...kinds].sort()).toEqual(['health', 'kube', 'postgres', 'redis']);
    expect(r.checks.every((c) => c.ok)).toBe(true);
    expect(r.checks.filter((c) => c.kind === 'health').map((c) => c.name)).toEqual(['ai-qtrd-web:3000/api/health', 'ai-qtrd-api:8000/api/health']);
    // the report is in the store, JSON and Markdown
    const store = openStore(config.store);
    const stored = JSON.parse((await readObject(store, `drills/${r.id}/report.json`)).toString());
    expect(stored.status).toBe('Passed');
    expect((await readObject(store, `drills/${r.id}/report.md`)).toString()).toContain(`# Recovery drill ${r.id}: PASSED`);
    expect(r.cleanup.kept).toBe(true);
    // kept: the scratch database is there until we drop it
    const dbs = await p.pg.query('postgres', 'select datname from pg_database');
    expect(dbs.rows.map((x: { datname: string }) => x.datname)).toContain(r.scratch.databases[0]);
    await p.pg.query('postgres', `drop database ${r.scratch.databases[0]} with (force)`);
    await p.kube.kubeConfig(); // still reachable
  });

  it('cleans up everything it created when not kept', async () => {
    const before = new Set((await p.pg.query('postgres', 'select datname from pg_database')).rows.map((x: { datname: string }) => x.datname));
    const r = await drill({ namespace: 'dr-drill-cleanup' });
    expect(r.status).toBe('Passed');
    expect(r.cleanup).toMatchObject({ done: true, kept: false });
    expect(nsObjects('dr-drill-cleanup')).toEqual([]);
    const after = new Set((await p.pg.query('postgres', 'select datname from pg_database')).rows.map((x: { datname: string }) => x.datname));
    expect(after).toEqual(before);
    expect((await listReports(openStore(config.store))).map((x) => x.id)).toContain(r.id);
  });

  it('fails naming the service when a health endpoint answers 503, and still cleans up', async () => {
    p.health.set('ai-qtrd-api', { status: 503, body: '{"status":"degraded"}' });
    try {
      const r = await drill({ namespace: 'dr-drill-503' });
      expect(r.status).toBe('Failed');
      expect(r.failure?.phase).toBe('health');
      expect(r.failure?.error).toContain('service ai-qtrd-api answered 503');
      expect(r.rtoSeconds).toBeNull();
      expect(r.cleanup.done).toBe(true);
      expect(nsObjects('dr-drill-503')).toEqual([]);
    } finally {
      p.health.delete('ai-qtrd-api');
    }
  });

  it('refuses the source namespace and a namespace without the drill label', async () => {
    const r1 = await drill({ namespace: 'ai-qtrd' });
    expect(r1.status).toBe('Failed');
    expect(r1.failure).toMatchObject({ phase: 'scratch', error: expect.stringContaining('refusing to drill into ai-qtrd: it is the backed-up (production) namespace') });
    // kube-system exists and is not labelled as a drill
    const r2 = await drill({ namespace: 'kube-system' });
    expect(r2.failure).toMatchObject({ phase: 'scratch', error: expect.stringContaining('lacks the label gushen-dr.io/drill=true') });
    expect(p.kube.objects().some((o) => o.kind === 'Namespace' && o.metadata.name === 'ai-qtrd')).toBe(true);
    expect(p.kube.objects().filter((o) => o.metadata?.namespace === 'kube-system' && o.metadata?.labels?.['gushen-dr.io/restore'])).toEqual([]);
  });

  it('fails at the PostgreSQL phase on a silently corrupted artifact, and cleans up', async () => {
    const dir = (config.store.url as string).slice('file://'.length);
    const store = new FileStore(dir);
    const pgArt = manifest.artifacts.find((a) => a.kind === 'pg_dump-custom')!;
    const original = await readObject(store, pgArt.key);
    const bad = Buffer.from(original);
    bad[Math.floor(bad.length / 2)] ^= 0x01;
    await writeFile(join(dir, ...pgArt.key.split('/')), bad);
    try {
      const r = await drill({ namespace: 'dr-drill-corrupt' });
      expect(r.status).toBe('Failed');
      expect(r.failure?.phase).toBe('postgres');
      expect(r.failure?.error).toContain(`artifact ${pgArt.name}`);
      expect(r.failure?.error).toMatch(/failed authentication: the ciphertext is corrupted|SHA-256/);
      expect(r.cleanup.done).toBe(true);
      expect(nsObjects('dr-drill-corrupt')).toEqual([]);
    } finally {
      await writeFile(join(dir, ...pgArt.key.split('/')), original);
    }
  });

  it('local mode: without Kubernetes it restores into throwaway servers it starts itself', async () => {
    const local = p.config({ sources: { ...config.sources, kube: undefined } });
    const r = await drill({}, { ...local, drill: { ...local.drill, redis: {}, postgres: undefined } });
    expect(r.failure).toBeUndefined();
    expect(r.mode).toBe('local');
    expect(r.scratch.servers).toEqual({ postgres: 'throwaway', redis: 'throwaway' });
    expect(r.status).toBe('Passed');
    expect(r.checks.some((c) => c.kind === 'postgres')).toBe(true);
  });
});
