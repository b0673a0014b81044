/**
 * The Kubernetes source against the API emulator (fixture `gushen`: the ai-qtrd namespace of the ops guide):
 * backup through the real orchestration into a file:// store with a generated age key, restore into another
 * namespace and compare semantically, scan the store for secret values, dry run, --existing update, rejected
 * objects (API and CLI exit code), and kubectl against the restored namespace.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/engine/backup.js';
import { type Config } from '../../src/config/schema.js';
import { configSchema } from '../../src/sources/registry.js';
import { generateX25519Identity, parseIdentity, type Identity } from '../../src/crypto/index.js';
import type { Manifest } from '../../src/repository/manifest.js';
import type { KubeFacts } from '../../src/sources/kube/facts.js';
import { deepVerifyKube, kubeArtifactOf, readKubeArchive, restoreKube, type KubeRestoreOptions } from '../../src/sources/kube/restore.js';
import type { RestoreContext } from '../../src/sources/restore-context.js';
import { FileStore } from '../../src/store/file.js';
import { KubeClient, KubeConfig, objectPath } from '../../src/sources/shared/kube-client.js';
import { OperationError, UsageError } from '../../src/util/errors.js';
import { freePort } from '../support/ports.js';
import { silentLogger } from '../../src/util/log.js';
import { GUSHEN_FIXTURE_SECRET_VALUES, GUSHEN_FIXTURE_SECRETS, NEVER_READY_ANNOTATION, startKubeEmulator, type KubeEmulator } from '../support/kube-emulator/index.js';
import { tempDir } from '../support/tmp.js';

const run = promisify(execFile);
const SRC = 'ai-qtrd';
const RESTORED = 'ai-qtrd-restored';
const KUBECTL = '/usr/bin/kubectl';
const RESTORE_LABELS = ['gushen-dr.io/backup', 'gushen-dr.io/restore'];

/** Deep-copies an object without what legitimately differs between an original and its restored copy. */
function semantic(obj: any): any {
  const o = structuredClone(obj);
  delete o.status;
  const md = o.metadata;
  for (const k of ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'selfLink', 'ownerReferences', 'namespace']) delete md[k];
  for (const k of RESTORE_LABELS) delete md.labels?.[k];
  if (md.labels && Object.keys(md.labels).length === 0) delete md.labels;
  if (md.annotations && Object.keys(md.annotations).length === 0) delete md.annotations;
  return o;
}

function digest(data: Record<string, string> | undefined): string {
  const sorted = Object.entries(data ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex');
}

async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await allFiles(p)));
    else out.push(p);
  }
  return out;
}

describe('Kubernetes backup and restore against the API emulator', () => {
  let emu: KubeEmulator;
  let dir: { path: string; cleanup: () => Promise<void> };
  let config: Config;
  let identities: Identity[];
  let identityFile: string;
  let store: FileStore;
  let manifest: Manifest;
  let client: KubeClient;
  let hasKubectl = false;
  const kubeconfig = () => join(dir.path, 'kubeconfig');
  const ctx = (m = manifest): RestoreContext => ({ store, manifest: m, identities, config, log: silentLogger });
  const restore = (opts: KubeRestoreOptions, m = manifest) => restoreKube(ctx(m), { readyTimeoutSeconds: 20, ...opts });
  const live = (apiVersion: string, resource: string, name: string, ns?: string) => client.getOptional(objectPath(apiVersion, resource, name, ns));

  beforeAll(async () => {
    [emu, dir] = await Promise.all([startKubeEmulator({ fixture: 'gushen', readyDelayMs: 100 }), tempDir()]);
    await emu.writeKubeconfig(kubeconfig());
    const id = generateX25519Identity();
    identities = [parseIdentity(id.identity)];
    identityFile = join(dir.path, 'identity.txt');
    await writeFile(identityFile, `${id.identity}\n`, { mode: 0o600 });
    config = configSchema.parse({
      store: { url: `file://${dir.path}/store` },
      encryption: { recipients: [id.recipient], identityFile },
      sources: { kube: { namespace: SRC, kubeconfig: kubeconfig() } },
    });
    store = new FileStore(`${dir.path}/store`);
    client = new KubeClient(emu.kubeConfig());
    hasKubectl = await access(KUBECTL).then(() => true, () => false);
    manifest = await runBackup({ config, store, schedule: 'manual', only: ['kube'], log: silentLogger, now: () => new Date('2026-03-01T02:00:00Z') });
  });

  afterAll(async () => {
    await emu?.stop();
    await dir?.cleanup();
  });

  it('backs up the namespace, its cluster-scoped dependencies and nothing that controllers recreate', async () => {
    expect(manifest.status).toBe('Completed');
    const artifact = kubeArtifactOf(manifest);
    expect(artifact.name).toBe('kube/resources.tar');
    expect(artifact.key).toBe(`backups/${manifest.id}/kube/resources.tar.zst.age`);
    const facts = artifact.facts as KubeFacts;
    expect(facts.type).toBe('kube');
    expect(facts.namespace).toBe(SRC);
    expect(facts.counts).toMatchObject({
      namespaces: 1,
      'deployments.apps': 2,
      'statefulsets.apps': 1,
      services: 4,
      configmaps: 1,
      secrets: 2,
      'ingressroutes.traefik.io': 1,
      'certificates.cert-manager.io': 1,
      'customresourcedefinitions.apiextensions.k8s.io': 2,
      persistentvolumeclaims: 3,
      persistentvolumes: 3,
      'storageclasses.storage.k8s.io': 1,
      'clusterrolebindings.rbac.authorization.k8s.io': 1,
      'clusterroles.rbac.authorization.k8s.io': 1,
      'roles.rbac.authorization.k8s.io': 1,
      'rolebindings.rbac.authorization.k8s.io': 1,
      serviceaccounts: 2,
    });
    for (const qr of ['pods', 'replicasets.apps', 'endpoints', 'endpointslices.discovery.k8s.io', 'controllerrevisions.apps', 'leases.coordination.k8s.io', 'events']) {
      expect(facts.counts[qr], qr).toBeUndefined();
    }
    expect(Object.keys(facts.skipped)).toEqual(
      expect.arrayContaining([
        'pods: owned by a controller (recreated)',
        'replicasets.apps: owned by a Deployment (recreated)',
        'endpoints: managed by its Service (recreated)',
        'controllerrevisions.apps: controller history (recreated)',
        'leases.coordination.k8s.io: leases are runtime state',
        'events: events are not restored',
        'secrets: service-account token (recreated)',
      ]),
    );
    expect(facts.skipped['secrets: service-account token (recreated)']).toBe(1);
    expect(facts.skipped['pods: owned by a controller (recreated)']).toBe(5); // 2 Deployment pods + 3 redis pods

    const { index, objects } = await readKubeArchive(ctx(), artifact);
    expect(index.entries.map((e) => e.path)).toEqual(
      expect.arrayContaining([
        'resources/namespaces/cluster/ai-qtrd.json',
        'resources/configmaps/namespaces/ai-qtrd/ai-qtrd-config.json',
        'resources/secrets/namespaces/ai-qtrd/ai-qtrd-secrets.json',
        'resources/secrets/namespaces/ai-qtrd/gushen-lurus-cn-tls.json',
        'resources/deployments.apps/namespaces/ai-qtrd/ai-qtrd-web.json',
        'resources/deployments.apps/namespaces/ai-qtrd/ai-qtrd-api.json',
        'resources/statefulsets.apps/namespaces/ai-qtrd/redis.json',
        'resources/services/namespaces/ai-qtrd/redis-headless.json',
        'resources/services/namespaces/ai-qtrd/redis-service.json',
        'resources/ingressroutes.traefik.io/namespaces/ai-qtrd/ai-qtrd.json',
        'resources/certificates.cert-manager.io/namespaces/ai-qtrd/gushen-lurus-cn-tls.json',
        'resources/customresourcedefinitions.apiextensions.k8s.io/cluster/ingressroutes.traefik.io.json',
        'resources/customresourcedefinitions.apiextensions.k8s.io/cluster/certificates.cert-manager.io.json',
        'resources/clusterrolebindings.rbac.authorization.k8s.io/cluster/ai-qtrd-node-reader.json',
      ]),
    );
    // Stored as read: the archived ConfigMap and Deployment are the API's objects, uid and status included.
    for (const [path, apiVersion, kind, name] of [
      ['resources/configmaps/namespaces/ai-qtrd/ai-qtrd-config.json', 'v1', 'ConfigMap', 'ai-qtrd-config'],
      ['resources/statefulsets.apps/namespaces/ai-qtrd/redis.json', 'apps/v1', 'StatefulSet', 'redis'],
    ]) {
      const archived = objects[index.entries.findIndex((e) => e.path === path)];
      const current = emu.get(apiVersion, kind, SRC, name);
      expect(archived.metadata.uid).toBe(current.metadata.uid);
      expect(semantic(archived)).toEqual(semantic(current));
      if (kind === 'StatefulSet') expect(archived.status.replicas).toBe(3);
    }
    await deepVerifyKube(ctx(), artifact);
    // deep verify compares the archive with the manifest's facts, and the stored bytes with their checksums
    const wrongFacts = { ...artifact, facts: { ...facts, counts: { ...facts.counts, secrets: 3 } } };
    await expect(deepVerifyKube(ctx(), wrongFacts)).rejects.toThrow(/secrets: 2 objects, the manifest says 3/);
    const wrongSum = { ...artifact, sha256: '0'.repeat(64) };
    await expect(deepVerifyKube(ctx(), wrongSum)).rejects.toThrow(/artifact kube\/resources\.tar/);
  });

  it('stores no Secret value anywhere: every stored byte is scanned for the plain and base64 forms', async () => {
    const needles = GUSHEN_FIXTURE_SECRET_VALUES.flatMap((v) => [Buffer.from(v), Buffer.from(Buffer.from(v).toString('base64'))]);
    const files = await allFiles(join(dir.path, 'store'));
    expect(files.length).toBeGreaterThanOrEqual(2); // the artifact and the manifest
    for (const f of files) {
      const bytes = await readFile(f);
      for (const n of needles) expect(bytes.includes(n), `${f} contains a secret value`).toBe(false);
    }
    // The scan can find them: decrypted, the archive does hold the Secret (base64, as the API returns it).
    const { objects } = await readKubeArchive(ctx(), kubeArtifactOf(manifest));
    const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === 'ai-qtrd-secrets');
    expect(secret.data.REDIS_PASSWORD).toBe(Buffer.from(GUSHEN_FIXTURE_SECRETS.REDIS_PASSWORD).toString('base64'));
  });

  it('dry run prints the plan and changes nothing', async () => {
    const before = new Map(emu.objects().filter((o) => o.metadata.namespace === SRC || !o.metadata.namespace).map((o) => [`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o.metadata.resourceVersion]));
    const report = await restore({ toNamespace: RESTORED, dryRun: true, existing: 'update' });
    expect(report.failed).toBe(0);
    expect(new Set(report.items.map((i) => i.result))).toEqual(new Set(['would-create', 'would-update', 'would-skip']));
    expect(report.items.find((i) => i.item === `namespaces ${RESTORED}`)?.result).toBe('would-create');
    expect(report.items.find((i) => i.item === `deployments.apps ${RESTORED}/ai-qtrd-web`)?.result).toBe('would-create');
    expect(report.items.find((i) => i.item === 'storageclasses.storage.k8s.io local-path')?.result).toBe('would-update');
    expect(await live('v1', 'namespaces', RESTORED)).toBeUndefined();
    expect(emu.objects().some((o) => o.metadata.namespace === RESTORED)).toBe(false);
    // The objects the restore would touch are unchanged (controllers may still update their own pods).
    for (const o of emu.objects()) {
      if (o.metadata.namespace && o.metadata.namespace !== SRC) continue;
      if (['Pod', 'ReplicaSet', 'Endpoints', 'EndpointSlice', 'Event', 'Lease', 'Node', 'ControllerRevision'].includes(o.kind)) continue;
      const key = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
      if (before.has(key)) expect(o.metadata.resourceVersion, key).toBe(before.get(key));
    }
  });

  it('restores into another namespace: every object present, cleaned, references rewritten, workloads ready', async () => {
    // keepHosts: a faithful copy, routes and certificates included (moving hosts: kube-restore-hosts.test.ts).
    const report = await restore({ toNamespace: RESTORED, restoreId: 'r-main', keepHosts: true });
    expect(report.items.filter((i) => i.result === 'failed')).toEqual([]);
    expect(report.failed).toBe(0);
    expect(report.summary.created).toBeGreaterThanOrEqual(18);
    // Cluster-scoped objects exist already (same cluster): skipped, not stolen from the original namespace.
    expect(report.items.find((i) => i.item === 'clusterrolebindings.rbac.authorization.k8s.io ai-qtrd-node-reader')).toMatchObject({ result: 'skipped', detail: 'already exists' });
    for (const i of report.items.filter((x) => x.item.startsWith('persistentvolumes '))) expect(i.detail).toMatch(/^exists, bound to claim ai-qtrd\/data-redis-\d$/);
    // The restore order: CRDs, namespace, …, services, then workloads.
    const order = report.items.map((i) => i.item.split(' ')[0]);
    expect(order.indexOf('customresourcedefinitions.apiextensions.k8s.io')).toBe(0);
    expect(order.indexOf('namespaces')).toBeLessThan(order.indexOf('secrets'));
    expect(order.lastIndexOf('services')).toBeLessThan(order.indexOf('deployments.apps'));

    const { index, objects } = await readKubeArchive(ctx(), kubeArtifactOf(manifest));
    const ns = await live('v1', 'namespaces', RESTORED);
    expect(ns.metadata.labels).toMatchObject({ 'app.kubernetes.io/part-of': 'gushen', 'gushen-dr.io/backup': manifest.id, 'gushen-dr.io/restore': 'r-main' });
    let compared = 0;
    for (const [i, e] of index.entries.entries()) {
      if (e.namespace !== SRC) continue;
      const orig = objects[i];
      const item = report.items.find((x) => x.item === `${e.group ? `${e.resource}.${e.group}` : e.resource} ${RESTORED}/${e.name}`);
      expect(item, e.path).toBeDefined();
      const got = await live(e.apiVersion, e.resource, e.name, RESTORED);
      expect(got, `${e.path} restored`).toBeDefined();
      if (item!.result === 'skipped') continue; // the default ServiceAccount, created with the namespace
      compared++;
      expect(got.metadata.uid).not.toBe(orig.metadata.uid);
      expect(got.metadata.ownerReferences).toBeUndefined();
      expect(got.metadata.labels).toMatchObject({ 'gushen-dr.io/backup': manifest.id, 'gushen-dr.io/restore': 'r-main' });
      const a = semantic(orig);
      const b = semantic(got);
      switch (e.kind) {
        case 'Secret':
          expect(b.type).toBe(a.type);
          expect(digest(b.data)).toBe(digest(a.data)); // by digest: a failure never prints a value
          break;
        case 'Service':
          if (orig.spec.clusterIP === 'None') expect(got.spec.clusterIP).toBe('None');
          else expect(got.spec.clusterIP).not.toBe(orig.spec.clusterIP);
          delete a.spec.clusterIP;
          delete a.spec.clusterIPs;
          delete b.spec.clusterIP;
          delete b.spec.clusterIPs;
          expect(b).toEqual(a);
          break;
        case 'PersistentVolumeClaim':
          // The original PV stays with the original claim; the copy is bound to a volume of its own.
          expect(got.spec.volumeName).not.toBe(orig.spec.volumeName);
          expect(got.status?.phase).toBe('Bound');
          expect((await live('v1', 'persistentvolumes', got.spec.volumeName)).spec.claimRef).toMatchObject({ namespace: RESTORED, name: e.name });
          expect(got.spec.resources).toEqual(orig.spec.resources);
          expect(got.spec.storageClassName).toBe(orig.spec.storageClassName);
          break;
        case 'ConfigMap':
          // In-namespace DNS names point at the copy; names in other namespaces stay.
          if (e.name === 'ai-qtrd-config') {
            expect(got.data.REDIS_HOST).toBe(`redis-service.${RESTORED}.svc.cluster.local`);
            expect(got.data.API_BASE_URL).toBe(`http://ai-qtrd-api.${RESTORED}.svc.cluster.local:8000`);
          }
          expect(b).toEqual(JSON.parse(JSON.stringify(a).replaceAll(`.${SRC}.svc`, `.${RESTORED}.svc`)));
          break;
        case 'RoleBinding':
          expect(got.subjects).toEqual(orig.subjects.map((s: any) => (s.namespace === SRC ? { ...s, namespace: RESTORED } : s)));
          expect(got.roleRef).toEqual(orig.roleRef);
          break;
        default:
          expect(b, e.path).toEqual(a);
      }
    }
    expect(compared).toBeGreaterThanOrEqual(17);
    for (const [resource, name] of [['deployments', 'ai-qtrd-web'], ['deployments', 'ai-qtrd-api'], ['statefulsets', 'redis']]) {
      const w = await live('apps/v1', resource, name, RESTORED);
      expect(w.status.readyReplicas, `${resource}/${name}`).toBe(w.spec.replicas);
    }
    // The original namespace is untouched.
    expect(emu.get('v1', 'ConfigMap', SRC, 'ai-qtrd-config').metadata.labels['gushen-dr.io/restore']).toBeUndefined();
  });

  it('skips existing objects by default and replaces them with --existing update', async () => {
    const cmPath = objectPath('v1', 'configmaps', 'ai-qtrd-config', RESTORED);
    const cm = await client.get(cmPath);
    cm.data.LOG_LEVEL = 'debug';
    await client.request('PUT', cmPath, { body: cm });
    const svcBefore = await live('v1', 'services', 'redis-service', RESTORED);

    const skipped = await restore({ toNamespace: RESTORED, restoreId: 'r-skip' });
    expect(skipped.failed).toBe(0);
    expect(skipped.summary.created).toBe(0);
    expect(skipped.items.find((i) => i.item === `configmaps ${RESTORED}/ai-qtrd-config`)).toMatchObject({ result: 'skipped', detail: 'already exists' });
    expect((await client.get(cmPath)).data.LOG_LEVEL).toBe('debug');

    const updated = await restore({ toNamespace: RESTORED, restoreId: 'r-update', existing: 'update' });
    expect(updated.items.filter((i) => i.result === 'failed')).toEqual([]);
    expect(updated.items.find((i) => i.item === `configmaps ${RESTORED}/ai-qtrd-config`)?.result).toBe('updated');
    expect(updated.items.find((i) => i.item === `deployments.apps ${RESTORED}/ai-qtrd-web`)?.result).toBe('updated');
    const after = await client.get(cmPath);
    expect(after.data.LOG_LEVEL).toBe('info');
    expect(after.metadata.labels['gushen-dr.io/restore']).toBe('r-update');
    // A Service keeps its allocated clusterIP when replaced.
    const svcAfter = await live('v1', 'services', 'redis-service', RESTORED);
    expect(svcAfter.spec.clusterIP).toBe(svcBefore.spec.clusterIP);
    expect(svcAfter.metadata.labels['gushen-dr.io/restore']).toBe('r-update');
    // PVs bound to the original claims are never replaced, even with update.
    for (const i of updated.items.filter((x) => x.item.startsWith('persistentvolumes '))) expect(i.result).toBe('skipped');

    const plan = await restore({ toNamespace: RESTORED, dryRun: true });
    expect(plan.items.find((i) => i.item === `configmaps ${RESTORED}/ai-qtrd-config`)).toMatchObject({ result: 'would-skip', detail: 'already exists' });
  });

  it('restores one object selected by --resource style filter', async () => {
    const report = await restore({ toNamespace: 'ai-qtrd-one', include: (_o, e) => e.resource === 'configmaps' && e.name === 'ai-qtrd-config' });
    expect(report.items.map((i) => `${i.item} ${i.result}`)).toEqual(['namespaces ai-qtrd-one created', 'configmaps ai-qtrd-one/ai-qtrd-config created']);
    expect(await live('apps/v1', 'deployments', 'ai-qtrd-web', 'ai-qtrd-one')).toBeUndefined();
  });

  it('reports an object the API rejects with its reason, and carries on with the rest', async () => {
    function breakWebService(obj: any) {
      if (obj.kind === 'Service' && obj.metadata.name === 'ai-qtrd-web') obj.spec.type = 'Bogus';
      return obj;
    }
    function dropCertificate(obj: any) {
      return obj.kind === 'Certificate' ? null : obj;
    }
    const report = await restore({ toNamespace: 'ai-qtrd-rejected', extraTransforms: [breakWebService, dropCertificate], waitForReady: false, keepHosts: true });
    expect(report.failed).toBe(1);
    const failed = report.items.filter((i) => i.result === 'failed');
    expect(failed.map((i) => i.item)).toEqual(['services ai-qtrd-rejected/ai-qtrd-web']);
    expect(failed[0].detail).toMatch(/^Invalid \(422\): Service "ai-qtrd-web" is invalid: spec\.type: Unsupported value: "Bogus"/);
    expect(report.dropped).toEqual([{ item: 'certificates.cert-manager.io ai-qtrd-rejected/gushen-lurus-cn-tls', by: 'dropCertificate' }]);
    expect(report.items.find((i) => i.item === 'certificates.cert-manager.io ai-qtrd-rejected/gushen-lurus-cn-tls')).toMatchObject({ result: 'skipped', detail: 'dropped by transform dropCertificate' });
    expect(await live('v1', 'configmaps', 'ai-qtrd-config', 'ai-qtrd-rejected')).toBeDefined();
  });

  it('names the workloads that did not become ready in time', async () => {
    function neverReady(obj: any) {
      if (obj.kind === 'Deployment') obj.metadata.annotations = { ...obj.metadata.annotations, [NEVER_READY_ANNOTATION]: 'true' };
      return obj;
    }
    const report = await restore({
      toNamespace: 'ai-qtrd-slow',
      include: (_o, e) => e.resource === 'deployments' && e.name === 'ai-qtrd-api',
      extraTransforms: [neverReady],
      readyTimeoutSeconds: 1,
    });
    expect(report.failed).toBe(1);
    expect(report.items.find((i) => i.item === 'deployments.apps ai-qtrd-slow/ai-qtrd-api')).toMatchObject({
      result: 'failed',
      detail: expect.stringMatching(/^created, but not ready within 1s: 0\/1 replicas ready$/),
    });
  });

  it('restores into an empty cluster (disaster recovery): CRDs first and established, PVs re-bound to their claims', async () => {
    const fresh = await startKubeEmulator({ fixture: 'empty', readyDelayMs: 50 });
    try {
      const report = await restore({ kubeConfig: fresh.kubeConfig(), restoreId: 'r-dr', readyTimeoutSeconds: 2 });
      // The web Deployment is pinned to node cloud-ubuntu-3-2c2g and the Redis volumes to cloud-ubuntu-2-4c8g;
      // the new cluster has other nodes, so those cannot become ready, and the report says so.
      expect(report.items.filter((i) => i.result === 'failed')).toEqual([
        { item: 'deployments.apps ai-qtrd/ai-qtrd-web', result: 'failed', detail: 'created, but not ready within 2s: 0/1 replicas ready' },
        { item: 'statefulsets.apps ai-qtrd/redis', result: 'failed', detail: 'created, but not ready within 2s: 0/3 replicas ready' },
      ]);
      expect(report.items.find((i) => i.item === 'deployments.apps ai-qtrd/ai-qtrd-api')?.result).toBe('created');
      const results = Object.fromEntries(report.items.map((i) => [i.item, i.result]));
      expect(results).toMatchObject({
        'customresourcedefinitions.apiextensions.k8s.io ingressroutes.traefik.io': 'created',
        'customresourcedefinitions.apiextensions.k8s.io certificates.cert-manager.io': 'created',
        'namespaces ai-qtrd': 'created',
        'storageclasses.storage.k8s.io local-path': 'created',
        'clusterroles.rbac.authorization.k8s.io ai-qtrd-node-reader': 'created',
        'clusterrolebindings.rbac.authorization.k8s.io ai-qtrd-node-reader': 'created',
        'ingressroutes.traefik.io ai-qtrd/ai-qtrd': 'created',
        'certificates.cert-manager.io ai-qtrd/gushen-lurus-cn-tls': 'created',
      });
      const fc = new KubeClient(fresh.kubeConfig());
      const { index, objects } = await readKubeArchive(ctx(), kubeArtifactOf(manifest));
      for (const [i, e] of index.entries.entries()) {
        if (e.kind !== 'PersistentVolumeClaim') continue;
        const pvc = await fc.get(objectPath('v1', 'persistentvolumeclaims', e.name, SRC));
        expect(pvc.spec.volumeName).toBe(objects[i].spec.volumeName); // the restored PV, not a new one
        const pv = await fc.get(objectPath('v1', 'persistentvolumes', pvc.spec.volumeName));
        expect(pv.spec.claimRef).toMatchObject({ namespace: SRC, name: e.name, uid: pvc.metadata.uid });
      }
      const crb = await fc.get(objectPath('rbac.authorization.k8s.io/v1', 'clusterrolebindings', 'ai-qtrd-node-reader'));
      expect(crb.subjects).toEqual([{ kind: 'ServiceAccount', name: 'ai-qtrd', namespace: SRC }]);
    } finally {
      await fresh.stop();
    }
  });

  it('CLI: a rejected object makes `gushen-dr restore` exit non-zero with the API reason in its report', async () => {
    // An explicitly set nodePort (kubectl last-applied-configuration) is kept on restore; restoring next to the
    // original, the port is taken, and the API rejects the copy.
    const svc = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'ai-qtrd-nodeport', namespace: SRC },
      spec: { type: 'NodePort', selector: { app: 'ai-qtrd-web' }, ports: [{ name: 'http', port: 3000, nodePort: 30880 }] },
    };
    (svc.metadata as any).annotations = { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(svc) };
    await client.request('POST', `/api/v1/namespaces/${SRC}/services`, { body: svc });
    const second = await runBackup({ config, store, schedule: 'manual', only: ['kube'], log: silentLogger, now: () => new Date('2026-03-01T03:00:00Z') });
    expect(second.status).toBe('Completed');
    const configFile = join(dir.path, 'gushen-dr.yaml');
    await writeFile(
      configFile,
      JSON.stringify({ store: config.store, encryption: { recipients: config.encryption.recipients, identityFile }, sources: { kube: { namespace: SRC, kubeconfig: kubeconfig() } } }),
    );
    const cli = join(dir.path, 'cli.mts');
    await writeFile(cli, `import { main } from ${JSON.stringify(join(process.cwd(), 'src/cli.ts'))};\nawait main(['node', 'gushen-dr', ...process.argv.slice(2)]);\n`);
    const args = ['--import', 'tsx', cli, '--config', configFile, '-o', 'json', '--log-level', 'silent', 'restore', 'latest', '--only', 'kube', '--to-namespace', 'ai-qtrd-cli', '--resource', 'services/ai-qtrd-nodeport'];
    const res = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, args, { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => (stdout += c));
      child.stderr.on('data', (c) => (stderr += c));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(res.code, res.stderr).toBe(1);
    const report = JSON.parse(res.stdout);
    expect(report.backup).toBe(second.id);
    const item = report.items.find((i: any) => i.item === 'services ai-qtrd-cli/ai-qtrd-nodeport');
    expect(item.result).toBe('failed');
    expect(item.detail).toMatch(/^Invalid \(422\): .*30880.*already allocated/);
    for (const v of GUSHEN_FIXTURE_SECRET_VALUES) expect(res.stdout + res.stderr).not.toContain(v);
  });

  it('throws, changing nothing, when the restore cannot start', async () => {
    const noKube = { ...manifest, artifacts: [] };
    await expect(restore({ toNamespace: 'x' }, noKube)).rejects.toThrow(UsageError);
    await expect(restore({ toNamespace: 'Not_A_Namespace' })).rejects.toThrow(/--to-namespace/);
    const closed = await freePort();
    const unreachable = new KubeConfig();
    unreachable.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${closed}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'not-a-real-token' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const err = await restore({ toNamespace: 'x', kubeConfig: unreachable }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationError);
    expect(String((err as Error).message)).toMatch(new RegExp(`127\\.0\\.0\\.1:${closed}.*ECONNREFUSED`));
    expect(String((err as Error).message)).not.toContain('not-a-real-token');
  });

  it('kubectl lists the restored objects and can apply a manifest to the emulator', async () => {
    if (!hasKubectl) {
      console.warn(`skipping: ${KUBECTL} is not installed`);
      return;
    }
    const env = { ...process.env, KUBECONFIG: kubeconfig() };
    const { stdout } = await run(KUBECTL, ['get', 'all,configmap,secret,ingressroute', '-n', RESTORED, '-o', 'json'], { env });
    const items: any[] = JSON.parse(stdout).items;
    const names = new Set(items.map((o) => `${o.kind}/${o.metadata.name}`));
    for (const want of [
      'Deployment/ai-qtrd-web',
      'Deployment/ai-qtrd-api',
      'StatefulSet/redis',
      'Service/ai-qtrd-web',
      'Service/ai-qtrd-api',
      'Service/redis-service',
      'Service/redis-headless',
      'ConfigMap/ai-qtrd-config',
      'Secret/ai-qtrd-secrets',
      'Secret/gushen-lurus-cn-tls',
      'IngressRoute/ai-qtrd',
    ]) {
      expect(names.has(want), want).toBe(true);
    }
    expect(items.find((o) => o.kind === 'IngressRoute').metadata.labels['gushen-dr.io/backup']).toBe(manifest.id);

    const manifestFile = join(dir.path, 'extra.yaml');
    await writeFile(manifestFile, ['apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: applied-by-kubectl', `  namespace: ${RESTORED}`, 'data:', '  FOO: bar', ''].join('\n'));
    await run(KUBECTL, ['apply', '-f', manifestFile], { env });
    expect((await live('v1', 'configmaps', 'applied-by-kubectl', RESTORED))?.data).toEqual({ FOO: 'bar' });
  });
});
