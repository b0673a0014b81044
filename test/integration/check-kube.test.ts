/**
 * `gushen-dr check`'s Kubernetes rows against the API server emulator with RBAC on: the shipped backup
 * ServiceAccount and its Roles (k8s/cronjobs/serviceaccounts.yaml, rbac-backup.yaml) pass every
 * SelfSubjectAccessReview a backup needs; a ServiceAccount whose Role lacks Secrets and the Redis exec Role fails
 * the rights rows, naming each denied permission.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { generateX25519Identity } from '../../src/crypto/index.js';
import type { Manifest } from '../../src/repository/manifest.js';
import { kubeSource } from '../../src/sources/kube/index.js';
import { runChecks } from '../../src/engine/check.js';
import { configSchema } from '../../src/sources/registry.js';
import { openStore } from '../../src/store/open.js';
import { silentLogger } from '../../src/util/log.js';
import { REPO_ROOT } from '../support/cli-process.js';
import { startKubeEmulator, type KubeEmulator } from '../support/kube-emulator/index.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { tempDir } from '../support/tmp.js';

const NS = 'ai-qtrd';
const CLUSTER_KINDS = new Set(['ClusterRole', 'ClusterRoleBinding', 'Namespace']);

async function manifests(file: string): Promise<any[]> {
  const docs = parseAllDocuments(await readFile(join(REPO_ROOT, 'k8s/cronjobs', file), 'utf8')).map((d) => d.toJS());
  return docs.filter(Boolean).map((o) => (CLUSTER_KINDS.has(o.kind) ? o : { ...o, metadata: { namespace: NS, ...o.metadata } }));
}

describe('gushen-dr check: Kubernetes rights by SelfSubjectAccessReview', () => {
  let emu: KubeEmulator;
  let redis: TestRedis;
  let dir: { path: string; cleanup: () => Promise<void> };

  beforeAll(async () => {
    dir = await tempDir();
    const shipped = [...(await manifests('serviceaccounts.yaml')), ...(await manifests('rbac-backup.yaml')), ...(await manifests('rbac-drill.yaml'))];
    // A second ServiceAccount with the backup's Role minus Secrets, the cluster reads, and no Redis exec Role.
    const role = structuredClone(shipped.find((o) => o.kind === 'Role' && o.metadata.name === 'gushen-dr-backup-read'));
    role.metadata.name = 'limited-read';
    role.rules = role.rules.map((r: any) => ({ ...r, resources: r.resources.filter((x: string) => x !== 'secrets') }));
    const rbac = 'rbac.authorization.k8s.io';
    const limited = [
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'limited', namespace: NS } },
      role,
      { apiVersion: `${rbac}/v1`, kind: 'RoleBinding', metadata: { name: 'limited-read', namespace: NS }, roleRef: { apiGroup: rbac, kind: 'Role', name: 'limited-read' }, subjects: [{ kind: 'ServiceAccount', name: 'limited', namespace: NS }] },
      { apiVersion: `${rbac}/v1`, kind: 'ClusterRoleBinding', metadata: { name: 'limited-cluster-read' }, roleRef: { apiGroup: rbac, kind: 'ClusterRole', name: 'gushen-dr-backup-cluster-read' }, subjects: [{ kind: 'ServiceAccount', name: 'limited', namespace: NS }] },
    ];
    [emu, redis] = await Promise.all([startKubeEmulator({ rbac: true, fixture: 'gushen', extraObjects: [...shipped, ...limited] }), startRedis({ save: '', appendonly: false })]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([emu?.stop(), redis?.stop()]);
    await dir?.cleanup();
  });

  async function check(serviceAccount: string) {
    const kubeconfig = join(dir.path, `${serviceAccount}.yaml`);
    await emu.writeKubeconfig(kubeconfig, NS, { token: emu.serviceAccountToken(NS, serviceAccount) });
    const config = configSchema.parse({
      store: { url: `file://${join(dir.path, 'store')}` },
      encryption: { recipients: [generateX25519Identity().recipient] },
      sources: { kube: { namespace: NS, kubeconfig }, redis: { url: redis.url, method: 'exec', namespace: NS, pod: 'redis-0' } },
    });
    const rows = await runChecks({ config, store: openStore(config.store), log: silentLogger, command: 'backup' });
    return Object.fromEntries(rows.map((r) => [r.check, r]));
  }

  it('the shipped backup ServiceAccount may do everything a backup does', async () => {
    const rows = await check('gushen-dr-backup');
    expect(rows['kube api']?.status, rows['kube api']?.detail).toBe('ok');
    expect(rows['kube rights (backup)'], JSON.stringify(rows['kube rights (backup)'])).toMatchObject({ status: 'ok', detail: expect.stringMatching(/all \d+ permissions allowed/) });
    expect(rows['redis exec rights']).toMatchObject({ status: 'ok' });
  }, 120_000);

  it('without Secrets and the exec Role: the rights rows fail, naming each denied permission', async () => {
    const rows = await check('limited');
    expect(rows['kube api']?.status).toBe('ok');
    expect(rows['kube rights (backup)'].status).toBe('failed');
    expect(rows['kube rights (backup)'].detail).toMatch(/2 of \d+ permissions denied: (list secrets in ai-qtrd, get secrets in ai-qtrd|get secrets in ai-qtrd, list secrets in ai-qtrd)$/);
    expect(rows['redis exec rights']).toMatchObject({ status: 'failed', detail: expect.stringContaining('create pods/exec redis-0 in ai-qtrd') });
  }, 120_000);

  it('the shipped drill ServiceAccount may do in gushen-dr-drill what a drill of the latest backup does; a kind it may not is named', async () => {
    const kubeconfig = join(dir.path, 'drill.yaml');
    await emu.writeKubeconfig(kubeconfig, NS, { token: emu.serviceAccountToken(NS, 'gushen-dr-drill') });
    const config = configSchema.parse({
      store: { url: `file://${join(dir.path, 'store')}` },
      encryption: { recipients: [generateX25519Identity().recipient] },
      sources: { kube: { namespace: NS, kubeconfig } },
      drill: { namespace: 'gushen-dr-drill' },
    });
    const latest = (counts: Record<string, number>) =>
      ({ id: '20260301T020000Z-nightly', artifacts: [{ name: 'kube/resources.tar', kind: 'kube-tar', source: 'kube', facts: { type: 'kube', namespace: NS, objects: 1, counts, skipped: {} } }] }) as unknown as Manifest;
    const held = { 'deployments.apps': 2, configmaps: 3, secrets: 2, services: 2, 'ingresses.networking.k8s.io': 1, namespaces: 1 };
    const ok = await kubeSource.check!({ config, command: 'drill', log: silentLogger, latest: latest(held) });
    expect(ok.find((r) => r.check === 'kube rights (drill)'), JSON.stringify(ok)).toMatchObject({ status: 'ok' });
    const bad = await kubeSource.check!({ config, command: 'drill', log: silentLogger, latest: latest({ ...held, 'widgets.example.com': 1 }) });
    expect(bad.find((r) => r.check === 'kube rights (drill)')).toMatchObject({ status: 'failed', detail: expect.stringContaining('create widgets.example.com in gushen-dr-drill') });
  }, 120_000);
});
