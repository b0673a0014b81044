import { describe, expect, it } from 'vitest';
import { serviceAction } from '../../src/sources/kube/restore-actions/service.js';
import type { TransformContext } from '../../src/sources/kube/restore-actions/types.js';

const ctx: TransformContext = { sourceNamespace: 'a', targetNamespace: 'b', backupId: 'id', restoreId: 'r', keepNodePorts: false };

function svc(spec: any, annotations?: Record<string, string>) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'a', ...(annotations ? { annotations } : {}) }, spec };
}

describe('service action', () => {
  it('drops the allocated clusterIP and clusterIPs', () => {
    const out = serviceAction.transform(svc({ type: 'ClusterIP', clusterIP: '10.43.0.10', clusterIPs: ['10.43.0.10'], ports: [{ port: 80 }] }), ctx);
    expect(out.spec.clusterIP).toBeUndefined();
    expect(out.spec.clusterIPs).toBeUndefined();
    expect(out.spec.ports).toEqual([{ port: 80 }]);
  });

  it('keeps clusterIP None of a headless Service', () => {
    const out = serviceAction.transform(svc({ clusterIP: 'None', clusterIPs: ['None'], ports: [{ port: 6379 }] }), ctx);
    expect(out.spec.clusterIP).toBe('None');
    expect(out.spec.clusterIPs).toEqual(['None']);
  });

  it('drops allocated node ports and healthCheckNodePort unless asked to keep them', () => {
    const spec = { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: [{ name: 'http', port: 80, nodePort: 30080 }] };
    const dropped = serviceAction.transform(svc(structuredClone(spec)), ctx);
    expect(dropped.spec.ports[0].nodePort).toBeUndefined();
    expect(dropped.spec.healthCheckNodePort).toBeUndefined();
    const kept = serviceAction.transform(svc(structuredClone(spec)), { ...ctx, keepNodePorts: true });
    expect(kept.spec.ports[0].nodePort).toBe(30080);
    expect(kept.spec.healthCheckNodePort).toBe(32000);
  });

  it('keeps node ports the user set explicitly (kubectl last-applied-configuration)', () => {
    const applied = JSON.stringify({ spec: { type: 'NodePort', ports: [{ name: 'web', port: 80, nodePort: 30080 }] } });
    const out = serviceAction.transform(
      svc({ type: 'NodePort', ports: [{ name: 'web', port: 80, nodePort: 30080 }, { name: 'admin', port: 81, nodePort: 31234 }] }, { 'kubectl.kubernetes.io/last-applied-configuration': applied }),
      ctx,
    );
    expect(out.spec.ports.map((p: any) => p.nodePort)).toEqual([30080, undefined]);
  });

  it('prepareUpdate copies the live clusterIP and node ports the desired object leaves open', () => {
    const desired = svc({ type: 'NodePort', ports: [{ name: 'web', port: 80 }] });
    const live = svc({ type: 'NodePort', clusterIP: '10.43.1.1', clusterIPs: ['10.43.1.1'], ports: [{ name: 'web', port: 80, nodePort: 30999, protocol: 'TCP' }] });
    const out = serviceAction.prepareUpdate!(desired, live);
    expect(out.spec.clusterIP).toBe('10.43.1.1');
    expect(out.spec.clusterIPs).toEqual(['10.43.1.1']);
    expect(out.spec.ports[0].nodePort).toBe(30999);
  });
});
