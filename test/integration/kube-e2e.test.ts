/**
 * End-to-end test of the Kubernetes source against a real cluster. Skipped unless all of these are set:
 *
 *   KUBECONFIG=/path/to/kubeconfig      the cluster (its current context is used)
 *   GUSHEN_DR_E2E_KUBE=1                 opt in: the test creates and deletes a namespace
 *   GUSHEN_DR_E2E_NAMESPACE=ai-qtrd      the namespace to back up (read only)
 *
 * It backs up GUSHEN_DR_E2E_NAMESPACE into a temporary file:// store (age-encrypted with a generated key),
 * restores it into a fresh namespace `gushen-dr-e2e-<timestamp>` without waiting for workloads (images may
 * not be pullable there), checks that every restorable namespaced object arrived, cleaned and labelled, and
 * deletes that namespace afterwards. Cluster-scoped objects that exist already are left alone (skipped).
 *
 *   KUBECONFIG=~/.kube/config GUSHEN_DR_E2E_KUBE=1 GUSHEN_DR_E2E_NAMESPACE=ai-qtrd npx vitest run test/integration/kube-e2e.test.ts
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/engine/backup.js';
import { type Config } from '../../src/config/schema.js';
import { configSchema } from '../../src/sources/registry.js';
import { generateX25519Identity, parseIdentity, type Identity } from '../../src/crypto/index.js';
import type { Manifest } from '../../src/repository/manifest.js';
import { kubeArtifactOf, readKubeArchive, restoreKube } from '../../src/sources/kube/restore.js';
import type { RestoreContext } from '../../src/sources/restore-context.js';
import { FileStore } from '../../src/store/file.js';
import { KubeClient, loadKubeConfig, objectPath } from '../../src/sources/shared/kube-client.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir } from '../support/tmp.js';

function digest(data: Record<string, string> | undefined): string {
  const sorted = Object.entries(data ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex');
}

const enabled = !!process.env.KUBECONFIG && process.env.GUSHEN_DR_E2E_KUBE === '1' && !!process.env.GUSHEN_DR_E2E_NAMESPACE;
const SOURCE_NS = process.env.GUSHEN_DR_E2E_NAMESPACE ?? '';
const TARGET_NS = `gushen-dr-e2e-${new Date().toISOString().replace(/[-:T.Z]/g, '').slice(0, 14)}`;

if (!enabled) {
  console.warn('kube-e2e: skipped (set KUBECONFIG, GUSHEN_DR_E2E_KUBE=1 and GUSHEN_DR_E2E_NAMESPACE to run it against a real cluster)');
}

describe.skipIf(!enabled)('Kubernetes backup and restore against a real cluster', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let config: Config;
  let identities: Identity[];
  let store: FileStore;
  let manifest: Manifest;
  let client: KubeClient;

  beforeAll(async () => {
    dir = await tempDir();
    const id = generateX25519Identity();
    identities = [parseIdentity(id.identity)];
    config = configSchema.parse({
      store: { url: `file://${dir.path}/store` },
      encryption: { recipients: [id.recipient] },
      sources: { kube: { namespace: SOURCE_NS } }, // the kubeconfig comes from KUBECONFIG (default chain)
    });
    store = new FileStore(`${dir.path}/store`);
    client = new KubeClient(loadKubeConfig(config.sources.kube));
  });

  afterAll(async () => {
    if (client) {
      await client.request('DELETE', objectPath('v1', 'namespaces', TARGET_NS)).catch(() => undefined);
    }
    await dir?.cleanup();
  });

  it(`backs up ${SOURCE_NS || 'the namespace'} and restores it into a fresh namespace`, async () => {
    manifest = await runBackup({ config, store, schedule: 'manual', only: ['kube'], log: silentLogger });
    expect(manifest.status).toBe('Completed');
    const ctx: RestoreContext = { store, manifest, identities, config, log: silentLogger };
    const artifact = kubeArtifactOf(manifest);
    const { index, objects } = await readKubeArchive(ctx, artifact);
    expect(index.namespace).toBe(SOURCE_NS);

    const report = await restoreKube(ctx, { toNamespace: TARGET_NS, waitForReady: false, restoreId: 'e2e' });
    const failed = report.items.filter((i) => i.result === 'failed');
    expect(failed).toEqual([]);

    // Every namespaced object that was restored is there, in the new namespace, labelled and cleaned.
    const created = report.items.filter((i) => i.result === 'created' && i.item.includes(` ${TARGET_NS}/`));
    expect(created.length).toBeGreaterThan(0);
    for (const [i, e] of index.entries.entries()) {
      if (e.namespace !== SOURCE_NS) continue;
      const item = report.items.find((x) => x.item === `${e.group ? `${e.resource}.${e.group}` : e.resource} ${TARGET_NS}/${e.name}`);
      expect(item, `${e.path} has a result`).toBeDefined();
      if (item!.result !== 'created') continue;
      const live = await client.get(objectPath(e.apiVersion, e.resource, e.name, TARGET_NS));
      expect(live.metadata.labels?.['gushen-dr.io/backup']).toBe(manifest.id);
      expect(live.metadata.labels?.['gushen-dr.io/restore']).toBe('e2e');
      expect(live.metadata.uid).not.toBe(objects[i].metadata.uid);
      if (e.kind === 'ConfigMap') expect(live.data ?? {}).toEqual(objects[i].data ?? {});
      // compared by digest, so a mismatch never prints a Secret value
      if (e.kind === 'Secret') expect(digest(live.data)).toBe(digest(objects[i].data));
    }
  });
});
