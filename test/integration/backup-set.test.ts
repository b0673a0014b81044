import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runBackup } from '../../src/engine/backup.js';
import { listBackups, resolveBackup } from '../../src/repository/catalog.js';
import { verifyBackup } from '../../src/engine/verify.js';
import { prune } from '../../src/repository/prune.js';
import { runRestore } from '../../src/engine/restore.js';
import { loadIdentities } from '../../src/config/keys.js';
import { openStore } from '../../src/store/open.js';
import { silentLogger } from '../../src/util/log.js';
import type { PostgresFacts } from '../../src/sources/postgres/facts.js';
import { startPlatform, type Platform } from '../support/platform.js';
import { startPostgres } from '../support/postgres.js';
import { startRedis } from '../support/redis.js';
import { canonicalDump, diffCanonical } from '../support/redis-dataset.js';
import { runCliProcess, startCliProcess } from '../support/cli-process.js';
import { waitFor } from '../support/ports.js';

async function tableChecksums(url: string): Promise<Record<string, string>> {
  const { withClient } = await import('../support/postgres.js');
  return withClient(url, async (c) => {
    const tables = await c.query<{ s: string; t: string }>(
      `select table_schema s, table_name t from information_schema.tables where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog','information_schema') order by 1,2`,
    );
    const out: Record<string, string> = {};
    for (const { s, t } of tables.rows) {
      const q = `"${s}"."${t}"`;
      const r = await c.query<{ h: string }>(`select md5(coalesce(string_agg(x::text, E'\\n' order by x::text), '')) h from ${q} x`);
      out[`${s}.${t}`] = r.rows[0].h;
    }
    return out;
  });
}

describe('backup sets end to end', () => {
  let p: Platform;
  beforeAll(async () => {
    p = await startPlatform({ rows: 20_000, redisKeys: 3000, s3: true });
  });
  afterAll(async () => {
    await p?.stop();
  });

  for (const storeKind of ['s3', 'file'] as const) {
    it(`${storeKind}: backs up PostgreSQL + Redis + the namespace, verifies deep, restores all three into fresh targets`, async () => {
      const config = p.config({}, storeKind);
      const store = openStore(config.store);
      const sourceSums = await tableChecksums(p.pg.urlFor('gushen'));
      const sourceRedis = await canonicalDump(p.redis.client());
      const m = await runBackup({ config, store, schedule: 'nightly', log: silentLogger });
      expect(m.failures).toEqual([]);
      expect(m.status).toBe('Completed');
      expect(m.artifacts.map((a) => a.name).sort()).toEqual(['kube/resources.tar', 'postgres/globals.sql', 'postgres/gushen.dump', 'redis/dump.rdb']);
      expect(m.artifacts.every((a) => a.verifiedAt)).toBe(true);

      const identities = await loadIdentities(config);
      const results = await verifyBackup({ store, manifest: m, config, log: silentLogger, deep: { identities } });
      expect(results.map((r) => [r.artifact, r.ok, r.error])).toEqual(m.artifacts.map((a) => [a.name, true, undefined]));

      const [pg2, redis2] = await Promise.all([startPostgres(), startRedis()]);
      try {
        const report = await runRestore({
          store,
          manifest: await resolveBackup(store, 'latest'),
          identities,
          config,
          log: silentLogger,
          postgres: { pgUrl: pg2.url, jobs: 2 },
          redis: { redisUrl: redis2.url },
          kube: { toNamespace: `restored-${storeKind}`, waitForReady: true, readyTimeoutSeconds: 30 },
        });
        expect(report.failed).toBe(0);
        // PostgreSQL: every table's content equals the source's (no writes ran meanwhile)
        expect(report.postgres?.databases[0].mismatches).toEqual([]);
        expect(await tableChecksums(pg2.urlFor('gushen'))).toEqual(sourceSums);
        const facts = m.artifacts.find((a) => a.name === 'postgres/gushen.dump')!.facts as PostgresFacts;
        expect(facts.tables.reduce((s, t) => s + t.rows, 0)).toBeGreaterThan(20_000);
        // Redis: every key, type, value and TTL
        expect(diffCanonical(sourceRedis, await canonicalDump(redis2.client()), { ttlToleranceMs: 5000, expiredBefore: Date.now() })).toEqual([]);
        // Kubernetes: the namespace's objects are in the new namespace
        const restored = p.kube.objects().filter((o) => o.metadata?.namespace === `restored-${storeKind}`);
        for (const [kind, name] of [['Deployment', 'ai-qtrd-web'], ['Deployment', 'ai-qtrd-api'], ['StatefulSet', 'redis'], ['ConfigMap', 'ai-qtrd-config'], ['Secret', 'ai-qtrd-secrets']]) {
          expect(restored.some((o) => o.kind === kind && o.metadata.name === name), `${kind}/${name}`).toBe(true);
        }
        // ... but not the ones claiming production's host (no host domain configured): left out, with the reason.
        expect(restored.filter((o) => o.kind === 'IngressRoute' || o.kind === 'Certificate')).toEqual([]);
        expect(report.kube?.dropped.map((d) => d.by).sort()).toEqual(['production-certificates', 'production-routes']);
      } finally {
        await Promise.all([pg2.stop(), redis2.stop()]);
      }
    });
  }

  it('one source failing gives PartiallyFailed, exit 1, and the failure in manifest, logs, metrics and webhook', async () => {
    const hooks: any[] = [];
    const pushes: Array<{ method: string; url: string; body: string }> = [];
    const hook: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c)).on('end', () => {
        if (req.url === '/hook') hooks.push(JSON.parse(body));
        else pushes.push({ method: req.method!, url: req.url!, body });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
    const textfile = join(p.dir, 'gushen-dr.prom');
    try {
      const cfg = await p.writeConfig('partial.yaml', {
        sources: { ...p.config().sources, redis: { url: 'redis://127.0.0.1:1', method: 'file' } },
        metrics: { textfile, pushgateway: `http://127.0.0.1:${(hook.address() as { port: number }).port}` },
        notify: { webhook: `http://127.0.0.1:${(hook.address() as { port: number }).port}/hook` },
      });
      const r = await runCliProcess(['--config', cfg, 'backup', '--schedule', 'nightly']);
      expect(r.code).toBe(1);
      const id = r.stdout.trim().split('\n').at(-1)!;
      expect(r.stdout).toContain('status: PartiallyFailed');
      const m = await resolveBackup(openStore(p.config().store), id);
      expect(m.status).toBe('PartiallyFailed');
      expect(m.failures).toEqual([{ source: 'redis', error: expect.stringContaining('127.0.0.1:1') }]);
      expect(m.artifacts.map((a) => a.source).sort()).toEqual(['kube', 'postgres', 'postgres']);
      const logs = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      expect(logs.some((l) => l.level === 50 && l.source === 'redis' && l.msg === 'source failed')).toBe(true);
      const prom = await readFile(textfile, 'utf8');
      expect(prom).toContain('gushen_dr_backup_status{schedule="nightly",status="PartiallyFailed"} 1');
      expect(prom).toContain('gushen_dr_backup_status{schedule="nightly",status="Completed"} 0');
      expect(prom).toContain('gushen_dr_failures_total{command="backup",schedule="nightly",source="redis"} 1');
      expect(prom).toMatch(/gushen_dr_last_success_timestamp_seconds\{command="backup",schedule="nightly",source="postgres"\} [1-9]/);
      expect(prom).toContain('gushen_dr_last_success_timestamp_seconds{command="backup",schedule="nightly",source="redis"} 0');
      expect(prom).toContain('gushen_dr_backup_failures{schedule="nightly",source="redis"} 1');
      expect(prom).not.toContain('gushen_dr_backup_last_success_timestamp_seconds{');
      expect(hooks).toEqual([expect.objectContaining({ event: 'backup', id, status: 'PartiallyFailed', failures: m.failures })]);
      // Pushgateway: read once (counters continue from its group), then POST (pushAdd) to the job's group; no
      // schedule-wide last-success series is pushed for a failed run
      expect(pushes.map((x) => `${x.method} ${x.url}`)).toEqual(['GET /metrics', 'POST /metrics/job/gushen-dr/schedule/nightly']);
      expect(pushes[1].body).toContain('gushen_dr_backup_status{schedule="nightly",status="PartiallyFailed"} 1');
      expect(pushes[1].body).not.toContain('gushen_dr_backup_last_success_timestamp_seconds');
    } finally {
      hook.close();
    }
  });

  it('two concurrent backups: exactly one proceeds, the other exits 1 naming the holder', async () => {
    const cfg = await p.writeConfig('concurrent.yaml', { sources: { postgres: p.config().sources.postgres } });
    const [a, b] = await Promise.all([runCliProcess(['--config', cfg, 'backup']), runCliProcess(['--config', cfg, 'backup'])]);
    expect([a.code, b.code].sort()).toEqual([0, 1]);
    const loser = a.code === 1 ? a : b;
    expect(loser.stderr).toMatch(/another backup holds the lock on file:.*: gushen-dr pid \d+ on .* \(backup \(manual\)\), started /);
    const store = openStore(p.config().store);
    expect(await store.list('locks/')).toEqual([]);
  });

  it('kill -9 mid-upload: the killed backup is Incomplete, never latest, pruned later; the next run completes', async () => {
    const cfg = await p.writeConfig('kill.yaml', { sources: { postgres: p.config().sources.postgres, redis: p.config().sources.redis, kube: p.config().sources.kube } });
    const store = openStore(p.config().store);
    const first = await runCliProcess(['--config', cfg, 'backup']);
    expect(first.code).toBe(0);
    const latestBefore = (await resolveBackup(store, 'latest')).id;
    await new Promise((r) => setTimeout(r, 1000)); // ids have one-second resolution
    const proc = startCliProcess(['--config', cfg, 'backup']);
    const storeDir = p.config().store.url.slice('file://'.length);
    // Wait until the new backup has its first artifact stored (the others still uploading), then kill -9.
    await waitFor(
      'a first artifact of the new backup',
      async () => {
        const ids = (await readdir(join(storeDir, 'backups'))).filter((d) => d > latestBefore);
        for (const id of ids) if ((await store.list(`backups/${id}/`)).length > 0) return true;
        return undefined;
      },
      60_000,
      2,
    );
    proc.child.kill('SIGKILL');
    await proc.exited;
    const killed = (await listBackups(store)).at(-1)!;
    expect(killed.status).toBe('Incomplete');
    expect((await resolveBackup(store, 'latest')).id).toBe(latestBefore);
    // The next run takes over the dead process's lock at once (same host, pid gone) and completes.
    await new Promise((r) => setTimeout(r, 1100));
    const next = await runCliProcess(['--config', cfg, 'backup']);
    expect(next.code).toBe(0);
    expect(next.stderr).toMatch(/taking over a stale backup lock: process \d+ on this host is gone/);
    expect((await resolveBackup(store, 'latest')).id).toBe(next.stdout.trim().split('\n').at(-1));
    // The killed run's half-written temp files: kept while they could belong to a running write, swept later.
    const leftBehind = await readdir(join(storeDir, '.tmp'));
    expect((await prune({ store, config: p.config(), log: silentLogger })).abandoned).toEqual({ files: 0, bytes: 0 });
    expect(await readdir(join(storeDir, '.tmp'))).toEqual(leftBehind);
    const r = await prune({ store, config: p.config(), log: silentLogger, now: new Date(Date.now() + 2 * 86_400_000) });
    expect(r.deleted).toContain(killed.id);
    expect(await store.list(`backups/${killed.id}/`)).toEqual([]);
    expect(r.abandoned?.files).toBe(leftBehind.length);
    expect(await readdir(join(storeDir, '.tmp'))).toEqual([]);
  });
});
