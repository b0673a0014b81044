/**
 * Least privilege of the CronJobs' accounts, proven against the RBAC emulator: the RBAC objects rendered from
 * k8s/cronjobs (`kubectl kustomize`) are applied as the admin, then the nightly and the monthly backup run as
 * gushen-dr-backup and a full drill as gushen-dr-drill, each with its own token. Every request they make must be
 * allowed, the drill must pass in its standing namespace gushen-dr-drill and leave it empty, and every rule of
 * every Role and ClusterRole bound to the two accounts must be used by at least one of their requests.
 * `kubectl auth can-i --as=…` shows what the drill account cannot do (Secrets, Pods, exec outside its namespace).
 * Needs kubectl (skipped with a message when it is not installed), PostgreSQL and Redis (startPlatform).
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/engine/backup.js';
import { runDrill } from '../../src/engine/drill/run.js';
import { loadIdentities } from '../../src/config/keys.js';
import { openStore } from '../../src/store/open.js';
import { silentLogger } from '../../src/util/log.js';
import type { Config } from '../../src/config/schema.js';
import type { DrillReport } from '../../src/engine/drill/report.js';
import { emptyDrillNamespace } from '../../src/sources/kube/drill-namespace.js';
import { KubeClient, loadKubeConfig } from '../../src/sources/shared/kube-client.js';
import type { AuditEntry } from '../support/kube-emulator/index.js';
import { REPO_ROOT } from '../support/cli-process.js';
import { PG_PASSWORD, startPlatform, type Platform } from '../support/platform.js';
import { startRedis, type TestRedis } from '../support/redis.js';

type Obj = Record<string, any>;

const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const hasKubectl = spawnSync(KUBECTL, ['version', '--client'], { stdio: 'ignore' }).status === 0;
if (!hasKubectl) console.warn('rbac-least-privilege: kubectl not found: skipped (it renders k8s/cronjobs and answers auth can-i; install kubectl to run it)');

const NS = 'ai-qtrd';
const DRILL_NS = 'gushen-dr-drill';
const BACKUP_SA = `system:serviceaccount:${NS}:gushen-dr-backup`;
const DRILL_SA = `system:serviceaccount:${NS}:gushen-dr-drill`;
const ACCESS_KINDS = ['Namespace', 'ServiceAccount', 'Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding'];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A CRD for a group that real clusters have (K3s's HelmChart and addon controllers, cert-manager's ACME, prometheus-operator). */
function crd(group: string, kind: string, plural: string): Obj {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase() },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
    },
  };
}

const denials = (audit: AuditEntry[], user: string) =>
  audit.filter((e) => e.user === user && e.decision !== 'allowed').map((e) => `${e.verb} ${e.resource ?? e.path ?? ''}${e.subresource ? `/${e.subresource}` : ''} ${e.namespace ?? ''}/${e.name ?? ''}`);

describe.skipIf(!hasKubectl)('least privilege: backups and the drill as their own ServiceAccounts, with the RBAC of k8s/cronjobs', () => {
  let p: Platform;
  let drillRedis: TestRedis;
  let rendered: Obj[];
  let access: Obj[];
  let adminEnv: NodeJS.ProcessEnv;
  let backupConfig: Config;
  let drillConfig: Config;
  let drillReport: DrillReport;
  /** What each account asked for: its own run's audit entries. */
  let backupAudit: AuditEntry[] = [];
  let drillAudit: AuditEntry[] = [];

  const kubectl = (args: string[], env: NodeJS.ProcessEnv = adminEnv): Promise<Run> =>
    new Promise((resolve) => {
      execFile(KUBECTL, args, { env, cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
  const applyAsAdmin = async (name: string, docs: Obj[]): Promise<string> => {
    const file = join(p.dir, name);
    await writeFile(file, docs.map((d) => stringify(d)).join('---\n'));
    const r = await kubectl(['apply', '-f', file]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  };

  beforeAll(async () => {
    p = await startPlatform({ rows: 2000, redisKeys: 500, rbac: true });
    drillRedis = await startRedis({ password: 'drill-redis-pw', appendonly: false });
    const home = join(p.dir, 'home');
    await mkdir(home, { recursive: true });
    adminEnv = { ...process.env, KUBECONFIG: p.kubeconfig, HOME: home };

    const out = await kubectl(['kustomize', 'k8s/cronjobs']);
    expect(out.code, out.stderr).toBe(0);
    rendered = parseAllDocuments(out.stdout).map((d) => d.toJSON() as Obj).filter(Boolean);
    access = rendered.filter((d) => ACCESS_KINDS.includes(d.kind));
    const applied = await applyAsAdmin('access.yaml', access);
    expect(applied).toContain(`namespace/${DRILL_NS} created`);
    expect(applied).toContain('role.rbac.authorization.k8s.io/gushen-dr-drill created');
    // Groups the backup and drill Roles name that a real cluster serves through CRDs: with them, every rule can be used.
    await applyAsAdmin('crds.yaml', [
      crd('acme.cert-manager.io', 'Challenge', 'challenges'),
      crd('helm.cattle.io', 'HelmChart', 'helmcharts'),
      crd('k3s.cattle.io', 'Addon', 'addons'),
      crd('monitoring.coreos.com', 'PrometheusRule', 'prometheusrules'),
    ]);

    const kubeconfigFor = async (sa: string): Promise<string> => {
      const file = join(p.dir, `${sa}.kubeconfig`);
      await p.kube.writeKubeconfig(file, NS, { token: p.kube.serviceAccountToken(NS, sa) });
      return file;
    };
    const base = p.config();
    backupConfig = p.config({ sources: { ...base.sources, kube: { namespace: NS, kubeconfig: await kubeconfigFor('gushen-dr-backup') } } });
    drillConfig = p.config({
      sources: { ...base.sources, kube: { namespace: NS, kubeconfig: await kubeconfigFor('gushen-dr-drill') } },
      drill: {
        namespace: DRILL_NS,
        readyTimeoutSeconds: 60,
        redis: { url: `redis://:drill-redis-pw@127.0.0.1:${drillRedis.port}` },
        postgres: { url: `postgres://postgres:${PG_PASSWORD}@127.0.0.1:${p.pg.port}/` },
        env: { DATABASE_URL: 'postgres://app@scratch/{{database}}' },
      },
    });
  }, 240_000);
  afterAll(async () => {
    await Promise.all([p?.stop(), drillRedis?.stop()]);
  });

  it('renders the drill namespace labelled as a drill, with the drill Role and RoleBinding inside it and no ClusterRoleBinding granting Secrets, Pods or exec', () => {
    const ns = rendered.find((o) => o.kind === 'Namespace');
    expect(ns?.metadata).toMatchObject({ name: DRILL_NS, labels: { 'gushen-dr.io/drill': 'true' } });
    const binding = rendered.find((o) => o.kind === 'RoleBinding' && o.metadata.name === 'gushen-dr-drill');
    expect(binding?.metadata.namespace).toBe(DRILL_NS);
    expect(binding?.subjects).toEqual([{ kind: 'ServiceAccount', name: 'gushen-dr-drill', namespace: NS }]);
    // The drill account is bound in its own namespace and, cluster-wide, to discovery only.
    const drillBindings = rendered.filter((o) => o.kind.endsWith('Binding') && o.subjects.some((s: Obj) => s.name === 'gushen-dr-drill'));
    expect(drillBindings.map((b) => `${b.kind}/${b.metadata.namespace ?? ''}/${b.metadata.name}`).sort()).toEqual(['ClusterRoleBinding//gushen-dr-drill-discovery', `RoleBinding/${DRILL_NS}/gushen-dr-drill`]);
    for (const crb of rendered.filter((o) => o.kind === 'ClusterRoleBinding')) {
      const role = rendered.find((o) => o.kind === 'ClusterRole' && o.metadata.name === crb.roleRef.name);
      expect(role, crb.metadata.name).toBeDefined();
      for (const rule of role!.rules as Obj[]) {
        const core = (rule.apiGroups ?? []).some((g: string) => g === '' || g === '*');
        const named = (rule.resources ?? []).filter((r: string) => ['secrets', 'pods', 'pods/exec', '*', '*/*', 'pods/*'].includes(r));
        expect(core ? named : [], `${crb.metadata.name}: ${JSON.stringify(rule)}`).toEqual([]);
      }
    }
  });

  it('the nightly and the monthly backup as gushen-dr-backup: Completed, and every request allowed', async () => {
    p.kube.clearAuditLog();
    for (const schedule of ['nightly', 'monthly'] as const) {
      const m = await runBackup({ config: backupConfig, store: openStore(backupConfig.store), schedule, log: silentLogger });
      expect(m.failures, schedule).toEqual([]);
      expect(m.status, schedule).toBe('Completed');
      expect([...new Set(m.artifacts.map((a) => a.source))].sort()).toEqual(['kube', 'postgres', 'redis']);
    }
    const audit = p.kube.auditLog();
    expect(audit.filter((e) => e.user === BACKUP_SA).length).toBeGreaterThan(50);
    expect(audit.some((e) => e.user === BACKUP_SA && e.subresource === 'exec' && e.name === 'redis-0' && e.decision === 'allowed')).toBe(true);
    expect(denials(audit, BACKUP_SA)).toEqual([]);
    backupAudit = audit.filter((e) => e.user === BACKUP_SA);
  }, 300_000);

  it('a full drill as gushen-dr-drill passes in gushen-dr-drill, removes leftovers first, and leaves the namespace empty', async () => {
    // What an earlier, killed drill would have left.
    await applyAsAdmin('leftover.yaml', [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'left-by-a-killed-drill', namespace: DRILL_NS, labels: { 'gushen-dr.io/restore': 'drill-20260101-040000' } }, data: { a: 'b' } }]);
    p.kube.clearAuditLog();
    drillReport = await runDrill({ store: openStore(drillConfig.store), config: drillConfig, log: silentLogger, identities: await loadIdentities(drillConfig) });
    const audit = p.kube.auditLog();
    drillAudit = audit.filter((e) => e.user === DRILL_SA);
    expect(drillReport.failure).toBeUndefined();
    expect(drillReport.status).toBe('Passed');
    expect(drillReport.mode).toBe('kubernetes');
    expect(drillReport.scratch.namespace).toBe(DRILL_NS);
    expect(drillReport.phases.map((x) => `${x.name}:${x.status}`)).toEqual(['select:ok', 'scratch:ok', 'kube:ok', 'postgres:ok', 'redis:ok', 'rollout:ok', 'health:ok', 'data:ok', 'cleanup:ok']);
    expect(drillReport.phases.find((x) => x.name === 'scratch')?.detail).toContain(`namespace ${DRILL_NS} (1 leftover objects removed)`);
    expect(drillReport.cleanup).toMatchObject({ done: true, kept: false });
    expect(drillReport.cleanup.detail).toContain(`removed the objects in namespace ${DRILL_NS}`);
    expect(drillReport.checks.filter((c) => c.kind === 'health').every((c) => c.ok)).toBe(true);
    // gushen-dr's own objects (its Roles with exec into redis-0, its ServiceAccounts) are not restored by a drill.
    expect(drillReport.transforms.dropped.filter((d) => d.by === 'drill-not-gushen-dr').map((d) => d.item)).toEqual(
      expect.arrayContaining([`roles.rbac.authorization.k8s.io ${DRILL_NS}/gushen-dr-redis-exec`, `serviceaccounts ${DRILL_NS}/gushen-dr-backup`]),
    );
    // It read its namespace (a Role in that namespace grants it: the API server authorizes GET namespaces/<ns> in <ns>),
    // restored into it, and emptied it: the leftover by name (the sweep), its own objects by its restore label.
    expect(drillAudit.some((e) => e.verb === 'get' && e.resource === 'namespaces' && e.name === DRILL_NS && e.namespace === DRILL_NS && e.decision === 'allowed')).toBe(true);
    const created = drillAudit.filter((e) => e.verb === 'create' && e.namespace === DRILL_NS && e.decision === 'allowed').map((e) => e.resource);
    expect(created).toEqual(expect.arrayContaining(['deployments', 'secrets', 'statefulsets', 'roles', 'rolebindings', 'persistentvolumeclaims']));
    expect(drillAudit.some((e) => e.verb === 'delete' && e.resource === 'configmaps' && e.name === 'left-by-a-killed-drill')).toBe(true);
    const byLabel = drillAudit.filter((e) => e.verb === 'deletecollection' && e.namespace === DRILL_NS).map((e) => e.resource);
    expect(byLabel).toEqual(expect.arrayContaining(['deployments', 'secrets', 'statefulsets', 'persistentvolumeclaims']));
    const left = p.kube.objects().filter((o) => o.metadata?.namespace === DRILL_NS).map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(left).toEqual(['ConfigMap/kube-root-ca.crt', 'Role/gushen-dr-drill', 'RoleBinding/gushen-dr-drill', 'ServiceAccount/default']);
    expect(p.kube.get('v1', 'Namespace', undefined, DRILL_NS)?.metadata.labels['gushen-dr.io/drill']).toBe('true');
    // Nothing outside its namespace but discovery: every request named gushen-dr-drill or no namespace at all.
    expect(drillAudit.filter((e) => e.resourceRequest && e.namespace !== DRILL_NS)).toEqual([]);
    expect(denials(audit, DRILL_SA)).toEqual([]);
  }, 300_000);

  it('every rule of every Role and ClusterRole bound to the two accounts was used by their requests', () => {
    expect(backupAudit.length).toBeGreaterThan(0);
    expect(drillAudit.length).toBeGreaterThan(0);
    const boundTo = (sa: string) => {
      const refs = access.filter((b) => b.kind.endsWith('Binding') && b.subjects.some((s: Obj) => s.kind === 'ServiceAccount' && s.name === sa && s.namespace === NS));
      return refs.map((b) => access.find((r) => r.kind === b.roleRef.kind && r.metadata.name === b.roleRef.name && (r.kind === 'ClusterRole' || r.metadata.namespace === b.metadata.namespace))!);
    };
    const backupRoles = boundTo('gushen-dr-backup');
    const drillRoles = boundTo('gushen-dr-drill');
    expect(backupRoles.map((r) => `${r.kind}/${r.metadata.name}`).sort()).toEqual(['ClusterRole/gushen-dr-backup-cluster-read', 'Role/gushen-dr-backup-read', 'Role/gushen-dr-redis-exec']);
    expect(drillRoles.map((r) => `${r.kind}/${r.metadata.name}`).sort()).toEqual(['ClusterRole/gushen-dr-drill-discovery', 'Role/gushen-dr-drill']);
    expect(p.kube.unusedRules(backupRoles, backupAudit)).toEqual([]);
    expect(p.kube.unusedRules(drillRoles, drillAudit)).toEqual([]);
    // The check can fail: a rule nobody used is reported.
    const extra = { ...drillRoles[0], rules: [...drillRoles[0].rules, { apiGroups: [''], resources: ['nodes'], verbs: ['list'] }] };
    expect(p.kube.unusedRules([extra], drillAudit)).toHaveLength(1);
  });

  const drillCanI: Array<{ cmd: string; answer: 'yes' | 'no' }> = [
    { cmd: 'get secrets -n ai-qtrd', answer: 'no' },
    { cmd: 'list secrets -n ai-qtrd', answer: 'no' },
    { cmd: 'get secrets/ai-qtrd-secrets -n ai-qtrd', answer: 'no' },
    { cmd: 'get secrets -n kube-system', answer: 'no' },
    { cmd: 'list secrets -n kube-system', answer: 'no' },
    { cmd: 'list secrets --all-namespaces', answer: 'no' },
    { cmd: 'create pods/redis-0 --subresource=exec -n ai-qtrd', answer: 'no' },
    { cmd: 'get pods/redis-0 --subresource=exec -n ai-qtrd', answer: 'no' },
    { cmd: 'list pods -n ai-qtrd', answer: 'no' },
    { cmd: 'create deployments.apps -n ai-qtrd', answer: 'no' },
    { cmd: 'create namespaces', answer: 'no' },
    { cmd: 'delete namespaces/gushen-dr-drill', answer: 'no' },
    { cmd: 'list persistentvolumes', answer: 'no' },
    { cmd: 'list customresourcedefinitions.apiextensions.k8s.io', answer: 'no' },
    { cmd: 'get /version', answer: 'yes' },
    // In its namespace: what restoring, checking and emptying it takes, and no exec there either (nothing needs it).
    // (Not `get namespaces/gushen-dr-drill`: can-i asks at the cluster scope, where the answer is no; the request itself
    // is authorized in the namespace, and the drill test above shows it allowed.)
    { cmd: 'get secrets -n gushen-dr-drill', answer: 'yes' },
    { cmd: 'create secrets -n gushen-dr-drill', answer: 'yes' },
    { cmd: 'create deployments.apps -n gushen-dr-drill', answer: 'yes' },
    { cmd: 'deletecollection configmaps -n gushen-dr-drill', answer: 'yes' },
    { cmd: 'delete persistentvolumeclaims -n gushen-dr-drill', answer: 'yes' },
    { cmd: 'get services/ai-qtrd-web:3000 --subresource=proxy -n gushen-dr-drill', answer: 'yes' },
    { cmd: 'create pods/redis-0 --subresource=exec -n gushen-dr-drill', answer: 'no' },
  ];
  it.each(drillCanI)(`kubectl auth can-i $cmd --as=${DRILL_SA} → $answer`, async ({ cmd, answer }) => {
    const r = await kubectl(['auth', 'can-i', ...cmd.split(' '), `--as=${DRILL_SA}`]);
    expect(r.stdout.trim(), r.stderr).toBe(answer);
  });

  const backupCanI: Array<{ cmd: string; answer: 'yes' | 'no' }> = [
    { cmd: 'create pods/redis-0 --subresource=exec -n ai-qtrd', answer: 'yes' },
    { cmd: 'create pods/redis-1 --subresource=exec -n ai-qtrd', answer: 'no' },
    { cmd: 'list secrets -n ai-qtrd', answer: 'yes' },
    { cmd: 'get secrets -n kube-system', answer: 'no' },
    { cmd: 'get secrets -n gushen-dr-drill', answer: 'no' },
    { cmd: 'create configmaps -n ai-qtrd', answer: 'no' },
  ];
  it.each(backupCanI)(`kubectl auth can-i $cmd --as=${BACKUP_SA} → $answer`, async ({ cmd, answer }) => {
    const r = await kubectl(['auth', 'can-i', ...cmd.split(' '), `--as=${BACKUP_SA}`]);
    expect(r.stdout.trim(), r.stderr).toBe(answer);
  });

  it('emptying the namespace as gushen-dr-drill: restored objects by label, everything else by name, its own access and the defaults stay', async () => {
    const restored = { 'gushen-dr.io/restore': 'drill-x' };
    await applyAsAdmin('to-empty.yaml', [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'restored-cm', namespace: DRILL_NS, labels: restored }, data: { a: 'b' } },
      // A restored copy of an object that carried the drill-access label in production still goes.
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'restored-sa', namespace: DRILL_NS, labels: { ...restored, 'gushen-dr.io/drill-access': 'true' } } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'unlabelled', namespace: DRILL_NS }, stringData: { k: 'v' } },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'stray', namespace: DRILL_NS },
        spec: { replicas: 1, selector: { matchLabels: { app: 'stray' } }, template: { metadata: { labels: { app: 'stray' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
      },
    ]);
    await waitUntil(() => p.kube.objects().some((o) => o.kind === 'Pod' && o.metadata.namespace === DRILL_NS));
    p.kube.clearAuditLog();
    const client = new KubeClient(loadKubeConfig({ kubeconfig: drillConfig.sources.kube!.kubeconfig }));
    const r = await emptyDrillNamespace(client, DRILL_NS, { restore: { id: 'drill-x', resources: [{ groupVersion: 'v1', resource: 'configmaps' }, { groupVersion: 'v1', resource: 'serviceaccounts' }] } });
    expect(r.collections).toBe(2);
    expect(r.deleted).toEqual(expect.arrayContaining([`secrets ${DRILL_NS}/unlabelled`, `deployments.apps ${DRILL_NS}/stray`]));
    expect(r.deleted.some((d) => d.includes('restored-cm') || d.includes('restored-sa'))).toBe(false); // gone with their label
    const left = p.kube.objects().filter((o) => o.metadata?.namespace === DRILL_NS).map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(left).toEqual(['ConfigMap/kube-root-ca.crt', 'Role/gushen-dr-drill', 'RoleBinding/gushen-dr-drill', 'ServiceAccount/default']);
    expect(denials(p.kube.auditLog(), DRILL_SA)).toEqual([]);
  }, 120_000);

  it('emptying leaves resource types in sources.kube.excludeResources alone (never backed up, never restored)', async () => {
    await applyAsAdmin('excluded.yaml', [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'not-ours', namespace: DRILL_NS }, stringData: { k: 'v' } }]);
    const client = new KubeClient(loadKubeConfig({ kubeconfig: drillConfig.sources.kube!.kubeconfig }));
    expect((await emptyDrillNamespace(client, DRILL_NS, { excludeResources: ['secrets'] })).deleted).toEqual([]);
    expect(p.kube.get('v1', 'Secret', DRILL_NS, 'not-ours')).toBeDefined();
    expect((await emptyDrillNamespace(client, DRILL_NS)).deleted).toEqual([`secrets ${DRILL_NS}/not-ours`]);
  });

  it('emptying fails, naming the resource, when the caller cannot list everything in the namespace', async () => {
    const file = join(p.dir, 'nobody.kubeconfig');
    await p.kube.writeKubeconfig(file, NS, { token: p.kube.userToken('nobody') });
    const client = new KubeClient(loadKubeConfig({ kubeconfig: file }));
    await expect(emptyDrillNamespace(client, DRILL_NS, { timeoutMs: 5000 })).rejects.toThrow(/cannot check that namespace gushen-dr-drill is empty: list \S+: .*forbidden/i);
  });

  it('drill.namespace must exist, carry the drill label, and not be the backed-up namespace', async () => {
    const admin = p.config();
    const drillInto = async (namespace: string) => {
      const cfg = { ...admin, drill: { ...drillConfig.drill, namespace } };
      return runDrill({ store: openStore(cfg.store), config: cfg, log: silentLogger, identities: await loadIdentities(cfg) });
    };
    const before = p.kube.objects().length;
    expect((await drillInto('kube-system')).failure).toMatchObject({ phase: 'scratch', error: expect.stringContaining('lacks the label gushen-dr.io/drill=true') });
    expect((await drillInto(NS)).failure).toMatchObject({ phase: 'scratch', error: expect.stringContaining('it is the backed-up (production) namespace') });
    expect((await drillInto('no-such-namespace')).failure).toMatchObject({ phase: 'scratch', error: expect.stringContaining('drill.namespace no-such-namespace does not exist') });
    expect(p.kube.objects().length).toBe(before);
  }, 120_000);
});

async function waitUntil(ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

it.skipIf(hasKubectl)('notes that the least-privilege tests were skipped (kubectl is not installed)', () => {
  expect(hasKubectl).toBe(false);
});
