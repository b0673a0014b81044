import { describe, expect, it } from 'vitest';
import { clusterRoleBindingAction } from '../../src/sources/kube/restore-actions/cluster-role-binding.js';
import { commonMetadataAction, RESTORE_LABEL_BACKUP, RESTORE_LABEL_RESTORE } from '../../src/sources/kube/restore-actions/common-metadata.js';
import { RESTORE_ACTIONS } from '../../src/sources/kube/restore-actions/index.js';
import { ingressRouteAction } from '../../src/sources/kube/restore-actions/ingress-route.js';
import { jobAction } from '../../src/sources/kube/restore-actions/job.js';
import { namespaceDnsAction } from '../../src/sources/kube/restore-actions/namespace-dns.js';
import { namespaceAction } from '../../src/sources/kube/restore-actions/namespace.js';
import { persistentVolumeClaimAction } from '../../src/sources/kube/restore-actions/persistent-volume-claim.js';
import { persistentVolumeAction } from '../../src/sources/kube/restore-actions/persistent-volume.js';
import { podAction } from '../../src/sources/kube/restore-actions/pod.js';
import { roleBindingAction } from '../../src/sources/kube/restore-actions/role-binding.js';
import { serviceAccountAction } from '../../src/sources/kube/restore-actions/service-account.js';
import { serviceAction } from '../../src/sources/kube/restore-actions/service.js';
import type { ResourceRef, RestoreAction, TransformContext } from '../../src/sources/kube/restore-actions/types.js';
import {
  NS,
  clusterRoleBinding,
  configMapWithServiceNames,
  ingressRoute,
  job,
  listedConfigMap,
  namespace,
  persistentVolume,
  persistentVolumeClaim,
  pod,
  roleBinding,
  service,
  serviceAccount,
  transformContext,
} from '../support/kube-objects.js';

/**
 * The per-kind restore actions (src/sources/kube/restore-actions/), as tables: an object as backed up goes
 * through one action in a restore context, and named parts of what comes out must equal the expected values.
 * A path is `a.b.0.c`, an array of keys for keys with dots in them, and `*` maps the rest of the path over an
 * array. Cases that do not fit a row (several inputs or contexts, decoding) are plain `it`s below the tables.
 */
type Path = string | readonly string[];
type Expected = ReadonlyArray<readonly [Path, unknown]>;

/** The value at `path`; like `obj.a.b`, a missing object on the way is an error, a missing last key is undefined. */
function at(obj: unknown, path: Path): unknown {
  const parts = typeof path === 'string' ? path.split('.') : path;
  let cur: any = obj;
  for (const [i, key] of parts.entries()) {
    if (key === '*') return (cur as unknown[]).map((x) => at(x, parts.slice(i + 1)));
    if (cur === null || typeof cur !== 'object') throw new TypeError(`${parts.slice(0, i).join('.') || 'the object'} is ${String(cur)}, not an object`);
    cur = cur[key];
  }
  return cur;
}

function expectParts(out: unknown, expected: Expected): void {
  for (const [path, value] of expected) expect(at(out, path), String(path)).toEqual(value);
}

interface TransformCase {
  title: string;
  action: RestoreAction;
  input: () => any;
  ctx?: Partial<TransformContext>;
  expected: Expected;
}
const transformCase = (action: RestoreAction, title: string, c: Omit<TransformCase, 'title' | 'action'>): TransformCase => ({ title: `${action.name}: ${title}`, action, ...c });

const TRANSFORMS: TransformCase[] = [
  transformCase(clusterRoleBindingAction, "maps the namespace of the backed-up namespace's ServiceAccount subjects", {
    input: clusterRoleBinding,
    ctx: { targetNamespace: 'dr-drill-1' },
    expected: [
      ['subjects', [{ kind: 'ServiceAccount', name: 'ai-qtrd-api', namespace: 'dr-drill-1' }, { kind: 'Group', name: 'ops' }]],
      ['metadata.name', 'ai-qtrd-api-view'],
    ],
  }),
  transformCase(commonMetadataAction, 'strips server-owned metadata and status, maps the namespace and adds the restore labels', {
    input: listedConfigMap,
    expected: [
      [
        'metadata',
        {
          name: 'ai-qtrd-config',
          namespace: 'ai-qtrd-restored',
          labels: { app: 'gushen', [RESTORE_LABEL_BACKUP]: transformContext().backupId, [RESTORE_LABEL_RESTORE]: 'r1' },
          annotations: { note: 'kept' },
          finalizers: ['example.com/keep'],
        },
      ],
      ['status', undefined],
      ['data', { A: '1' }],
    ],
  }),
  transformCase(commonMetadataAction, 'leaves cluster-scoped objects without a namespace', {
    input: () => ({ apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'pv-1', uid: 'x' } }),
    expected: [
      ['metadata.namespace', undefined],
      ['metadata.uid', undefined],
      [['metadata', 'labels', RESTORE_LABEL_RESTORE], 'r1'],
    ],
  }),
  transformCase(ingressRouteAction, 'maps service, middleware and TLS option namespaces that name the source namespace', {
    input: ingressRoute,
    expected: [
      ['spec.routes.0.services.0.namespace', 'ai-qtrd-restored'],
      ['spec.routes.0.middlewares', [{ name: 'strip', namespace: 'ai-qtrd-restored' }, { name: 'global-auth', namespace: 'kube-system' }]],
      ['spec.routes.1.services.0', { name: 'ai-qtrd-web', port: 3000 }],
      ['spec.tls', { secretName: 'gushen-lurus-cn-tls', options: { name: 'modern', namespace: 'ai-qtrd-restored' } }],
    ],
  }),
  transformCase(jobAction, 'removes the generated controller-uid selector and template labels', {
    input: job,
    expected: [
      ['spec.selector', undefined],
      ['spec.template.metadata.labels', { app: 'api' }],
    ],
  }),
  transformCase(jobAction, 'keeps a manual selector', {
    input: () => {
      const j = job();
      j.spec.manualSelector = true;
      j.spec.selector = { matchLabels: { app: 'api' } };
      return j;
    },
    expected: [['spec.selector', { matchLabels: { app: 'api' } }]],
  }),
  transformCase(jobAction, 'keeps other selector labels', {
    input: () => {
      const j = job();
      j.spec.selector.matchLabels.tier = 'batch';
      return j;
    },
    expected: [['spec.selector', { matchLabels: { tier: 'batch' } }]],
  }),
  transformCase(namespaceAction, 'restores the namespace as itself when not mapping, minus server-set parts', {
    input: namespace,
    ctx: { targetNamespace: NS },
    expected: [
      ['metadata', { name: 'ai-qtrd', labels: { 'pod-security.kubernetes.io/enforce': 'baseline' } }],
      ['spec', undefined],
    ],
  }),
  transformCase(namespaceAction, 'becomes the target namespace, with the source labels, when mapping', {
    input: namespace,
    expected: [
      ['metadata.name', 'ai-qtrd-restored'],
      ['metadata.labels', { 'pod-security.kubernetes.io/enforce': 'baseline' }],
    ],
  }),
  transformCase(persistentVolumeClaimAction, 'drops bind annotations and the selected node, keeps the volume name', {
    input: persistentVolumeClaim,
    expected: [
      ['metadata.annotations', { 'volume.kubernetes.io/storage-provisioner': 'rancher.io/local-path' }],
      ['spec.volumeName', 'pvc-0a1b'],
    ],
  }),
  transformCase(persistentVolumeClaimAction, 'removes the annotations map when nothing is left in it', {
    input: () => ({ kind: 'PersistentVolumeClaim', metadata: { name: 'c', annotations: { 'pv.kubernetes.io/bind-completed': 'yes' } }, spec: {} }),
    expected: [['metadata.annotations', undefined]],
  }),
  transformCase(persistentVolumeAction, 'keeps only the claim identity, mapped to the target namespace, and drops bind annotations', {
    input: persistentVolume,
    expected: [
      ['spec.claimRef', { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: 'ai-qtrd-restored', name: 'data-redis-0' }],
      ['metadata.annotations', { 'pv.kubernetes.io/provisioned-by': 'rancher.io/local-path' }],
    ],
  }),
  transformCase(persistentVolumeAction, 'leaves a claimRef into another namespace alone', {
    input: () => {
      const o = persistentVolume();
      o.spec.claimRef.namespace = 'other';
      return o;
    },
    expected: [['spec.claimRef.namespace', 'other']],
  }),
  transformCase(podAction, 'drops nodeName, the admission-set priority and the injected API token volume', {
    input: pod,
    expected: [
      ['spec.nodeName', undefined],
      ['spec.priority', undefined],
      ['spec.priorityClassName', 'high'],
      ['spec.volumes', [{ name: 'data', emptyDir: {} }]],
      ['spec.containers.0.volumeMounts', [{ name: 'data', mountPath: '/data' }]],
    ],
  }),
  transformCase(podAction, 'keeps an explicit priority when there is no priorityClassName', {
    input: () => ({ kind: 'Pod', metadata: { name: 'p' }, spec: { priority: 5, containers: [] } }),
    expected: [['spec.priority', 5]],
  }),
  transformCase(roleBindingAction, 'maps ServiceAccount subjects of the source namespace, leaves others', {
    input: roleBinding,
    expected: [
      [
        'subjects',
        [
          { kind: 'ServiceAccount', name: 'ai-qtrd-api', namespace: 'ai-qtrd-restored' },
          { kind: 'ServiceAccount', name: 'monitor', namespace: 'monitoring' },
          { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'ops' },
        ],
      ],
      ['roleRef', roleBinding().roleRef],
    ],
  }),
  transformCase(serviceAccountAction, 'drops references to its auto-generated token Secrets, keeps others', {
    input: serviceAccount,
    expected: [
      ['secrets', [{ name: 'registry-creds' }]],
      ['imagePullSecrets', [{ name: 'registry-creds' }]],
    ],
  }),
  transformCase(serviceAccountAction, 'removes the secrets list when only tokens were in it', {
    input: () => ({ kind: 'ServiceAccount', metadata: { name: 'default' }, secrets: [{ name: 'default-token-abcde' }] }),
    expected: [['secrets', undefined]],
  }),
  transformCase(serviceAction, 'drops the allocated clusterIP and clusterIPs', {
    input: () => service({ type: 'ClusterIP', clusterIP: '10.43.0.10', clusterIPs: ['10.43.0.10'], ports: [{ port: 80 }] }),
    expected: [
      ['spec.clusterIP', undefined],
      ['spec.clusterIPs', undefined],
      ['spec.ports', [{ port: 80 }]],
    ],
  }),
  transformCase(serviceAction, 'keeps clusterIP None of a headless Service', {
    input: () => service({ clusterIP: 'None', clusterIPs: ['None'], ports: [{ port: 6379 }] }),
    expected: [
      ['spec.clusterIP', 'None'],
      ['spec.clusterIPs', ['None']],
    ],
  }),
  transformCase(serviceAction, 'keeps node ports the user set explicitly (kubectl last-applied-configuration)', {
    input: () =>
      service(
        { type: 'NodePort', ports: [{ name: 'web', port: 80, nodePort: 30080 }, { name: 'admin', port: 81, nodePort: 31234 }] },
        { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ spec: { type: 'NodePort', ports: [{ name: 'web', port: 80, nodePort: 30080 }] } }) },
      ),
    expected: [['spec.ports.*.nodePort', [30080, undefined]]],
  }),
];

interface AppliesToCase {
  title: string;
  action: RestoreAction;
  refs: ReadonlyArray<readonly [ResourceRef, boolean]>;
}

const APPLIES_TO: AppliesToCase[] = [
  {
    title: 'cluster-role-binding: applies only to clusterrolebindings',
    action: clusterRoleBindingAction,
    refs: [
      [{ group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings', kind: 'ClusterRoleBinding' }, true],
      [{ group: 'rbac.authorization.k8s.io', resource: 'rolebindings', kind: 'RoleBinding' }, false],
    ],
  },
  {
    title: 'ingress-route: applies to both Traefik API groups',
    action: ingressRouteAction,
    refs: [
      [{ group: 'traefik.containo.us', resource: 'ingressroutes', kind: 'IngressRoute' }, true],
      [{ group: 'networking.k8s.io', resource: 'ingresses', kind: 'Ingress' }, false],
    ],
  },
];

interface PrepareUpdateCase {
  title: string;
  action: RestoreAction;
  desired: () => any;
  live: () => any;
  expected: Expected;
}

const PREPARE_UPDATES: PrepareUpdateCase[] = [
  {
    title: 'persistent-volume-claim: prepareUpdate keeps the live, immutable volumeName',
    action: persistentVolumeClaimAction,
    desired: () => ({ kind: 'PersistentVolumeClaim', metadata: { name: 'c' }, spec: {} }),
    live: () => ({ spec: { volumeName: 'pv-live' } }),
    expected: [['spec.volumeName', 'pv-live']],
  },
  {
    title: 'persistent-volume: prepareUpdate keeps the live binding when it is to the same claim',
    action: persistentVolumeAction,
    desired: () => persistentVolumeAction.transform(persistentVolume(), transformContext({ targetNamespace: NS })),
    live: persistentVolume,
    expected: [['spec.claimRef.uid', 'u-9']],
  },
  {
    title: 'service: prepareUpdate copies the live clusterIP and node ports the desired object leaves open',
    action: serviceAction,
    desired: () => service({ type: 'NodePort', ports: [{ name: 'web', port: 80 }] }),
    live: () => service({ type: 'NodePort', clusterIP: '10.43.1.1', clusterIPs: ['10.43.1.1'], ports: [{ name: 'web', port: 80, nodePort: 30999, protocol: 'TCP' }] }),
    expected: [
      ['spec.clusterIP', '10.43.1.1'],
      ['spec.clusterIPs', ['10.43.1.1']],
      ['spec.ports.0.nodePort', 30999],
    ],
  },
];

describe('kube restore actions', () => {
  describe('transform', () => {
    it.each(TRANSFORMS)('$title', ({ action, input, ctx, expected }) => {
      expectParts(action.transform(input(), transformContext(ctx)), expected);
    });
  });

  describe('appliesTo', () => {
    it.each(APPLIES_TO)('$title', ({ action, refs }) => {
      for (const [ref, applies] of refs) expect(action.appliesTo(ref), ref.resource).toBe(applies);
    });
  });

  describe('prepareUpdate', () => {
    it.each(PREPARE_UPDATES)('$title', ({ action, desired, live, expected }) => {
      expectParts(action.prepareUpdate!(desired(), live()), expected);
    });
  });

  describe('special cases', () => {
    const copy = transformContext({ targetNamespace: 'ai-qtrd-copy' });

    it('namespace-dns: points <service>.<source namespace>.svc names at the target namespace, in every string but the metadata', () => {
      const cm = namespaceDnsAction.transform(configMapWithServiceNames(), copy);
      expect(cm.data).toEqual({
        REDIS_HOST: 'redis-service.ai-qtrd-copy.svc.cluster.local',
        API: 'http://ai-qtrd-api.ai-qtrd-copy.svc:8000',
        OTHER: 'x.ai-qtrd-other.svc',
        PG: 'postgres://db.example.com:5432/gushen',
      });
      expect(cm.metadata.annotations.note).toBe('redis-service.ai-qtrd.svc');
      const deploy = namespaceDnsAction.transform(
        { kind: 'Deployment', metadata: { name: 'api' }, spec: { template: { spec: { containers: [{ env: [{ name: 'REDIS', value: 'redis-0.redis-headless.ai-qtrd.svc:6379' }], args: ['--upstream=web.ai-qtrd.svc'] }] } } } },
        copy,
      );
      expect(deploy.spec.template.spec.containers[0].env[0].value).toBe('redis-0.redis-headless.ai-qtrd-copy.svc:6379');
      expect(deploy.spec.template.spec.containers[0].args).toEqual(['--upstream=web.ai-qtrd-copy.svc']);
    });

    it('namespace-dns: rewrites Secret data through base64', () => {
      const url = 'redis://:p@redis-0.redis-headless.ai-qtrd.svc.cluster.local:6379';
      const s = namespaceDnsAction.transform({ kind: 'Secret', metadata: { name: 's' }, data: { U: Buffer.from(url).toString('base64') } }, copy);
      expect(Buffer.from(s.data.U, 'base64').toString()).toBe('redis://:p@redis-0.redis-headless.ai-qtrd-copy.svc.cluster.local:6379');
    });

    it('namespace-dns: changes nothing in the same namespace, or when the restore keeps the names', () => {
      expect(namespaceDnsAction.transform(configMapWithServiceNames(), { ...copy, targetNamespace: NS })).toEqual(configMapWithServiceNames());
      expect(namespaceDnsAction.transform(configMapWithServiceNames(), { ...copy, keepNamespaceDns: true })).toEqual(configMapWithServiceNames());
    });

    it('namespace-dns: runs last among the restore actions, after the per-kind ones', () => {
      expect(RESTORE_ACTIONS.at(-1)?.name).toBe('namespace-dns');
    });

    it('service: drops allocated node ports and healthCheckNodePort unless asked to keep them', () => {
      const spec = { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: [{ name: 'http', port: 80, nodePort: 30080 }] };
      const dropped = serviceAction.transform(service(structuredClone(spec)), transformContext());
      expect(dropped.spec.ports[0].nodePort).toBeUndefined();
      expect(dropped.spec.healthCheckNodePort).toBeUndefined();
      const kept = serviceAction.transform(service(structuredClone(spec)), transformContext({ keepNodePorts: true }));
      expect(kept.spec.ports[0].nodePort).toBe(30080);
      expect(kept.spec.healthCheckNodePort).toBe(32000);
    });
  });
});
