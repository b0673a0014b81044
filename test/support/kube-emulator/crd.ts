/** CustomResourceDefinition validation, status, and (un)registration of the resources they define. */
import { invalid, type FieldError } from './errors.js';
import type { PrinterColumn, Registry, ResourceDef } from './registry.js';
import type { Store } from './store.js';
import { arr, isRec, rec, str, timestamp, type KubeObject, type Rec } from './types.js';
import { quote } from './validation.js';

const VERBS = ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'];

/** Defaults and validates a CRD and fills in its status (names accepted, established). */
export function admitCrd(crd: KubeObject): void {
  const name = crd.metadata.name ?? '';
  const spec: Rec = isRec(crd.spec) ? crd.spec : {};
  crd.spec = spec;
  const names: Rec = isRec(spec.names) ? spec.names : {};
  spec.names = names;
  const errs: FieldError[] = [];
  const group = str(spec.group) ?? '';
  const plural = str(names.plural) ?? '';
  const kind = str(names.kind) ?? '';
  if (!group) errs.push({ field: 'spec.group', type: 'Required' });
  else if (!group.includes('.')) errs.push({ field: 'spec.group', type: 'Invalid', value: quote(group), detail: 'should be a domain with at least one dot' });
  if (!plural) errs.push({ field: 'spec.names.plural', type: 'Required' });
  if (!kind) errs.push({ field: 'spec.names.kind', type: 'Required' });
  if (group && plural && name !== `${plural}.${group}`) {
    errs.push({ field: 'metadata.name', type: 'Invalid', value: quote(name), detail: 'must be spec.names.plural+"."+spec.group' });
  }
  const scope = str(spec.scope);
  if (scope !== 'Namespaced' && scope !== 'Cluster') {
    errs.push({ field: 'spec.scope', type: 'NotSupported', value: quote(scope ?? ''), detail: 'supported values: "Cluster", "Namespaced"' });
  }
  const versions = arr(spec.versions).map(rec);
  if (versions.length === 0) errs.push({ field: 'spec.versions', type: 'Invalid', value: '[]', detail: 'must have exactly one version marked as storage version' });
  else if (versions.filter((v) => v.storage === true).length !== 1) {
    errs.push({ field: 'spec.versions', type: 'Invalid', value: JSON.stringify(versions.map((v) => v.name)), detail: 'must have exactly one version marked as storage version' });
  }
  versions.forEach((v, i) => {
    if (!str(v.name)) errs.push({ field: `spec.versions[${i}].name`, type: 'Required' });
    if (typeof v.served !== 'boolean') errs.push({ field: `spec.versions[${i}].served`, type: 'Required' });
  });
  if (errs.length) throw invalid('CustomResourceDefinition', name, errs, 'apiextensions.k8s.io');
  if (names.singular === undefined) names.singular = kind.toLowerCase();
  if (names.listKind === undefined) names.listKind = `${kind}List`;
  if (spec.conversion === undefined) spec.conversion = { strategy: 'None' };
  const now = timestamp();
  const storage = versions.find((v) => v.storage === true);
  crd.status = {
    acceptedNames: { ...names },
    conditions: [
      { type: 'NamesAccepted', status: 'True', lastTransitionTime: now, reason: 'NoConflicts', message: 'no conflicts found' },
      { type: 'Established', status: 'True', lastTransitionTime: now, reason: 'InitialNamesAccepted', message: 'the initial names have been accepted' },
    ],
    storedVersions: [str(storage?.name) ?? 'v1'],
  };
}

function stripDot(p: string): string {
  return p.startsWith('.') ? p.slice(1) : p;
}

/** Builds the resource definition a CRD describes. */
export function crdToDef(crd: KubeObject): ResourceDef {
  const spec = rec(crd.spec);
  const names = rec(spec.names);
  const versions = arr(spec.versions).map(rec);
  const served = versions.filter((v) => v.served === true);
  const storage = served.find((v) => v.storage === true);
  const ordered = storage ? [storage, ...served.filter((v) => v !== storage)] : served;
  const sub = rec((storage ?? served[0])?.subresources);
  const scale = isRec(sub.scale) ? sub.scale : undefined;
  const kind = str(names.kind) ?? '';
  const printerColumns = arr((storage ?? served[0])?.additionalPrinterColumns)
    .map(rec)
    .map((c): PrinterColumn => ({ name: str(c.name) ?? '', type: str(c.type) ?? 'string', jsonPath: str(c.jsonPath) ?? '', description: str(c.description), priority: typeof c.priority === 'number' ? c.priority : 0, format: str(c.format) }));
  return {
    group: str(spec.group) ?? '',
    versions: ordered.map((v) => str(v.name) ?? ''),
    resource: str(names.plural) ?? '',
    singular: str(names.singular) ?? kind.toLowerCase(),
    kind,
    listKind: str(names.listKind) ?? `${kind}List`,
    namespaced: spec.scope !== 'Cluster',
    shortNames: arr(names.shortNames).filter((x): x is string => typeof x === 'string'),
    categories: arr(names.categories).filter((x): x is string => typeof x === 'string'),
    verbs: VERBS,
    status: isRec(sub.status),
    scale: scale
      ? { specReplicasPath: str(scale.specReplicasPath) ?? '.spec.replicas', statusReplicasPath: str(scale.statusReplicasPath) ?? '.status.replicas', labelSelectorPath: str(scale.labelSelectorPath) }
      : undefined,
    nameRule: 'path',
    fieldSelectors: arr((storage ?? served[0])?.selectableFields).map((f) => stripDot(str(rec(f).jsonPath) ?? '')),
    generation: true,
    crd: crd.metadata.name,
    printerColumns,
  };
}

export function registerCrd(registry: Registry, crd: KubeObject): void {
  const def = crdToDef(crd);
  if (def.versions.length === 0) registry.unregisterCrd(crd.metadata.name ?? '');
  else registry.registerCrd(def);
}

/** Removes the CRD's resource from discovery and deletes all of its objects. */
export function unregisterCrd(registry: Registry, store: Store, crd: KubeObject): void {
  const spec = rec(crd.spec);
  const group = str(spec.group) ?? '';
  const plural = str(rec(spec.names).plural) ?? '';
  registry.unregisterCrd(crd.metadata.name ?? '');
  for (const o of store.list(group, plural)) store.remove(group, plural, o.metadata.namespace, o.metadata.name ?? '');
}
