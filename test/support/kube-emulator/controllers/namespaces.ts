/** Per-namespace defaults: the `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap. */
import { rec } from '../types.js';
import { create, def, type ControllerContext } from './common.js';

export const FAKE_ROOT_CA = '-----BEGIN CERTIFICATE-----\nRkFLRS1FTVVMQVRPUi1ST09ULUNBLWZvci10ZXN0cy1vbmx5\n-----END CERTIFICATE-----\n';

export function reconcileNamespaces(ctx: ControllerContext): void {
  const saDef = def(ctx, '', 'serviceaccounts');
  const cmDef = def(ctx, '', 'configmaps');
  for (const ns of ctx.store.list('', 'namespaces')) {
    if (rec(ns.status).phase === 'Terminating') continue;
    const name = ns.metadata.name ?? '';
    if (!ctx.store.get('', 'serviceaccounts', name, 'default')) {
      create(ctx, saDef, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: name } });
    }
    if (!ctx.store.get('', 'configmaps', name, 'kube-root-ca.crt')) {
      create(ctx, cmDef, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'kube-root-ca.crt', namespace: name, annotations: { 'kubernetes.io/description': 'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.' } },
        data: { 'ca.crt': FAKE_ROOT_CA },
      });
    }
  }
}
