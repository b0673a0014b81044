import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { kubeSource } from '../../src/sources/kube/index.js';
import { expectedKubeCounts } from '../../src/sources/kube/drill.js';
import type { KubeFacts } from '../../src/sources/kube/facts.js';
import { kubeArtifactOf, readKubeArchive } from '../../src/sources/kube/restore.js';
import { discoverResources } from '../../src/sources/kube/discovery.js';
import { selectorServiceNames, skipReason } from '../../src/sources/kube/filters.js';
import { postgresSource } from '../../src/sources/postgres/index.js';
import type { PostgresFacts } from '../../src/sources/postgres/facts.js';
import { redisSource } from '../../src/sources/redis/index.js';
import type { RedisFacts } from '../../src/sources/redis/facts.js';
import { KubeClient, collectionPath } from '../../src/sources/shared/kube-client.js';
import type { Manifest } from '../../src/repository/manifest.js';
import { startKubeEmulator } from '../support/kube-emulator/index.js';
import { notesSource } from '../support/notes-source.js';
import { createPlatformDataset } from '../support/pg-dataset.js';
import { startPostgres, withClient } from '../support/postgres.js';
import { fillRedis } from '../support/redis-dataset.js';
import { startRedis } from '../support/redis.js';
import { sourceRoundTrip, type RoundTripFixture } from '../support/source-round-trip.js';

// Every source, through the unchanged engine: backup → verify → deep verify → restore into an empty target,
// the data read back from the target equal to the manifest's facts; a tampered artifact refused before the
// target changes. The suite is test/support/source-round-trip.ts; a new source adds one fixture here.

const factsOf = <T>(m: Manifest, type: string): T => m.artifacts.find((a) => a.facts.type === type)!.facts as T;

/** PostgreSQL: the platform-like dataset in `gushen`; restored as a new database on a second server. */
const postgres: RoundTripFixture = {
  source: postgresSource,
  configure: async () => {
    const pg = await startPostgres({ password: 'round-trip-Pw!' });
    await pg.query('postgres', 'create database gushen');
    await createPlatformDataset(pg.urlFor('gushen'), { rows: 3000 });
    return { section: { url: `${pg.url}/`, databases: ['gushen'], globals: true }, teardown: () => pg.stop() };
  },
  targets: {
    'a new database on a second server': async () => {
      const pg = await startPostgres();
      return {
        options: { pgUrl: pg.url },
        // Exact row counts of every user table of the restored database; null while there is no such database.
        readBack: async () => {
          const exists = await pg.query('postgres', `select 1 from pg_database where datname = 'gushen'`);
          if (exists.rowCount === 0) return null;
          return withClient(pg.urlFor('gushen'), async (c) => {
            const tables = await c.query<{ s: string; t: string }>(
              `select n.nspname s, c.relname t from pg_class c join pg_namespace n on n.oid = c.relnamespace
                where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_' order by 1, 2`,
            );
            const out: Record<string, number> = {};
            for (const { s, t } of tables.rows) {
              const r = await c.query<{ n: string }>(`select count(*) n from "${s.replace(/"/g, '""')}"."${t.replace(/"/g, '""')}"`);
              out[`${s}.${t}`] = Number(r.rows[0].n);
            }
            return out;
          });
        },
        expected: ({ manifest }) => Object.fromEntries(factsOf<PostgresFacts>(manifest, 'postgres').tables.map((t) => [`${t.schema}.${t.name}`, t.rows])),
        teardown: () => pg.stop(),
      };
    },
  },
  // The dump (the globals are restored only with withGlobals).
  tampered: (m) => m.artifacts.find((a) => a.kind === 'pg_dump-custom')!,
};

/** Keys and keys with an expire time per database, from INFO keyspace. */
async function keyspace(client: Redis): Promise<Record<string, { keys: number; expires: number }>> {
  const out: Record<string, { keys: number; expires: number }> = {};
  for (const m of (await client.info('keyspace')).matchAll(/^db(\d+):keys=(\d+),expires=(\d+)/gm)) out[`db${m[1]}`] = { keys: Number(m[2]), expires: Number(m[3]) };
  return out;
}
const redisExpected = ({ manifest }: { manifest: Manifest }) =>
  Object.fromEntries(factsOf<RedisFacts>(manifest, 'redis').databases.map((d) => [`db${d.db}`, { keys: d.keys, expires: d.expires }]));

/**
 * Redis: the platform's key families over five databases. Keys keep their expire times, but none may run out
 * while the test runs (the quote cache lives 60 s): those are pushed a day ahead before the backup.
 */
const redis: RoundTripFixture = {
  source: redisSource,
  configure: async () => {
    const server = await startRedis({ password: 'round-trip-Redis!' });
    await fillRedis(server.client(), { keys: 2000, large: false });
    for (const db of Object.keys(await keyspace(server.client())).map((d) => Number(d.slice(2)))) {
      const c = server.client(db);
      for await (const keys of c.scanStream({ count: 500 }) as AsyncIterable<string[]>) {
        for (const k of keys) if ((await c.pttl(k)) > 0 && (await c.pttl(k)) < 3_600_000) await c.pexpire(k, 86_400_000);
      }
    }
    return { section: { url: server.url, method: 'file' }, teardown: () => server.stop() };
  },
  targets: {
    'a second empty redis-server (online)': async () => {
      const server = await startRedis();
      return { options: { redisUrl: server.url }, readBack: () => keyspace(server.client()), expected: redisExpected, teardown: () => server.stop() };
    },
    'an empty data directory (offline), then loaded by a redis-server': async (env) => {
      const dataDir = join(env.dir, env.unique('redis-data-'));
      await mkdir(dataDir);
      return {
        options: { dataDir },
        // What a redis-server started on (a copy of) the directory loads; {} while the directory is empty.
        readBack: async () => {
          const entries = await readdir(dataDir);
          if (entries.length === 0) return {};
          if (!entries.includes('appendonlydir') && !entries.includes('dump.rdb')) throw new Error(`${dataDir} holds ${entries.join(', ')} and no Redis data`);
          const copy = join(env.dir, env.unique('redis-data-copy-'));
          await cp(dataDir, copy, { recursive: true });
          const loader = await startRedis({ dir: copy, appendonly: true });
          try {
            return await keyspace(loader.client());
          } finally {
            await loader.stop();
            await rm(copy, { recursive: true, force: true });
          }
        },
        expected: redisExpected,
        teardown: async () => undefined,
      };
    },
  },
};

/** Kubernetes: the gushen fixture's ai-qtrd namespace in the API emulator; restored into a fresh namespace. */
const kube: RoundTripFixture = (() => {
  let emu: Awaited<ReturnType<typeof startKubeEmulator>>;
  return {
    source: kubeSource,
    configure: async (env) => {
      emu = await startKubeEmulator({ fixture: 'gushen' });
      const kubeconfig = join(env.dir, 'kubeconfig');
      await emu.writeKubeconfig(kubeconfig);
      return { section: { namespace: 'ai-qtrd', kubeconfig }, teardown: () => emu.stop() };
    },
    targets: {
      'a fresh namespace (toNamespace)': async (env) => {
        const namespace = env.unique('round-trip-');
        const client = new KubeClient(emu.kubeConfig());
        return {
          options: { toNamespace: namespace, restoreId: namespace, waitForReady: false },
          // Whether the namespace exists, and objects per qualified resource in it that carry this restore's label, listed through the API,
          // less those controllers made from restored ones (Endpoints and EndpointSlices copy their Service's labels):
          // the objects a backup leaves out as recreated (src/sources/kube/filters.ts).
          readBack: async () => {
            const list = async (groupVersion: string, resource: string) =>
              ((await client.get(collectionPath(groupVersion, resource, namespace), { query: { labelSelector: `gushen-dr.io/restore=${namespace}` } }))?.items ?? []) as any[];
            const skipCtx = { selectorServices: selectorServiceNames(await list('v1', 'services')) };
            const out: Record<string, number> = {};
            for (const r of (await discoverResources(client)).resources.filter((x) => x.namespaced)) {
              const n = (await list(r.groupVersion, r.resource)).filter((o) => skipReason(r.resource, r.group, o, skipCtx) === undefined).length;
              if (n > 0) out[r.group ? `${r.resource}.${r.group}` : r.resource] = n;
            }
            return { namespace: (await client.getOptional(`/api/v1/namespaces/${namespace}`)) !== undefined, objects: out };
          },
          // facts.counts less what is cluster-scoped and what the restore left out with a reason (the drill's rule).
          expected: async ({ manifest, report, ctx }) => {
            const artifact = kubeArtifactOf(manifest);
            const { index } = await readKubeArchive(ctx, artifact);
            const counts = expectedKubeCounts(artifact.facts as KubeFacts, index.entries, report.kube!.items);
            return { namespace: true, objects: Object.fromEntries([...counts].filter(([, e]) => e.expected > 0).map(([qr, e]) => [qr, e.expected])) };
          },
          teardown: async () => undefined,
        };
      },
    },
  };
})();

/** The test-only fourth source (test/support/notes-source.ts): a directory of notes, restored into a new one. */
const notes: RoundTripFixture = {
  source: notesSource,
  configure: async (env) => {
    const dir = join(env.dir, 'notes');
    await mkdir(dir);
    for (const [f, t] of Object.entries({ 'a.txt': 'first note', 'b.md': '# 第二条笔记\n', 'c.json': '{"n":3}' })) await writeFile(join(dir, f), t);
    return { section: { dir }, teardown: async () => undefined };
  },
  targets: {
    'a new directory': async (env) => {
      const targetDir = join(env.dir, env.unique('notes-restored-'));
      return {
        options: { targetDir },
        // The files and the digest of their contents (the facts' form); null while there is no directory.
        readBack: async () => {
          const files = await readdir(targetDir).catch(() => undefined);
          if (!files) return null;
          const contents: Record<string, string> = {};
          for (const f of files.sort()) contents[f] = await readFile(join(targetDir, f), 'utf8');
          return { files: files.length, sha256: createHash('sha256').update(JSON.stringify(contents)).digest('hex') };
        },
        expected: ({ manifest }) => {
          const f = factsOf<{ files: number; sha256: string }>(manifest, 'notes');
          return { files: f.files, sha256: f.sha256 };
        },
        teardown: async () => undefined,
      };
    },
  },
};

for (const fixture of [kube, postgres, redis, notes]) sourceRoundTrip(fixture);
