import { compactTimestamp } from '../../repository/layout.js';
import type { Artifact, Manifest } from '../../repository/manifest.js';
import {
  KUBE_INDEX_PATH,
  countByResource,
  indexProblems,
  itemName,
  kubeArchiveIndexSchema,
  qualifiedResource,
  type KubeArchiveIndex,
  type KubeIndexEntry,
} from './archive.js';
import { selectorServiceNames, skipReason } from './filters.js';
import { KubeClient, loadKubeConfig, objectPath, type KubeConfig } from '../shared/kube-client.js';
import { OperationError, UsageError, errorMessage } from '../../util/errors.js';
import { openArtifact } from '../../repository/artifact-reader.js';
import type { RestoreContext, RestoreItemResult } from '../restore-context.js';
import { applyActions, prepareUpdate, type ResourceRef, type TransformContext } from './restore-actions/index.js';
import { checkHostDomain, collectProductionHosts } from './restore-actions/production-hosts.js';
import { resolveResourceSpecs } from './resource-filter.js';
import { applyObject, waitForCrdsEstablished, type ApplyTarget } from './apply.js';
import { compareForRestore } from './order.js';
import { readTarFiles } from './tar-reader.js';
import { WAITED_RESOURCES, waitForWorkloads } from './wait.js';

export type { TransformContext } from './restore-actions/types.js';
export type { KubeArchiveIndex, KubeIndexEntry } from './archive.js';

export type KubeTransform = (obj: any, ctx: TransformContext) => any | null;

export interface KubeRestoreOptions {
  /** Restore the namespaced objects into this namespace instead of the one backed up. */
  toNamespace?: string;
  /** Read the cluster and report what would happen; change nothing. */
  dryRun?: boolean;
  /** What to do with objects that exist already: leave them (default) or replace them. */
  existing?: 'skip' | 'update';
  /** Keep Services' node ports instead of letting the cluster allocate new ones. */
  keepNodePorts?: boolean;
  /** With toNamespace: leave `<service>.<backed-up namespace>.svc` DNS names as they are (they are rewritten by default). */
  keepNamespaceDns?: boolean;
  /**
   * With toNamespace: keep production hosts as they are. By default a restore into another namespace leaves
   * cert-manager Certificates out, and moves Ingresses and IngressRoutes to `<host-with-dashes>.<hostDomain>`
   * or, without a host domain, leaves them out too (see restore-actions/production-hosts.ts).
   */
  keepHosts?: boolean;
  /** Where production hosts go in a restore into another namespace; default `drill.domain` from the config. */
  hostDomain?: string;
  /**
   * `--resource` specs, in kubectl's forms (`deployment/ai-qtrd-web`, `deploy/…`, `deployments.apps/…`, `cm/…`):
   * only the objects they name are restored. Each must name at least one object of the archive, else the
   * restore is refused (UsageError) before anything is applied.
   */
  resources?: string[];
  /** Value of the `gushen-dr.io/restore` label; default `restore-<UTC timestamp>`. */
  restoreId?: string;
  /** Restore only the objects this accepts (it gets the object as backed up, and its archive entry). */
  include?: (obj: any, entry: KubeIndexEntry) => boolean;
  /** Run after the built-in per-kind actions, in order; returning null leaves the object out. */
  extraTransforms?: KubeTransform[];
  /** Wait for restored Deployments and StatefulSets to become ready (default true; never in a dry run). */
  waitForReady?: boolean;
  /** Default 300. */
  readyTimeoutSeconds?: number;
  /** Create the target namespace (default true). */
  createNamespace?: boolean;
  /** Extra labels for the target namespace. */
  namespaceLabels?: Record<string, string>;
  /** The cluster to restore into; default from `sources.kube` (kubeconfig, context) or the default chain. */
  kubeConfig?: KubeConfig;
}

export interface KubeRestoreReport {
  /** One per object considered, in restore order; item = `<qualified resource> <ns>/<name>` (target namespace). */
  items: RestoreItemResult[];
  summary: Record<RestoreItemResult['result'], number>;
  failed: number;
  /** Objects a transform left out, and why when it says. */
  dropped: Array<{ item: string; by: string; reason?: string }>;
  /** Restoring into another namespace: the production hosts found in the backup and what became of them. */
  hosts?: { production: string[]; kept: boolean; domain?: string };
}

const DNS_LABEL_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const LABEL_VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const CRD_QR = 'customresourcedefinitions.apiextensions.k8s.io';
const CRD_ESTABLISH_TIMEOUT_SECONDS = 60;
const RESULTS: RestoreItemResult['result'][] = ['created', 'skipped', 'updated', 'failed', 'restored', 'would-create', 'would-update', 'would-skip', 'would-restore'];

/** The backup's Kubernetes artifact; a UsageError when it has none. */
export function kubeArtifactOf(manifest: Manifest): Artifact {
  const a = manifest.artifacts.find((x) => x.source === 'kube' && x.kind === 'kube-tar');
  if (!a) throw new UsageError(`backup ${manifest.id} has no Kubernetes artifact`);
  return a;
}

/**
 * Decrypts and verifies the artifact (stored and plaintext SHA-256) while reading the tar into memory, then
 * checks it: index.json valid, every indexed entry present, parsing as JSON of the kind, apiVersion, name and
 * namespace the index says, and no entry the index does not list. `objects[i]` belongs to `index.entries[i]`.
 * Nothing is returned unless the whole artifact verified.
 */
export async function readKubeArchive(ctx: RestoreContext, artifact: Artifact): Promise<{ index: KubeArchiveIndex; objects: any[] }> {
  const where = `artifact ${artifact.name}`;
  let files: Map<string, Buffer>;
  try {
    files = await readTarFiles(await openArtifact(ctx.store, artifact, ctx.identities));
  } catch (err) {
    const msg = errorMessage(err);
    throw new OperationError(msg.startsWith(where) ? msg : `${where}: ${msg}`, { cause: err });
  }
  const indexBuf = files.get(KUBE_INDEX_PATH);
  if (!indexBuf) throw new OperationError(`${where}: ${KUBE_INDEX_PATH} is missing`);
  let index: KubeArchiveIndex;
  try {
    index = kubeArchiveIndexSchema.parse(JSON.parse(indexBuf.toString('utf8')));
  } catch (err) {
    throw new OperationError(`${where}: ${KUBE_INDEX_PATH} is not a valid index: ${errorMessage(err).slice(0, 500)}`);
  }
  const problems = indexProblems(index);
  const objects: any[] = [];
  for (const e of index.entries) {
    const buf = files.get(e.path);
    if (!buf) {
      problems.push(`${e.path}: listed in the index but missing`);
      objects.push(undefined);
      continue;
    }
    let obj: any;
    try {
      obj = JSON.parse(buf.toString('utf8'));
    } catch {
      problems.push(`${e.path}: not valid JSON`);
      objects.push(undefined);
      continue;
    }
    const md = obj?.metadata;
    if (obj?.kind !== e.kind) problems.push(`${e.path}: kind is ${String(obj?.kind)}, the index says ${e.kind}`);
    if (obj?.apiVersion !== e.apiVersion) problems.push(`${e.path}: apiVersion is ${String(obj?.apiVersion)}, the index says ${e.apiVersion}`);
    if (md?.name !== e.name) problems.push(`${e.path}: name is ${String(md?.name)}, the index says ${e.name}`);
    if ((md?.namespace || undefined) !== e.namespace) problems.push(`${e.path}: namespace is ${String(md?.namespace)}, the index says ${String(e.namespace)}`);
    objects.push(obj);
  }
  const listed = new Set(index.entries.map((e) => e.path));
  for (const path of files.keys()) if (path !== KUBE_INDEX_PATH && !listed.has(path)) problems.push(`${path}: not listed in the index`);
  if (problems.length > 0) {
    const more = problems.length > 10 ? ` (and ${problems.length - 10} more)` : '';
    throw new OperationError(`${where}: ${problems.slice(0, 10).join('; ')}${more}`);
  }
  return { index, objects };
}

/** readKubeArchive's checks plus: the manifest's facts (namespace, object count, counts per resource, skipped) match the archive. */
export async function deepVerifyKube(ctx: RestoreContext, artifact: Artifact): Promise<void> {
  const { index } = await readKubeArchive(ctx, artifact);
  const facts = artifact.facts;
  const where = `artifact ${artifact.name}`;
  if (facts.type !== 'kube') throw new OperationError(`${where}: its facts are of type ${facts.type}, expected kube`);
  const problems: string[] = [];
  if (facts.namespace !== index.namespace) problems.push(`namespace is ${index.namespace}, the manifest says ${facts.namespace}`);
  if (facts.objects !== index.entries.length) problems.push(`${index.entries.length} objects, the manifest says ${facts.objects}`);
  const counts = countByResource(index.entries);
  for (const qr of new Set([...Object.keys(counts), ...Object.keys(facts.counts)])) {
    if ((counts[qr] ?? 0) !== (facts.counts[qr] ?? 0)) problems.push(`${qr}: ${counts[qr] ?? 0} objects, the manifest says ${facts.counts[qr] ?? 0}`);
  }
  for (const k of new Set([...Object.keys(index.skipped), ...Object.keys(facts.skipped)])) {
    if ((index.skipped[k] ?? 0) !== (facts.skipped[k] ?? 0)) problems.push(`skipped "${k}": ${index.skipped[k] ?? 0}, the manifest says ${facts.skipped[k] ?? 0}`);
  }
  if (problems.length > 0) throw new OperationError(`${where}: ${problems.join('; ')}`);
}

/** One object of the plan, in restore order. */
export interface PlannedObject {
  item: string;
  entry: KubeIndexEntry;
  target: ApplyTarget;
  ref: ResourceRef;
  /** What will be sent; absent when the object is skipped or dropped. */
  obj?: any;
  skip?: string;
  droppedBy?: string;
  /** Why droppedBy left it out, when the transform says. */
  dropReason?: string;
}

/** What planning a restore needs: the transforms' own options (documented on TransformContext), and what to create. */
export interface PlanOptions extends Pick<TransformContext, 'targetNamespace' | 'backupId' | 'restoreId' | 'keepNodePorts' | 'keepNamespaceDns' | 'keepHosts' | 'hostDomain'> {
  createNamespace: boolean;
  namespaceLabels?: Record<string, string>;
  include?: KubeRestoreOptions['include'];
  extraTransforms?: KubeTransform[];
}

/**
 * Turns the archive into the ordered list of objects to create: skips what controllers recreate, runs the
 * per-kind actions and then the extra transforms on a copy of each object, and sorts by restore priority.
 * Pure: reads nothing from the cluster.
 */
export function planKubeRestore(index: KubeArchiveIndex, objects: readonly any[], opts: PlanOptions): PlannedObject[] {
  const tctx: TransformContext = {
    sourceNamespace: index.namespace,
    targetNamespace: opts.targetNamespace,
    backupId: opts.backupId,
    restoreId: opts.restoreId,
    keepNodePorts: opts.keepNodePorts,
    keepNamespaceDns: opts.keepNamespaceDns,
    keepHosts: opts.keepHosts,
    hostDomain: opts.hostDomain,
    productionHosts: collectProductionHosts(objects),
  };
  const services = index.entries.map((e, i) => (e.resource === 'services' && e.group === '' ? objects[i] : undefined)).filter(Boolean);
  const skipCtx = { selectorServices: selectorServiceNames(services) };
  const plan: PlannedObject[] = [];
  let haveTargetNamespace = false;

  index.entries.forEach((entry, i) => {
    const original = objects[i];
    const ref: ResourceRef = { group: entry.group, resource: entry.resource, kind: entry.kind };
    const isNamespace = entry.group === '' && entry.resource === 'namespaces';
    const mappedNs = entry.namespace === undefined ? undefined : entry.namespace === tctx.sourceNamespace ? tctx.targetNamespace : entry.namespace;
    const fallbackName = isNamespace && entry.name === tctx.sourceNamespace ? tctx.targetNamespace : entry.name;
    const base = { entry, ref, target: { resource: entry.resource, group: entry.group, namespace: mappedNs, name: fallbackName } };
    const named = (t: ApplyTarget) => itemName(t);

    if (opts.include && !(isNamespace && opts.createNamespace) && !opts.include(original, entry)) return;
    if (isNamespace && !opts.createNamespace) {
      plan.push({ ...base, item: named(base.target), skip: 'namespaces are not created (createNamespace is off)' });
      return;
    }
    const why = skipReason(entry.resource, entry.group, original, skipCtx);
    if (why) {
      plan.push({ ...base, item: named(base.target), skip: why });
      return;
    }
    const applied = applyActions(original, ref, tctx);
    if ('droppedBy' in applied) {
      plan.push({ ...base, item: named(base.target), droppedBy: applied.droppedBy, ...(applied.reason ? { dropReason: applied.reason } : {}) });
      return;
    }
    let obj = applied.obj;
    for (const [k, fn] of (opts.extraTransforms ?? []).entries()) {
      const out = fn(obj, tctx);
      if (out === null || out === undefined) {
        plan.push({ ...base, item: named(base.target), droppedBy: fn.name || `extra-transform-${k + 1}` });
        return;
      }
      obj = out;
    }
    if (isNamespace) {
      obj.metadata.labels = { ...obj.metadata.labels, ...opts.namespaceLabels };
      if (obj.metadata.name === tctx.targetNamespace) haveTargetNamespace = true;
    }
    const target: ApplyTarget = {
      resource: entry.resource,
      group: entry.group,
      namespace: entry.namespace === undefined ? undefined : obj.metadata?.namespace,
      name: obj.metadata?.name,
    };
    plan.push({ entry, ref, target, item: named(target), obj });
  });

  if (opts.createNamespace && !haveTargetNamespace && plan.some((p) => p.target.namespace === tctx.targetNamespace && p.obj)) {
    const ns = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: tctx.targetNamespace, labels: { ...opts.namespaceLabels, 'gushen-dr.io/backup': tctx.backupId, 'gushen-dr.io/restore': tctx.restoreId } },
    };
    const entry: KubeIndexEntry = { path: '', apiVersion: 'v1', kind: 'Namespace', name: tctx.targetNamespace, resource: 'namespaces', group: '' };
    const target: ApplyTarget = { resource: 'namespaces', group: '', name: tctx.targetNamespace };
    plan.push({ entry, ref: { group: '', resource: 'namespaces', kind: 'Namespace' }, target, item: itemName(target), obj: ns });
  }
  return plan.sort((a, b) => compareForRestore(a.target, b.target));
}

/**
 * Restores the backup's Kubernetes objects into the cluster (see KubeRestoreOptions). Every object gets a
 * result; per-object failures are reported (report.failed > 0), not thrown. Throws when the restore cannot
 * start: no Kubernetes artifact, bad options, no cluster configured or reachable, an archive that does not
 * verify.
 */
export async function restoreKube(ctx: RestoreContext, opts: KubeRestoreOptions): Promise<KubeRestoreReport> {
  const artifact = kubeArtifactOf(ctx.manifest);
  const existing = opts.existing ?? 'skip';
  if (existing !== 'skip' && existing !== 'update') throw new UsageError(`--existing ${String(existing)}: expected skip or update`);
  if (opts.toNamespace !== undefined && !DNS_LABEL_RE.test(opts.toNamespace)) {
    throw new UsageError(`--to-namespace ${opts.toNamespace}: expected a namespace name (lowercase letters, digits, '-', at most 63)`);
  }
  const hostDomain = opts.hostDomain ?? ctx.config.drill?.domain;
  if (opts.hostDomain !== undefined) checkHostDomain(opts.hostDomain);
  const restoreId = opts.restoreId ?? `restore-${compactTimestamp(new Date())}`;
  if (!LABEL_VALUE_RE.test(restoreId)) throw new UsageError(`restore id ${restoreId}: not a valid label value`);
  for (const [k, v] of Object.entries(opts.namespaceLabels ?? {})) {
    if (!LABEL_VALUE_RE.test(v)) throw new UsageError(`namespace label ${k}: ${JSON.stringify(v)} is not a valid label value`);
  }
  const dryRun = opts.dryRun === true;
  const readyTimeout = opts.readyTimeoutSeconds ?? 300;
  const log = ctx.log;
  const signal = ctx.signal;

  const client = new KubeClient(opts.kubeConfig ?? loadKubeConfig(ctx.config.sources.kube));
  await client.serverVersion(signal); // reachable at all? (throws when not)
  const { index, objects } = await readKubeArchive(ctx, artifact);
  const targetNamespace = opts.toNamespace ?? index.namespace;
  // Every --resource spec must name something in this backup, before anything is applied.
  const byResource = opts.resources?.length ? resolveResourceSpecs(opts.resources, index, objects) : undefined;
  const include: KubeRestoreOptions['include'] =
    byResource && opts.include ? (o, e) => byResource(o, e) && opts.include!(o, e) : (byResource ?? opts.include);
  const mapping = targetNamespace !== index.namespace;
  const hosts = mapping ? { production: collectProductionHosts(objects), kept: opts.keepHosts === true, ...(hostDomain ? { domain: hostDomain } : {}) } : undefined;
  const plan = planKubeRestore(index, objects, {
    targetNamespace,
    backupId: ctx.manifest.id,
    restoreId,
    keepNodePorts: opts.keepNodePorts === true,
    keepNamespaceDns: opts.keepNamespaceDns === true,
    keepHosts: opts.keepHosts === true,
    hostDomain,
    createNamespace: opts.createNamespace !== false,
    namespaceLabels: opts.namespaceLabels,
    include,
    extraTransforms: opts.extraTransforms,
  });
  log.info(
    { backup: ctx.manifest.id, restore: restoreId, from: index.namespace, to: targetNamespace, objects: plan.length, dryRun, existing, cluster: client.description, ...(hosts ? { hosts } : {}) },
    dryRun ? 'planning Kubernetes restore (dry run)' : 'restoring Kubernetes objects',
  );

  const items: RestoreItemResult[] = [];
  const dropped: KubeRestoreReport['dropped'] = [];
  const crdsToEstablish: Array<{ name: string; path: string; at: number }> = [];
  const waitTargets: Array<{ item: string; path: string; at: number }> = [];
  const pvs = new PvTracker(client, signal);

  const settleCrds = async () => {
    if (crdsToEstablish.length === 0) return;
    const notEstablished = await waitForCrdsEstablished(client, crdsToEstablish, CRD_ESTABLISH_TIMEOUT_SECONDS, signal);
    for (const c of crdsToEstablish) {
      const why = notEstablished.get(c.name);
      if (why) items[c.at] = { ...items[c.at], result: 'failed', detail: `created, but not established within ${CRD_ESTABLISH_TIMEOUT_SECONDS}s: ${why}` };
    }
    crdsToEstablish.length = 0;
  };

  for (const p of plan) {
    if (signal?.aborted) throw signal.reason ?? new Error('aborted');
    const qr = qualifiedResource(p.target.resource, p.target.group);
    if (qr !== CRD_QR) await settleCrds();
    if (p.skip) {
      items.push({ item: p.item, result: dryRun ? 'would-skip' : 'skipped', detail: p.skip });
      continue;
    }
    if (p.droppedBy) {
      items.push({ item: p.item, result: dryRun ? 'would-skip' : 'skipped', detail: `dropped by transform ${p.droppedBy}${p.dropReason ? `: ${p.dropReason}` : ''}` });
      dropped.push({ item: p.item, by: p.droppedBy, ...(p.dropReason ? { reason: p.dropReason } : {}) });
      continue;
    }
    const obj = p.obj;
    const notes: string[] = [];
    if (qr === 'persistentvolumes') {
      const elsewhere = await pvs.boundElsewhere(obj);
      if (elsewhere) {
        items.push({ item: p.item, result: dryRun ? 'would-skip' : 'skipped', detail: `exists, bound to claim ${elsewhere}` });
        continue;
      }
    }
    if (qr === 'persistentvolumeclaims' && typeof obj.spec?.volumeName === 'string' && obj.spec.volumeName) {
      const why = await pvs.unusableFor(obj.spec.volumeName, p.target.namespace ?? '', p.target.name);
      if (why) {
        notes.push(`volume ${obj.spec.volumeName} ${why}; the claim gets a new volume`);
        delete obj.spec.volumeName;
      }
    }
    const outcome = await applyObject(client, obj, p.target, {
      existing,
      dryRun,
      signal,
      prepareUpdate: (desired, live) => prepareUpdate(desired, live, p.ref),
    });
    if (qr === 'persistentvolumes' && outcome.result !== 'failed' && outcome.result !== 'skipped' && outcome.result !== 'would-skip') {
      pvs.markRestored(p.target.name);
    }
    const detail = [outcome.detail, ...notes].filter(Boolean).join('; ') || undefined;
    items.push({ item: p.item, result: outcome.result, ...(detail ? { detail } : {}) });
    log.debug({ item: p.item, result: outcome.result }, 'kube object');
    const changed = outcome.result === 'created' || outcome.result === 'updated';
    if (changed && qr === CRD_QR) crdsToEstablish.push({ name: p.target.name, path: objectPath(obj.apiVersion, p.target.resource, p.target.name), at: items.length - 1 });
    if (changed && WAITED_RESOURCES.has(qr)) {
      waitTargets.push({ item: p.item, path: objectPath(obj.apiVersion, p.target.resource, p.target.name, p.target.namespace), at: items.length - 1 });
    }
  }
  await settleCrds();

  if (!dryRun && opts.waitForReady !== false && waitTargets.length > 0) {
    log.info({ workloads: waitTargets.length, timeoutSeconds: readyTimeout }, 'waiting for restored workloads to become ready');
    const notReady = await waitForWorkloads(client, waitTargets, readyTimeout, { signal });
    for (const t of waitTargets) {
      const why = notReady.get(t.item);
      if (why) items[t.at] = { ...items[t.at], result: 'failed', detail: `${items[t.at].result}, but not ready within ${readyTimeout}s: ${why}` };
    }
    if (notReady.size > 0) log.warn({ notReady: [...notReady.keys()] }, 'restored workloads not ready in time');
  }

  const summary = Object.fromEntries(RESULTS.map((r) => [r, 0])) as KubeRestoreReport['summary'];
  for (const it of items) summary[it.result] += 1;
  log.info({ ...summary }, dryRun ? 'Kubernetes restore plan' : 'Kubernetes restore finished');
  return { items, summary, failed: summary.failed, dropped, ...(hosts ? { hosts } : {}) };
}

/**
 * What the restore knows about PersistentVolumes: the ones it restored, and for others, whether the live PV
 * is bound to a different claim (then it is neither replaced nor used by a restored claim).
 */
class PvTracker {
  private readonly restored = new Set<string>();
  private readonly cache = new Map<string, any | null>();

  constructor(
    private readonly client: KubeClient,
    private readonly signal?: AbortSignal,
  ) {}

  markRestored(name: string): void {
    this.restored.add(name);
  }

  private async live(name: string): Promise<any | null> {
    if (!this.cache.has(name)) this.cache.set(name, (await this.client.getOptional(objectPath('v1', 'persistentvolumes', name), { signal: this.signal })) ?? null);
    return this.cache.get(name);
  }

  /** `<ns>/<claim>` when the live PV of this name is bound to another claim than the restored one. */
  async boundElsewhere(pv: any): Promise<string | undefined> {
    const live = await this.live(pv.metadata.name).catch(() => null);
    const ref = live?.spec?.claimRef;
    if (!ref?.name) return undefined;
    const want = pv.spec?.claimRef;
    if (want && ref.namespace === want.namespace && ref.name === want.name) return undefined;
    return `${ref.namespace}/${ref.name}`;
  }

  /** Why the claim cannot use the volume, or undefined when it can. */
  async unusableFor(volume: string, namespace: string, claim: string): Promise<string | undefined> {
    if (this.restored.has(volume)) return undefined;
    let live: any;
    try {
      live = await this.live(volume);
    } catch (err) {
      return `could not be read (${errorMessage(err)})`;
    }
    if (!live) return 'does not exist';
    const ref = live.spec?.claimRef;
    if (!ref?.name || (ref.namespace === namespace && ref.name === claim)) return undefined;
    return `is bound to ${ref.namespace}/${ref.name}`;
  }
}
