import { describe, expect, it } from 'vitest';
import { namespaceAction } from '../../src/sources/kube/restore-actions/namespace.js';
import type { TransformContext } from '../../src/sources/kube/restore-actions/types.js';

const base: TransformContext = { sourceNamespace: 'ai-qtrd', targetNamespace: 'ai-qtrd', backupId: 'id', restoreId: 'r', keepNodePorts: false };
const ns = () => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name: 'ai-qtrd', labels: { 'kubernetes.io/metadata.name': 'ai-qtrd', 'pod-security.kubernetes.io/enforce': 'baseline' } },
  spec: { finalizers: ['kubernetes'] },
});

describe('namespace action', () => {
  it('restores the namespace as itself when not mapping, minus server-set parts', () => {
    const out = namespaceAction.transform(ns(), base);
    expect(out.metadata).toEqual({ name: 'ai-qtrd', labels: { 'pod-security.kubernetes.io/enforce': 'baseline' } });
    expect(out.spec).toBeUndefined();
  });

  it('becomes the target namespace, with the source labels, when mapping', () => {
    const out = namespaceAction.transform(ns(), { ...base, targetNamespace: 'ai-qtrd-restored' });
    expect(out.metadata.name).toBe('ai-qtrd-restored');
    expect(out.metadata.labels).toEqual({ 'pod-security.kubernetes.io/enforce': 'baseline' });
  });
});
