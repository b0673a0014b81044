/** The set of API resources the emulator serves: built-ins plus whatever CRDs register. */

export type NameRule = 'subdomain' | 'label' | 'dns1035' | 'path';

export interface ScaleSubresource {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
}

export interface ResourceDef {
  /** '' for the core group. */
  group: string;
  /** Served versions, the preferred (storage) version first. */
  versions: string[];
  resource: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: string[];
  status: boolean;
  scale?: ScaleSubresource;
  nameRule: NameRule;
  /** Extra field-selector paths besides metadata.name / metadata.namespace. */
  fieldSelectors: string[];
  /** Whether metadata.generation is maintained (set to 1, bumped on spec changes). */
  generation: boolean;
  /** Create-only review resources answered on the fly and never stored (access reviews...). */
  virtual?: boolean;
  /** Set for resources that come from a CustomResourceDefinition. */
  crd?: string;
  printerColumns?: PrinterColumn[];
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

interface BuiltinSpec {
  group: string;
  versions?: string[];
  resource: string;
  kind: string;
  cluster?: boolean;
  short?: string[];
  all?: boolean;
  status?: boolean;
  scale?: boolean;
  nameRule?: NameRule;
  fields?: string[];
  verbs?: string[];
  virtual?: boolean;
}

/** Resources whose strategy maintains metadata.generation. */
const WITH_GENERATION = new Set(['apps/deployments', 'apps/statefulsets', 'apps/replicasets', 'apps/daemonsets', 'batch/jobs', 'batch/cronjobs', 'networking.k8s.io/ingresses', 'networking.k8s.io/networkpolicies', 'networking.k8s.io/ingressclasses', 'policy/poddisruptionbudgets', 'apiextensions.k8s.io/customresourcedefinitions', 'autoscaling/horizontalpodautoscalers']);

const POD_FIELDS = ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName'];
const EVENT_FIELDS = ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'];

const BUILTINS: BuiltinSpec[] = [
  { group: '', resource: 'namespaces', kind: 'Namespace', cluster: true, short: ['ns'], status: true, nameRule: 'label', fields: ['status.phase'] },
  { group: '', resource: 'pods', kind: 'Pod', short: ['po'], all: true, status: true, fields: POD_FIELDS },
  { group: '', resource: 'services', kind: 'Service', short: ['svc'], all: true, status: true, nameRule: 'dns1035' },
  { group: '', resource: 'endpoints', kind: 'Endpoints', short: ['ep'] },
  { group: '', resource: 'configmaps', kind: 'ConfigMap', short: ['cm'] },
  { group: '', resource: 'secrets', kind: 'Secret', fields: ['type'] },
  { group: '', resource: 'serviceaccounts', kind: 'ServiceAccount', short: ['sa'] },
  { group: '', resource: 'persistentvolumeclaims', kind: 'PersistentVolumeClaim', short: ['pvc'], status: true },
  { group: '', resource: 'persistentvolumes', kind: 'PersistentVolume', cluster: true, short: ['pv'], status: true },
  { group: '', resource: 'events', kind: 'Event', short: ['ev'], fields: EVENT_FIELDS },
  { group: '', resource: 'limitranges', kind: 'LimitRange', short: ['limits'] },
  { group: '', resource: 'resourcequotas', kind: 'ResourceQuota', short: ['quota'], status: true },
  { group: '', resource: 'nodes', kind: 'Node', cluster: true, short: ['no'], status: true, fields: ['spec.unschedulable'] },
  // Served by every real API server, seldom used: here so that RBAC rules naming them can be exercised.
  { group: '', resource: 'podtemplates', kind: 'PodTemplate' },
  { group: '', resource: 'replicationcontrollers', kind: 'ReplicationController', short: ['rc'], status: true },
  { group: 'events.k8s.io', resource: 'events', kind: 'Event' },
  { group: 'storage.k8s.io', resource: 'csistoragecapacities', kind: 'CSIStorageCapacity' },
  { group: 'apps', resource: 'deployments', kind: 'Deployment', short: ['deploy'], all: true, status: true, scale: true },
  { group: 'apps', resource: 'statefulsets', kind: 'StatefulSet', short: ['sts'], all: true, status: true, scale: true },
  { group: 'apps', resource: 'replicasets', kind: 'ReplicaSet', short: ['rs'], all: true, status: true, scale: true, fields: ['status.replicas'] },
  { group: 'apps', resource: 'daemonsets', kind: 'DaemonSet', short: ['ds'], all: true, status: true },
  { group: 'apps', resource: 'controllerrevisions', kind: 'ControllerRevision' },
  { group: 'batch', resource: 'jobs', kind: 'Job', all: true, status: true, fields: ['status.successful'] },
  { group: 'batch', resource: 'cronjobs', kind: 'CronJob', short: ['cj'], all: true, status: true },
  { group: 'autoscaling', versions: ['v2', 'v1'], resource: 'horizontalpodautoscalers', kind: 'HorizontalPodAutoscaler', short: ['hpa'], all: true, status: true },
  { group: 'networking.k8s.io', resource: 'ingresses', kind: 'Ingress', short: ['ing'], status: true },
  { group: 'networking.k8s.io', resource: 'ingressclasses', kind: 'IngressClass', cluster: true },
  { group: 'networking.k8s.io', resource: 'networkpolicies', kind: 'NetworkPolicy', short: ['netpol'] },
  { group: 'rbac.authorization.k8s.io', resource: 'roles', kind: 'Role', nameRule: 'path' },
  { group: 'rbac.authorization.k8s.io', resource: 'rolebindings', kind: 'RoleBinding', nameRule: 'path' },
  { group: 'rbac.authorization.k8s.io', resource: 'clusterroles', kind: 'ClusterRole', cluster: true, nameRule: 'path' },
  { group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings', kind: 'ClusterRoleBinding', cluster: true, nameRule: 'path' },
  { group: 'storage.k8s.io', resource: 'storageclasses', kind: 'StorageClass', cluster: true, short: ['sc'] },
  { group: 'coordination.k8s.io', resource: 'leases', kind: 'Lease' },
  { group: 'discovery.k8s.io', resource: 'endpointslices', kind: 'EndpointSlice' },
  { group: 'policy', resource: 'poddisruptionbudgets', kind: 'PodDisruptionBudget', short: ['pdb'], status: true },
  { group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', kind: 'CustomResourceDefinition', cluster: true, short: ['crd', 'crds'], status: true },
  { group: 'scheduling.k8s.io', resource: 'priorityclasses', kind: 'PriorityClass', cluster: true, short: ['pc'] },
  { group: 'authorization.k8s.io', resource: 'selfsubjectaccessreviews', kind: 'SelfSubjectAccessReview', cluster: true, verbs: ['create'], virtual: true },
  { group: 'authorization.k8s.io', resource: 'selfsubjectrulesreviews', kind: 'SelfSubjectRulesReview', cluster: true, verbs: ['create'], virtual: true },
  { group: 'authorization.k8s.io', resource: 'subjectaccessreviews', kind: 'SubjectAccessReview', cluster: true, verbs: ['create'], virtual: true },
  { group: 'authorization.k8s.io', resource: 'localsubjectaccessreviews', kind: 'LocalSubjectAccessReview', verbs: ['create'], virtual: true },
  { group: 'authentication.k8s.io', resource: 'selfsubjectreviews', kind: 'SelfSubjectReview', cluster: true, verbs: ['create'], virtual: true },
  { group: 'authentication.k8s.io', resource: 'tokenreviews', kind: 'TokenReview', cluster: true, verbs: ['create'], virtual: true },
];

/** Order of groups in `/apis`, mirroring a real cluster. */
const GROUP_ORDER = ['', 'apps', 'events.k8s.io', 'authentication.k8s.io', 'authorization.k8s.io', 'autoscaling', 'batch', 'networking.k8s.io', 'policy', 'rbac.authorization.k8s.io', 'storage.k8s.io', 'apiextensions.k8s.io', 'scheduling.k8s.io', 'coordination.k8s.io', 'discovery.k8s.io'];

function singularOf(resource: string, kind: string): string {
  return kind.toLowerCase() === resource ? resource : kind.toLowerCase();
}

function builtinDef(s: BuiltinSpec): ResourceDef {
  return {
    group: s.group,
    versions: s.versions ?? ['v1'],
    resource: s.resource,
    singular: singularOf(s.resource, s.kind),
    kind: s.kind,
    listKind: `${s.kind}List`,
    namespaced: !s.cluster,
    shortNames: s.short ?? [],
    categories: s.all ? ['all'] : [],
    verbs: s.verbs ?? VERBS,
    status: s.status ?? false,
    scale: s.scale ? { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' } : undefined,
    nameRule: s.nameRule ?? 'subdomain',
    fieldSelectors: s.fields ?? [],
    generation: WITH_GENERATION.has(`${s.group}/${s.resource}`),
    virtual: s.virtual,
  };
}

export interface GroupInfo {
  name: string;
  versions: string[];
  preferred: string;
}

export class Registry {
  private defs: ResourceDef[] = BUILTINS.map(builtinDef);

  all(): ResourceDef[] {
    return [...this.defs];
  }

  /** A resource served at group/version. */
  lookup(group: string, version: string, resource: string): ResourceDef | undefined {
    return this.defs.find((d) => d.group === group && d.resource === resource && d.versions.includes(version));
  }

  /** A resource regardless of version. */
  byResource(group: string, resource: string): ResourceDef | undefined {
    return this.defs.find((d) => d.group === group && d.resource === resource);
  }

  byKind(group: string, kind: string): ResourceDef | undefined {
    return this.defs.find((d) => d.group === group && d.kind === kind);
  }

  /** Resolves `apiVersion` + `kind` (e.g. from an object body). */
  byApiVersionKind(apiVersion: string, kind: string): ResourceDef | undefined {
    const { group, version } = splitApiVersion(apiVersion);
    const d = this.byKind(group, kind);
    return d && d.versions.includes(version) ? d : undefined;
  }

  resourcesIn(group: string, version: string): ResourceDef[] {
    return this.defs.filter((d) => d.group === group && d.versions.includes(version));
  }

  groups(): GroupInfo[] {
    const names: string[] = [];
    for (const d of this.defs) if (!names.includes(d.group)) names.push(d.group);
    const rank = (g: string): number => {
      const i = GROUP_ORDER.indexOf(g);
      return i === -1 ? GROUP_ORDER.length : i;
    };
    names.sort((a, b) => rank(a) - rank(b));
    return names.map((name) => {
      const versions: string[] = [];
      for (const d of this.defs.filter((x) => x.group === name)) for (const v of d.versions) if (!versions.includes(v)) versions.push(v);
      const first = this.defs.find((x) => x.group === name);
      return { name, versions, preferred: first?.versions[0] ?? versions[0] ?? 'v1' };
    });
  }

  /** Adds or replaces the resource a CRD defines. */
  registerCrd(def: ResourceDef): void {
    this.defs = this.defs.filter((d) => d.crd !== def.crd);
    this.defs.push(def);
  }

  unregisterCrd(crdName: string): ResourceDef | undefined {
    const old = this.defs.find((d) => d.crd === crdName);
    this.defs = this.defs.filter((d) => d.crd !== crdName);
    return old;
  }
}

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.indexOf('/');
  return i === -1 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

export function apiVersionOf(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

export function preferredApiVersion(def: ResourceDef): string {
  return apiVersionOf(def.group, def.versions[0] ?? 'v1');
}
