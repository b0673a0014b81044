/**
 * The kube emulator's opt-in RBAC mode (`startKubeEmulator({ rbac: true })`): bearer-token
 * authentication, the RBAC authorizer, impersonation, access reviews, the audit log and
 * unusedRules — over raw HTTPS, and with the real kubectl when installed (including the repo's
 * own backup RBAC rendered from k8s/cronjobs).
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { OutgoingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import WebSocket from 'ws';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forbidden, requestAttributes, resourceAttributes, nonResourceAttributes, type Attributes } from '../support/kube-emulator/attributes.js';
import { GUSHEN_FIXTURE_SA_TOKEN } from '../support/kube-emulator/fixtures/gushen.js';
import { ADMIN_TOKEN, localExecHandler, startKubeEmulator, unusedRules, type AuditEntry, type KubeEmulator } from '../support/kube-emulator/index.js';
import { ruleAllows, type PolicyRule } from '../support/kube-emulator/rbac.js';

const NS = 'ai-qtrd';
const RBAC = 'rbac.authorization.k8s.io/v1';
const TESTER = `system:serviceaccount:${NS}:tester`;
const SA_GROUPS = ['system:serviceaccounts', `system:serviceaccounts:${NS}`, 'system:authenticated'];

const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const hasKubectl = spawnSync(KUBECTL, ['version', '--client'], { stdio: 'ignore' }).status === 0;

async function waitFor(what: string, ok: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Reply {
  code: number;
  body: any;
}

const USER = { username: 'u', groups: ['system:authenticated'] };

describe('request attributes (like the apiserver RequestInfoFactory)', () => {
  const cases: Array<{ method: string; path: string; want: Partial<Attributes> }> = [
    { method: 'GET', path: '/api/v1/namespaces/ns/pods', want: { verb: 'list', resource: 'pods', namespace: 'ns', name: '' } },
    { method: 'GET', path: '/api/v1/namespaces/ns/pods?watch=true', want: { verb: 'watch', resource: 'pods' } },
    { method: 'GET', path: '/api/v1/namespaces/ns/pods?watch=false', want: { verb: 'list' } },
    { method: 'GET', path: '/api/v1/watch/namespaces/ns/pods', want: { verb: 'watch', resource: 'pods', namespace: 'ns' } },
    { method: 'GET', path: '/api/v1/namespaces/ns/pods/p1', want: { verb: 'get', name: 'p1' } },
    { method: 'HEAD', path: '/api/v1/namespaces/ns/pods/p1', want: { verb: 'get', name: 'p1' } },
    { method: 'GET', path: '/api/v1/namespaces/ns/secrets?fieldSelector=metadata.name%3Ds1', want: { verb: 'list', resource: 'secrets', name: 's1' } },
    { method: 'GET', path: '/api/v1/namespaces/ns/secrets?fieldSelector=type%3Dopaque,metadata.name%3D%3Ds1&watch=1', want: { verb: 'watch', name: 's1' } },
    { method: 'POST', path: '/api/v1/namespaces/ns/configmaps', want: { verb: 'create', name: '' } },
    { method: 'PUT', path: '/api/v1/namespaces/ns/configmaps/c', want: { verb: 'update', name: 'c' } },
    { method: 'PATCH', path: '/apis/apps/v1/namespaces/ns/deployments/d', want: { verb: 'patch', apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', name: 'd' } },
    { method: 'DELETE', path: '/api/v1/namespaces/ns/configmaps/c', want: { verb: 'delete', name: 'c' } },
    { method: 'DELETE', path: '/api/v1/namespaces/ns/configmaps', want: { verb: 'deletecollection' } },
    { method: 'GET', path: '/api/v1/namespaces/ns/pods/redis-0/exec?command=ls', want: { verb: 'get', resource: 'pods', subresource: 'exec', name: 'redis-0' } },
    { method: 'POST', path: '/api/v1/namespaces/ns/pods/redis-0/exec', want: { verb: 'create', subresource: 'exec' } },
    { method: 'GET', path: '/api/v1/namespaces/ns/services/web:http/proxy/metrics', want: { verb: 'get', resource: 'services', subresource: 'proxy', name: 'web:http' } },
    { method: 'PUT', path: '/apis/apps/v1/namespaces/ns/deployments/d/scale', want: { verb: 'update', subresource: 'scale' } },
    { method: 'GET', path: '/api/v1/namespaces/ns', want: { verb: 'get', resource: 'namespaces', name: 'ns', namespace: 'ns' } },
    { method: 'PUT', path: '/api/v1/namespaces/ns/finalize', want: { verb: 'update', resource: 'namespaces', name: 'ns', subresource: 'finalize' } },
    { method: 'GET', path: '/api/v1/nodes', want: { verb: 'list', resource: 'nodes', namespace: '' } },
    { method: 'GET', path: '/api', want: { resourceRequest: false, verb: 'get', path: '/api' } },
    { method: 'GET', path: '/api/v1', want: { resourceRequest: false, path: '/api/v1' } },
    { method: 'GET', path: '/apis/apps/v1', want: { resourceRequest: false, path: '/apis/apps/v1' } },
    { method: 'GET', path: '/openapi/v3/apis/apps/v1?hash=1', want: { resourceRequest: false, path: '/openapi/v3/apis/apps/v1' } },
    { method: 'POST', path: '/healthz', want: { resourceRequest: false, verb: 'post', path: '/healthz' } },
  ];
  it.each(cases)('$method $path', ({ method, path, want }) => {
    const a = requestAttributes(USER, method, new URL(path, 'https://x'));
    expect(a).toMatchObject({ resourceRequest: true, ...want });
  });
});

describe('rule matching (rbac RuleAllows)', () => {
  const pods = (verb: string, extra: Partial<Parameters<typeof resourceAttributes>[2]> = {}): Attributes => resourceAttributes(USER, verb, { resource: 'pods', namespace: 'ns', ...extra });
  const cases: Array<{ what: string; rule: PolicyRule; a: Attributes; allowed: boolean }> = [
    { what: 'verb listed', rule: { verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] }, a: pods('list'), allowed: true },
    { what: 'verb not listed', rule: { verbs: ['get'], apiGroups: [''], resources: ['pods'] }, a: pods('watch'), allowed: false },
    { what: 'verb *', rule: { verbs: ['*'], apiGroups: [''], resources: ['pods'] }, a: pods('deletecollection'), allowed: true },
    { what: 'other API group', rule: { verbs: ['*'], apiGroups: ['apps'], resources: ['pods'] }, a: pods('get'), allowed: false },
    { what: 'apiGroups *', rule: { verbs: ['get'], apiGroups: ['*'], resources: ['deployments'] }, a: resourceAttributes(USER, 'get', { group: 'apps', resource: 'deployments' }), allowed: true },
    { what: 'resources * includes subresources', rule: { verbs: ['create'], apiGroups: [''], resources: ['*'] }, a: pods('create', { subresource: 'exec', name: 'p' }), allowed: true },
    { what: 'pods does not grant pods/exec', rule: { verbs: ['create'], apiGroups: [''], resources: ['pods'] }, a: pods('create', { subresource: 'exec', name: 'p' }), allowed: false },
    { what: 'pods/exec does not grant pods', rule: { verbs: ['get'], apiGroups: [''], resources: ['pods/exec'] }, a: pods('get', { name: 'p' }), allowed: false },
    { what: '*/scale', rule: { verbs: ['patch'], apiGroups: ['apps'], resources: ['*/scale'] }, a: resourceAttributes(USER, 'patch', { group: 'apps', resource: 'statefulsets', subresource: 'scale', name: 's' }), allowed: true },
    { what: '*/scale is not */status', rule: { verbs: ['patch'], apiGroups: ['apps'], resources: ['*/scale'] }, a: resourceAttributes(USER, 'patch', { group: 'apps', resource: 'statefulsets', subresource: 'status', name: 's' }), allowed: false },
    { what: 'resourceNames: named get', rule: { verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] }, a: pods('get', { name: 'a' }), allowed: true },
    { what: 'resourceNames: other name', rule: { verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] }, a: pods('get', { name: 'b' }), allowed: false },
    { what: 'resourceNames: list without a name', rule: { verbs: ['list'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] }, a: pods('list'), allowed: false },
    { what: 'resourceNames: create', rule: { verbs: ['create'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] }, a: pods('create'), allowed: false },
    { what: 'nonResourceURLs exact', rule: { verbs: ['get'], nonResourceURLs: ['/version'] }, a: nonResourceAttributes(USER, 'get', '/version'), allowed: true },
    { what: 'nonResourceURLs exact, other path', rule: { verbs: ['get'], nonResourceURLs: ['/version'] }, a: nonResourceAttributes(USER, 'get', '/version/x'), allowed: false },
    { what: 'nonResourceURLs prefix*', rule: { verbs: ['get'], nonResourceURLs: ['/apis/*'] }, a: nonResourceAttributes(USER, 'get', '/apis/apps/v1'), allowed: true },
    { what: 'nonResourceURLs prefix* needs the slash', rule: { verbs: ['get'], nonResourceURLs: ['/apis/*'] }, a: nonResourceAttributes(USER, 'get', '/apis'), allowed: false },
    { what: 'nonResourceURLs *', rule: { verbs: ['*'], nonResourceURLs: ['*'] }, a: nonResourceAttributes(USER, 'post', '/anything'), allowed: true },
    { what: 'resource rule never matches a path', rule: { verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, a: nonResourceAttributes(USER, 'get', '/version'), allowed: false },
  ];
  it.each(cases)('$what', ({ rule, a, allowed }) => {
    expect(ruleAllows(a, rule)).toBe(allowed);
  });
});

describe('403 messages (apiserver forbiddenMessage + NewForbidden)', () => {
  const sa = { username: TESTER, groups: SA_GROUPS };
  const cases: Array<{ what: string; a: Attributes; reason?: string; message: string }> = [
    { what: 'namespaced list', a: resourceAttributes(sa, 'list', { resource: 'secrets', namespace: NS }), message: `secrets is forbidden: User "${TESTER}" cannot list resource "secrets" in API group "" in the namespace "ai-qtrd"` },
    { what: 'named get in a group', a: resourceAttributes(sa, 'get', { group: 'apps', resource: 'deployments', namespace: NS, name: 'web' }), message: `deployments.apps "web" is forbidden: User "${TESTER}" cannot get resource "deployments" in API group "apps" in the namespace "ai-qtrd"` },
    { what: 'cluster scope', a: resourceAttributes(sa, 'list', { resource: 'nodes' }), message: `nodes is forbidden: User "${TESTER}" cannot list resource "nodes" in API group "" at the cluster scope` },
    { what: 'subresource', a: resourceAttributes(sa, 'create', { resource: 'pods', subresource: 'exec', namespace: NS, name: 'redis-1' }), message: `pods "redis-1" is forbidden: User "${TESTER}" cannot create resource "pods/exec" in API group "" in the namespace "ai-qtrd"` },
    { what: 'non-resource', a: nonResourceAttributes(sa, 'get', '/metrics'), message: `forbidden: User "${TESTER}" cannot get path "/metrics"` },
    { what: 'with the authorizer reason', a: resourceAttributes(sa, 'list', { resource: 'pods', namespace: NS }), reason: 'RBAC: role.rbac.authorization.k8s.io "gone" not found', message: `pods is forbidden: User "${TESTER}" cannot list resource "pods" in API group "" in the namespace "ai-qtrd": RBAC: role.rbac.authorization.k8s.io "gone" not found` },
  ];
  it.each(cases)('$what', ({ a, reason, message }) => {
    const s = forbidden(a, reason).toStatus();
    expect(s).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403, message });
  });
});

describe('kube emulator with rbac: true', () => {
  let emu: KubeEmulator;
  let tmp: string;
  let auditFile: string;
  const tokens: Record<string, string> = {};

  /** One HTTPS request, verifying the emulator's certificate. */
  function call(method: string, path: string, token: string | undefined, opts: { body?: unknown; headers?: OutgoingHttpHeaders; contentType?: string } = {}): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const headers: OutgoingHttpHeaders = { accept: 'application/json', ...opts.headers };
      if (token) headers.authorization = `Bearer ${token}`;
      const data = opts.body === undefined ? undefined : JSON.stringify(opts.body);
      if (data !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
      const req = https.request(new URL(path, emu.url), { method, headers, ca: emu.ca }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // plain text (healthz)
          }
          resolve({ code: res.statusCode ?? 0, body });
        });
      });
      req.on('error', reject);
      req.end(data);
    });
  }

  const admin = (method: string, path: string, body?: unknown): Promise<Reply> => call(method, path, ADMIN_TOKEN, { body });

  async function create(path: string, body: Record<string, unknown>): Promise<void> {
    const r = await admin('POST', path, body);
    if (r.code !== 201) throw new Error(`create ${path}: ${r.code} ${JSON.stringify(r.body)}`);
  }

  const role = (name: string, rules: unknown[], namespace = NS): Record<string, unknown> => ({ apiVersion: RBAC, kind: 'Role', metadata: { name, namespace }, rules });
  const binding = (kind: 'RoleBinding' | 'ClusterRoleBinding', name: string, roleKind: string, roleName: string, subjects: unknown[], namespace?: string): Record<string, unknown> => ({
    apiVersion: RBAC,
    kind,
    metadata: namespace ? { name, namespace } : { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: roleKind, name: roleName },
    subjects,
  });

  /** Rules of the tester's Role, one per feature (index = rule index). */
  const TESTER_RULES = [
    { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] },
    { apiGroups: [''], resources: ['secrets'], resourceNames: ['ai-qtrd-secrets'], verbs: ['get', 'list', 'update', 'create', 'delete', 'deletecollection'] },
    { apiGroups: [''], resources: ['pods/exec'], resourceNames: ['redis-0'], verbs: ['create', 'get'] },
    { apiGroups: [''], resources: ['services/proxy'], verbs: ['get'] },
    { apiGroups: ['apps'], resources: ['deployments/scale'], verbs: ['get'] },
    { apiGroups: ['apps'], resources: ['*/scale'], verbs: ['patch'] },
    { apiGroups: [''], resources: ['events'], verbs: ['list'] },
  ];

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'kube-emulator-rbac-'));
    auditFile = join(tmp, 'audit.jsonl');
    emu = await startKubeEmulator({ rbac: true, auditLogFile: auditFile, execHandler: localExecHandler() });
    const sa = (name: string): Promise<void> => create(`/api/v1/namespaces/${NS}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } });
    for (const name of ['tester', 'orphan', 'getonly']) await sa(name);
    await create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles`, role('tester-verbs', TESTER_RULES));
    // The ServiceAccount subject has no namespace: it defaults to the RoleBinding's.
    await create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`, binding('RoleBinding', 'tester-verbs', 'Role', 'tester-verbs', [{ kind: 'ServiceAccount', name: 'tester' }], NS));
    await create('/apis/rbac.authorization.k8s.io/v1/clusterroles', { apiVersion: RBAC, kind: 'ClusterRole', metadata: { name: 'svc-reader' }, rules: [{ apiGroups: [''], resources: ['services'], verbs: ['get', 'list'] }] });
    await create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } });
    await create('/apis/rbac.authorization.k8s.io/v1/namespaces/other/rolebindings', binding('RoleBinding', 'tester-svc', 'ClusterRole', 'svc-reader', [{ kind: 'ServiceAccount', name: 'tester', namespace: NS }], 'other'));
    await create('/apis/rbac.authorization.k8s.io/v1/clusterroles', { apiVersion: RBAC, kind: 'ClusterRole', metadata: { name: 'metrics-reader' }, rules: [{ nonResourceURLs: ['/metrics', '/logs/*'], verbs: ['get'] }] });
    await create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', binding('ClusterRoleBinding', 'alice-metrics', 'ClusterRole', 'metrics-reader', [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice' }]));
    await create('/apis/rbac.authorization.k8s.io/v1/clusterroles', { apiVersion: RBAC, kind: 'ClusterRole', metadata: { name: 'node-lister' }, rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['list'] }] });
    await create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', binding('ClusterRoleBinding', 'qa-nodes', 'ClusterRole', 'node-lister', [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'qa' }]));
    await create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`, binding('RoleBinding', 'orphan', 'Role', 'does-not-exist', [{ kind: 'ServiceAccount', name: 'orphan', namespace: NS }], NS));
    await create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles`, role('exec-get-only', [{ apiGroups: [''], resources: ['pods/exec'], verbs: ['get'] }]));
    await create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`, binding('RoleBinding', 'getonly', 'Role', 'exec-get-only', [{ kind: 'ServiceAccount', name: 'getonly', namespace: NS }], NS));
    tokens.tester = emu.serviceAccountToken(NS, 'tester');
    tokens.orphan = emu.serviceAccountToken(NS, 'orphan');
    tokens.getonly = emu.serviceAccountToken(NS, 'getonly');
    tokens.alice = emu.userToken('alice', ['qa']);
    tokens.bob = emu.userToken('bob');
    tokens.admin = ADMIN_TOKEN;
    await waitFor('redis-0', () => emu.get('v1', 'Pod', NS, 'redis-0') !== undefined);
  });

  afterAll(async () => {
    await emu?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('serves HTTPS with its own CA and exposes the RBAC handle', () => {
    expect(emu.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(emu.rbac).toBe(true);
    expect(emu.ca).toContain('BEGIN CERTIFICATE');
    for (const name of ['system:discovery', 'system:basic-user', 'system:public-info-viewer']) {
      expect(emu.get(RBAC, 'ClusterRole', undefined, name)?.metadata.labels).toEqual({ 'kubernetes.io/bootstrapping': 'rbac-defaults' });
      expect(emu.get(RBAC, 'ClusterRoleBinding', undefined, name)?.subjects[0]).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' });
    }
  });

  describe('authentication', () => {
    const UNAUTHORIZED = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 };

    it.each([
      { what: 'no token', token: undefined },
      { what: 'an unknown token', token: 'not-a-token' },
      { what: 'a forged ServiceAccount token', token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln' },
    ])('answers 401 to $what, like the real API server', async ({ token }) => {
      for (const path of ['/api/v1/namespaces/ai-qtrd/pods', '/api', '/healthz']) {
        const r = await call('GET', path, token);
        expect(r.code).toBe(401);
        expect(r.body).toEqual(UNAUTHORIZED);
      }
    });

    const whoami = async (token: string, headers?: OutgoingHttpHeaders): Promise<Reply> =>
      call('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', token, { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }, headers });

    it('authenticates the admin, ServiceAccount and user tokens as their identities', async () => {
      expect((await whoami(ADMIN_TOKEN)).body.status.userInfo).toEqual({ username: 'emulator-admin', groups: ['system:masters', 'system:authenticated'] });
      const sa = (await whoami(tokens.tester!)).body.status.userInfo;
      expect(sa).toMatchObject({ username: TESTER, groups: SA_GROUPS, uid: emu.get('v1', 'ServiceAccount', NS, 'tester').metadata.uid });
      expect(sa.extra['authentication.kubernetes.io/credential-id'][0]).toMatch(/^JTI=/);
      expect((await whoami(tokens.alice!)).body.status.userInfo).toEqual({ username: 'alice', groups: ['qa', 'system:authenticated'] });
    });

    it('accepts a legacy ServiceAccount token Secret (the fixture has one for ai-qtrd)', async () => {
      const r = await whoami(GUSHEN_FIXTURE_SA_TOKEN);
      expect(r.body.status.userInfo).toMatchObject({ username: 'system:serviceaccount:ai-qtrd:ai-qtrd', groups: SA_GROUPS });
    });

    it('invalidates ServiceAccount tokens when the ServiceAccount is deleted, also after it is recreated', async () => {
      await create(`/api/v1/namespaces/${NS}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'temp' } });
      const token = emu.serviceAccountToken(NS, 'temp');
      expect((await whoami(token)).code).toBe(201);
      expect((await admin('DELETE', `/api/v1/namespaces/${NS}/serviceaccounts/temp`)).code).toBe(200);
      expect((await whoami(token)).code).toBe(401);
      await create(`/api/v1/namespaces/${NS}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'temp' } });
      expect((await whoami(token)).code).toBe(401);
      expect((await whoami(emu.serviceAccountToken(NS, 'temp'))).code).toBe(201);
    });
  });

  describe('authorization of requests', () => {
    const rows: Array<{ who: string; method: string; path: string; allowed: boolean; body?: unknown; contentType?: string }> = [
      // verbs
      { who: 'tester', method: 'GET', path: `/api/v1/namespaces/${NS}/configmaps`, allowed: true },
      { who: 'tester', method: 'GET', path: `/api/v1/namespaces/${NS}/configmaps/ai-qtrd-config`, allowed: true },
      { who: 'tester', method: 'GET', path: `/api/v1/namespaces/${NS}/configmaps?watch=true`, allowed: false },
      { who: 'tester', method: 'DELETE', path: `/api/v1/namespaces/${NS}/configmaps/ai-qtrd-config`, allowed: false },
      // namespace of a Role
      { who: 'tester', method: 'GET', path: '/api/v1/namespaces/kube-system/configmaps', allowed: false },
      { who: 'tester', method: 'GET', path: '/api/v1/configmaps', allowed: false },
      // resourceNames
      { who: 'tester', method: 'GET', path: `/api/v1/namespaces/${NS}/secrets/ai-qtrd-secrets`, allowed: true },
      { who: 'tester', method: 'GET', path: `/api/v1/namespaces/${NS}/secrets/gushen-lurus-cn-tls`, allowed: false },
      { who: 'tester', method: 'GET', path: `/api/v1/namespaces/${NS}/secrets`, allowed: false },
      { who: 'tester', method: 'GET', path: `/api/v1/namespaces/${NS}/secrets?fieldSelector=metadata.name%3Dai-qtrd-secrets`, allowed: true },
      { who: 'tester', method: 'POST', path: `/api/v1/namespaces/${NS}/secrets`, allowed: false, body: { metadata: { name: 'ai-qtrd-secrets' } } },
      { who: 'tester', method: 'DELETE', path: `/api/v1/namespaces/${NS}/secrets`, allowed: false },
      // subresources
      { who: 'tester', method: 'GET', path: `/api/v1/namespaces/${NS}/pods/redis-0/exec?command=true`, allowed: true },
      { who: 'tester', method: 'POST', path: `/api/v1/namespaces/${NS}/pods/redis-0/exec?command=true`, allowed: true },
      { who: 'tester', method: 'POST', path: `/api/v1/namespaces/${NS}/pods/redis-1/exec?command=true`, allowed: false },
      { who: 'tester', method: 'GET', path: `/api/v1/namespaces/${NS}/pods/redis-0`, allowed: false },
      { who: 'tester', method: 'GET', path: `/api/v1/namespaces/${NS}/services/redis-service:redis/proxy/info`, allowed: true },
      { who: 'tester', method: 'POST', path: `/api/v1/namespaces/${NS}/services/redis-service:redis/proxy/info`, allowed: false },
      { who: 'tester', method: 'GET', path: `/api/v1/namespaces/${NS}/services/redis-service`, allowed: false },
      { who: 'tester', method: 'GET', path: `/apis/apps/v1/namespaces/${NS}/deployments/ai-qtrd-web/scale`, allowed: true },
      { who: 'tester', method: 'PUT', path: `/apis/apps/v1/namespaces/${NS}/deployments/ai-qtrd-web/scale`, allowed: false, body: {} },
      { who: 'tester', method: 'PATCH', path: `/apis/apps/v1/namespaces/${NS}/statefulsets/redis/scale`, allowed: true, body: { spec: { replicas: 3 } }, contentType: 'application/merge-patch+json' },
      { who: 'tester', method: 'GET', path: `/apis/apps/v1/namespaces/${NS}/statefulsets/redis/scale`, allowed: false },
      { who: 'tester', method: 'GET', path: `/apis/apps/v1/namespaces/${NS}/deployments`, allowed: false },
      // a RoleBinding to a ClusterRole grants it in the binding's namespace only
      { who: 'tester', method: 'GET', path: '/api/v1/namespaces/other/services', allowed: true },
      { who: 'tester', method: 'GET', path: '/api/v1/namespaces/kube-system/services', allowed: false },
      { who: 'tester', method: 'GET', path: '/api/v1/services', allowed: false },
      // default discovery / basic-user rights of every authenticated user
      { who: 'tester', method: 'GET', path: '/api', allowed: true },
      { who: 'tester', method: 'GET', path: '/apis/apps/v1', allowed: true },
      { who: 'tester', method: 'GET', path: '/version', allowed: true },
      { who: 'tester', method: 'GET', path: '/openapi/v3', allowed: true },
      { who: 'tester', method: 'GET', path: '/healthz', allowed: true },
      { who: 'tester', method: 'GET', path: '/metrics', allowed: false },
      { who: 'tester', method: 'POST', path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', allowed: true, body: { spec: { nonResourceAttributes: { path: '/', verb: 'get' } } } },
      { who: 'tester', method: 'POST', path: '/apis/authorization.k8s.io/v1/subjectaccessreviews', allowed: false, body: { spec: { user: 'x', nonResourceAttributes: { path: '/', verb: 'get' } } } },
      // nonResourceURLs granted to a User
      { who: 'alice', method: 'GET', path: '/metrics', allowed: true },
      { who: 'alice', method: 'GET', path: '/logs/kube.log', allowed: true },
      { who: 'alice', method: 'GET', path: '/logs', allowed: false },
      { who: 'alice', method: 'POST', path: '/metrics', allowed: false },
      // a Group subject
      { who: 'alice', method: 'GET', path: '/api/v1/nodes', allowed: true },
      { who: 'bob', method: 'GET', path: '/api/v1/nodes', allowed: false },
      { who: 'bob', method: 'GET', path: '/apis', allowed: true },
      // system:masters
      { who: 'admin', method: 'GET', path: '/api/v1/secrets', allowed: true },
      { who: 'admin', method: 'GET', path: '/metrics', allowed: true },
    ];
    it.each(rows)('$who $method $path → allowed: $allowed', async ({ who, method, path, allowed, body, contentType }) => {
      const r = await call(method, path, tokens[who], { body, contentType });
      if (allowed) expect([401, 403], JSON.stringify(r.body)).not.toContain(r.code);
      else {
        expect(r.code, JSON.stringify(r.body)).toBe(403);
        expect(r.body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403 });
      }
    });

    it('sends the real 403 Status bodies', async () => {
      expect((await call('GET', `/api/v1/namespaces/${NS}/secrets`, tokens.tester)).body).toEqual({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `secrets is forbidden: User "${TESTER}" cannot list resource "secrets" in API group "" in the namespace "ai-qtrd"`,
        reason: 'Forbidden',
        details: { kind: 'secrets' },
        code: 403,
      });
      expect((await call('GET', `/apis/apps/v1/namespaces/${NS}/statefulsets/redis/scale`, tokens.tester)).body).toMatchObject({
        message: `statefulsets.apps "redis" is forbidden: User "${TESTER}" cannot get resource "statefulsets/scale" in API group "apps" in the namespace "ai-qtrd"`,
        details: { name: 'redis', group: 'apps', kind: 'statefulsets' },
      });
      expect((await call('GET', '/api/v1/namespaces', tokens.tester)).body.message).toBe(`namespaces is forbidden: User "${TESTER}" cannot list resource "namespaces" in API group "" at the cluster scope`);
      expect((await call('GET', '/metrics', tokens.tester)).body).toMatchObject({ message: `forbidden: User "${TESTER}" cannot get path "/metrics"`, details: {} });
    });

    it('appends the RBAC evaluation error when a binding points at a missing Role', async () => {
      const r = await call('GET', `/api/v1/namespaces/${NS}/pods`, tokens.orphan);
      expect(r.body.message).toBe(`pods is forbidden: User "system:serviceaccount:ai-qtrd:orphan" cannot list resource "pods" in API group "" in the namespace "ai-qtrd": RBAC: role.rbac.authorization.k8s.io "does-not-exist" not found`);
    });

    it('picks up RBAC objects changed through the API at once', async () => {
      expect((await call('GET', `/api/v1/namespaces/${NS}/limitranges`, tokens.bob)).code).toBe(403);
      await create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles`, role('bob-limits', [{ apiGroups: [''], resources: ['limitranges'], verbs: ['list'] }]));
      await create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`, binding('RoleBinding', 'bob-limits', 'Role', 'bob-limits', [{ kind: 'User', name: 'bob' }], NS));
      expect((await call('GET', `/api/v1/namespaces/${NS}/limitranges`, tokens.bob)).code).toBe(200);
      expect((await admin('DELETE', `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings/bob-limits`)).code).toBe(200);
      expect((await call('GET', `/api/v1/namespaces/${NS}/limitranges`, tokens.bob)).code).toBe(403);
    });
  });

  describe('exec over WebSocket', () => {
    /** Opens a v5 exec WebSocket; resolves with stdout, or with the HTTP status and Status body of a refused upgrade. */
    function wsExec(token: string, pod: string, command: string[]): Promise<{ code: number; stdout: string; status?: any }> {
      const q = new URLSearchParams([...command.map((c): [string, string] => ['command', c]), ['stdout', 'true'], ['stderr', 'true']]);
      const url = `${emu.url.replace(/^https/, 'wss')}/api/v1/namespaces/${NS}/pods/${pod}/exec?${q.toString()}`;
      return new Promise((resolve, reject) => {
        const ws = new WebSocket(url, ['v5.channel.k8s.io'], { headers: { authorization: `Bearer ${token}` }, ca: emu.ca });
        let stdout = '';
        ws.on('message', (d: Buffer) => {
          if (d[0] === 1) stdout += d.subarray(1).toString('utf8');
        });
        ws.on('close', () => resolve({ code: 101, stdout }));
        ws.on('unexpected-response', (_req, res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ code: res.statusCode ?? 0, stdout, status: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
        });
        ws.on('error', (e) => {
          if (!/Unexpected server response/.test(e.message)) reject(e);
        });
      });
    }

    it('needs get and create on pods/exec (the synthetic create check of API servers >= 1.35)', async () => {
      const ok = await wsExec(tokens.tester!, 'redis-0', ['echo', 'hello']);
      expect(ok).toEqual({ code: 101, stdout: 'hello\n' });
      const other = await wsExec(tokens.tester!, 'redis-1', ['echo', 'hello']);
      expect(other.code).toBe(403);
      expect(other.status.message).toBe(`pods "redis-1" is forbidden: User "${TESTER}" cannot get resource "pods/exec" in API group "" in the namespace "ai-qtrd"`);
      const getOnly = await wsExec(tokens.getonly!, 'redis-0', ['echo', 'hello']);
      expect(getOnly.code).toBe(403);
      expect(getOnly.status.message).toBe('pods "redis-0" is forbidden: User "system:serviceaccount:ai-qtrd:getonly" cannot create resource "pods/exec" in API group "" in the namespace "ai-qtrd"');
      const unauthenticated = await wsExec('nope', 'redis-0', ['echo']);
      expect(unauthenticated.code).toBe(401);
    });
  });

  describe('impersonation', () => {
    const whoamiAs = (token: string, headers: OutgoingHttpHeaders): Promise<Reply> =>
      call('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', token, { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }, headers });

    it('lets the admin act as a ServiceAccount (with its groups) or as a user with groups', async () => {
      expect((await whoamiAs(ADMIN_TOKEN, { 'impersonate-user': TESTER })).body.status.userInfo).toEqual({ username: TESTER, groups: SA_GROUPS });
      expect((await whoamiAs(ADMIN_TOKEN, { 'impersonate-user': 'carol', 'impersonate-group': ['qa', 'ops'] })).body.status.userInfo).toEqual({ username: 'carol', groups: ['qa', 'ops', 'system:authenticated'] });
      expect((await call('GET', `/api/v1/namespaces/${NS}/secrets`, ADMIN_TOKEN, { headers: { 'impersonate-user': TESTER } })).body.message).toBe(
        `secrets is forbidden: User "${TESTER}" cannot list resource "secrets" in API group "" in the namespace "ai-qtrd"`,
      );
      expect((await call('GET', '/api/v1/nodes', ADMIN_TOKEN, { headers: { 'impersonate-user': 'carol', 'impersonate-group': 'qa' } })).code).toBe(200);
    });

    it('refuses impersonation to users without the impersonate verb', async () => {
      expect((await whoamiAs(tokens.tester!, { 'impersonate-user': 'bob' })).body).toMatchObject({
        code: 403,
        reason: 'Forbidden',
        message: `users "bob" is forbidden: User "${TESTER}" cannot impersonate resource "users" in API group "" at the cluster scope`,
      });
      expect((await whoamiAs(tokens.tester!, { 'impersonate-user': 'system:serviceaccount:ai-qtrd:default' })).body.message).toBe(
        `serviceaccounts "default" is forbidden: User "${TESTER}" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "ai-qtrd"`,
      );
      expect((await whoamiAs(ADMIN_TOKEN, { 'impersonate-group': 'system:masters' })).code).toBe(500);
    });
  });

  describe('reviews', () => {
    const review = (token: string, resource: string, body: Record<string, unknown>, namespace?: string): Promise<Reply> =>
      call('POST', `/apis/authorization.k8s.io/v1/${namespace ? `namespaces/${namespace}/` : ''}${resource}`, token, { body });

    it('answers SelfSubjectAccessReviews for the caller with the RBAC reason', async () => {
      const yes = await review(tokens.tester!, 'selfsubjectaccessreviews', { spec: { resourceAttributes: { namespace: NS, verb: 'get', resource: 'secrets', name: 'ai-qtrd-secrets' } } });
      expect(yes.code).toBe(201);
      expect(yes.body.status).toEqual({ allowed: true, reason: 'RBAC: allowed by RoleBinding "tester-verbs/ai-qtrd" of Role "tester-verbs" to ServiceAccount "tester/ai-qtrd"' });
      const no = await review(tokens.tester!, 'selfsubjectaccessreviews', { spec: { resourceAttributes: { namespace: NS, verb: 'list', resource: 'secrets' } } });
      expect(no.body.status).toEqual({ allowed: false });
      const path = await review(tokens.alice!, 'selfsubjectaccessreviews', { spec: { nonResourceAttributes: { path: '/metrics', verb: 'get' } } });
      expect(path.body.status).toEqual({ allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding "alice-metrics" of ClusterRole "metrics-reader" to User "alice"' });
      const group = await review(tokens.alice!, 'selfsubjectaccessreviews', { spec: { resourceAttributes: { verb: 'list', resource: 'nodes' } } });
      expect(group.body.status.reason).toBe('RBAC: allowed by ClusterRoleBinding "qa-nodes" of ClusterRole "node-lister" to Group "qa"');
    });

    it('answers (Local)SubjectAccessReviews for the user in the spec, to admins only', async () => {
      const asQa = await review(ADMIN_TOKEN, 'subjectaccessreviews', { spec: { user: 'dave', groups: ['qa'], resourceAttributes: { verb: 'list', resource: 'nodes' } } });
      expect(asQa.body.status.allowed).toBe(true);
      const noGroups = await review(ADMIN_TOKEN, 'subjectaccessreviews', { spec: { user: 'dave', resourceAttributes: { verb: 'list', resource: 'nodes' } } });
      expect(noGroups.body.status).toEqual({ allowed: false });
      const local = await review(ADMIN_TOKEN, 'localsubjectaccessreviews', { spec: { user: TESTER, groups: SA_GROUPS, resourceAttributes: { verb: 'list', resource: 'configmaps' } } }, NS);
      expect(local.body.status.allowed).toBe(true);
      expect((await review(tokens.tester!, 'localsubjectaccessreviews', { spec: { user: TESTER, resourceAttributes: { verb: 'list', resource: 'configmaps' } } }, NS)).code).toBe(403);
    });

    it('lists the rules that apply in a SelfSubjectRulesReview', async () => {
      const r = await review(tokens.tester!, 'selfsubjectrulesreviews', { spec: { namespace: NS } });
      expect(r.body.status.incomplete).toBe(false);
      expect(r.body.status.resourceRules).toEqual(
        expect.arrayContaining([
          { verbs: ['get', 'list'], apiGroups: [''], resources: ['configmaps'] },
          { verbs: ['create', 'get'], apiGroups: [''], resources: ['pods/exec'], resourceNames: ['redis-0'] },
          { verbs: ['create'], apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'] },
        ]),
      );
      expect(r.body.status.resourceRules).not.toContainEqual(expect.objectContaining({ resources: ['services'] }));
      expect(r.body.status.nonResourceRules).toContainEqual({ verbs: ['get'], nonResourceURLs: expect.arrayContaining(['/api', '/apis/*', '/version']) });
      const inOther = await review(tokens.tester!, 'selfsubjectrulesreviews', { spec: { namespace: 'other' } });
      expect(inOther.body.status.resourceRules).toContainEqual({ verbs: ['get', 'list'], apiGroups: [''], resources: ['services'] });
      const orphan = await review(tokens.orphan!, 'selfsubjectrulesreviews', { spec: { namespace: NS } });
      expect(orphan.body.status).toMatchObject({ incomplete: true, evaluationError: 'role.rbac.authorization.k8s.io "does-not-exist" not found' });
    });

    it('answers TokenReviews with the authenticator', async () => {
      const tr = (token: string): Promise<Reply> => call('POST', '/apis/authentication.k8s.io/v1/tokenreviews', ADMIN_TOKEN, { body: { spec: { token } } });
      expect((await tr(tokens.tester!)).body.status).toMatchObject({ authenticated: true, user: { username: TESTER, groups: SA_GROUPS } });
      expect((await tr('garbage')).body.status.authenticated).toBeUndefined();
    });
  });

  describe('audit log', () => {
    it('records user, attributes, decision and the allowing rule of each request', async () => {
      emu.clearAuditLog();
      await call('GET', `/api/v1/namespaces/${NS}/configmaps`, tokens.tester);
      await call('GET', `/api/v1/namespaces/${NS}/secrets`, tokens.tester);
      await call('GET', '/api', tokens.tester);
      await call('GET', '/api/v1/namespaces/other/services', tokens.tester);
      await call('GET', '/api/v1/nodes', ADMIN_TOKEN, { headers: { 'impersonate-user': 'carol', 'impersonate-group': 'qa' } });
      await call('GET', '/api/v1/nodes', undefined);
      const log = emu.auditLog();
      expect(log.map((e) => [e.check, e.user, e.verb, e.resource ?? e.path, e.decision])).toEqual([
        ['request', TESTER, 'list', 'configmaps', 'allowed'],
        ['request', TESTER, 'list', 'secrets', 'denied'],
        ['request', TESTER, 'get', '/api', 'allowed'],
        ['request', TESTER, 'list', 'services', 'allowed'],
        ['impersonate', 'emulator-admin', 'impersonate', 'users', 'allowed'],
        ['impersonate', 'emulator-admin', 'impersonate', 'groups', 'allowed'],
        ['request', 'carol', 'list', 'nodes', 'allowed'],
        ['request', '', 'get', '/api/v1/nodes', 'unauthenticated'],
      ]);
      expect(log[0]).toMatchObject({
        method: 'GET',
        requestURI: `/api/v1/namespaces/${NS}/configmaps`,
        groups: SA_GROUPS,
        resourceRequest: true,
        apiGroup: '',
        apiVersion: 'v1',
        namespace: NS,
        reason: 'RBAC: allowed by RoleBinding "tester-verbs/ai-qtrd" of Role "tester-verbs" to ServiceAccount "tester/ai-qtrd"',
        allowedBy: { bindingKind: 'RoleBinding', bindingName: 'tester-verbs', bindingNamespace: NS, roleKind: 'Role', roleName: 'tester-verbs', roleNamespace: NS, ruleIndex: 0 },
        matchedRules: [{ bindingKind: 'RoleBinding', bindingName: 'tester-verbs', bindingNamespace: NS, roleKind: 'Role', roleName: 'tester-verbs', roleNamespace: NS, ruleIndex: 0 }],
      });
      expect(log[1]!.allowedBy).toBeUndefined();
      expect(log[2]).toMatchObject({ resourceRequest: false, path: '/api', allowedBy: { bindingKind: 'ClusterRoleBinding', bindingName: 'system:discovery', roleKind: 'ClusterRole', roleName: 'system:discovery', ruleIndex: 0 } });
      expect(log[3]!.allowedBy).toEqual({ bindingKind: 'RoleBinding', bindingName: 'tester-svc', bindingNamespace: 'other', roleKind: 'ClusterRole', roleName: 'svc-reader', ruleIndex: 0 });
      expect(log[4]).toMatchObject({ name: 'carol' });
      expect(log[4]!.reason).toBeUndefined(); // system:masters: no RBAC reason
      expect(log[6]).toMatchObject({ groups: ['qa', 'system:authenticated'], impersonatedBy: { user: 'emulator-admin', groups: ['system:masters', 'system:authenticated'] } });
      expect(log[4]!.requestId).toBe(log[6]!.requestId);
      expect(log[0]!.requestId).not.toBe(log[1]!.requestId);
    });

    it('writes the same entries to the audit file as JSON lines', async () => {
      await call('GET', '/version', tokens.bob);
      const lines = (await readFile(auditFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
      const mem = emu.auditLog();
      expect(lines.slice(-mem.length)).toEqual(mem);
      expect(lines.at(-1)).toMatchObject({ user: 'bob', path: '/version', decision: 'allowed', allowedBy: { roleName: 'system:discovery' } });
    });

    it('records the websocket create check of an exec', async () => {
      emu.clearAuditLog();
      const url = `${emu.url.replace(/^https/, 'wss')}/api/v1/namespaces/${NS}/pods/redis-0/exec?command=true&stdout=true`;
      await new Promise<void>((resolve, reject) => {
        const ws = new WebSocket(url, ['v5.channel.k8s.io'], { headers: { authorization: `Bearer ${tokens.tester}` }, ca: emu.ca });
        ws.on('close', () => resolve());
        ws.on('error', reject);
      });
      expect(emu.auditLog().map((e) => [e.check, e.verb, e.subresource, e.allowedBy?.ruleIndex])).toEqual([
        ['request', 'get', 'exec', 2],
        ['websocket-create', 'create', 'exec', 2],
      ]);
    });
  });

  describe('unusedRules', () => {
    it('lists the rules no allowed request needed', async () => {
      emu.clearAuditLog();
      const testerRole = emu.get(RBAC, 'Role', NS, 'tester-verbs');
      expect(emu.unusedRules([testerRole]).map((u) => u.ruleIndex)).toEqual([0, 1, 2, 3, 4, 5, 6]);
      await call('GET', `/api/v1/namespaces/${NS}/configmaps`, tokens.tester); // 0
      await call('GET', `/api/v1/namespaces/${NS}/secrets/ai-qtrd-secrets`, tokens.tester); // 1
      await call('POST', `/api/v1/namespaces/${NS}/pods/redis-0/exec?command=true`, tokens.tester); // 2 (allowed, then 400)
      await call('GET', `/apis/apps/v1/namespaces/${NS}/deployments/ai-qtrd-web/scale`, tokens.tester); // 4
      await call('GET', `/api/v1/namespaces/${NS}/events`, tokens.alice); // denied: does not count
      await call('GET', '/apis/apps/v1/namespaces/other/deployments', tokens.tester); // denied
      const unused = emu.unusedRules([testerRole, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ignored' } }]);
      expect(unused).toEqual([
        { kind: 'Role', name: 'tester-verbs', namespace: NS, ruleIndex: 3, rule: TESTER_RULES[3] },
        { kind: 'Role', name: 'tester-verbs', namespace: NS, ruleIndex: 5, rule: TESTER_RULES[5] },
        { kind: 'Role', name: 'tester-verbs', namespace: NS, ruleIndex: 6, rule: TESTER_RULES[6] },
      ]);
      // The standalone helper, with a Role given without namespace (matches it in any namespace).
      const standalone = unusedRules(emu.auditLog(), [{ kind: 'Role', metadata: { name: 'tester-verbs' }, rules: TESTER_RULES }]);
      expect(standalone.map((u) => [u.ruleIndex, u.namespace])).toEqual([
        [3, undefined],
        [5, undefined],
        [6, undefined],
      ]);
    });

    it('counts every rule that would have allowed a request, not only the one RBAC reports', async () => {
      await create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles`, role('overlap', [
        { apiGroups: [''], resources: ['leases'], verbs: ['get'] },
        { apiGroups: ['', 'coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['*'], verbs: ['get'] },
      ]));
      await create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`, binding('RoleBinding', 'overlap', 'Role', 'overlap', [{ kind: 'User', name: 'bob' }], NS));
      emu.clearAuditLog();
      const r = await call('GET', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/x`, tokens.bob);
      expect(r.code).toBe(404);
      const entry = emu.auditLog()[0]!;
      expect(entry.allowedBy?.ruleIndex).toBe(1);
      expect(entry.matchedRules?.map((m) => m.ruleIndex)).toEqual([1, 2]);
      expect(emu.unusedRules([emu.get(RBAC, 'Role', NS, 'overlap')]).map((u) => u.ruleIndex)).toEqual([0]);
    });
  });

  it('works with client-node through a ServiceAccount KubeConfig', async () => {
    const core = emu.kubeConfig({ namespace: NS, token: tokens.tester }).makeApiClient(k8s.CoreV1Api);
    expect((await core.listNamespacedConfigMap({ namespace: NS })).items.length).toBeGreaterThan(0);
    try {
      await core.listNamespacedSecret({ namespace: NS });
      throw new Error('expected a 403');
    } catch (e) {
      expect(e).toBeInstanceOf(k8s.ApiException);
      expect((e as k8s.ApiException<unknown>).code).toBe(403);
    }
    const adminCore = emu.kubeConfig().makeApiClient(k8s.CoreV1Api);
    expect((await adminCore.listNamespacedSecret({ namespace: NS })).items.length).toBeGreaterThan(0);
  });

  describe.skipIf(!hasKubectl)('with the real kubectl (skipped when kubectl is not installed)', () => {
    let adminEnv: NodeJS.ProcessEnv;
    const kubeconfigs: Record<string, string> = {};
    const kubectl = (env: NodeJS.ProcessEnv, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        execFile(KUBECTL, args, { env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
        });
      });
    const envFor = (file: string): NodeJS.ProcessEnv => ({ ...adminEnv, KUBECONFIG: file });

    beforeAll(async () => {
      const home = join(tmp, 'home');
      await mkdir(home, { recursive: true });
      kubeconfigs.admin = join(tmp, 'admin.yaml');
      await emu.writeKubeconfig(kubeconfigs.admin, NS);
      adminEnv = { ...process.env, KUBECONFIG: kubeconfigs.admin, HOME: home };
      kubeconfigs.tester = join(tmp, 'tester.yaml');
      await emu.writeKubeconfig(kubeconfigs.tester, NS, { token: tokens.tester });
    });

    it('kubectl auth whoami reports the real identity', async () => {
      expect((await kubectl(adminEnv, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'])).stdout).toBe('emulator-admin');
      expect((await kubectl(envFor(kubeconfigs.tester!), ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'])).stdout).toBe(TESTER);
      expect((await kubectl(adminEnv, ['auth', 'whoami', `--as=${TESTER}`, '-o', 'jsonpath={.status.userInfo.groups}'])).stdout).toBe(JSON.stringify(SA_GROUPS));
    });

    const canI: Array<{ cmd: string; answer: 'yes' | 'no' }> = [
      { cmd: 'get secrets/ai-qtrd-secrets', answer: 'yes' },
      { cmd: 'get secrets/gushen-lurus-cn-tls', answer: 'no' },
      { cmd: 'list secrets', answer: 'no' },
      { cmd: 'list configmaps', answer: 'yes' },
      { cmd: 'watch configmaps', answer: 'no' },
      { cmd: 'create pods/redis-0 --subresource=exec', answer: 'yes' },
      { cmd: 'create pods/redis-1 --subresource=exec', answer: 'no' },
      { cmd: 'patch statefulsets/redis --subresource=scale', answer: 'yes' },
      { cmd: 'list services -n other', answer: 'yes' },
      { cmd: 'list services -n kube-system', answer: 'no' },
      { cmd: 'get /version', answer: 'yes' },
      { cmd: 'get /metrics', answer: 'no' },
    ];
    it.each(canI)('kubectl auth can-i $cmd → $answer, with the ServiceAccount kubeconfig and with --as', async ({ cmd, answer }) => {
      const args = cmd.split(' ');
      const own = await kubectl(envFor(kubeconfigs.tester!), ['auth', 'can-i', ...args]);
      expect(own.stdout.trim(), own.stderr).toBe(answer);
      expect(own.code).toBe(answer === 'yes' ? 0 : 1);
      const as = await kubectl(adminEnv, ['auth', 'can-i', ...args, `--as=${TESTER}`]);
      expect(as.stdout.trim(), as.stderr).toBe(answer);
      expect((await kubectl(adminEnv, ['auth', 'can-i', ...args])).stdout.trim()).toBe('yes');
    });

    it('kubectl get secrets as a restricted ServiceAccount prints the Forbidden error', async () => {
      const r = await kubectl(envFor(kubeconfigs.tester!), ['get', 'secrets']);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`Error from server (Forbidden): secrets is forbidden: User "${TESTER}" cannot list resource "secrets" in API group "" in the namespace "ai-qtrd"\n`);
      const named = await kubectl(envFor(kubeconfigs.tester!), ['get', 'secret', 'ai-qtrd-secrets', '-o', 'name']);
      expect(named.stdout.trim()).toBe('secret/ai-qtrd-secrets');
    });

    it('rejects a kubeconfig with an unknown token', async () => {
      const file = join(tmp, 'bogus.yaml');
      await emu.writeKubeconfig(file, NS, { token: 'bogus' });
      const r = await kubectl(envFor(file), ['get', 'pods']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('error: You must be logged in to the server (Unauthorized)');
    });

    describe("the repo's backup RBAC (kubectl kustomize k8s/cronjobs)", () => {
      const BACKUP = `system:serviceaccount:${NS}:gushen-dr-backup`;
      let rbacDocs: Array<Record<string, any>>;

      beforeAll(async () => {
        const rendered = await kubectl(adminEnv, ['kustomize', 'k8s/cronjobs']);
        expect(rendered.code, rendered.stderr).toBe(0);
        rbacDocs = parseAllDocuments(rendered.stdout)
          .map((d) => d.toJSON() as Record<string, any>)
          .filter((d) => ['Namespace', 'ServiceAccount', 'Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding'].includes(d?.kind));
        const file = join(tmp, 'backup-rbac.yaml');
        await writeFile(file, rbacDocs.map((d) => stringify(d)).join('---\n'));
        const applied = await kubectl(adminEnv, ['apply', '-f', file]);
        expect(applied.code, applied.stderr).toBe(0);
        expect(applied.stdout).toContain('role.rbac.authorization.k8s.io/gushen-dr-redis-exec created');
        kubeconfigs.backup = join(tmp, 'backup.yaml');
        await emu.writeKubeconfig(kubeconfigs.backup, NS, { token: emu.serviceAccountToken(NS, 'gushen-dr-backup') });
      });

      const backupCanI: Array<{ cmd: string; answer: 'yes' | 'no' }> = [
        { cmd: 'create pods/redis-0 --subresource=exec -n ai-qtrd', answer: 'yes' },
        { cmd: 'get pods/redis-0 --subresource=exec -n ai-qtrd', answer: 'yes' },
        { cmd: 'create pods/redis-1 --subresource=exec -n ai-qtrd', answer: 'no' },
        { cmd: 'list secrets -n ai-qtrd', answer: 'yes' },
        { cmd: 'list secrets -n kube-system', answer: 'no' },
        { cmd: 'get namespaces/ai-qtrd', answer: 'yes' },
        { cmd: 'get namespaces/kube-system', answer: 'no' },
        { cmd: 'delete pods -n ai-qtrd', answer: 'no' },
        { cmd: 'list persistentvolumes', answer: 'yes' },
      ];
      it.each(backupCanI)('gushen-dr-backup: kubectl auth can-i $cmd → $answer', async ({ cmd, answer }) => {
        const args = cmd.split(' ');
        const as = await kubectl(adminEnv, ['auth', 'can-i', ...args, `--as=${BACKUP}`]);
        expect(as.stdout.trim(), as.stderr).toBe(answer);
        const own = await kubectl(envFor(kubeconfigs.backup!), ['auth', 'can-i', ...args]);
        expect(own.stdout.trim(), own.stderr).toBe(answer);
      });

      it('gushen-dr-backup can exec into redis-0 only, and cannot read kube-system secrets', async () => {
        emu.clearAuditLog();
        const env = envFor(kubeconfigs.backup!);
        const ok = await kubectl(env, ['exec', 'redis-0', '--', 'echo', 'from-redis-0']);
        expect(ok.stdout, ok.stderr).toBe('from-redis-0\n');
        const denied = await kubectl(env, ['exec', 'redis-1', '--', 'echo', 'nope']);
        expect(denied.code).toBe(1);
        expect(denied.stderr).toContain(`Error from server (Forbidden): pods "redis-1" is forbidden: User "${BACKUP}" cannot create resource "pods/exec" in API group "" in the namespace "ai-qtrd"`);
        const secrets = await kubectl(env, ['get', 'secrets', '-n', 'kube-system']);
        expect(secrets.stderr).toBe(`Error from server (Forbidden): secrets is forbidden: User "${BACKUP}" cannot list resource "secrets" in API group "" in the namespace "kube-system"\n`);
        // The successful exec used the redis-exec Role's only rule (get for the upgrade, create for the check).
        const redisExec = rbacDocs.find((d) => d.kind === 'Role' && d.metadata.name === 'gushen-dr-redis-exec')!;
        expect(emu.unusedRules([redisExec])).toEqual([]);
        const execChecks = emu.auditLog().filter((e) => e.user === BACKUP && e.subresource === 'exec' && e.decision === 'allowed');
        expect(execChecks.map((e) => e.verb)).toEqual(['get', 'create']);
      });
    });
  });

  it.skipIf(hasKubectl)('notes that the kubectl tests were skipped (kubectl is not installed)', () => {
    console.warn(`kubectl not found (${KUBECTL}): skipping the kubectl RBAC tests`);
  });
});

describe('kube emulator without rbac (the default)', () => {
  it('stays plain HTTP and allow-all, and still keeps an audit log', async () => {
    const emu = await startKubeEmulator({ fixture: 'empty' });
    try {
      expect(emu.url).toMatch(/^http:\/\//);
      expect(emu.rbac).toBe(false);
      expect(emu.ca).toBeUndefined();
      const r = await fetch(`${emu.url}/api/v1/namespaces/kube-system/secrets`);
      expect(r.status).toBe(200);
      const forged = await fetch(`${emu.url}/api/v1/nodes`, { headers: { authorization: 'Bearer whatever' } });
      expect(forged.status).toBe(200);
      expect(emu.auditLog().map((e) => [e.user, e.verb, e.resource, e.decision])).toEqual([
        ['emulator-admin', 'list', 'secrets', 'allowed'],
        ['emulator-admin', 'list', 'nodes', 'allowed'],
      ]);
      expect(emu.get(RBAC, 'ClusterRole', undefined, 'system:discovery')).toBeUndefined();
      const ssar = await fetch(`${emu.url}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ spec: { resourceAttributes: { verb: 'delete', resource: 'nodes' } } }) });
      expect(((await ssar.json()) as { status: { allowed: boolean } }).status.allowed).toBe(true);
    } finally {
      await emu.stop();
    }
  });
});
