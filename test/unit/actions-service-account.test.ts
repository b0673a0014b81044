import { describe, expect, it } from 'vitest';
import { serviceAccountAction } from '../../src/sources/kube/restore-actions/service-account.js';
import type { TransformContext } from '../../src/sources/kube/restore-actions/types.js';

const ctx: TransformContext = { sourceNamespace: 'a', targetNamespace: 'b', backupId: 'id', restoreId: 'r', keepNodePorts: false };

describe('service-account action', () => {
  it('drops references to its auto-generated token Secrets, keeps others', () => {
    const sa = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'ai-qtrd-api' }, secrets: [{ name: 'ai-qtrd-api-token-x7k2p' }, { name: 'registry-creds' }], imagePullSecrets: [{ name: 'registry-creds' }] };
    const out = serviceAccountAction.transform(sa, ctx);
    expect(out.secrets).toEqual([{ name: 'registry-creds' }]);
    expect(out.imagePullSecrets).toEqual([{ name: 'registry-creds' }]);
  });

  it('removes the secrets list when only tokens were in it', () => {
    const out = serviceAccountAction.transform({ kind: 'ServiceAccount', metadata: { name: 'default' }, secrets: [{ name: 'default-token-abcde' }] }, ctx);
    expect(out.secrets).toBeUndefined();
  });
});
