/**
 * The Kubernetes API emulator (test/support/kube-emulator) against @kubernetes/client-node and,
 * when installed, the real kubectl.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GUSHEN_FIXTURE_SECRET_VALUES, NEVER_READY_ANNOTATION, startKubeEmulator, type ExecHandler, type KubeEmulator } from '../support/kube-emulator/index.js';

const NS = 'ai-qtrd';

async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface StatusBody {
  kind?: string;
  status?: string;
  reason?: string;
  code?: number;
  message?: string;
  details?: { name?: string; kind?: string; causes?: Array<{ reason?: string; message?: string }> };
}

/** Runs a client-node call that must fail; returns the HTTP code and decoded Status. */
async function apiError(p: Promise<unknown>): Promise<{ code: number; status: StatusBody }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof k8s.ApiException) {
      const body: unknown = e.body;
      const status = (typeof body === 'string' ? JSON.parse(body) : body) as StatusBody;
      return { code: e.code, status };
    }
    throw e;
  }
  throw new Error('expected the call to fail');
}

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** The kubectl binary (override with KUBECTL=/path, e.g. KUBECTL=none to check the skip path). */
const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const hasKubectl = spawnSync(KUBECTL, ['version', '--client'], { stdio: 'ignore' }).status === 0;

describe('kube emulator', () => {
  let emu: KubeEmulator;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;
  let objects: k8s.KubernetesObjectApi;
  let tmp: string;
  let upstream: http.Server;
  let upstreamUrl: string;
  const bigFile = { path: '', sha: '', size: 50 * 1024 * 1024 };

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'kube-emulator-test-'));
    await mkdir(join(tmp, 'data'));
    const big = randomBytes(bigFile.size);
    bigFile.path = '/data/dump.rdb';
    bigFile.sha = sha256(big);
    await writeFile(join(tmp, 'data', 'dump.rdb'), big);
    await writeFile(join(tmp, 'data', 'hostname'), 'redis-0\n');

    upstream = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.writeHead(req.url?.startsWith('/missing') ? 404 : 200, { 'content-type': 'application/json', 'x-upstream': 'yes' });
        res.end(JSON.stringify({ method: req.method, url: req.url, body: Buffer.concat(chunks).toString('utf8') }));
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;

    // `cat /data/...` inside redis pods reads from the temp dir; `sh -c` runs locally.
    const execHandler: ExecHandler = (req) => {
      if (!req.pod.startsWith('redis-') || req.container !== 'redis') return undefined;
      const [cmd, ...args] = req.command;
      if (cmd === 'cat') return { command: 'cat', args: args.map((a) => (a.startsWith('/data/') ? join(tmp, a) : a)) };
      return { command: cmd ?? 'true', args };
    };
    emu = await startKubeEmulator({
      fixture: 'gushen',
      reconcileIntervalMs: 20,
      extraObjects: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'seeded', namespace: NS }, data: { from: 'extraObjects' } }],
      execHandler,
      serviceProxy: (ns, svc, port) => (ns === NS && svc === 'ai-qtrd-web' && port === '3000' ? upstreamUrl : undefined),
    });
    kc = emu.kubeConfig();
    core = kc.makeApiClient(k8s.CoreV1Api);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  });

  afterAll(async () => {
    await emu?.stop();
    await new Promise<void>((r) => (upstream ? upstream.close(() => r()) : r()));
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('answers health, version and legacy discovery with built-in groups and the fixture CRDs', async () => {
    for (const p of ['/healthz', '/readyz', '/livez']) expect(await (await fetch(emu.url + p)).text()).toBe('ok');
    const version = (await (await fetch(`${emu.url}/version`)).json()) as { major: string; minor: string };
    expect(version).toMatchObject({ major: '1', minor: '32' });

    const groups = (await (await fetch(`${emu.url}/apis`)).json()) as { kind: string; groups: Array<{ name: string; preferredVersion: { version: string } }> };
    expect(groups.kind).toBe('APIGroupList');
    const names = groups.groups.map((g) => g.name);
    for (const g of ['apps', 'batch', 'networking.k8s.io', 'rbac.authorization.k8s.io', 'storage.k8s.io', 'coordination.k8s.io', 'discovery.k8s.io', 'policy', 'apiextensions.k8s.io', 'scheduling.k8s.io', 'traefik.io', 'cert-manager.io']) {
      expect(names).toContain(g);
    }
    expect(groups.groups.find((g) => g.name === 'traefik.io')?.preferredVersion.version).toBe('v1alpha1');

    const coreList = await kc.makeApiClient(k8s.CoreApi).getAPIVersions();
    expect(coreList.versions).toEqual(['v1']);
    const v1 = (await (await fetch(`${emu.url}/api/v1`)).json()) as { resources: Array<{ name: string; namespaced: boolean; kind: string; shortNames?: string[]; verbs: string[] }> };
    const byName = new Map(v1.resources.map((r) => [r.name, r]));
    expect(byName.get('pods')).toMatchObject({ namespaced: true, kind: 'Pod', shortNames: ['po'] });
    expect(byName.get('namespaces')).toMatchObject({ namespaced: false, kind: 'Namespace', shortNames: ['ns'] });
    expect(byName.get('persistentvolumes')?.namespaced).toBe(false);
    expect(byName.has('pods/exec')).toBe(true);
    const appsV1 = await kc.makeApiClient(k8s.AppsV1Api).getAPIResources();
    expect(appsV1.resources.find((r) => r.name === 'deployments')).toMatchObject({ kind: 'Deployment', shortNames: ['deploy'] });
    expect(appsV1.resources.find((r) => r.name === 'statefulsets')?.shortNames).toEqual(['sts']);

    const traefik = (await (await fetch(`${emu.url}/apis/traefik.io/v1alpha1`)).json()) as { resources: Array<{ name: string; kind: string; namespaced: boolean }> };
    expect(traefik.resources).toContainEqual(expect.objectContaining({ name: 'ingressroutes', kind: 'IngressRoute', namespaced: true }));
    const routes = await objects.list('traefik.io/v1alpha1', 'IngressRoute', NS);
    expect(routes.items.map((r) => r.metadata?.name)).toEqual(['ai-qtrd']);
    const route = routes.items[0] as unknown as { spec: { routes: Array<{ match: string; services: Array<{ name: string; port: number }> }>; tls: { secretName: string } } };
    expect(route.spec.tls.secretName).toBe('gushen-lurus-cn-tls');
    expect(route.spec.routes[0]?.match).toContain('/api/backtest');
    expect(route.spec.routes.at(-1)?.services[0]).toEqual({ name: 'ai-qtrd-web', port: 3000 });

    expect((await fetch(`${emu.url}/apis/nope.example.com/v1`)).status).toBe(404);
    expect((await fetch(`${emu.url}/api/v1/namespaces/${NS}/widgets`)).status).toBe(404);
  });

  it('serves the gushen fixture (plus extraObjects)', async () => {
    expect((await core.readNamespacedConfigMap({ name: 'seeded', namespace: NS })).data).toEqual({ from: 'extraObjects' });
    expect(() => emu.reconcile()).not.toThrow();
    const review = await kc.makeApiClient(k8s.AuthorizationV1Api).createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: { verb: 'list', resource: 'secrets', namespace: NS } } } });
    expect(review.status?.allowed).toBe(true);
    const secret = await core.readNamespacedSecret({ name: 'ai-qtrd-secrets', namespace: NS });
    const values = Object.values(secret.data ?? {}).map((v) => Buffer.from(v, 'base64').toString('utf8'));
    for (const v of GUSHEN_FIXTURE_SECRET_VALUES.slice(0, 4)) expect(values).toContain(v);
    const secrets = await core.listNamespacedSecret({ namespace: NS });
    expect(secrets.items.map((s) => s.type)).toEqual(expect.arrayContaining(['Opaque', 'kubernetes.io/tls', 'kubernetes.io/service-account-token']));
    const pvcs = await core.listNamespacedPersistentVolumeClaim({ namespace: NS });
    expect(pvcs.items.map((p) => p.metadata?.name).sort()).toEqual(['data-redis-0', 'data-redis-1', 'data-redis-2']);
    for (const pvc of pvcs.items) {
      const pv = await core.readPersistentVolume({ name: pvc.spec?.volumeName ?? '' });
      expect(pv.metadata?.name).toBe(`pvc-${pvc.metadata?.uid ?? ''}`);
      expect(pv.spec?.claimRef).toMatchObject({ namespace: NS, name: pvc.metadata?.name, uid: pvc.metadata?.uid });
      expect(pvc.metadata?.annotations?.['pv.kubernetes.io/bind-completed']).toBe('yes');
    }
    const sts = await apps.readNamespacedStatefulSet({ name: 'redis', namespace: NS });
    expect(sts.spec?.serviceName).toBe('redis-headless');
    expect(sts.spec?.template.spec?.containers[0]?.name).toBe('redis');
    const crb = await kc.makeApiClient(k8s.RbacAuthorizationV1Api).listClusterRoleBinding();
    expect(crb.items.some((b) => b.subjects?.some((s) => s.kind === 'ServiceAccount' && s.namespace === NS && s.name === 'ai-qtrd'))).toBe(true);
    const headless = await core.readNamespacedService({ name: 'redis-headless', namespace: NS });
    expect(headless.spec?.clusterIP).toBe('None');
  });

  it('creates, lists with selectors, patches and reports Status errors through client-node', async () => {
    const created = await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'cm-a', labels: { tier: 'x', env: 'prod' } }, data: { k: 'v' } } });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(created.metadata?.resourceVersion)).toBeGreaterThan(0);
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(created.metadata?.namespace).toBe(NS);
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'cm-b', labels: { tier: 'y' } } } });
    const gen = await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { generateName: 'cm-gen-' } } });
    expect(gen.metadata?.name).toMatch(/^cm-gen-[a-z0-9]{5}$/);

    const list = async (labelSelector?: string, fieldSelector?: string): Promise<string[]> =>
      ((await core.listNamespacedConfigMap({ namespace: NS, labelSelector, fieldSelector })).items.map((c) => c.metadata?.name ?? '')).filter((n) => n.startsWith('cm-a') || n.startsWith('cm-b'));
    expect(await list('tier=x')).toEqual(['cm-a']);
    expect(await list('tier!=x')).toEqual(['cm-b']);
    expect(await list('tier in (x,y)')).toEqual(['cm-a', 'cm-b']);
    expect(await list('tier notin (x)')).toEqual(['cm-b']);
    expect(await list('env')).toEqual(['cm-a']);
    expect(await list('!env')).toEqual(['cm-b']);
    expect(await list(undefined, 'metadata.name=cm-b')).toEqual(['cm-b']);
    const listed = await core.listNamespacedConfigMap({ namespace: NS });
    expect(Number(listed.metadata?.resourceVersion)).toBeGreaterThanOrEqual(Number(created.metadata?.resourceVersion));
    const everywhere = await core.listPodForAllNamespaces();
    expect(everywhere.items.length).toBeGreaterThan(0);
    const allDeploys = await apps.listDeploymentForAllNamespaces({ labelSelector: 'app=ai-qtrd-web' });
    expect(allDeploys.items.map((d) => d.metadata?.name)).toEqual(['ai-qtrd-web']);

    const patched = await core.patchNamespacedConfigMap({ name: 'cm-a', namespace: NS, body: { data: { k2: 'v2' }, metadata: { labels: { env: null } } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    expect(patched.data).toEqual({ k: 'v', k2: 'v2' });
    expect(patched.metadata?.labels).toEqual({ tier: 'x' });
    expect(Number(patched.metadata?.resourceVersion)).toBeGreaterThan(Number(created.metadata?.resourceVersion));
    const jsonPatched = await core.patchNamespacedConfigMap({ name: 'cm-a', namespace: NS, body: [{ op: 'replace', path: '/data/k', value: 'v3' }] }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch));
    expect(jsonPatched.data?.k).toBe('v3');

    // Optimistic concurrency: a stale resourceVersion is a 409 Conflict.
    const stale = await apiError(core.replaceNamespacedConfigMap({ name: 'cm-a', namespace: NS, body: { ...created, data: { k: 'lost' } } }));
    expect(stale.code).toBe(409);
    expect(stale.status).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Conflict', code: 409 });
    const fresh = await core.readNamespacedConfigMap({ name: 'cm-a', namespace: NS });
    const replaced = await core.replaceNamespacedConfigMap({ name: 'cm-a', namespace: NS, body: { ...fresh, data: { only: 'this' } } });
    expect(replaced.data).toEqual({ only: 'this' });

    const dup = await apiError(core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'cm-a' } } }));
    expect(dup).toMatchObject({ code: 409, status: { reason: 'AlreadyExists', message: 'configmaps "cm-a" already exists', details: { name: 'cm-a', kind: 'configmaps' } } });
    const missing = await apiError(core.readNamespacedConfigMap({ name: 'nope', namespace: NS }));
    expect(missing).toMatchObject({ code: 404, status: { reason: 'NotFound', message: 'configmaps "nope" not found', details: { name: 'nope', kind: 'configmaps' } } });
    const noNs = await apiError(core.createNamespacedConfigMap({ namespace: 'no-such-ns', body: { metadata: { name: 'x' } } }));
    expect(noNs).toMatchObject({ code: 404, status: { reason: 'NotFound', message: 'namespaces "no-such-ns" not found' } });
    const badName = await apiError(core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'Bad_Name' } } }));
    expect(badName).toMatchObject({ code: 422, status: { reason: 'Invalid' } });
    expect(badName.status.message).toContain('metadata.name: Invalid value: "Bad_Name"');
    const noName = await apiError(core.createNamespacedConfigMap({ namespace: NS, body: { metadata: {} } }));
    expect(noName).toMatchObject({ code: 422, status: { reason: 'Invalid' } });
    expect(noName.status.message).toContain('name or generateName is required');

    const raw = (method: string, path: string, body: string, type = 'application/json'): Promise<Response> => fetch(emu.url + path, { method, body, headers: { 'content-type': type } });
    const badJson = await raw('POST', `/api/v1/namespaces/${NS}/configmaps`, '{not json');
    expect(badJson.status).toBe(400);
    expect(((await badJson.json()) as StatusBody).reason).toBe('BadRequest');
    const wrongNs = await raw('POST', `/api/v1/namespaces/${NS}/configmaps`, JSON.stringify({ metadata: { name: 'x', namespace: 'default' } }));
    expect(wrongNs.status).toBe(400);
    expect(((await wrongNs.json()) as StatusBody).message).toContain('does not match the namespace');
    expect((await raw('PUT', `/api/v1/namespaces/${NS}/configmaps`, '{}')).status).toBe(405);
    expect((await raw('PATCH', `/api/v1/namespaces/${NS}/configmaps/cm-a`, '{}', 'text/plain')).status).toBe(415);
    expect((await raw('POST', `/api/v1/namespaces/${NS}/configmaps?dryRun=Bogus`, '{}')).status).toBe(400);

    const deleted = await core.deleteNamespacedConfigMap({ name: 'cm-b', namespace: NS });
    expect(deleted).toMatchObject({ status: 'Success' });
    expect(emu.get('v1', 'ConfigMap', NS, 'cm-b')).toBeUndefined();
  });

  it('supports KubernetesObjectApi, dry runs, strategic merge and server-side apply', async () => {
    const body = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'generic', namespace: NS }, spec: { selector: { matchLabels: { app: 'generic' } }, template: { metadata: { labels: { app: 'generic' } }, spec: { containers: [{ name: 'main', image: 'busybox:1.36', env: [{ name: 'A', value: '1' }] }] } } } };
    const dry = await objects.create(body, undefined, 'All');
    expect(dry.metadata?.name).toBe('generic');
    expect(emu.get('apps/v1', 'Deployment', NS, 'generic')).toBeUndefined();

    const created = (await objects.create(body)) as k8s.V1Deployment;
    expect(created.metadata?.generation).toBe(1);
    expect(created.spec?.replicas).toBe(1);

    // Strategic merge: containers merge by name, env by name.
    const patched = (await objects.patch(
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'generic', namespace: NS }, spec: { template: { spec: { containers: [{ name: 'main', env: [{ name: 'B', value: '2' }] }] } } } } as k8s.KubernetesObject,
      undefined,
      undefined,
      undefined,
      undefined,
      k8s.PatchStrategy.StrategicMergePatch,
    )) as k8s.V1Deployment;
    const c = patched.spec?.template.spec?.containers[0];
    expect(c?.image).toBe('busybox:1.36');
    expect(c?.env?.map((e) => e.name)).toEqual(['A', 'B']);
    expect(patched.metadata?.generation).toBe(2);

    const dryPatch = (await objects.patch({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'generic', namespace: NS }, spec: { replicas: 5 } } as k8s.KubernetesObject, undefined, 'All', undefined, undefined, k8s.PatchStrategy.MergePatch)) as k8s.V1Deployment;
    expect(dryPatch.spec?.replicas).toBe(5);
    expect(emu.get('apps/v1', 'Deployment', NS, 'generic').spec.replicas).toBe(1);

    // Server-side apply creates or merges.
    const applied = await objects.patch({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa', namespace: NS }, data: { a: '1' } } as k8s.KubernetesObject, undefined, undefined, 'test', true, k8s.PatchStrategy.ServerSideApply);
    expect(applied.metadata?.uid).toBeTruthy();
    await objects.patch({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa', namespace: NS }, data: { b: '2' } } as k8s.KubernetesObject, undefined, undefined, 'test', true, k8s.PatchStrategy.ServerSideApply);
    expect(emu.get('v1', 'ConfigMap', NS, 'ssa').data).toEqual({ a: '1', b: '2' });

    await objects.delete({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'generic', namespace: NS } }, undefined, 'All');
    expect(emu.get('apps/v1', 'Deployment', NS, 'generic')).toBeDefined();
    await objects.delete({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'generic', namespace: NS } });
    expect(emu.get('apps/v1', 'Deployment', NS, 'generic')).toBeUndefined();
  });

  it('allocates Service clusterIPs and nodePorts, rejects in-use IPs and immutable changes', async () => {
    const svc = await core.createNamespacedService({ namespace: NS, body: { metadata: { name: 'svc-a' }, spec: { selector: { app: 'x' }, ports: [{ port: 80 }] } } });
    const ip = svc.spec?.clusterIP ?? '';
    expect(ip).toMatch(/^10\.43\.\d+\.\d+$/);
    expect(svc.spec?.clusterIPs).toEqual([ip]);
    expect(svc.spec?.ports?.[0]).toMatchObject({ port: 80, targetPort: 80, protocol: 'TCP' });

    const headless = await core.createNamespacedService({ namespace: NS, body: { metadata: { name: 'svc-headless' }, spec: { clusterIP: 'None', selector: { app: 'x' }, ports: [{ port: 80 }] } } });
    expect(headless.spec?.clusterIP).toBe('None');

    const taken = await apiError(core.createNamespacedService({ namespace: NS, body: { metadata: { name: 'svc-b' }, spec: { clusterIP: ip, ports: [{ port: 80 }] } } }));
    expect(taken).toMatchObject({ code: 422, status: { reason: 'Invalid' } });
    expect(taken.status.message).toContain('provided IP is already allocated');
    const fixtureIp = await apiError(core.createNamespacedService({ namespace: NS, body: { metadata: { name: 'svc-b' }, spec: { clusterIP: '10.43.120.15', ports: [{ port: 80 }] } } }));
    expect(fixtureIp.code).toBe(422);
    const explicit = await core.createNamespacedService({ namespace: NS, body: { metadata: { name: 'svc-b' }, spec: { clusterIP: '10.43.250.250', ports: [{ port: 80 }] } } });
    expect(explicit.spec?.clusterIP).toBe('10.43.250.250');

    const np = await core.createNamespacedService({ namespace: NS, body: { metadata: { name: 'svc-np' }, spec: { type: 'NodePort', selector: { app: 'x' }, ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81, nodePort: 31234 }] } } });
    const nodePort = np.spec?.ports?.[0]?.nodePort ?? 0;
    expect(nodePort).toBeGreaterThanOrEqual(30000);
    expect(nodePort).toBeLessThanOrEqual(32767);
    expect(np.spec?.ports?.[1]?.nodePort).toBe(31234);
    const dupPort = await apiError(core.createNamespacedService({ namespace: NS, body: { metadata: { name: 'svc-np2' }, spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 31234 }] } } }));
    expect(dupPort.code).toBe(422);
    expect(dupPort.status.message).toContain('provided port is already allocated');

    const current = await core.readNamespacedService({ name: 'svc-a', namespace: NS });
    const changed = await apiError(core.replaceNamespacedService({ name: 'svc-a', namespace: NS, body: { ...current, spec: { ...current.spec, clusterIP: '10.43.251.1', clusterIPs: ['10.43.251.1'] } } }));
    expect(changed).toMatchObject({ code: 422, status: { reason: 'Invalid' } });
    expect(changed.status.message).toContain('field is immutable');
    // Omitting clusterIP on update keeps the allocated one (like the real API server).
    const kept = await core.replaceNamespacedService({ name: 'svc-a', namespace: NS, body: { ...current, spec: { ...current.spec, clusterIP: undefined, clusterIPs: undefined, ports: [{ port: 8080 }] } } });
    expect(kept.spec?.clusterIP).toBe(ip);
  });

  it('rejects Deployment selector changes', async () => {
    const dep = await apps.readNamespacedDeployment({ name: 'ai-qtrd-api', namespace: NS });
    const res = await apiError(
      apps.replaceNamespacedDeployment({
        name: 'ai-qtrd-api',
        namespace: NS,
        body: { ...dep, spec: { ...dep.spec!, selector: { matchLabels: { app: 'other' } }, template: { ...dep.spec!.template, metadata: { labels: { app: 'other' } } } } },
      }),
    );
    expect(res).toMatchObject({ code: 422, status: { reason: 'Invalid' } });
    expect(res.status.message).toContain('spec.selector');
    expect(res.status.message).toContain('field is immutable');
    const mismatch = await apiError(apps.createNamespacedDeployment({ namespace: NS, body: { metadata: { name: 'mismatch' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'c' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } } } }));
    expect(mismatch.code).toBe(422);
  });

  it('makes Deployments ready through ReplicaSets and Pods, fills Endpoints, and honours never-ready', async () => {
    const web = await waitFor('ai-qtrd-web ready', async () => {
      const d = await apps.readNamespacedDeployment({ name: 'ai-qtrd-web', namespace: NS });
      return d.status?.readyReplicas === 1 && d.status.observedGeneration === d.metadata?.generation ? d : undefined;
    });
    expect(web.status).toMatchObject({ replicas: 1, updatedReplicas: 1, availableReplicas: 1 });
    expect(web.status?.conditions?.find((c) => c.type === 'Available')?.status).toBe('True');
    const rs = (await apps.listNamespacedReplicaSet({ namespace: NS, labelSelector: 'app=ai-qtrd-web' })).items;
    expect(rs).toHaveLength(1);
    expect(rs[0]?.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Deployment', name: 'ai-qtrd-web', uid: web.metadata?.uid, controller: true });
    const pods = (await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=ai-qtrd-web' })).items;
    expect(pods).toHaveLength(1);
    expect(pods[0]?.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'ReplicaSet', name: rs[0]?.metadata?.name, controller: true });
    expect(pods[0]?.status?.phase).toBe('Running');
    expect(pods[0]?.spec?.nodeName).toBe('cloud-ubuntu-3-2c2g');

    const redis = await waitFor('redis ready', async () => {
      const s = await apps.readNamespacedStatefulSet({ name: 'redis', namespace: NS });
      return s.status?.readyReplicas === 3 ? s : undefined;
    });
    expect(redis.status?.currentRevision).toMatch(/^redis-/);
    const redisPods = (await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=redis' })).items.map((p) => p.metadata?.name);
    expect(redisPods).toEqual(['redis-0', 'redis-1', 'redis-2']);
    const revisions = (await apps.listNamespacedControllerRevision({ namespace: NS })).items;
    expect(revisions.some((r) => r.metadata?.ownerReferences?.[0]?.uid === redis.metadata?.uid)).toBe(true);

    const ep = await waitFor('redis endpoints', async () => {
      const e = await core.readNamespacedEndpoints({ name: 'redis-service', namespace: NS });
      return e.subsets?.[0]?.addresses?.length === 3 ? e : undefined;
    });
    expect(ep.subsets?.[0]?.ports?.[0]).toMatchObject({ port: 6379, protocol: 'TCP' });
    const slices = await kc.makeApiClient(k8s.DiscoveryV1Api).listNamespacedEndpointSlice({ namespace: NS, labelSelector: 'kubernetes.io/service-name=redis-service' });
    expect(slices.items).toHaveLength(1);
    expect(slices.items[0]?.metadata?.labels?.['endpointslice.kubernetes.io/managed-by']).toBe('endpointslice-controller.k8s.io');
    expect(slices.items[0]?.endpoints).toHaveLength(3);

    // never-ready keeps readyReplicas at 0; removing the annotation lets it become ready.
    await apps.createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name: 'stuck', annotations: { [NEVER_READY_ANNOTATION]: 'true' } },
        spec: { replicas: 2, selector: { matchLabels: { app: 'stuck' } }, template: { metadata: { labels: { app: 'stuck' } }, spec: { containers: [{ name: 'c', image: 'x:1' }] } } },
      },
    });
    await waitFor('stuck pods', async () => ((await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=stuck' })).items.filter((p) => p.status?.phase === 'Running').length === 2 ? true : undefined));
    await new Promise((r) => setTimeout(r, 150));
    const stuck = await apps.readNamespacedDeployment({ name: 'stuck', namespace: NS });
    expect(stuck.status?.readyReplicas ?? 0).toBe(0);
    expect(stuck.status?.replicas).toBe(2);
    expect(stuck.status?.conditions?.find((c) => c.type === 'Available')?.status).toBe('False');
    await apps.patchNamespacedDeployment({ name: 'stuck', namespace: NS, body: { metadata: { annotations: { [NEVER_READY_ANNOTATION]: null } } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await waitFor('stuck becomes ready', async () => ((await apps.readNamespacedDeployment({ name: 'stuck', namespace: NS })).status?.readyReplicas === 2 ? true : undefined));

    // Garbage collection: deleting the Deployment removes its ReplicaSet and Pods.
    await apps.deleteNamespacedDeployment({ name: 'stuck', namespace: NS });
    expect((await apps.listNamespacedReplicaSet({ namespace: NS, labelSelector: 'app=stuck' })).items).toHaveLength(0);
    expect((await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=stuck' })).items).toHaveLength(0);
  });

  it('streams a 50 MiB exec output byte-identically through client-node Exec and reports exit codes', async () => {
    await waitFor('redis-0', () => emu.get('v1', 'Pod', NS, 'redis-0'));
    const exec = new k8s.Exec(kc);
    const run = (command: string[], pod = 'redis-0'): Promise<{ stdout: Buffer; stderr: string; status: k8s.V1Status }> =>
      new Promise((resolve, reject) => {
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        const stdout = new PassThrough();
        const stderr = new PassThrough();
        stdout.on('data', (c: Buffer) => out.push(c));
        stderr.on('data', (c: Buffer) => err.push(c));
        exec
          .exec(NS, pod, 'redis', command, stdout, stderr, null, false, (status) => {
            setImmediate(() => resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8'), status }));
          })
          .catch(reject);
      });

    const big = await run(['cat', bigFile.path]);
    expect(big.status.status).toBe('Success');
    expect(big.stdout.length).toBe(bigFile.size);
    expect(sha256(big.stdout)).toBe(bigFile.sha);

    const failed = await run(['sh', '-c', 'echo oops >&2; exit 7']);
    expect(failed.stderr).toBe('oops\n');
    expect(failed.status).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode' });
    expect(failed.status.details?.causes?.[0]).toMatchObject({ reason: 'ExitCode', message: '7' });

    // Unknown pods / containers are refused before the upgrade (404 / 400).
    await expect(run(['cat', '/etc/hostname'], 'no-such-pod')).rejects.toBeDefined();
    await expect(exec.exec(NS, 'redis-0', 'nope', ['true'], null, null, null, false)).rejects.toBeDefined();
    const upgradeStatus = (pod: string, container: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const u = new URL(`${emu.url}/api/v1/namespaces/${NS}/pods/${pod}/exec?command=true&container=${container}&stdout=true`);
        const req = http.get(u, { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString('base64'), 'sec-websocket-protocol': 'v5.channel.k8s.io' } });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('upgrade', (res, socket) => {
          socket.destroy();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
      });
    expect(await upgradeStatus('no-such-pod', 'redis')).toBe(404);
    expect(await upgradeStatus('redis-0', 'nope')).toBe(400);
    expect(await upgradeStatus('redis-0', 'redis')).toBe(101);
    // A pod the exec handler does not map: the command fails with a Status on channel 3.
    const webPod = (await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=ai-qtrd-web' })).items[0]?.metadata?.name ?? '';
    const unmapped = await new Promise<k8s.V1Status>((resolve, reject) => {
      exec.exec(NS, webPod, 'ai-qtrd-web', ['true'], new PassThrough(), new PassThrough(), null, false, resolve).catch(reject);
    });
    expect(unmapped.status).toBe('Failure');
    expect(unmapped.message).toContain('container not found');
  });

  it('applies backpressure to exec output instead of buffering it', async () => {
    // A fast producer (200 MiB of zeros) and a client that stops reading for a while: the
    // emulator must pause the child instead of queueing the output in memory.
    await waitFor('redis-2', () => emu.get('v1', 'Pod', NS, 'redis-2'));
    const total = 200 * 1024 * 1024;
    const url = `${emu.url.replace('http', 'ws')}/api/v1/namespaces/${NS}/pods/redis-2/exec?container=redis&stdout=true&stderr=true&command=head&command=-c&command=${total}&command=/dev/zero`;
    const ws = new WebSocket(url, ['v5.channel.k8s.io']);
    const before = process.memoryUsage().arrayBuffers;
    let received = 0;
    let status = '';
    const done = new Promise<void>((resolve, reject) => {
      ws.on('message', (data: Buffer) => {
        if (data[0] === 1) received += data.length - 1;
        if (data[0] === 3) status = data.subarray(1).toString('utf8');
      });
      ws.on('close', () => resolve());
      ws.on('error', reject);
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    expect(ws.protocol).toBe('v5.channel.k8s.io');
    const raw = (ws as unknown as { _socket: import('node:net').Socket })._socket;
    raw.pause();
    await new Promise((r) => setTimeout(r, 800));
    const growth = process.memoryUsage().arrayBuffers - before;
    expect(received).toBeLessThan(total / 2);
    expect(growth).toBeLessThan(64 * 1024 * 1024);
    raw.resume();
    await done;
    expect(received).toBe(total);
    expect(JSON.parse(status)).toMatchObject({ status: 'Success' });
  });

  it('speaks the older v4 and channel.k8s.io exec protocols', async () => {
    await waitFor('redis-0', () => emu.get('v1', 'Pod', NS, 'redis-0'));
    const frames = (protocol: string, command: string[]): Promise<{ protocol: string; frames: Buffer[] }> =>
      new Promise((resolve, reject) => {
        const q = command.map((c) => `command=${encodeURIComponent(c)}`).join('&');
        const ws = new WebSocket(`${emu.url.replace('http', 'ws')}/api/v1/namespaces/${NS}/pods/redis-0/exec?container=redis&stdout=true&stderr=true&${q}`, [protocol]);
        const got: Buffer[] = [];
        ws.on('message', (d: Buffer) => got.push(d));
        ws.on('close', () => resolve({ protocol: ws.protocol, frames: got }));
        ws.on('error', reject);
      });
    const v4 = await frames('v4.channel.k8s.io', ['sh', '-c', 'printf hi; exit 2']);
    expect(v4.protocol).toBe('v4.channel.k8s.io');
    expect(Buffer.concat(v4.frames.filter((f) => f[0] === 1).map((f) => f.subarray(1))).toString()).toBe('hi');
    const status = v4.frames.find((f) => f[0] === 3);
    expect(JSON.parse(status!.subarray(1).toString())).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '2' }] } });
    const v1 = await frames('channel.k8s.io', ['sh', '-c', 'printf ok']);
    expect(v1.protocol).toBe('channel.k8s.io');
    expect(v1.frames.filter((f) => f[0] === 3)).toEqual([]);
    expect(Buffer.concat(v1.frames.filter((f) => f[0] === 1).map((f) => f.subarray(1))).toString()).toBe('ok');
  });

  it('streams watch events to client-node', async () => {
    const events: string[] = [];
    const req = await new k8s.Watch(kc).watch(
      `/api/v1/namespaces/${NS}/configmaps`,
      { labelSelector: 'watched=yes' },
      (type: string, obj: k8s.V1ConfigMap) => events.push(`${type} ${obj.metadata?.name ?? ''} ${obj.data?.v ?? ''}`),
      () => undefined,
    );
    try {
      await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'w1', labels: { watched: 'yes' } }, data: { v: '1' } } });
      await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'w2' }, data: { v: 'unlabelled' } } });
      await core.patchNamespacedConfigMap({ name: 'w1', namespace: NS, body: { data: { v: '2' } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
      await core.deleteNamespacedConfigMap({ name: 'w1', namespace: NS });
      await waitFor('watch events', () => (events.length >= 3 ? true : undefined));
      expect(events).toEqual(['ADDED w1 1', 'MODIFIED w1 2', 'DELETED w1 2']);
    } finally {
      req.abort();
    }
  });

  it('proxies service requests to a local server and answers 503 when unmapped', async () => {
    const base = `${emu.url}/api/v1/namespaces/${NS}/services`;
    const r1 = await fetch(`${base}/ai-qtrd-web:3000/proxy/api/health?deep=1`);
    expect(r1.status).toBe(200);
    expect(r1.headers.get('x-upstream')).toBe('yes');
    expect(await r1.json()).toEqual({ method: 'GET', url: '/api/health?deep=1', body: '' });
    const r2 = await fetch(`${base}/http:ai-qtrd-web:http/proxy/submit`, { method: 'POST', body: 'payload' });
    expect(await r2.json()).toEqual({ method: 'POST', url: '/submit', body: 'payload' });
    const r3 = await fetch(`${base}/ai-qtrd-web/proxy/missing`);
    expect(r3.status).toBe(404);
    const viaClient: unknown = await core.connectGetNamespacedServiceProxyWithPath({ name: 'ai-qtrd-web:3000', namespace: NS, path: 'api/health' });
    expect(typeof viaClient === 'string' ? JSON.parse(viaClient) : viaClient).toMatchObject({ url: '/api/health' });

    const unmapped = await fetch(`${base}/ai-qtrd-api:8000/proxy/health`);
    expect(unmapped.status).toBe(503);
    expect(await unmapped.json()).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable', code: 503, message: 'no endpoints available for service "ai-qtrd-api"' });
    expect((await fetch(`${base}/nope:80/proxy/`)).status).toBe(404);
  });

  it('adds and removes CRDs in discovery and deletes their objects', async () => {
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    const crd = await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: 'widgets.example.com' },
        spec: {
          group: 'example.com',
          scope: 'Namespaced',
          names: { plural: 'widgets', singular: 'widget', kind: 'Widget', shortNames: ['wg'] },
          versions: [
            { name: 'v1beta1', served: true, storage: false, schema: { openAPIV3Schema: { type: 'object' } } },
            { name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object' } } },
          ],
        },
      },
    });
    expect(crd.status?.conditions?.find((c) => c.type === 'Established')?.status).toBe('True');
    expect(crd.status?.conditions?.find((c) => c.type === 'NamesAccepted')?.status).toBe('True');
    expect(crd.status?.acceptedNames?.kind).toBe('Widget');
    const groups = (await (await fetch(`${emu.url}/apis`)).json()) as { groups: Array<{ name: string; preferredVersion: { version: string }; versions: Array<{ version: string }> }> };
    const g = groups.groups.find((x) => x.name === 'example.com');
    expect(g?.preferredVersion.version).toBe('v1');
    expect(g?.versions.map((v) => v.version)).toEqual(['v1', 'v1beta1']);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    await custom.createNamespacedCustomObject({ group: 'example.com', version: 'v1', namespace: NS, plural: 'widgets', body: { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3 } } });
    const w = (await custom.getNamespacedCustomObject({ group: 'example.com', version: 'v1beta1', namespace: NS, plural: 'widgets', name: 'w1' })) as { apiVersion: string; metadata: { generation: number } };
    expect(w.apiVersion).toBe('example.com/v1beta1');
    expect(w.metadata.generation).toBe(1);

    await ext.deleteCustomResourceDefinition({ name: 'widgets.example.com' });
    expect((await fetch(`${emu.url}/apis/example.com/v1`)).status).toBe(404);
    expect(emu.objects().some((o) => o.kind === 'Widget')).toBe(false);
    const bad = await apiError(ext.createCustomResourceDefinition({ body: { metadata: { name: 'wrong.example.com' }, spec: { group: 'example.com', scope: 'Namespaced', names: { plural: 'gadgets', kind: 'Gadget' }, versions: [{ name: 'v1', served: true, storage: true }] } } }));
    expect(bad.code).toBe(422);
  });

  it('deletes everything in a namespace with it', async () => {
    await core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    await core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'c' } } });
    await apps.createNamespacedDeployment({ namespace: 'doomed', body: { metadata: { name: 'd' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x:1' }] } } } } });
    await waitFor('doomed pod', () => emu.objects().find((o) => o.kind === 'Pod' && o.metadata.namespace === 'doomed'));
    await core.deleteNamespace({ name: 'doomed' });
    expect(emu.objects().filter((o) => o.metadata.namespace === 'doomed')).toEqual([]);
    expect((await apiError(core.readNamespace({ name: 'doomed' }))).code).toBe(404);
    expect((await core.listNamespacedConfigMap({ namespace: 'doomed' })).items).toEqual([]);
  });

  it('honours readyDelayMs with the empty fixture', async () => {
    const e2 = await startKubeEmulator({ fixture: 'empty', readyDelayMs: 400, reconcileIntervalMs: 20 });
    try {
      const api2 = e2.kubeConfig().makeApiClient(k8s.AppsV1Api);
      expect(e2.objects().some((o) => o.metadata.namespace === NS)).toBe(false);
      const started = Date.now();
      await api2.createNamespacedDeployment({ namespace: 'default', body: { metadata: { name: 'slow' }, spec: { selector: { matchLabels: { a: 'slow' } }, template: { metadata: { labels: { a: 'slow' } }, spec: { containers: [{ name: 'c', image: 'x:1' }] } } } } });
      await new Promise((r) => setTimeout(r, 150));
      expect(e2.get('apps/v1', 'Deployment', 'default', 'slow').status?.readyReplicas).toBeUndefined();
      await waitFor('slow ready', () => (e2.get('apps/v1', 'Deployment', 'default', 'slow').status?.readyReplicas === 1 ? true : undefined));
      expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    } finally {
      await e2.stop();
    }
  });

  describe.skipIf(!hasKubectl)('with the real kubectl (skipped when kubectl is not installed)', () => {
    let env: NodeJS.ProcessEnv;
    const kubectl = (args: string[]): Promise<{ code: number; stdout: string; raw: Buffer; stderr: string }> =>
      new Promise((resolve) => {
        execFile(KUBECTL, args, { env, maxBuffer: 64 * 1024 * 1024, encoding: 'buffer' }, (err, stdout, stderr) => {
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: stdout.toString('utf8'), raw: stdout, stderr: stderr.toString('utf8') });
        });
      });

    beforeAll(async () => {
      const home = join(tmp, 'home');
      await mkdir(home, { recursive: true });
      const file = join(tmp, 'kubeconfig.yaml');
      await emu.writeKubeconfig(file, NS);
      env = { ...process.env, KUBECONFIG: file, HOME: home };
    });

    it('lists the namespace with `get all,configmap,secret,ingressroute -o json`', async () => {
      await waitFor('redis pods', () => (emu.objects().filter((o) => o.kind === 'Pod' && o.metadata.name?.startsWith('redis-')).length === 3 ? true : undefined));
      const r = await kubectl(['get', 'all,configmap,secret,ingressroute', '-n', NS, '-o', 'json']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const list = JSON.parse(r.stdout) as { kind: string; items: Array<{ kind: string; metadata: { name: string } }> };
      expect(list.kind).toBe('List');
      const kinds = new Set(list.items.map((i) => i.kind));
      for (const k of ['Pod', 'Service', 'Deployment', 'StatefulSet', 'ReplicaSet', 'ConfigMap', 'Secret', 'IngressRoute']) expect(kinds).toContain(k);
      expect(list.items.find((i) => i.kind === 'IngressRoute')?.metadata.name).toBe('ai-qtrd');
      const table = await kubectl(['get', 'deploy,sts,svc', '-n', NS]);
      expect(table.stdout).toMatch(/deployment\.apps\/ai-qtrd-web\s+1\/1/);
      expect(table.stdout).toMatch(/service\/redis-headless\s+ClusterIP\s+None/);
    });

    it('applies a manifest (create, then update), deletes it, and server-side dry-runs', async () => {
      const dir = join(tmp, 'apply');
      await mkdir(dir, { recursive: true });
      const manifest = (value: string, replicas: number): string => `apiVersion: v1
kind: ConfigMap
metadata:
  name: applied
  namespace: ${NS}
data:
  value: "${value}"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: applied
  namespace: ${NS}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: applied}}
  template:
    metadata: {labels: {app: applied}}
    spec:
      containers:
      - name: c
        image: busybox:1.36
        env: [{name: A, value: "1"}, {name: B, value: "${value}"}]
`;
      await writeFile(join(dir, 'm.yaml'), manifest('one', 1));
      const first = await kubectl(['apply', '-f', join(dir, 'm.yaml')]);
      expect(first.stderr).toBe('');
      expect(first.stdout).toContain('configmap/applied created');
      expect(first.stdout).toContain('deployment.apps/applied created');
      await writeFile(join(dir, 'm.yaml'), manifest('two', 2));
      const second = await kubectl(['apply', '-f', join(dir, 'm.yaml')]);
      expect(second.stdout).toContain('configmap/applied configured');
      expect(second.stdout).toContain('deployment.apps/applied configured');
      expect(emu.get('v1', 'ConfigMap', NS, 'applied').data).toEqual({ value: 'two' });
      const dep = emu.get('apps/v1', 'Deployment', NS, 'applied');
      expect(dep.spec.replicas).toBe(2);
      expect(dep.spec.template.spec.containers[0].env).toEqual([{ name: 'A', value: '1' }, { name: 'B', value: 'two' }]);
      expect((await kubectl(['apply', '-f', join(dir, 'm.yaml')])).stdout).toContain('configmap/applied unchanged');
      const rollout = await kubectl(['rollout', 'status', 'deployment/applied', '-n', NS, '--timeout=20s']);
      expect(rollout.stdout).toContain('successfully rolled out');

      const del = await kubectl(['delete', '-f', join(dir, 'm.yaml')]);
      expect(del.code).toBe(0);
      expect(del.stdout).toContain('configmap "applied" deleted');
      expect(emu.get('v1', 'ConfigMap', NS, 'applied')).toBeUndefined();
      expect(emu.get('apps/v1', 'Deployment', NS, 'applied')).toBeUndefined();

      const dry = await kubectl(['create', '-f', join(dir, 'm.yaml'), '--dry-run=server', '-o', 'name']);
      expect(dry.code).toBe(0);
      expect(dry.stdout).toContain('configmap/applied');
      const dryGen = await kubectl(['create', 'configmap', 'dry-cm', '-n', NS, '--from-literal=a=b', '--dry-run=server', '-o', 'json']);
      expect(dryGen.code).toBe(0);
      expect(JSON.parse(dryGen.stdout)).toMatchObject({ kind: 'ConfigMap', data: { a: 'b' } });
      expect(emu.get('v1', 'ConfigMap', NS, 'applied')).toBeUndefined();
      expect(emu.get('v1', 'ConfigMap', NS, 'dry-cm')).toBeUndefined();
    });

    it('applies a kustomization with a CronJob', async () => {
      const dir = join(tmp, 'kustomize');
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'kustomization.yaml'), `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: ${NS}\nlabels:\n- pairs: {app.kubernetes.io/part-of: gushen-dr}\nresources: [cronjob.yaml]\n`);
      await writeFile(
        join(dir, 'cronjob.yaml'),
        `apiVersion: batch/v1
kind: CronJob
metadata:
  name: gushen-backup
spec:
  schedule: "0 3 * * *"
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: backup
            image: gushen-dr:latest
            args: ["backup", "--config", "/etc/gushen-dr/config.yaml"]
`,
      );
      const r = await kubectl(['apply', '-k', dir]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('cronjob.batch/gushen-backup created');
      const cj = emu.get('batch/v1', 'CronJob', NS, 'gushen-backup');
      expect(cj.spec.schedule).toBe('0 3 * * *');
      expect(cj.metadata.labels['app.kubernetes.io/part-of']).toBe('gushen-dr');
      expect((await kubectl(['apply', '-k', dir])).stdout).toContain('cronjob.batch/gushen-backup unchanged');
      expect((await kubectl(['delete', 'cronjob', 'gushen-backup', '-n', NS])).code).toBe(0);
      expect(emu.get('batch/v1', 'CronJob', NS, 'gushen-backup')).toBeUndefined();
    });

    it('execs into a pod over WebSocket', async () => {
      const r = await kubectl(['exec', 'redis-0', '-n', NS, '--', 'cat', '/data/hostname']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('redis-0\n');
      const big = await kubectl(['exec', 'redis-1', '-n', NS, '-c', 'redis', '--', 'cat', bigFile.path]);
      expect(big.code).toBe(0);
      expect(big.raw.length).toBe(bigFile.size);
      expect(sha256(big.raw)).toBe(bigFile.sha);
      const fail = await kubectl(['exec', 'redis-0', '-n', NS, '--', 'sh', '-c', 'exit 3']);
      expect(fail.code).toBe(3);
      expect(fail.stderr).toContain('command terminated with exit code 3');
    });
  });

  it.skipIf(hasKubectl)('notes that the kubectl tests were skipped (kubectl is not installed)', () => {
    console.warn(`kubectl not found (${KUBECTL}): skipping the kubectl compatibility tests`);
  });
});
