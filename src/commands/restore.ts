import { resolveBackup } from '../repository/catalog.js';
import { loadIdentities } from '../config/keys.js';
import type { SourceName } from '../config/schema.js';
import { runRestore } from '../engine/restore.js';
import type { KubeIndexEntry } from '../sources/kube/archive.js';
import { UsageError } from '../util/errors.js';
import { out, printJson, table, type Env } from './common.js';
import { withSignals } from './signals.js';

export interface RestoreFlags {
  only?: SourceName[];
  identity?: string;
  scratchDir?: string;
  force?: boolean;
  pgUrl?: string;
  database?: string;
  sourceDatabase?: string;
  jobs?: number;
  withGlobals?: boolean;
  redisUrl?: string;
  redisDataDir?: string;
  fenceReplicas?: boolean;
  redisServerBin?: string;
  toNamespace?: string;
  dryRun?: boolean;
  existing?: 'skip' | 'update';
  keepNodePorts?: boolean;
  keepNamespaceDns?: boolean;
  resource?: string;
  wait?: boolean;
}

/** `--resource deployments.apps/ai-qtrd-web` or `configmaps/ai-qtrd-config`: one object, matched on the archive index. */
export function resourceFilter(spec: string | undefined): ((obj: any, entry: KubeIndexEntry) => boolean) | undefined {
  if (!spec) return undefined;
  const m = /^([a-z0-9-]+)(?:\.([a-z0-9.-]+))?\/([A-Za-z0-9.:@_-]+)$/.exec(spec);
  if (!m) throw new UsageError(`--resource ${spec}: expected <resource>[.<group>]/<name>, e.g. deployments.apps/ai-qtrd-web`);
  const [, resource, group = '', name] = m;
  return (_obj, entry) => entry.resource === resource && entry.group === group && entry.name === name;
}

export async function restoreCommand(env: Env, ref: string, f: RestoreFlags): Promise<number> {
  if (f.existing && f.existing !== 'skip' && f.existing !== 'update') throw new UsageError(`--existing ${f.existing}: expected skip or update`);
  const include = resourceFilter(f.resource);
  const manifest = await resolveBackup(env.store, ref);
  if (manifest.status !== 'Completed') env.log.warn({ backup: manifest.id, status: manifest.status }, 'restoring from a backup that is not Completed');
  const identities = await loadIdentities(env.config, f.identity);
  const report = await withSignals(env.log, (signal) =>
    runRestore({
      store: env.store,
      manifest,
      identities,
      config: env.config,
      log: env.log,
      only: f.only,
      scratchDir: f.scratchDir ?? env.config.scratchDir,
      signal,
      postgres: { pgUrl: f.pgUrl, database: f.database, sourceDatabase: f.sourceDatabase, jobs: f.jobs, force: f.force, withGlobals: f.withGlobals },
      redis: { redisUrl: f.redisUrl, dataDir: f.redisDataDir, force: f.force, fenceReplicas: f.fenceReplicas, redisServerBin: f.redisServerBin },
      kube: { toNamespace: f.toNamespace, dryRun: f.dryRun, existing: f.existing, keepNodePorts: f.keepNodePorts, keepNamespaceDns: f.keepNamespaceDns, include, waitForReady: f.wait !== false },
    }),
  );
  if (env.output === 'json') printJson(report);
  else {
    out(table(['ITEM', 'RESULT', 'DETAIL'], report.items.map((i) => [i.item, i.result, i.detail ?? ''])));
    out(`restore of ${report.backup}: ${report.failed === 0 ? 'ok' : `${report.failed} failed`}`);
  }
  return report.failed === 0 ? 0 : 1;
}
