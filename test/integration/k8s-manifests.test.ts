import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/sources/registry.js';
import { credentialFiles, refusePlaceholderFiles } from '../../src/commands/common.js';
import { readPasswordFile } from '../../src/util/password-file.js';
import type { Config } from '../../src/config/schema.js';
import { drillMetrics, type DrillReport } from '../../src/engine/drill/report.js';
import type { Manifest } from '../../src/repository/manifest.js';
import { backupMetrics } from '../../src/observe/metrics.js';
import { nextMatches, parseCron, wallClock } from '../../src/schedule/cron.js';
import { productionNodeFlags } from '../../bench/production-node.js';
import { REPO_ROOT } from '../support/cli-process.js';
import { startKubeEmulator, type KubeEmulator } from '../support/kube-emulator/index.js';
import { tempDir } from '../support/tmp.js';

const run = promisify(execFile);
const K8S = join(REPO_ROOT, 'k8s');
const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';

function which(cmd: string): string | undefined {
  if (cmd.includes('/')) return existsSync(cmd) ? cmd : undefined;
  for (const d of (process.env.PATH ?? '').split(':')) if (d && existsSync(join(d, cmd))) return join(d, cmd);
  return undefined;
}
const kubectl = which(KUBECTL) ?? which('kubectl');
const promtool = which('promtool');
if (!kubectl) console.warn('k8s-manifests: kubectl not found: the kustomize rendering, RBAC and apply tests are skipped (install kubectl to run them)');
if (!promtool) console.warn('k8s-manifests: promtool not found: the alert rule checks and unit tests are skipped (apt-get install prometheus provides it)');

type Obj = Record<string, any>;

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

async function kustomize(dir: string): Promise<Obj[]> {
  const { stdout } = await run(kubectl!, ['kustomize', dir], { maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(stdout).map((d) => d.toJS() as Obj).filter(Boolean);
}

// --- structural validation against the Kubernetes API types -------------------------------------------
// @kubernetes/client-node's models are generated from the Kubernetes OpenAPI spec: their attribute maps
// give every field's type, and their .d.ts files mark the required ones. Unknown fields are errors (as with
// kubectl apply --validate=strict), so a typo like `backofLimit` cannot pass.

const MODELS_DIR = join(REPO_ROOT, 'node_modules/@kubernetes/client-node/dist/gen/models');
const requiredCache = new Map<string, Set<string>>();
function requiredFields(model: string): Set<string> {
  let r = requiredCache.get(model);
  if (!r) {
    const dts = readFileSync(join(MODELS_DIR, `${model}.d.ts`), 'utf8');
    r = new Set([...dts.matchAll(/^\s+'([^']+)': /gm)].map((m) => m[1]));
    requiredCache.set(model, r);
  }
  return r;
}

function modelClass(name: string): { getAttributeTypeMap(): Array<{ name: string; baseName: string; type: string }> } | undefined {
  const c = (k8s as unknown as Record<string, any>)[name];
  return c && typeof c.getAttributeTypeMap === 'function' ? c : undefined;
}

function validateType(value: unknown, type: string, path: string, errors: string[]): void {
  if (value === null || value === undefined) return;
  const arr = /^Array<(.+)>$/.exec(type);
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (arr) {
    if (!Array.isArray(value)) errors.push(`${path}: expected a list`);
    else value.forEach((v, i) => validateType(v, arr[1], `${path}[${i}]`, errors));
  } else if (map) {
    if (typeof value !== 'object' || Array.isArray(value)) errors.push(`${path}: expected a map`);
    else for (const [k, v] of Object.entries(value)) validateType(v, map[1], `${path}.${k}`, errors);
  } else if (type === 'string' || type === 'Date') {
    if (typeof value !== 'string') errors.push(`${path}: expected a string, got ${JSON.stringify(value)}`);
  } else if (type === 'number') {
    if (typeof value !== 'number') errors.push(`${path}: expected a number, got ${JSON.stringify(value)}`);
  } else if (type === 'boolean') {
    if (typeof value !== 'boolean') errors.push(`${path}: expected a boolean, got ${JSON.stringify(value)}`);
  } else if (type === 'IntOrString') {
    if (typeof value !== 'string' && !Number.isInteger(value)) errors.push(`${path}: expected an integer or a string`);
  } else if (type === 'any' || type === 'object') {
    // free-form
  } else {
    validateModel(value, type, path, errors);
  }
}

function validateModel(value: unknown, model: string, path: string, errors: string[]): void {
  const cls = modelClass(model);
  if (!cls) {
    errors.push(`${path}: no Kubernetes model ${model}`);
    return;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    errors.push(`${path}: expected an object (${model})`);
    return;
  }
  const attrs = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    const t = attrs.get(k);
    if (t === undefined) errors.push(`${path}.${k}: unknown field (${model})`);
    else validateType(v, t, `${path}.${k}`, errors);
  }
  const attrNames = new Map(cls.getAttributeTypeMap().map((a) => [a.name, a.baseName]));
  for (const req of requiredFields(model)) {
    const base = attrNames.get(req) ?? req;
    if ((value as Obj)[base] === undefined) errors.push(`${path}.${base}: required (${model})`);
  }
}

const KIND_MODELS: Record<string, string> = {
  'v1/Namespace': 'V1Namespace',
  'v1/ServiceAccount': 'V1ServiceAccount',
  'v1/ConfigMap': 'V1ConfigMap',
  'v1/Secret': 'V1Secret',
  'batch/v1/CronJob': 'V1CronJob',
  'rbac.authorization.k8s.io/v1/Role': 'V1Role',
  'rbac.authorization.k8s.io/v1/RoleBinding': 'V1RoleBinding',
  'rbac.authorization.k8s.io/v1/ClusterRole': 'V1ClusterRole',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': 'V1ClusterRoleBinding',
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy': 'V1ValidatingAdmissionPolicy',
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding': 'V1ValidatingAdmissionPolicyBinding',
};

/** The monitoring.coreos.com/v1 PrometheusRule fields used here, strictly (prometheus-operator's CRD). */
const duration = z.string().regex(/^((\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?|0)$/, 'a Prometheus duration like 10m or 26h');
const prometheusRuleSchema = z.strictObject({
  apiVersion: z.literal('monitoring.coreos.com/v1'),
  kind: z.literal('PrometheusRule'),
  metadata: z.strictObject({ name: z.string(), namespace: z.string().optional(), labels: z.record(z.string(), z.string()).optional() }),
  spec: z.strictObject({
    groups: z
      .array(
        z.strictObject({
          name: z.string().min(1),
          interval: duration.optional(),
          rules: z
            .array(
              z.strictObject({
                alert: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional(),
                record: z.string().optional(),
                expr: z.string().min(1),
                for: duration.optional(),
                labels: z.record(z.string(), z.string()).optional(),
                annotations: z.record(z.string(), z.string()).optional(),
              }),
            )
            .min(1),
        }),
      )
      .min(1),
  }),
});

function validateObject(o: Obj): string[] {
  const key = `${o.apiVersion}/${o.kind}`;
  if (key === 'monitoring.coreos.com/v1/PrometheusRule') {
    const r = prometheusRuleSchema.safeParse(o);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  }
  const model = KIND_MODELS[key];
  if (!model) return [`${key}: not a kind these manifests are expected to contain`];
  const errors: string[] = [];
  validateModel(o, model, `${o.kind}/${o.metadata?.name}`, errors);
  if (o.metadata?.name && !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(o.metadata.name)) errors.push(`${o.kind}/${o.metadata.name}: invalid name`);
  return errors;
}

// --- RBAC evaluation (the authorizer's rule matching) ---------------------------------------------------

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
  nonResourceURLs?: string[];
}
interface Request {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  name?: string;
  /** undefined: a cluster-scoped object, or a list across all namespaces. */
  namespace?: string;
}

function ruleAllows(r: Rule, q: Request): boolean {
  if (!r.verbs.includes('*') && !r.verbs.includes(q.verb)) return false;
  if (!r.apiGroups || !(r.apiGroups.includes('*') || r.apiGroups.includes(q.group))) return false;
  const combined = q.subresource ? `${q.resource}/${q.subresource}` : q.resource;
  const resOk = (r.resources ?? []).some((x) => x === '*' || x === combined || (q.subresource !== undefined && x === `*/${q.subresource}`));
  if (!resOk) return false;
  if (r.resourceNames && r.resourceNames.length > 0) return q.name !== undefined && r.resourceNames.includes(q.name);
  return true;
}

/** Whether a ServiceAccount may make a request, from the Roles/ClusterRoles and bindings given. */
function can(objects: Obj[], sa: { namespace: string; name: string }, q: Request): boolean {
  const isSubject = (b: Obj) => (b.subjects ?? []).some((s: Obj) => s.kind === 'ServiceAccount' && s.name === sa.name && s.namespace === sa.namespace);
  const roleRules = (ref: Obj, ns?: string): Rule[] => {
    const kind = ref.kind as string;
    const role = objects.find((o) => o.kind === kind && o.metadata.name === ref.name && (kind === 'ClusterRole' || o.metadata.namespace === ns));
    return (role?.rules ?? []) as Rule[];
  };
  for (const b of objects.filter((o) => o.kind === 'ClusterRoleBinding' && isSubject(o))) {
    if (roleRules(b.roleRef).some((r) => ruleAllows(r, q))) return true;
  }
  if (q.namespace !== undefined) {
    for (const b of objects.filter((o) => o.kind === 'RoleBinding' && o.metadata.namespace === q.namespace && isSubject(o))) {
      if (roleRules(b.roleRef, q.namespace).some((r) => ruleAllows(r, q))) return true;
    }
  }
  return false;
}

// --- helpers over the rendered objects -------------------------------------------------------------------

const QUANTITY = /^(\d+(\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/;
function quantity(q: string): number {
  const m = QUANTITY.exec(q);
  if (!m) throw new Error(`not a quantity: ${q}`);
  const mult: Record<string, number> = { m: 1e-3, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return Number(m[1]) * (m[3] ? mult[m[3]] : 1);
}
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function podSpec(cj: Obj): Obj {
  return cj.spec.jobTemplate.spec.template.spec;
}
function containersOf(cj: Obj): Obj[] {
  const p = podSpec(cj);
  return [...(p.initContainers ?? []), ...p.containers];
}
/** The scheduler's view of a pod's request: max(init containers) vs sum(containers). */
function podRequest(cj: Obj, res: 'cpu' | 'memory'): number {
  const p = podSpec(cj);
  const init = Math.max(0, ...(p.initContainers ?? []).map((c: Obj) => quantity(c.resources.requests[res])));
  const main = p.containers.reduce((s: number, c: Obj) => s + quantity(c.resources.requests[res]), 0);
  return Math.max(init, main);
}

/** A key of a Secret the kustomization renders, decoded; undefined for a Secret made elsewhere (ai-qtrd-secrets, the keys). */
function secretValue(objects: Obj[], name: string, key: string): string | undefined {
  const s = objects.find((o) => o.kind === 'Secret' && o.metadata.name === name);
  const v = s?.data?.[key] as string | undefined;
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

function envFor(objects: Obj[], container: Obj, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const src of container.envFrom ?? []) {
    if (src.configMapRef) Object.assign(env, objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === src.configMapRef.name)!.data);
    if (src.secretRef) {
      const s = objects.find((o) => o.kind === 'Secret' && o.metadata.name === src.secretRef.name)!;
      for (const [k, v] of Object.entries<string>(s.data ?? {})) env[k] = Buffer.from(v, 'base64').toString('utf8');
    }
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      env[e.name] = extra[e.name] ?? secretValue(objects, ref.name, ref.key) ?? `from-secret-${ref.name}`;
    }
  }
  return env;
}

/** A file a container sees from a Secret volume: where, from which Secret and key, and its content when rendered here. */
interface SecretFile {
  path: string;
  secret: string;
  key: string;
  optional: boolean;
  defaultMode: number | undefined;
  readOnly: boolean;
  content: string | undefined;
}

/** Every file a container has from Secret volumes (items only: every Secret volume here names its keys). */
function secretFilesFor(objects: Obj[], pod: Obj, container: Obj): SecretFile[] {
  const out: SecretFile[] = [];
  for (const m of container.volumeMounts ?? []) {
    const v = (pod.volumes as Obj[]).find((x) => x.name === m.name)!;
    if (!v.secret) continue;
    expect(v.secret.items, `volume ${v.name}: items name the keys`).toBeDefined();
    for (const item of v.secret.items as Obj[]) {
      out.push({
        path: `${m.mountPath}/${item.path}`,
        secret: v.secret.secretName,
        key: item.key,
        optional: v.secret.optional === true,
        defaultMode: v.secret.defaultMode,
        readOnly: m.readOnly === true,
        content: secretValue(objects, v.secret.secretName, item.key),
      });
    }
  }
  return out;
}

/**
 * The container's Secret files written under `root` (as kubelet would mount them; a Secret made elsewhere gets
 * `from-<secret>`), and the config parsed with its environment, every credential path moved under `root`.
 */
async function materialise(objects: Obj[], pod: Obj, container: Obj, root: string): Promise<{ config: Config; env: Record<string, string>; files: SecretFile[] }> {
  const files = secretFilesFor(objects, pod, container);
  for (const f of files) {
    await mkdir(join(root, f.path, '..'), { recursive: true });
    await writeFile(join(root, f.path), f.content ?? `from-${f.secret}\n`, { mode: 0o440 });
  }
  const moved = (s: string) => s.replaceAll(CREDENTIALS_DIR, join(root, CREDENTIALS_DIR));
  const env = Object.fromEntries(Object.entries(envFor(objects, container)).map(([k, v]) => [k, moved(v)]));
  const text = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'gushen-dr-config')!.data['gushen-dr.yaml'] as string;
  return { config: parseConfig(moved(text), env, `gushen-dr-config (${container.name})`), env, files };
}

/** Where the manifests mount credential files. */
const CREDENTIALS_DIR = '/etc/gushen-dr-credentials/';
/** Names of variables that would hold a credential. */
const SECRET_NAME = /PASSWORD|SECRET|ACCESS_KEY|TOKEN|PRIVATE/i;

describe('k8s/: every file parses', () => {
  it('all YAML under k8s/ parses without errors or duplicate keys, and every kustomization resource exists', () => {
    const files = walk(K8S).filter((f) => /\.ya?ml$/.test(f));
    expect(files.length).toBeGreaterThan(8);
    for (const f of files) {
      const docs = parseAllDocuments(readFileSync(f, 'utf8'), { uniqueKeys: true });
      for (const d of docs) expect(d.errors.map((e) => e.message), relative(REPO_ROOT, f)).toEqual([]);
    }
    for (const f of files.filter((x) => x.endsWith('kustomization.yaml'))) {
      const k = parseAllDocuments(readFileSync(f, 'utf8'))[0].toJS() as Obj;
      const dir = join(f, '..');
      const refs = [
        ...(k.resources ?? []),
        ...(k.configMapGenerator ?? []).flatMap((g: Obj) => [...(g.files ?? []), ...(g.envs ?? [])]),
        ...(k.secretGenerator ?? []).flatMap((g: Obj) => [...(g.files ?? []), ...(g.envs ?? [])]),
      ];
      for (const r of refs) expect(existsSync(join(dir, r.replace(/^[^=]+=/, ''))), `${relative(REPO_ROOT, f)} → ${r}`).toBe(true);
    }
  });

  it('the structural validator catches what it should (so a pass means something)', () => {
    const good = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'a' } };
    expect(validateObject(good)).toEqual([]);
    expect(validateObject({ ...good, automountServiceAcountToken: false })).toEqual([expect.stringMatching(/unknown field/)]);
    const cj = {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'x' },
      spec: { schedule: '0 2 * * *', jobTemplate: { spec: { backofLimit: 1, template: { spec: { containers: [{ name: 'c', resources: { limits: { cpu: 1 } } }] } } } } },
    };
    const errs = validateObject(cj);
    expect(errs).toEqual(expect.arrayContaining([expect.stringMatching(/backofLimit: unknown field/), expect.stringMatching(/limits\.cpu: expected a string/)]));
    expect(validateObject({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'x' }, spec: { schedule: '0 2 * * *' } })).toEqual([expect.stringMatching(/jobTemplate: required/)]);
    expect(validateObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } })).toEqual([expect.stringMatching(/not a kind/)]);
  });
});

describe.skipIf(!kubectl)('k8s/cronjobs (rendered with kubectl kustomize)', () => {
  let objects: Obj[];
  let optional: Obj[];
  let alerts: Obj[];
  const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
  const get = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name)!;
  let config: { backup: Config; drill: Config };

  beforeAll(async () => {
    objects = await kustomize(join(K8S, 'cronjobs'));
    optional = await kustomize(join(K8S, 'cronjobs/optional'));
    alerts = await kustomize(join(K8S, 'alerts'));
    const text = get('ConfigMap', 'gushen-dr-config').data['gushen-dr.yaml'];
    const nightly = get('CronJob', 'gushen-dr-nightly');
    const drill = get('CronJob', 'gushen-dr-drill');
    config = {
      backup: parseConfig(text, envFor(objects, podSpec(nightly).initContainers[0]), 'gushen-dr-config (backup job)'),
      drill: parseConfig(text, envFor(objects, podSpec(drill).containers[0]), 'gushen-dr-config (drill job)'),
    };
  });

  it('renders the expected objects, in ai-qtrd (the drill Role and RoleBinding in the drill namespace), with the image gushen-dr:0.1.0', () => {
    const names = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(names).toEqual(
      [
        'ClusterRole/gushen-dr-backup-cluster-read',
        'ClusterRole/gushen-dr-drill-discovery',
        'ClusterRoleBinding/gushen-dr-backup-cluster-read',
        'ClusterRoleBinding/gushen-dr-drill-discovery',
        'Namespace/gushen-dr-drill',
        'Role/gushen-dr-drill',
        'RoleBinding/gushen-dr-drill',
        'ConfigMap/gushen-dr-config',
        'ConfigMap/gushen-dr-settings',
        'CronJob/gushen-dr-drill',
        'CronJob/gushen-dr-monthly',
        'CronJob/gushen-dr-nightly',
        'Role/gushen-dr-backup-read',
        'Role/gushen-dr-redis-exec',
        'RoleBinding/gushen-dr-backup-read',
        'RoleBinding/gushen-dr-redis-exec',
        'Secret/gushen-dr-drill-postgres',
        'Secret/gushen-dr-postgres',
        'Secret/gushen-dr-replication',
        'Secret/gushen-dr-s3',
        'ServiceAccount/gushen-dr-backup',
        'ServiceAccount/gushen-dr-drill',
      ].sort(),
    );
    for (const o of objects) {
      const clusterScoped = o.kind.startsWith('Cluster') || o.kind === 'Namespace';
      const inDrillNamespace = (o.kind === 'Role' || o.kind === 'RoleBinding') && o.metadata.name === 'gushen-dr-drill';
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(clusterScoped ? undefined : inDrillNamespace ? config.drill.drill.namespace : 'ai-qtrd');
      expect(o.metadata.labels?.['app.kubernetes.io/name']).toBe('gushen-dr');
    }
    for (const cj of byKind('CronJob')) for (const c of containersOf(cj)) expect(c.image).toBe('gushen-dr:0.1.0');
  });

  it('every object matches the Kubernetes schema of its kind (optional policy and alerts included)', () => {
    for (const o of [...objects, ...optional, ...alerts]) expect(validateObject(o), `${o.kind}/${o.metadata?.name}`).toEqual([]);
    expect(optional.map((o) => o.kind).sort()).toEqual(['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
    expect(alerts.map((o) => o.kind)).toEqual(['PrometheusRule']);
  });

  it('CronJobs: schedules, Beijing time zone, no overlap, deadlines, history, retries', () => {
    const expected: Record<string, { schedule: string; wall: (w: ReturnType<typeof wallClock>) => boolean }> = {
      'gushen-dr-nightly': { schedule: '0 2 * * *', wall: (w) => w.hour === 2 && w.minute === 0 },
      'gushen-dr-monthly': { schedule: '0 3 1 * *', wall: (w) => w.day === 1 && w.hour === 3 && w.minute === 0 },
      'gushen-dr-drill': { schedule: '0 4 1 1,4,7,10 *', wall: (w) => [1, 4, 7, 10].includes(w.month) && w.day === 1 && w.hour === 4 && w.minute === 0 },
    };
    for (const cj of byKind('CronJob')) {
      const name = cj.metadata.name as string;
      const s = cj.spec;
      expect(s.schedule).toBe(expected[name].schedule);
      const fields = parseCron(s.schedule); // Kubernetes-compatible five fields, else this throws
      expect(s.timeZone).toBe('Asia/Shanghai');
      const runs = nextMatches(fields, s.timeZone, new Date('2026-01-01T00:00:00Z'), 4);
      expect(runs).toHaveLength(4);
      for (const r of runs) expect(expected[name].wall(wallClock(r, 'Asia/Shanghai')), `${name} ${r.toISOString()}`).toBe(true);
      expect(s.concurrencyPolicy).toBe('Forbid');
      expect(s.startingDeadlineSeconds).toBeGreaterThanOrEqual(600);
      expect(s.successfulJobsHistoryLimit).toBeGreaterThanOrEqual(1);
      expect(s.failedJobsHistoryLimit).toBeGreaterThanOrEqual(1);
      const job = s.jobTemplate.spec;
      expect(job.backoffLimit).toBeGreaterThanOrEqual(0);
      expect(job.backoffLimit).toBeLessThanOrEqual(2);
      expect(job.activeDeadlineSeconds).toBeGreaterThan(0);
      expect(job.ttlSecondsAfterFinished).toBeGreaterThanOrEqual(86400);
      expect(job.template.spec.restartPolicy).toBe('Never');
      // The store lock is a short lease renewed by a heartbeat: a job killed at its deadline (no SIGTERM clean-up)
      // blocks the next run for one lease, not for hours; the old 6 h lockTtlSeconds is gone. SIGTERM has time to clean up.
      expect(config.backup.backup.lockTtlSeconds).toBeUndefined();
      expect(config.backup.backup.lockLeaseSeconds).toBeGreaterThanOrEqual(60);
      expect(config.backup.backup.lockLeaseSeconds).toBeLessThan(job.activeDeadlineSeconds);
      expect(config.backup.backup.lockLeaseSeconds).toBeLessThanOrEqual(300);
      expect(job.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(60);
    }
    expect(get('CronJob', 'gushen-dr-drill').spec.jobTemplate.spec.backoffLimit).toBe(0);
    // The scheduler's config carries the same schedules for hosts without Kubernetes.
    expect(config.backup.schedules).toMatchObject({ nightly: '0 2 * * *', monthly: '0 3 1 * *', drill: '0 4 1 1,4,7,10 *', timeZone: 'Asia/Shanghai' });
  });

  it('CronJobs: the right command per job, backups prune only after the backup container succeeded', () => {
    const args = (name: string) => containersOf(get('CronJob', name)).map((c) => c.args);
    expect(args('gushen-dr-nightly')).toEqual([['backup', '--schedule', 'nightly'], ['prune']]);
    expect(args('gushen-dr-monthly')).toEqual([['backup', '--schedule', 'monthly'], ['prune']]);
    expect(args('gushen-dr-drill')).toEqual([['drill']]);
    for (const name of ['gushen-dr-nightly', 'gushen-dr-monthly']) {
      const p = podSpec(get('CronJob', name));
      expect(p.initContainers.map((c: Obj) => c.name)).toEqual(['backup']);
      expect(p.serviceAccountName).toBe('gushen-dr-backup');
    }
    expect(podSpec(get('CronJob', 'gushen-dr-drill')).serviceAccountName).toBe('gushen-dr-drill');
  });

  it('pods fit the small nodes (2c2g, 4c8g): requests and limits on every container', () => {
    for (const cj of byKind('CronJob')) {
      for (const c of containersOf(cj)) {
        for (const kind of ['requests', 'limits'] as const) {
          for (const r of ['cpu', 'memory'] as const) expect(c.resources?.[kind]?.[r], `${cj.metadata.name}/${c.name} ${kind}.${r}`).toMatch(QUANTITY);
        }
        expect(quantity(c.resources.limits.memory)).toBeGreaterThanOrEqual(quantity(c.resources.requests.memory));
        expect(quantity(c.resources.limits.cpu)).toBeGreaterThanOrEqual(quantity(c.resources.requests.cpu));
        // Limits below the 4c8g node's size, heap sized under the memory limit.
        expect(quantity(c.resources.limits.cpu)).toBeLessThanOrEqual(2);
        expect(quantity(c.resources.limits.memory)).toBeLessThanOrEqual(2 * GiB);
        const heap = /--max-old-space-size=(\d+)/.exec((c.env ?? []).find((e: Obj) => e.name === 'NODE_OPTIONS')?.value ?? '');
        expect(heap, `${cj.metadata.name}/${c.name} NODE_OPTIONS`).not.toBeNull();
        expect(Number(heap![1]) * MiB).toBeLessThan(quantity(c.resources.limits.memory));
      }
      // Schedulable next to the platform on the 2c2g node: at most a quarter of its CPU and memory requested.
      expect(podRequest(cj, 'cpu')).toBeLessThanOrEqual(0.5);
      expect(podRequest(cj, 'memory')).toBeLessThanOrEqual(512 * MiB);
    }
  });

  it('pods run as non-root with a read-only root filesystem and emptyDir scratch', () => {
    for (const cj of byKind('CronJob')) {
      const p = podSpec(cj);
      expect(p.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(p.securityContext.runAsUser).toBeGreaterThan(0);
      const volumes = new Map<string, Obj>(p.volumes.map((v: Obj) => [v.name, v]));
      for (const c of containersOf(cj)) {
        expect(c.securityContext, `${cj.metadata.name}/${c.name}`).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          capabilities: { drop: ['ALL'] },
        });
        const mounts = new Map<string, Obj>(c.volumeMounts.map((m: Obj) => [m.mountPath, m]));
        for (const m of c.volumeMounts) expect(volumes.has(m.name), `${c.name} mounts ${m.name}`).toBe(true);
        for (const path of ['/scratch', '/tmp']) expect(volumes.get(mounts.get(path)!.name)!.emptyDir, `${cj.metadata.name}/${c.name} ${path}`).toBeDefined();
        expect(mounts.get('/etc/gushen-dr')).toMatchObject({ readOnly: true });
        expect(volumes.get(mounts.get('/etc/gushen-dr')!.name)!.configMap.name).toBe('gushen-dr-config');
        const env = Object.fromEntries((c.env ?? []).map((e: Obj) => [e.name, e]));
        expect(env.HOME.value).toBe('/scratch');
        expect(env.TMPDIR.value).toBe('/tmp');
      }
    }
  });

  it('the mounted config is a valid gushen-dr config whose paths are the mounts', () => {
    for (const cfg of [config.backup, config.drill]) {
      expect(cfg.scratchDir).toBe('/scratch');
      expect(cfg.encryption.recipientsFile).toBe('/etc/gushen-dr/recipients.txt');
      expect(cfg.encryption.identityFile).toBe('/keys/dr.key');
      expect(cfg.sources.kube?.namespace).toBe('ai-qtrd');
      expect(cfg.sources.redis).toMatchObject({ method: 'exec', pod: 'redis-0', namespace: 'ai-qtrd' });
      expect(cfg.store.url).toMatch(/^s3:\/\//);
    }
    // No password in any URL: each is a file (the credentials test below), the replication URL's excepted.
    expect(config.drill.drill.postgres?.url).toMatch(/^postgres:\/\/gushen_dr_drill@/);
    expect(config.drill.sources.postgres?.url).toMatch(/^postgres:\/\/gushen_dr_backup@/);
    expect(config.drill.sources.redis?.url).toBe('redis://redis-0.redis-headless.ai-qtrd.svc.cluster.local:6379');
    // The restored app's DATABASE_URL is the drill database's URL, password included, from the drill's password file.
    expect(config.drill.drill.env.DATABASE_URL).toBe('{{pgUrl}}');
    const items = get('CronJob', 'gushen-dr-nightly').spec.jobTemplate.spec.template.spec.volumes.find((v: Obj) => v.name === 'config').configMap.items;
    expect(items.map((i: Obj) => i.path).sort()).toEqual(['gushen-dr.yaml', 'recipients.txt']);
    const settings = get('ConfigMap', 'gushen-dr-settings').data;
    expect(settings.GUSHEN_DR_CONFIG).toBe('/etc/gushen-dr/gushen-dr.yaml');
    // The recipients file ships without keys: a backup cannot run until real recipients are filled in.
    const recipients = get('ConfigMap', 'gushen-dr-config').data['recipients.txt'] as string;
    expect(recipients.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'))).toEqual([]);
  });

  it('secrets: placeholders only, the identity nowhere but the drill pod, Redis password from ai-qtrd-secrets', () => {
    for (const s of byKind('Secret')) {
      for (const [k, v] of Object.entries<string>(s.data ?? {})) {
        const value = Buffer.from(v, 'base64').toString('utf8');
        if (k === 'credentials') {
          // The AWS credentials file: every key in it a placeholder.
          const lines = value.split('\n').filter((l) => l.includes('='));
          expect(lines.length, `${s.metadata.name}.${k}`).toBe(2);
          for (const l of lines) expect(l.split('=')[1].trim(), `${s.metadata.name}.${k}`).toBe('REPLACE_ME');
        } else if (/PASSWORD|SECRET|KEY|TOKEN/i.test(k)) {
          expect(value.replace(/\n$/, ''), `${s.metadata.name}.${k}`).toBe('REPLACE_ME');
        }
      }
      expect(s.stringData).toBeUndefined();
    }
    expect(objects.some((o) => o.kind === 'Secret' && ['gushen-dr-identity', 'gushen-dr-signing'].includes(o.metadata.name))).toBe(false);
    // Nothing private in the ConfigMaps: no age identity, no password-looking value.
    for (const cm of byKind('ConfigMap')) for (const v of Object.values<string>(cm.data)) expect(v).not.toMatch(/AGE-SECRET-KEY-1|PRIVATE KEY/);
    for (const cj of byKind('CronJob')) {
      const p = podSpec(cj);
      const isDrill = cj.metadata.name === 'gushen-dr-drill';
      const identityVolumes = p.volumes.filter((v: Obj) => v.secret?.secretName === 'gushen-dr-identity');
      expect(identityVolumes.length, cj.metadata.name).toBe(isDrill ? 1 : 0);
      for (const c of containersOf(cj)) {
        const keys = c.volumeMounts.find((m: Obj) => m.mountPath === '/keys');
        expect(Boolean(keys), `${cj.metadata.name}/${c.name} /keys`).toBe(isDrill);
        if (keys) expect(keys).toMatchObject({ readOnly: true, name: identityVolumes[0].name });
        const files = secretFilesFor(objects, p, c);
        const from = (secret: string) => files.filter((f) => f.secret === secret).map((f) => `${f.key} → ${f.path}`);
        const isBackup = c.name === 'backup';
        // The platform's Redis password, as a file, in the backup container only (prune and the drill never connect to it).
        expect(from('ai-qtrd-secrets'), `${cj.metadata.name}/${c.name}`).toEqual(isBackup ? [`REDIS_PASSWORD → ${CREDENTIALS_DIR}redis/password`] : []);
        expect(from('gushen-dr-postgres'), `${cj.metadata.name}/${c.name}`).toEqual(isBackup ? [`password → ${CREDENTIALS_DIR}postgres/password`] : []);
        expect(from('gushen-dr-replication'), `${cj.metadata.name}/${c.name}`).toEqual(isBackup ? [`password → ${CREDENTIALS_DIR}replication/password`] : []);
        expect(from('gushen-dr-drill-postgres'), `${cj.metadata.name}/${c.name}`).toEqual(isDrill ? [`password → ${CREDENTIALS_DIR}drill-postgres/password`] : []);
        expect(from('gushen-dr-s3'), `${cj.metadata.name}/${c.name}`).toEqual([`credentials → ${CREDENTIALS_DIR}s3/credentials`]);
        // The signing key: optional (a job without the Secret still runs), backup containers only.
        expect(files.filter((f) => f.secret === 'gushen-dr-signing').map((f) => [f.path, f.optional]), `${cj.metadata.name}/${c.name}`).toEqual(
          isBackup ? [[`${CREDENTIALS_DIR}signing/signing.key`, true]] : [],
        );
      }
      if (isDrill) expect(identityVolumes[0].secret.defaultMode & 0o007).toBe(0);
    }
  });

  it('credentials: read-only files from Secrets, named by the config; none in the environment', async () => {
    const dir = await tempDir('gushen-dr-k8s-creds-');
    try {
      const used = new Set<string>();
      for (const cj of byKind('CronJob')) {
        const p = podSpec(cj);
        // Secret files are owned by root and group fsGroup: the job's user reads them through that group.
        expect(p.securityContext.fsGroup, cj.metadata.name).toBe(p.securityContext.runAsGroup);
        for (const c of containersOf(cj)) {
          const where = `${cj.metadata.name}/${c.name}`;
          // No Secret is poured into the environment, and only the documented variables come from one.
          expect((c.envFrom ?? []).filter((e: Obj) => e.secretRef), where).toEqual([]);
          // (Before, PGREPL_PASSWORD came from a secretKeyRef: pitr.url took no password file.)
          expect((c.env ?? []).filter((e: Obj) => e.valueFrom?.secretKeyRef).map((e: Obj) => e.name), where).toEqual([]);
          const env = envFor(objects, c);
          expect(Object.keys(env).filter((k) => SECRET_NAME.test(k)), where).toEqual([]);

          // Every credential file the config and the environment name is a Secret file mounted read-only, 0440 at most.
          const root = join(dir.path, cj.metadata.name, c.name);
          const { config: cfg, env: movedEnv, files } = await materialise(objects, p, c, root);
          for (const f of files) {
            used.add(f.secret);
            expect(f.readOnly, `${where}: ${f.path}`).toBe(true);
            expect(f.defaultMode, `${where}: ${f.path}`).toBe(0o440);
            expect(f.path.startsWith(CREDENTIALS_DIR) || f.path === '/keys/dr.key', `${where}: ${f.path}`).toBe(true);
          }
          const named = credentialFiles(cfg, movedEnv);
          const mounted = new Set(files.map((f) => join(root, f.path)));
          const needed: Record<string, string[]> = {
            backup: ['sources.postgres.passwordFile', 'sources.postgres.pitr.passwordFile', 'sources.redis.passwordFile', 'AWS_SHARED_CREDENTIALS_FILE'],
            prune: ['AWS_SHARED_CREDENTIALS_FILE'],
            drill: ['drill.postgres.passwordFile', 'AWS_SHARED_CREDENTIALS_FILE'],
          };
          const present = named.filter((n) => mounted.has(n.file)).map((n) => n.what);
          expect(present.sort(), `${where}: the credential files it has`).toEqual([...needed[c.name]].sort());
          for (const n of named) expect(n.file.startsWith(join(root, CREDENTIALS_DIR)), `${where}: ${n.what} ${n.file}`).toBe(true);
          expect(cfg.signing, `${where}: signing stays commented out until its Secret exists`).toBeUndefined();

          // What the files say reaches the tool: placeholders refused (exit 2), naming each file.
          expect(() => refusePlaceholderFiles(cfg, movedEnv), where).toThrow(new RegExp(`^${needed[c.name].filter((w) => w !== 'sources.redis.passwordFile').map((w) => `${w.replace(/\./g, '\\.')} \\S+`).join(', ')} still holds? the placeholder REPLACE_ME`));
          if (c.name === 'backup') {
            expect(readPasswordFile(cfg.sources.postgres!.passwordFile!)).toBe('REPLACE_ME');
            expect(readPasswordFile(cfg.sources.redis!.passwordFile!)).toBe('from-ai-qtrd-secrets');
            expect(cfg.sources.postgres!.pitr!.url).toMatch(/^postgres:\/\/gushen_dr_replication@/);
            expect(readPasswordFile(cfg.sources.postgres!.pitr!.passwordFile!)).toBe('REPLACE_ME');
          }
          if (c.name === 'drill') expect(readPasswordFile(cfg.drill.postgres!.passwordFile!)).toBe('REPLACE_ME');
          expect(readFileSync(movedEnv.AWS_SHARED_CREDENTIALS_FILE, 'utf8')).toMatch(/^\[default\]\naws_access_key_id = REPLACE_ME\n/);
        }
      }
      // Every Secret the kustomization makes is used by a job.
      expect(byKind('Secret').map((s) => s.metadata.name).filter((n) => !used.has(n))).toEqual([]);
    } finally {
      await dir.cleanup();
    }
  });

  describe('RBAC', () => {
    let emu: KubeEmulator;
    let namespaced: Array<{ group: string; resource: string; kind: string }>;
    const backupSa = { namespace: 'ai-qtrd', name: 'gushen-dr-backup' };
    const drillSa = { namespace: 'ai-qtrd', name: 'gushen-dr-drill' };

    beforeAll(async () => {
      emu = await startKubeEmulator({ fixture: 'gushen' });
      // Discovery as the backup does it: every namespaced resource that can be listed and created.
      const get = async (p: string) => (await fetch(`${emu.url}${p}`)).json() as Promise<Obj>;
      namespaced = [];
      const gvs: Array<{ group: string; gv: string }> = [{ group: '', gv: 'v1' }];
      for (const g of (await get('/apis')).groups) gvs.push({ group: g.name, gv: g.preferredVersion.groupVersion });
      for (const { group, gv } of gvs) {
        const list = await get(gv === 'v1' ? '/api/v1' : `/apis/${gv}`);
        for (const r of list.resources) {
          if (!r.name.includes('/') && r.namespaced && r.verbs.includes('list') && r.verbs.includes('create')) namespaced.push({ group, resource: r.name, kind: r.kind });
        }
      }
    });
    afterAll(async () => {
      await emu?.stop();
    });

    it('the backup account can read every namespaced resource the cluster serves, Secrets and custom resources included', () => {
      expect(namespaced.map((r) => r.resource)).toEqual(expect.arrayContaining(['secrets', 'ingressroutes', 'certificates', 'statefulsets', 'cronjobs']));
      for (const r of namespaced) {
        for (const verb of ['get', 'list']) {
          expect(can(objects, backupSa, { verb, group: r.group, resource: r.resource, namespace: 'ai-qtrd', name: verb === 'get' ? 'x' : undefined }), `${verb} ${r.resource}.${r.group}`).toBe(true);
        }
      }
      // What kube-list.ts reads outside the namespace.
      expect(can(objects, backupSa, { verb: 'get', group: '', resource: 'namespaces', name: 'ai-qtrd' })).toBe(true);
      expect(can(objects, backupSa, { verb: 'list', group: '', resource: 'persistentvolumes' })).toBe(true);
      expect(can(objects, backupSa, { verb: 'get', group: 'storage.k8s.io', resource: 'storageclasses', name: 'local-path' })).toBe(true);
      expect(can(objects, backupSa, { verb: 'list', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' })).toBe(true);
      expect(can(objects, backupSa, { verb: 'list', group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings' })).toBe(true);
    });

    it('the backup account writes nothing and may exec into redis-0 only', () => {
      for (const r of [...namespaced, { group: '', resource: 'namespaces' }, { group: '', resource: 'persistentvolumes' }]) {
        for (const verb of ['create', 'update', 'patch', 'delete', 'deletecollection']) {
          expect(can(objects, backupSa, { verb, group: r.group, resource: r.resource, namespace: 'ai-qtrd', name: 'x' }), `${verb} ${r.resource}`).toBe(false);
        }
      }
      const exec = (name: string, namespace = 'ai-qtrd', verb = 'create') => can(objects, backupSa, { verb, group: '', resource: 'pods', subresource: 'exec', name, namespace });
      expect(exec('redis-0')).toBe(true);
      expect(exec('redis-1')).toBe(false);
      expect(exec('ai-qtrd-api-7d9f8b6c5-abcde')).toBe(false);
      expect(exec('redis-0', 'kube-system')).toBe(false);
      expect(can(objects, backupSa, { verb: 'create', group: '', resource: 'pods', subresource: 'portforward', name: 'redis-0', namespace: 'ai-qtrd' })).toBe(false);
      expect(can(objects, backupSa, { verb: 'get', group: '', resource: 'pods', subresource: 'log', name: 'redis-0', namespace: 'ai-qtrd' })).toBe(false);
      // Nothing outside the namespace beyond the listed cluster reads.
      expect(can(objects, backupSa, { verb: 'list', group: '', resource: 'secrets', namespace: 'kube-system' })).toBe(false);
      expect(can(objects, backupSa, { verb: 'list', group: '', resource: 'secrets' })).toBe(false);
      expect(can(objects, backupSa, { verb: 'get', group: '', resource: 'namespaces', name: 'kube-system' })).toBe(false);
      expect(can(objects, backupSa, { verb: 'list', group: '', resource: 'nodes' })).toBe(false);
      // ClusterRoles: read one by one (those bound to the namespace's ServiceAccounts are backed up), never listed or written.
      expect(can(objects, backupSa, { verb: 'get', group: 'rbac.authorization.k8s.io', resource: 'clusterroles', name: 'ai-qtrd-node-reader' })).toBe(true);
      for (const verb of ['list', 'create', 'update', 'delete']) expect(can(objects, backupSa, { verb, group: 'rbac.authorization.k8s.io', resource: 'clusterroles', name: 'x' }), verb).toBe(false);
      // The Role's exec rule names the pod the config execs into.
      expect(get('Role', 'gushen-dr-redis-exec').rules[0].resourceNames).toEqual([config.backup.sources.redis!.pod]);
    });

    it('the drill account works in its own namespace only: restores, checks and empties it there, and nothing anywhere else', () => {
      const ns = config.drill.drill.namespace!;
      expect(ns).toBe('gushen-dr-drill');
      expect(get('Namespace', ns).metadata.labels['gushen-dr.io/drill']).toBe('true');
      // Its namespace is there from the install: no namespace is created, changed or deleted by the drill.
      for (const verb of ['create', 'update', 'delete']) expect(can(objects, drillSa, { verb, group: '', resource: 'namespaces', name: ns }), `${verb} namespaces`).toBe(false);
      // The API server authorizes GET /api/v1/namespaces/<ns> in <ns>: the Role there lets it check the label.
      expect(can(objects, drillSa, { verb: 'get', group: '', resource: 'namespaces', name: ns, namespace: ns })).toBe(true);
      // Every namespaced object of the platform can be recreated in the drill namespace, read back and deleted; not elsewhere.
      const platform = emu.objects().filter((o) => o.metadata?.namespace === 'ai-qtrd');
      expect(platform.length).toBeGreaterThan(10);
      for (const o of platform) {
        const [group] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : [''];
        const resource = namespaced.find((r) => r.group === group && r.kind === o.kind);
        expect(resource, `${o.apiVersion} ${o.kind}`).toBeDefined();
        for (const verb of ['create', 'get', 'list', 'delete', 'deletecollection']) {
          const name = verb === 'create' || verb === 'list' || verb === 'deletecollection' ? undefined : o.metadata.name;
          expect(can(objects, drillSa, { verb, group, resource: resource!.resource, namespace: ns, name }), `${verb} ${o.kind}`).toBe(true);
          for (const other of ['ai-qtrd', 'kube-system', 'default', undefined]) {
            expect(can(objects, drillSa, { verb, group, resource: resource!.resource, namespace: other, name }), `${verb} ${o.kind} in ${other ?? 'all namespaces'}`).toBe(false);
          }
        }
      }
      // RBAC lets an account create a Role only with permissions it holds: the platform's Roles fit in the drill namespace.
      for (const role of platform.filter((o) => o.kind === 'Role')) {
        for (const rule of role.rules as Rule[]) {
          for (const g of rule.apiGroups ?? [])
            for (const res of rule.resources ?? [])
              for (const verb of rule.verbs) {
                const [resource, subresource] = res.split('/');
                const names = rule.resourceNames?.length ? rule.resourceNames : [undefined];
                for (const name of names) expect(can(objects, drillSa, { verb, group: g, resource, subresource, name, namespace: ns }), `${role.metadata.name}: ${verb} ${res}`).toBe(true);
              }
        }
      }
      expect(can(objects, drillSa, { verb: 'get', group: '', resource: 'services', subresource: 'proxy', name: 'ai-qtrd-web:3000', namespace: ns })).toBe(true);
      expect(can(objects, drillSa, { verb: 'get', group: '', resource: 'services', subresource: 'proxy', name: 'ai-qtrd-web:3000', namespace: 'ai-qtrd' })).toBe(false);
      // No exec, port-forward or logs anywhere: nothing in a drill needs them.
      for (const where of [ns, 'ai-qtrd', 'kube-system']) {
        for (const sub of ['exec', 'portforward', 'attach', 'log']) {
          for (const verb of ['get', 'create']) expect(can(objects, drillSa, { verb, group: '', resource: 'pods', subresource: sub, name: 'redis-0', namespace: where }), `${verb} pods/${sub} in ${where}`).toBe(false);
        }
      }
      for (const [group, resource] of [
        ['rbac.authorization.k8s.io', 'clusterroles'],
        ['rbac.authorization.k8s.io', 'clusterrolebindings'],
        ['', 'nodes'],
        ['', 'namespaces'],
        ['', 'persistentvolumes'],
        ['apiextensions.k8s.io', 'customresourcedefinitions'],
        ['storage.k8s.io', 'storageclasses'],
        ['admissionregistration.k8s.io', 'validatingadmissionpolicies'],
        ['admissionregistration.k8s.io', 'validatingwebhookconfigurations'],
        ['cert-manager.io', 'clusterissuers'],
      ]) {
        for (const verb of ['get', 'list', 'create', 'update', 'patch', 'delete']) expect(can(objects, drillSa, { verb, group, resource, name: 'x' }), `${verb} ${resource}`).toBe(false);
      }
      // No ClusterRoleBinding of either account grants anything on Secrets, Pods or exec.
      for (const sa of [drillSa, backupSa]) {
        const crbs = objects.filter((o) => o.kind === 'ClusterRoleBinding' && o.subjects.some((s: Obj) => s.name === sa.name && s.namespace === sa.namespace));
        for (const crb of crbs) {
          const only = [crb];
          for (const [resource, subresource] of [['secrets'], ['pods'], ['pods', 'exec']]) {
            for (const verb of ['get', 'list', 'create']) expect(can([...only, ...objects.filter((o) => o.kind === 'ClusterRole')], sa, { verb, group: '', resource, subresource, name: 'x', namespace: 'kube-system' }), `${crb.metadata.name}: ${verb} ${resource}`).toBe(false);
          }
        }
      }
    });

    it('no wildcard grants; backup and drill cover the same namespaced resources', () => {
      const roles = objects.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole');
      for (const r of roles) {
        for (const rule of r.rules as Rule[]) {
          expect(rule.verbs, r.metadata.name).not.toContain('*');
          if (rule.nonResourceURLs) continue;
          expect(rule.apiGroups, r.metadata.name).not.toContain('*');
          expect((rule.resources ?? []).filter((x) => x.includes('*')), r.metadata.name).toEqual([]);
        }
      }
      const set = (name: string, kind: string) =>
        new Set(
          (get(kind, name).rules as Rule[])
            .filter((r) => !r.resourceNames && r.verbs.includes('list'))
            .flatMap((r) => (r.apiGroups ?? []).flatMap((g) => (r.resources ?? []).map((x) => `${x}.${g}`))),
        );
      const backup = set('gushen-dr-backup-read', 'Role');
      const drill = set('gushen-dr-drill', 'Role');
      drill.delete('namespaces.');
      expect([...drill].sort()).toEqual([...backup].sort());
    });

    it("the optional admission policy confines the drill account's writes to the configured drill namespace", () => {
      const vap = optional.find((o) => o.kind === 'ValidatingAdmissionPolicy')!;
      const binding = optional.find((o) => o.kind === 'ValidatingAdmissionPolicyBinding')!;
      expect(binding.spec).toMatchObject({ policyName: vap.metadata.name, validationActions: ['Deny'] });
      expect(vap.spec.failurePolicy).toBe('Fail');
      expect(vap.spec.matchConditions[0].expression).toBe(`request.userInfo.username == 'system:serviceaccount:${drillSa.namespace}:${drillSa.name}'`);
      expect(vap.spec.variables.find((v: Obj) => v.name === 'namespace').expression).toBe(`'${config.drill.drill.namespace}'`);
      expect(vap.spec.matchConstraints.resourceRules[0].operations.sort()).toEqual(['CONNECT', 'CREATE', 'DELETE', 'UPDATE']);
      expect(vap.spec.matchConstraints.resourceRules[0].resources).toEqual(['*', '*/*']);
      expect(vap.spec.validations.map((v: Obj) => v.expression)).toEqual(['!variables.isNamespace', 'variables.isNamespace || request.namespace == variables.namespace']);
    });
  });

  describe('kubectl apply -k against the Kubernetes API emulator', () => {
    let emu: KubeEmulator;
    let dir: { path: string; cleanup: () => Promise<void> };
    let kubeconfig: string;
    const k = (...args: string[]) => run(kubectl!, ['--kubeconfig', kubeconfig, ...args], { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 });

    beforeAll(async () => {
      emu = await startKubeEmulator({ fixture: 'gushen' });
      dir = await tempDir('gushen-dr-k8s-');
      kubeconfig = join(dir.path, 'kubeconfig');
      await emu.writeKubeconfig(kubeconfig);
    });
    afterAll(async () => {
      await emu?.stop();
      await dir?.cleanup();
    });

    it('creates every object, and a second apply changes nothing', async () => {
      const first = await k('apply', '-k', 'k8s/cronjobs');
      const lines = first.stdout.trim().split('\n');
      expect(lines).toHaveLength(objects.length);
      for (const l of lines) expect(l).toMatch(/ created$/);

      const cronjobs = JSON.parse((await k('get', 'cronjobs', '-n', 'ai-qtrd', '-o', 'json')).stdout).items as Obj[];
      expect(cronjobs.map((c) => [c.metadata.name, c.spec.schedule, c.spec.timeZone]).sort()).toEqual([
        ['gushen-dr-drill', '0 4 1 1,4,7,10 *', 'Asia/Shanghai'],
        ['gushen-dr-monthly', '0 3 1 * *', 'Asia/Shanghai'],
        ['gushen-dr-nightly', '0 2 * * *', 'Asia/Shanghai'],
      ]);
      for (const o of objects) {
        const stored = emu.get(o.apiVersion, o.kind, o.metadata.namespace, o.metadata.name);
        expect(stored, `${o.kind}/${o.metadata.name}`).toBeDefined();
        if (o.kind === 'CronJob') expect(stored.spec.jobTemplate.spec.template.spec).toMatchObject({ serviceAccountName: podSpec(o).serviceAccountName });
        if (o.kind.endsWith('Role')) expect(stored.rules).toEqual(o.rules);
      }
      const sa = JSON.parse((await k('get', 'serviceaccount', 'gushen-dr-backup', '-n', 'ai-qtrd', '-o', 'json')).stdout);
      expect(sa.automountServiceAccountToken).toBe(false);

      // kustomize wraps long base64 values (the S3 credentials file); the API server stores the bytes and returns them
      // unwrapped, so kubectl sends those keys again ("configured") but nothing is written: the version stays.
      const wrapped = byKind('Secret').filter((s) => Object.values<string>(s.data ?? {}).some((v) => v.includes('\n')));
      expect(wrapped.map((s) => s.metadata.name)).toEqual(['gushen-dr-s3']);
      const versions = wrapped.map((s) => emu.get('v1', 'Secret', 'ai-qtrd', s.metadata.name).metadata.resourceVersion);
      const second = await k('apply', '-k', 'k8s/cronjobs');
      for (const l of second.stdout.trim().split('\n')) {
        if (wrapped.some((s) => l === `secret/${s.metadata.name} configured`)) continue;
        expect(l).toMatch(/ unchanged$/);
      }
      expect(wrapped.map((s) => emu.get('v1', 'Secret', 'ai-qtrd', s.metadata.name).metadata.resourceVersion)).toEqual(versions);
    });

    it('the API server rejects a broken CronJob (the apply test can fail)', async () => {
      const bad = get('CronJob', 'gushen-dr-nightly');
      const file = join(dir.path, 'bad.yaml');
      await writeFile(file, stringify({ ...bad, metadata: { name: 'bad-schedule', namespace: 'ai-qtrd' }, spec: { ...bad.spec, schedule: '*/20 * * * * *' } }));
      await expect(k('apply', '-f', file)).rejects.toThrow(/schedule/);
    });

    it('applies the alerts once the PrometheusRule CRD exists', async () => {
      const crd = {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: 'prometheusrules.monitoring.coreos.com' },
        spec: {
          group: 'monitoring.coreos.com',
          scope: 'Namespaced',
          names: { kind: 'PrometheusRule', listKind: 'PrometheusRuleList', plural: 'prometheusrules', singular: 'prometheusrule' },
          versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
        },
      };
      const file = join(dir.path, 'crd.yaml');
      await writeFile(file, stringify(crd));
      await k('apply', '-f', file);
      const out = await k('apply', '-k', 'k8s/alerts');
      expect(out.stdout).toMatch(/prometheusrule\.monitoring\.coreos\.com\/gushen-dr created/);
      const stored = emu.get('monitoring.coreos.com/v1', 'PrometheusRule', 'ai-qtrd', 'gushen-dr');
      expect(stored.spec.groups.flatMap((g: Obj) => g.rules.map((r: Obj) => r.alert))).toContain('GushenDRNoCompletedBackup');
    });
  });
});

describe('k8s/alerts', () => {
  const rule = parseAllDocuments(readFileSync(join(K8S, 'alerts/prometheusrule.yaml'), 'utf8'))[0].toJS() as Obj;
  const rules: Obj[] = rule.spec.groups.flatMap((g: Obj) => g.rules);

  it('has the four required alerts (and matches the PrometheusRule schema)', () => {
    expect(prometheusRuleSchema.safeParse(rule).success).toBe(true);
    const alert = (name: string) => rules.find((r) => r.alert === name)!;
    expect(alert('GushenDRNoCompletedBackup').expr).toMatch(/26 \* 3600/);
    expect(alert('GushenDRNoCompletedMonthlyBackup').expr).toMatch(/schedule="monthly".*32 \* 86400/);
    expect(alert('GushenDRDrillFailed').expr).toBe('gushen_dr_drill_status == 0');
    expect(alert('GushenDRNoPassedDrill').expr).toMatch(/100 \* 86400/);
    for (const r of rules) {
      expect(r.labels.severity).toMatch(/^(critical|warning)$/);
      expect(r.annotations.summary).toBeTruthy();
    }
  });

  it('every alert has a runbook_url to its own heading in docs/runbook.md, and the runbook names no other alert', () => {
    const runbook = readFileSync(join(K8S, '..', 'docs/runbook.md'), 'utf8');
    const anchors = new Set([...runbook.matchAll(/^#+ (.+)$/gm)].map((m) => m[1].trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')));
    for (const r of rules) {
      const url = String(r.annotations.runbook_url ?? '');
      expect(url, r.alert).toMatch(/^https:\/\/\S+\/docs\/runbook\.md#[a-z0-9-]+$/);
      expect(anchors.has(url.slice(url.indexOf('#') + 1)), `${r.alert}: ${url}`).toBe(true);
    }
    // Names as the rules spell them: `GushenDR…` (the runbook once said GushenDrDrillFailed).
    const named = new Set([...runbook.matchAll(/Gushen[A-Za-z]+/g)].map((m) => m[0]).filter((n) => /^GushenD[Rr]/.test(n)));
    expect([...named].filter((n) => !rules.some((r) => r.alert === n))).toEqual([]);
  });

  it('the nightly and monthly alerts count only their own schedule, per source; none waits days on absent()', () => {
    const alert = (name: string) => rules.find((r) => r.alert === name)!;
    expect(alert('GushenDRNoCompletedBackup').expr).toMatch(/gushen_dr_last_success_timestamp_seconds\{command="backup",schedule="nightly"\}/);
    expect(alert('GushenDRNoCompletedMonthlyBackup').expr).toMatch(/gushen_dr_last_success_timestamp_seconds\{command="backup",schedule="monthly"\}/);
    for (const r of rules) {
      if (/absent\(/.test(String(r.expr))) expect(String(r.for), r.alert).toMatch(/^\d+m$/);
    }
  });

  it('uses only metric names that gushen-dr actually exports', async () => {
    const at = new Date('2026-03-01T02:10:00Z');
    const manifest = { formatVersion: 1, id: '20260301T020000Z-nightly', schedule: 'nightly', status: 'Completed', startedAt: new Date(at.getTime() - 60_000).toISOString(), finishedAt: at.toISOString(), tool: { name: 'gushen-dr', version: 't' }, host: 'h', sources: ['postgres'], artifacts: [], failures: [] } as unknown as Manifest;
    const report = { status: 'Passed', finishedAt: at.toISOString(), rtoSeconds: 400, rpoSeconds: 3600 } as unknown as DrillReport;
    const exported = new Set([...(await backupMetrics(manifest).getMetricsAsJSON()), ...(await drillMetrics(report).getMetricsAsJSON())].map((m) => m.name));
    // And what `gushen-dr wal-archive` serves (point-in-time recovery).
    const { WalArchiver } = await import('../../src/sources/postgres/pitr/archiver.js');
    const { generateX25519Identity } = await import('../../src/crypto/index.js');
    const walConfig = parseConfig(
      stringify({ store: { url: 'file:///nonexistent' }, encryption: { recipients: [generateX25519Identity().recipient] }, sources: { postgres: { url: 'postgres://u@h/', databases: ['d'], pitr: { enabled: true } } } }),
    );
    const archiver = new WalArchiver({ config: walConfig, store: undefined as never, log: (await import('../../src/util/log.js')).silentLogger, signal: new AbortController().signal });
    for (const m of await archiver.registry.getMetricsAsJSON()) exported.add(m.name);
    const used = new Set(rules.flatMap((r) => [...String(r.expr).matchAll(/gushen_dr_[a-z_]+/g)].map((m) => m[0])));
    expect(used.size).toBeGreaterThanOrEqual(4);
    for (const name of used) expect(exported.has(name), name).toBe(true);
    // The header comment documents the same metrics.
    for (const name of ['gushen_dr_drill_rto_seconds', 'gushen_dr_drill_rpo_seconds', 'gushen_dr_backup_status']) expect(exported.has(name), name).toBe(true);
  });

  describe.skipIf(!promtool)('promtool', () => {
    let dir: { path: string; cleanup: () => Promise<void> };
    beforeAll(async () => {
      dir = await tempDir('gushen-dr-promtool-');
      // The rule groups as a plain Prometheus rules file; annotations are left out for the unit tests
      // (promtool would compare their expanded text) and checked with `check rules` on the full file.
      await writeFile(join(dir.path, 'full.yaml'), stringify({ groups: rule.spec.groups }));
      const bare = rule.spec.groups.map((g: Obj) => ({ ...g, rules: g.rules.map(({ annotations: _a, ...r }: Obj) => r) }));
      await writeFile(join(dir.path, 'rules.yaml'), stringify({ groups: bare }));
      for (const f of readdirSync(join(K8S, 'alerts/tests'))) await copyFile(join(K8S, 'alerts/tests', f), join(dir.path, f));
    });
    afterAll(async () => {
      await dir?.cleanup();
    });

    it('promtool check rules: expressions and annotation templates are valid', async () => {
      const { stdout } = await run(promtool!, ['check', 'rules', join(dir.path, 'full.yaml')]);
      expect(stdout).toMatch(new RegExp(`SUCCESS: ${rules.length} rules found`));
    });

    it('promtool test rules: each alert fires when it should and not before', async () => {
      const tests = readdirSync(join(K8S, 'alerts/tests')).filter((f) => f.endsWith('.promtool-test.yaml'));
      expect(tests.length).toBeGreaterThanOrEqual(2);
      const { stdout } = await run(promtool!, ['test', 'rules', ...tests], { cwd: dir.path });
      expect(stdout.match(/SUCCESS/g)).toHaveLength(tests.length);
      // Every alert is exercised by at least one firing expectation.
      const text = tests.map((t) => readFileSync(join(K8S, 'alerts/tests', t), 'utf8')).join('\n');
      for (const r of rules) expect(text, r.alert).toMatch(new RegExp(`alertname: ${r.alert}\\n\\s+exp_alerts: \\[\\{`));
    }, 60_000);

    it('promtool test rules fails when an alert is broken', async () => {
      const broken = rule.spec.groups.map((g: Obj) => ({
        ...g,
        rules: g.rules.map(({ annotations: _a, ...r }: Obj) => (r.alert === 'GushenDRNoCompletedBackup' ? { ...r, expr: r.expr.replace('26 * 3600', '30 * 3600') } : r)),
      }));
      await writeFile(join(dir.path, 'rules.yaml'), stringify({ groups: broken }));
      try {
        await expect(run(promtool!, ['test', 'rules', 'backups.promtool-test.yaml'], { cwd: dir.path })).rejects.toThrow(/GushenDRNoCompletedBackup/);
      } finally {
        const bare = rule.spec.groups.map((g: Obj) => ({ ...g, rules: g.rules.map(({ annotations: _a, ...r }: Obj) => r) }));
        await writeFile(join(dir.path, 'rules.yaml'), stringify({ groups: bare }));
      }
    });
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as Obj;

  it('matches the project and the CronJobs: Node major, build script, entrypoint, user', () => {
    expect(text).toMatch(new RegExp(`ARG NODE_MAJOR=${/>=(\d+)/.exec(pkg.engines.node)![1]}\\b`));
    expect(text).toMatch(/FROM node:\$\{NODE_MAJOR\}-bookworm-slim AS build/);
    expect(text).toMatch(/npm ci/);
    expect(pkg.scripts.build).toBeDefined();
    expect(text).toMatch(/npm run build/);
    expect(text).toMatch(/ARG PG_MAJOR=\d+/);
    expect(text).toMatch(/postgresql-client-\$\{PG_MAJOR\}/);
    // The server package of the same major (postgres, pg_ctl, initdb, pg_waldump): the PITR drill and
    // restore --to-time run them; installed without recommends and without an auto-created cluster.
    const install = /apt-get install -y --no-install-recommends \\\n([^;]+);/.exec(text);
    expect(install, 'the apt-get install of the runtime stage').not.toBeNull();
    expect(install![1]).toMatch(/"postgresql-\$\{PG_MAJOR\}"/);
    expect(install![1]).toMatch(/"postgresql-client-\$\{PG_MAJOR\}"/);
    expect(text).toMatch(/create_main_cluster = false/);
    expect(text).toMatch(/\/usr\/lib\/postgresql\/\$\{PG_MAJOR\}\/bin\/\$t" --version/);
    for (const tool of ['redis-server', 'redis-check-rdb', 'age', 'zstd', 'tar']) expect(text).toMatch(new RegExp(`\\b${tool}\\b`));
    const entry = /ENTRYPOINT \["node", (?:"--[^"]+", )*"\/app\/(bin\/gushen-dr\.js)"\]/.exec(text);
    expect(entry).not.toBeNull();
    expect(pkg.bin['gushen-dr']).toBe(entry![1]);
    expect(readFileSync(join(REPO_ROOT, entry![1]), 'utf8')).toContain('../dist/cli.js');
    const user = /^USER (\d+):(\d+)$/m.exec(text);
    expect(user).not.toBeNull();
    expect(Number(user![1])).toBeGreaterThan(0);
    // Every COPY source from the build context exists and is let through .dockerignore.
    const ignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').filter((l) => l.startsWith('!')).map((l) => l.slice(1));
    for (const m of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const src of m[1].split(/\s+/)) {
        expect(existsSync(join(REPO_ROOT, src)), src).toBe(true);
        expect(ignore, src).toContain(src.replace(/\/$/, ''));
      }
    }
  });

  it.skipIf(!kubectl)('runs as the uid the CronJobs expect', async () => {
    const user = Number(/^USER (\d+)/m.exec(text)![1]);
    for (const cj of (await kustomize(join(K8S, 'cronjobs'))).filter((o) => o.kind === 'CronJob')) {
      expect(podSpec(cj).securityContext.runAsUser).toBe(user);
      expect(podSpec(cj).securityContext.runAsGroup).toBe(user);
    }
  });
});

describe('Dockerfile and bin/gushen-dr.js', () => {
  it('the image runs node with the same flags as bin/gushen-dr.js, which the benchmarks measure with', () => {
    const shebang = readFileSync(join(REPO_ROOT, 'bin', 'gushen-dr.js'), 'utf8').split('\n')[0];
    expect(shebang).toBe(`#!/usr/bin/env -S node ${productionNodeFlags().join(' ')}`);
    const entry = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
    expect(entry, 'Dockerfile has an exec-form ENTRYPOINT').not.toBeNull();
    expect(JSON.parse(entry![1])).toEqual(['node', ...productionNodeFlags(), '/app/bin/gushen-dr.js']);
    expect(productionNodeFlags()).toContain('--max-semi-space-size=1');
  });
});
