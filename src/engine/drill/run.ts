import type { Identity } from '../../crypto/index.js';
import type { Config } from '../../config/schema.js';
import type { Artifact, KubeFacts, Manifest, PostgresFacts, RedisFacts } from '../../repository/manifest.js';
import type { ObjectStore } from '../../store/types.js';
import type { Logger } from '../../util/log.js';
import { resolveBackup } from '../../repository/catalog.js';
import { restorePostgres } from '../../sources/postgres/restore.js';
import { restoreRedisOnline } from '../../sources/redis/restore.js';
import { kubeArtifactOf, readKubeArchive, restoreKube } from '../../sources/kube/restore.js';
import type { RestoreContext } from '../../sources/restore-context.js';
import { waitForWorkloads } from '../../sources/kube/wait.js';
import { qualifiedResource } from '../../sources/kube/archive.js';
import { KubeClient, loadKubeConfig, objectPath, collectionPath, type KubeConfig } from '../../sources/shared/kube-client.js';
import { connectPg, majorOf, pgClientUrl, quoteIdent } from '../../sources/postgres/tools.js';
import { errorMessage } from '../../util/errors.js';
import { redactUrl } from '../../util/redact.js';
import { drillActions, collectProductionHosts } from '../../sources/kube/drill-actions/index.js';
import type { RestoreAction } from '../../sources/kube/drill-actions/types.js';
import { healthCheck, postgresChecks, redisChecks } from './checks.js';
import { drillIdAt, storeReport, type CheckResult, type DrillReport, type PhaseName } from './report.js';
import { createDrillNamespace, deleteDrillNamespace } from '../../sources/kube/scratch-namespace.js';
import { findPostgresBinDir, startScratchPostgres, startScratchRedis, type ScratchServer } from './scratch-servers.js';

export interface DrillOptions {
  store: ObjectStore;
  config: Config;
  log: Logger;
  identities: Identity[];
  backup?: string;
  keep?: boolean;
  keepOnFailure?: boolean;
  /** Use this namespace instead of `<prefix><date>` (it must not exist, or carry the drill label). */
  namespace?: string;
  kubeConfig?: KubeConfig;
  scratchDir?: string;
  signal?: AbortSignal;
  now?: () => Date;
}

class PhaseFailure extends Error {
  constructor(readonly phase: PhaseName, message: string) {
    super(message);
  }
}

/** `20261124_040000` for names: sortable, valid in namespaces (with - for _) and database names. */
function stamp(at: Date): string {
  return at.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '_');
}

/**
 * The quarterly recovery drill: restores a backup into a scratch namespace, database and Redis, proves the
 * services answer and the data matches the manifest, reports RTO/RPO, and cleans up, also after a failure.
 */
export async function runDrill(o: DrillOptions): Promise<DrillReport> {
  const now = o.now ?? (() => new Date());
  const t0 = now();
  const secondsSince = (t: Date) => (now().getTime() - t.getTime()) / 1000;
  const id = drillIdAt(t0);
  const log = o.log.child({ drill: id });
  const report: DrillReport = {
    id,
    backup: null,
    mode: 'local',
    status: 'Failed',
    startedAt: t0.toISOString(),
    finishedAt: t0.toISOString(),
    rpoSeconds: null,
    rtoSeconds: null,
    phases: [],
    checks: [],
    transforms: { dropped: [], excluded: [] },
    scratch: { databases: [], postgres: 'none', redis: 'none' },
    cleanup: { done: false, kept: false, detail: [] },
  };
  const cleanups: Array<{ what: string; run: () => Promise<void> }> = [];

  const phase = async <T>(name: PhaseName, fn: () => Promise<T>, detail?: (t: T) => string | undefined): Promise<T> => {
    const start = now();
    log.info({ phase: name }, 'drill phase started');
    try {
      const r = await fn();
      report.phases.push({ name, status: 'ok', seconds: secondsSince(start), detail: detail?.(r) });
      return r;
    } catch (err) {
      const msg = errorMessage(err);
      report.phases.push({ name, status: 'failed', seconds: secondsSince(start), detail: msg });
      throw err instanceof PhaseFailure ? err : new PhaseFailure(name, msg);
    }
  };
  const failChecks = (name: PhaseName, checks: CheckResult[]) => {
    report.checks.push(...checks);
    const bad = checks.filter((c) => !c.ok);
    if (bad.length > 0) throw new PhaseFailure(name, bad.map((c) => `${c.name}: ${c.detail ?? `expected ${c.expected}, got ${c.actual}`}`).join('; '));
  };

  try {
    const manifest = await phase('select', () => resolveBackup(o.store, o.backup ?? 'latest', { requireCompleted: true }), (m) => m.id);
    report.backup = manifest.id;
    report.rpoSeconds = (t0.getTime() - Date.parse(manifest.startedAt)) / 1000;
    const ctx: RestoreContext = { store: o.store, manifest, identities: o.identities, config: o.config, log, scratchDir: o.scratchDir ?? o.config.scratchDir, signal: o.signal };

    const pgArtifacts = manifest.artifacts.filter((a) => a.kind === 'pg_dump-custom');
    const redisArtifact = manifest.artifacts.find((a) => a.kind === 'redis-rdb');
    const hasKube = manifest.artifacts.some((a) => a.kind === 'kube-tar') && (o.kubeConfig !== undefined || o.config.sources.kube !== undefined);
    report.mode = hasKube ? 'kubernetes' : 'local';
    const kube = hasKube ? new KubeClient(o.kubeConfig ?? loadKubeConfig(o.config.sources.kube)) : undefined;
    const namespace = hasKube ? (o.namespace ?? `${o.config.drill.namespacePrefix}${stamp(t0).replace('_', '-')}`) : undefined;
    const dbName = (db: string) => `${o.config.drill.databasePrefix}${stamp(t0)}${pgArtifacts.length > 1 ? `_${db}` : ''}`;

    // Scratch environment: namespace, PostgreSQL server, Redis.
    const scratch = await phase(
      'scratch',
      async () => {
        if (kube && namespace) {
          const source = (manifest.artifacts.find((a) => a.kind === 'kube-tar')!.facts as KubeFacts).namespace;
          await createDrillNamespace(kube, namespace, source, id);
          report.scratch.namespace = namespace;
          cleanups.push({ what: `namespace ${namespace}`, run: () => deleteDrillNamespace(kube, namespace) });
        }
        let pgServer: string | undefined;
        if (pgArtifacts.length > 0) {
          if (o.config.drill.postgres?.url) {
            pgServer = o.config.drill.postgres.url;
            report.scratch.postgres = 'configured';
          } else {
            const major = Math.max(...pgArtifacts.map((a) => majorOf((a.facts as PostgresFacts).serverVersion) ?? 0));
            const srv = await startScratchPostgres(await findPostgresBinDir(major, o.config.drill.binDir));
            cleanups.push({ what: `throwaway PostgreSQL ${srv.where}`, run: srv.stop });
            pgServer = srv.url;
            report.scratch.postgres = 'throwaway';
          }
        }
        let redis: ScratchServer | undefined;
        let redisUrl: string | undefined;
        if (redisArtifact) {
          if (o.config.drill.redis.url) {
            redisUrl = o.config.drill.redis.url.replace(/\{\{namespace\}\}/g, namespace ?? '');
            report.scratch.redis = 'configured';
          } else {
            redis = await startScratchRedis();
            cleanups.push({ what: `throwaway Redis ${redis.where}`, run: redis.stop });
            redisUrl = redis.url;
            report.scratch.redis = 'throwaway';
          }
        }
        return { pgServer, redisUrl };
      },
      () => [namespace && `namespace ${namespace}`, `postgres ${report.scratch.postgres}`, `redis ${report.scratch.redis}`].filter(Boolean).join(', '),
    );

    // Kubernetes manifests, with the drill's transforms; rollouts waited for after the data is in.
    let restoreId: string | undefined;
    let kubeExpected: Map<string, { expected: number; groupVersion: string; resource: string }> | undefined;
    if (kube && namespace) {
      const artifact = kubeArtifactOf(manifest);
      restoreId = `drill-${stamp(t0).replace('_', '-')}`;
      await phase('kube', async () => {
        const { index, objects } = await readKubeArchive(ctx, artifact);
        const firstDb = pgArtifacts[0] ? dbName((pgArtifacts[0].facts as PostgresFacts).database) : '';
        const vars: Record<string, string> = {
          namespace,
          database: firstDb,
          redisUrl: scratch.redisUrl ?? '',
          pgUrl: scratch.pgServer && firstDb ? pgClientUrl(scratch.pgServer, firstDb) : '',
        };
        const actions = drillActions({
          productionHosts: collectProductionHosts(objects),
          domain: o.config.drill.domain,
          vars,
          env: o.config.drill.env,
          secretData: o.config.drill.secretData,
        });
        for (const e of index.entries) {
          if (e.namespace === undefined) report.transforms.excluded.push({ item: `${qualifiedResource(e.resource, e.group)} ${e.name}`, reason: 'cluster-scoped: shared with production, not restored by a drill' });
        }
        const res = await restoreKube(ctx, {
          toNamespace: namespace,
          existing: 'skip',
          restoreId,
          include: (_obj, entry) => entry.namespace !== undefined,
          extraTransforms: actions.map(asTransform),
          waitForReady: false,
          createNamespace: false,
          kubeConfig: kube.kc,
        });
        report.transforms.dropped.push(...res.dropped);
        if (res.failed > 0) {
          throw new Error(`${res.failed} objects failed: ${res.items.filter((i) => i.result === 'failed').map((i) => `${i.item} (${i.detail ?? ''})`).slice(0, 5).join('; ')}`);
        }
        kubeExpected = expectedKubeCounts(manifest, index.entries, res.items);
        return res;
      }, (res) => `${res.summary.created ?? 0} created, ${res.dropped.length} dropped by drill transforms, ${report.transforms.excluded.length} cluster-scoped left out`);
    }

    // PostgreSQL into the scratch database(s).
    for (const a of pgArtifacts) {
      const facts = a.facts as PostgresFacts;
      const target = dbName(facts.database);
      const server = scratch.pgServer!;
      cleanups.push({ what: `database ${target}`, run: () => dropDatabase(server, target) });
      report.scratch.databases.push(target);
      await phase('postgres', () => restorePostgres(ctx, { pgUrl: server, sourceDatabase: facts.database, database: target, jobs: 2 }), () => `${facts.database} → ${target} on ${redactUrl(server)}`);
    }

    // Redis into the scratch Redis.
    let redisReport: Awaited<ReturnType<typeof restoreRedisOnline>> | undefined;
    if (redisArtifact) {
      redisReport = await phase('redis', () => restoreRedisOnline(ctx, { redisUrl: scratch.redisUrl! }), (r) => `${r.keysRestored} keys`);
    }

    if (kube && namespace) {
      await phase('rollout', () => waitForRollouts(kube, namespace, o.config.drill.readyTimeoutSeconds, o.signal), (n) => `${n} workloads ready`);
      await phase('health', async () => {
        const checks: CheckResult[] = [];
        for (const hc of o.config.drill.healthChecks) checks.push(await healthCheck(kube, namespace, hc, o.signal));
        failChecks('health', checks);
        return checks.length;
      }, (n) => `${n} services answered`);
    }

    await phase('data', async () => {
      const checks: CheckResult[] = [];
      for (const a of pgArtifacts) checks.push(...(await postgresChecks(scratch.pgServer!, dbName((a.facts as PostgresFacts).database), a.facts as PostgresFacts)));
      if (redisArtifact && redisReport) checks.push(...redisChecks(redisReport, redisArtifact.facts as RedisFacts));
      if (kube && namespace && kubeExpected && restoreId) checks.push(...(await kubeChecks(kube, namespace, restoreId, kubeExpected)));
      failChecks('data', checks);
      return checks.length;
    }, (n) => `${n} checks equal`);

    report.status = 'Passed';
    report.rtoSeconds = secondsSince(t0);
  } catch (err) {
    const phaseName = err instanceof PhaseFailure ? err.phase : 'select';
    report.failure = { phase: phaseName, error: errorMessage(err) };
    log.error({ phase: phaseName, err: errorMessage(err) }, 'drill failed');
  } finally {
    const keep = o.keep || (o.keepOnFailure && report.status !== 'Passed');
    const start = now();
    if (keep) {
      report.cleanup = { done: false, kept: true, detail: cleanups.map((c) => `kept ${c.what}`) };
      report.phases.push({ name: 'cleanup', status: 'skipped', seconds: 0, detail: 'kept' });
    } else {
      const detail: string[] = [];
      let ok = true;
      for (const c of cleanups.reverse()) {
        try {
          await c.run();
          detail.push(`removed ${c.what}`);
        } catch (err) {
          ok = false;
          detail.push(`could not remove ${c.what}: ${errorMessage(err)}`);
        }
      }
      report.cleanup = { done: ok, kept: false, detail };
      report.phases.push({ name: 'cleanup', status: ok ? 'ok' : 'failed', seconds: secondsSince(start), detail: detail.join('; ') });
    }
    report.finishedAt = now().toISOString();
    try {
      await storeReport(o.store, report);
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'could not store the drill report');
    }
  }
  return report;
}

/** Makes a drill action a restore transform; its name is what the restore report says dropped an object. */
function asTransform(a: RestoreAction): (obj: any, ctx: any) => any | null {
  const fn = (obj: any, ctx: any) => {
    const apiVersion = String(obj?.apiVersion ?? '');
    const ref = { group: apiVersion.includes('/') ? apiVersion.split('/')[0] : '', resource: '', kind: String(obj?.kind ?? '') };
    return a.appliesTo(ref) ? a.transform(obj, ctx) : obj;
  };
  Object.defineProperty(fn, 'name', { value: a.name });
  return fn;
}

async function waitForRollouts(kube: KubeClient, ns: string, timeoutSeconds: number, signal?: AbortSignal): Promise<number> {
  const targets = [];
  for (const [gv, resource, kind] of [['apps/v1', 'deployments', 'Deployment'], ['apps/v1', 'statefulsets', 'StatefulSet']] as const) {
    for (const o of await kube.list(collectionPath(gv, resource, ns), kind, gv, { signal })) {
      targets.push({ item: `${resource}.apps ${ns}/${o.metadata.name}`, path: objectPath(gv, resource, o.metadata.name, ns) });
    }
  }
  const notReady = await waitForWorkloads(kube, targets, timeoutSeconds, { signal });
  if (notReady.size > 0) throw new Error(`not ready after ${timeoutSeconds}s: ${[...notReady].map(([k, v]) => `${k} (${v})`).join('; ')}`);
  return targets.length;
}

/**
 * What the drill namespace must hold per resource: the manifest's count minus what the drill left out on
 * purpose (dropped by a transform, cluster-scoped, or skipped by the restore with a reason).
 */
function expectedKubeCounts(
  manifest: Manifest,
  entries: Array<{ resource: string; group: string; apiVersion: string; namespace?: string }>,
  items: Array<{ item: string; result: string }>,
): Map<string, { expected: number; groupVersion: string; resource: string }> {
  const facts = manifest.artifacts.find((a): a is Artifact & { facts: KubeFacts } => a.facts.type === 'kube')!.facts;
  const out = new Map<string, { expected: number; groupVersion: string; resource: string }>();
  const leftOut = new Map<string, number>();
  for (const i of items) {
    if (i.result === 'created' || i.result === 'updated') continue;
    const qr = i.item.split(' ')[0];
    leftOut.set(qr, (leftOut.get(qr) ?? 0) + 1);
  }
  for (const e of entries) {
    if (e.namespace === undefined) continue;
    const qr = qualifiedResource(e.resource, e.group);
    if (!out.has(qr)) out.set(qr, { expected: 0, groupVersion: e.apiVersion, resource: e.resource });
  }
  for (const [qr, v] of out) {
    const clusterScoped = entries.filter((e) => e.namespace === undefined && qualifiedResource(e.resource, e.group) === qr).length;
    v.expected = (facts.counts[qr] ?? 0) - clusterScoped - (leftOut.get(qr) ?? 0);
  }
  return out;
}

async function kubeChecks(
  kube: KubeClient,
  ns: string,
  restoreId: string,
  expected: Map<string, { expected: number; groupVersion: string; resource: string }>,
): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const [qr, e] of expected) {
    const page = await kube.get(collectionPath(e.groupVersion, e.resource, ns), { query: { labelSelector: `gushen-dr.io/restore=${restoreId}` } });
    const actual = (page?.items ?? []).length;
    out.push({ kind: 'kube', name: `${qr} objects`, ok: actual === e.expected, expected: e.expected, actual });
  }
  return out;
}

async function dropDatabase(serverUrl: string, db: string): Promise<void> {
  const c = await connectPg(serverUrl, 'postgres');
  try {
    await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(db)} WITH (FORCE)`);
  } finally {
    await c.end();
  }
}
