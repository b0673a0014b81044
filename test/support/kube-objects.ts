import type { TransformContext } from '../../src/sources/kube/restore-actions/types.js';

/**
 * Kubernetes objects as a backup holds them, for the restore-action tests: one builder per kind, each returning
 * a fresh object (actions change their input in place), in the backed-up namespace `NS` unless told otherwise.
 */
export const NS = 'ai-qtrd';
export const TARGET_NS = 'ai-qtrd-restored';

/** The context of a restore from `NS` into `TARGET_NS`; `over` changes parts of it (the same namespace, keep flags). */
export function transformContext(over: Partial<TransformContext> = {}): TransformContext {
  return { sourceNamespace: NS, targetNamespace: TARGET_NS, backupId: '20261124T020000Z-nightly', restoreId: 'r1', keepNodePorts: false, ...over };
}

/** A ConfigMap as the API server lists it: every server-owned metadata field set, and a status. */
export function listedConfigMap() {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: 'ai-qtrd-config',
      namespace: NS,
      uid: 'u-1',
      resourceVersion: '42',
      generation: 3,
      creationTimestamp: '2026-01-01T00:00:00Z',
      deletionTimestamp: '2026-01-02T00:00:00Z',
      deletionGracePeriodSeconds: 30,
      managedFields: [{ manager: 'kubectl' }],
      selfLink: `/api/v1/namespaces/${NS}/configmaps/ai-qtrd-config`,
      ownerReferences: [{ apiVersion: 'v1', kind: 'Foo', name: 'x', uid: 'u-2' }],
      labels: { app: 'gushen' },
      annotations: { note: 'kept' },
      finalizers: ['example.com/keep'],
    },
    data: { A: '1' },
    status: { whatever: true },
  };
}

/** A ConfigMap whose values (and one annotation) name services by their in-cluster DNS names. */
export function configMapWithServiceNames() {
  return {
    kind: 'ConfigMap',
    metadata: { name: 'c', namespace: NS, annotations: { note: `redis-service.${NS}.svc` } },
    data: { REDIS_HOST: `redis-service.${NS}.svc.cluster.local`, API: `http://ai-qtrd-api.${NS}.svc:8000`, OTHER: 'x.ai-qtrd-other.svc', PG: 'postgres://db.example.com:5432/gushen' },
  };
}

export function namespace() {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: NS, labels: { 'kubernetes.io/metadata.name': NS, 'pod-security.kubernetes.io/enforce': 'baseline' } },
    spec: { finalizers: ['kubernetes'] },
  };
}

export function service(spec: any, annotations?: Record<string, string>) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: NS, ...(annotations ? { annotations } : {}) }, spec };
}

/** A Pod as scheduled: on a node, with the admission-set priority and the injected API token volume. */
export function pod() {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'debug', namespace: NS },
    spec: {
      nodeName: 'cloud-ubuntu-3-2c2g',
      priorityClassName: 'high',
      priority: 1000,
      serviceAccountName: 'default',
      volumes: [{ name: 'data', emptyDir: {} }, { name: 'kube-api-access-x7k2p', projected: { sources: [] } }],
      containers: [
        {
          name: 'c',
          image: 'busybox',
          volumeMounts: [
            { name: 'data', mountPath: '/data' },
            { name: 'kube-api-access-x7k2p', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' },
          ],
        },
      ],
    },
  };
}

/** A Job with the selector and template labels its controller generated. */
export function job() {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'migrate', namespace: NS, labels: { 'batch.kubernetes.io/controller-uid': 'u-1', app: 'api' } },
    spec: {
      selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': 'u-1', 'controller-uid': 'u-1' } as Record<string, string> },
      template: {
        metadata: { labels: { 'batch.kubernetes.io/controller-uid': 'u-1', 'controller-uid': 'u-1', 'job-name': 'migrate', 'batch.kubernetes.io/job-name': 'migrate', app: 'api' } },
        spec: { restartPolicy: 'Never', containers: [{ name: 'm', image: 'x' }] },
      },
    } as Record<string, any>,
  };
}

/** A bound PersistentVolumeClaim, with the annotations of its binding and provisioning. */
export function persistentVolumeClaim() {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: 'data-redis-0',
      namespace: NS,
      annotations: {
        'pv.kubernetes.io/bind-completed': 'yes',
        'pv.kubernetes.io/bound-by-controller': 'yes',
        'volume.kubernetes.io/selected-node': 'cloud-ubuntu-2-4c8g',
        'volume.kubernetes.io/storage-provisioner': 'rancher.io/local-path',
      },
    },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: 'local-path', volumeName: 'pvc-0a1b' },
  };
}

/** The PersistentVolume bound to persistentVolumeClaim(): its claimRef carries the claim's uid and version. */
export function persistentVolume() {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: {
      name: 'pvc-0a1b',
      annotations: { 'pv.kubernetes.io/bound-by-controller': 'yes', 'pv.kubernetes.io/provisioned-by': 'rancher.io/local-path' },
    },
    spec: {
      storageClassName: 'local-path',
      claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: NS, name: 'data-redis-0', uid: 'u-9', resourceVersion: '77' },
    },
  };
}

export function serviceAccount() {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'ai-qtrd-api' }, secrets: [{ name: 'ai-qtrd-api-token-x7k2p' }, { name: 'registry-creds' }], imagePullSecrets: [{ name: 'registry-creds' }] };
}

/** A RoleBinding with subjects in the backed-up namespace, in another namespace, and a User. */
export function roleBinding() {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'api', namespace: NS },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'api' },
    subjects: [
      { kind: 'ServiceAccount', name: 'ai-qtrd-api', namespace: NS },
      { kind: 'ServiceAccount', name: 'monitor', namespace: 'monitoring' },
      { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'ops' },
    ],
  };
}

/** A ClusterRoleBinding granting a ClusterRole to a ServiceAccount of the backed-up namespace and to a Group. */
export function clusterRoleBinding() {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'ai-qtrd-api-view' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
    subjects: [{ kind: 'ServiceAccount', name: 'ai-qtrd-api', namespace: NS }, { kind: 'Group', name: 'ops' }],
  };
}

/** A Traefik IngressRoute whose services, middlewares and TLS options name namespaces, the backed-up one among them. */
export function ingressRoute() {
  return {
    apiVersion: 'traefik.io/v1alpha1',
    kind: 'IngressRoute',
    metadata: { name: 'gushen', namespace: NS },
    spec: {
      entryPoints: ['websecure'],
      routes: [
        {
          match: 'Host(`gushen.lurus.cn`) && PathPrefix(`/api/backtest`)',
          kind: 'Rule',
          services: [{ name: 'ai-qtrd-api', port: 8000, namespace: NS }],
          middlewares: [{ name: 'strip', namespace: NS }, { name: 'global-auth', namespace: 'kube-system' }],
        },
        { match: 'Host(`gushen.lurus.cn`)', kind: 'Rule', services: [{ name: 'ai-qtrd-web', port: 3000 }] },
      ],
      tls: { secretName: 'gushen-lurus-cn-tls', options: { name: 'modern', namespace: NS } },
    },
  };
}
