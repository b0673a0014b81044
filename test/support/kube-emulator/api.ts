/** The API server's object semantics (create / update / patch / delete / get / list), independent of HTTP. */
import { randomUUID } from 'node:crypto';
import { admit } from './admission.js';
import { registerCrd, unregisterCrd } from './crd.js';
import { alreadyExists, ApiError, badRequest, conflict, invalid, notFound } from './errors.js';
import { cascadeDelete } from './gc.js';
import { applyPatch, type PatchType } from './patch.js';
import { apiVersionOf, preferredApiVersion, type Registry, type ResourceDef } from './registry.js';
import { formatLabelSelector, fromLabelSelectorSpec, matchesFields, matchesLabels, type FieldRequirement, type LabelSelector } from './selectors.js';
import type { Store } from './store.js';
import { clone, deepEqual, getPath, isRec, num, randomSuffix, rec, setPath, str, timestamp, type KubeObject, type Rec } from './types.js';
import { validateMetadata } from './validation.js';

export interface WriteOptions {
  dryRun?: boolean;
  /** Fixture loading and controllers: keep given uid/status/timestamps, skip create-only checks. */
  internal?: boolean;
}

export interface UpdateOptions extends WriteOptions {
  subresource?: 'status';
}

export interface DeleteOptions extends WriteOptions {
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface ListOptions {
  labelSelector?: LabelSelector;
  fieldSelector?: FieldRequirement[];
}

const CORE_GROUP_SYSTEM_FIELDS = ['apiVersion', 'kind', 'metadata', 'status'];

/** Sets apiVersion/kind for the version a client asked for (no conversion is done). */
export function render(obj: KubeObject, def: ResourceDef, version?: string): KubeObject {
  const out = clone(obj);
  out.apiVersion = version ? apiVersionOf(def.group, version) : preferredApiVersion(def);
  out.kind = def.kind;
  return { apiVersion: out.apiVersion, kind: out.kind, ...out };
}

/** The part of an object whose changes bump metadata.generation. */
function specPart(def: ResourceDef, obj: KubeObject): unknown {
  if (def.crd) return Object.fromEntries(Object.entries(obj).filter(([k]) => !CORE_GROUP_SYSTEM_FIELDS.includes(k)));
  return obj.spec;
}

function withoutVolatile(obj: KubeObject): KubeObject {
  const c = { ...obj, metadata: { ...obj.metadata } };
  delete c.metadata.resourceVersion;
  delete c.apiVersion;
  delete c.kind;
  return c;
}

export class Api {
  constructor(
    readonly registry: Registry,
    readonly store: Store,
  ) {}

  private ref(def: ResourceDef): { group: string; resource: string } {
    return { group: def.group, resource: def.resource };
  }

  private checkNamespace(def: ResourceDef, namespace: string | undefined): void {
    if (!def.namespaced) return;
    if (!namespace) throw badRequest('the namespace of the object must be set');
    if (!this.store.get('', 'namespaces', undefined, namespace)) throw notFound({ group: '', resource: 'namespaces' }, namespace);
  }

  /** Raw stored object (no copy). */
  find(def: ResourceDef, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.store.get(def.group, def.resource, def.namespaced ? namespace : undefined, name);
  }

  get(def: ResourceDef, namespace: string | undefined, name: string): KubeObject {
    const o = this.find(def, namespace, name);
    if (!o) throw notFound(this.ref(def), name);
    return render(o, def);
  }

  list(def: ResourceDef, namespace: string | undefined, opts: ListOptions = {}): KubeObject[] {
    return this.store
      .list(def.group, def.resource, def.namespaced ? namespace : undefined)
      .filter((o) => matchesLabels(opts.labelSelector ?? [], o.metadata.labels) && matchesFields(opts.fieldSelector ?? [], o))
      .map((o) => render(o, def));
  }

  private prepareBody(def: ResourceDef, namespace: string | undefined, body: unknown): KubeObject {
    if (!isRec(body)) throw badRequest(`the object provided is unrecognized (must be of type ${def.kind})`);
    const obj = clone(body) as Rec;
    if (obj.kind !== undefined && obj.kind !== def.kind) {
      throw badRequest(`the server could not find the requested resource: kind ${String(obj.kind)} does not match ${def.kind}`);
    }
    if (obj.apiVersion !== undefined && !def.versions.some((v) => apiVersionOf(def.group, v) === obj.apiVersion)) {
      throw badRequest(`the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${preferredApiVersion(def)})`);
    }
    const metadata = isRec(obj.metadata) ? { ...obj.metadata } : {};
    const o: KubeObject = { ...obj, metadata };
    if (def.namespaced) {
      if (metadata.namespace !== undefined && metadata.namespace !== '' && metadata.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      metadata.namespace = namespace;
    } else {
      delete metadata.namespace;
    }
    o.apiVersion = preferredApiVersion(def);
    o.kind = def.kind;
    return o;
  }

  create(def: ResourceDef, namespace: string | undefined, body: unknown, opts: WriteOptions = {}): KubeObject {
    const obj = this.prepareBody(def, namespace, body);
    const meta = obj.metadata;
    if (!opts.internal) this.checkNamespace(def, meta.namespace);
    if (!meta.name && meta.generateName) {
      let base = meta.generateName;
      if (base.length > 58) base = base.slice(0, 58);
      meta.name = base + randomSuffix(5);
    }
    const errs = validateMetadata(obj, def.nameRule);
    if (errs.length) throw invalid(def.kind, meta.name ?? '', errs, def.group);
    if (!opts.internal) {
      if (meta.resourceVersion) throw new ApiError(500, 'InternalError', 'Internal error occurred: resourceVersion should not be set on objects to be created');
      meta.uid = randomUUID();
      meta.creationTimestamp = timestamp();
      if (def.status) delete obj.status;
    } else {
      meta.uid ??= randomUUID();
      meta.creationTimestamp ??= timestamp();
      delete meta.resourceVersion;
    }
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.managedFields;
    delete meta.selfLink;
    if (def.generation) meta.generation = 1;
    else delete meta.generation;
    admit({ store: this.store, registry: this.registry, internal: !!opts.internal }, def, obj, undefined);
    if (this.find(def, meta.namespace, meta.name ?? '')) throw alreadyExists(this.ref(def), meta.name ?? '');
    if (opts.dryRun) return render(obj, def);
    this.store.put(def.group, def.resource, obj);
    if (def.group === 'apiextensions.k8s.io' && def.resource === 'customresourcedefinitions') registerCrd(this.registry, obj);
    return render(obj, def);
  }

  update(def: ResourceDef, namespace: string | undefined, name: string, body: unknown, opts: UpdateOptions = {}): KubeObject {
    const incoming = this.prepareBody(def, namespace, body);
    if (incoming.metadata.name === undefined || incoming.metadata.name === '') incoming.metadata.name = name;
    if (incoming.metadata.name !== name) throw badRequest(`the name of the object (${incoming.metadata.name}) does not match the name on the URL (${name})`);
    const old = this.find(def, namespace, name);
    if (!old) throw notFound(this.ref(def), name);
    const rv = incoming.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== old.metadata.resourceVersion) throw conflict(this.ref(def), name);

    let next: KubeObject;
    if (opts.subresource === 'status') {
      next = { ...clone(old), status: incoming.status };
      if (next.status === undefined) delete next.status;
    } else {
      next = incoming;
      const m = next.metadata;
      m.uid = old.metadata.uid;
      m.creationTimestamp = old.metadata.creationTimestamp;
      if (old.metadata.deletionTimestamp) m.deletionTimestamp = old.metadata.deletionTimestamp;
      else delete m.deletionTimestamp;
      m.generation = old.metadata.generation;
      if (m.generation === undefined) delete m.generation;
      delete m.managedFields;
      delete m.selfLink;
      if (def.status && !opts.internal) {
        if (old.status === undefined) delete next.status;
        else next.status = clone(old.status);
      }
      const errs = validateMetadata(next, def.nameRule);
      if (errs.length) throw invalid(def.kind, name, errs, def.group);
      admit({ store: this.store, registry: this.registry, internal: !!opts.internal }, def, next, old);
      if (typeof old.metadata.generation === 'number' && !deepEqual(specPart(def, old), specPart(def, next))) {
        next.metadata.generation = old.metadata.generation + 1;
      }
    }
    next.metadata.resourceVersion = old.metadata.resourceVersion;
    if (deepEqual(withoutVolatile(old), withoutVolatile(next))) return render(old, def);
    if (opts.dryRun) return render(next, def);
    this.store.put(def.group, def.resource, next);
    if (def.group === 'apiextensions.k8s.io' && def.resource === 'customresourcedefinitions') registerCrd(this.registry, next);
    return render(next, def);
  }

  patch(def: ResourceDef, namespace: string | undefined, name: string, type: PatchType, patch: unknown, opts: UpdateOptions = {}): { object: KubeObject; created: boolean } {
    const old = this.find(def, namespace, name);
    if (!old) {
      if (type === 'apply' && !opts.subresource) {
        const body = isRec(patch) ? { ...patch, metadata: { ...rec(patch.metadata), name } } : patch;
        return { object: this.create(def, namespace, body, opts), created: true };
      }
      throw notFound(this.ref(def), name);
    }
    if (type === 'apply' && !isRec(patch)) throw badRequest('apply patch must be an object');
    const patched = applyPatch(type, render(old, def), patch);
    if (!isRec(patched)) throw badRequest('the patch produced an invalid object');
    return { object: this.update(def, namespace, name, patched, opts), created: false };
  }

  delete(def: ResourceDef, namespace: string | undefined, name: string, opts: DeleteOptions = {}): KubeObject {
    const old = this.find(def, namespace, name);
    if (!old) throw notFound(this.ref(def), name);
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== old.metadata.uid) {
      throw conflict(this.ref(def), name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid ?? ''}`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(this.ref(def), name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion ?? ''}`);
    }
    const out = render(old, def);
    if (opts.dryRun) return out;
    if (def.group === '' && def.resource === 'namespaces') this.purgeNamespace(name);
    if (def.group === 'apiextensions.k8s.io' && def.resource === 'customresourcedefinitions') unregisterCrd(this.registry, this.store, old);
    this.store.remove(def.group, def.resource, old.metadata.namespace, name);
    cascadeDelete(this.store, old.metadata.uid, opts.propagationPolicy === 'Orphan');
    return out;
  }

  /** Removes every namespaced object of a namespace (the namespace controller, done at once). */
  private purgeNamespace(ns: string): void {
    for (const { group, resource, object } of [...this.store.entries()]) {
      if (object.metadata.namespace !== ns) continue;
      if (!this.registry.byResource(group, resource)?.namespaced) continue;
      this.store.remove(group, resource, ns, object.metadata.name ?? '');
      cascadeDelete(this.store, object.metadata.uid, false);
    }
  }

  /** The autoscaling/v1 Scale view of an object with a scale subresource. */
  getScale(def: ResourceDef, namespace: string | undefined, name: string): KubeObject {
    const o = this.find(def, namespace, name);
    if (!o || !def.scale) throw notFound(this.ref(def), name);
    const sel = def.scale.labelSelectorPath === '.status.selector' && !def.crd ? formatLabelSelector(fromLabelSelectorSpec(rec(o.spec).selector) ?? []) : str(getPath(o, def.scale.labelSelectorPath ?? ''));
    const status: Rec = { replicas: num(getPath(o, def.scale.statusReplicasPath)) ?? 0 };
    if (sel) status.selector = sel;
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: { name, namespace: o.metadata.namespace, uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion, creationTimestamp: o.metadata.creationTimestamp },
      spec: { replicas: num(getPath(o, def.scale.specReplicasPath)) ?? 0 },
      status,
    };
  }

  /** Updates spec.replicas through the Scale subresource (body is a full Scale or a patch of one). */
  updateScale(def: ResourceDef, namespace: string | undefined, name: string, scale: unknown, opts: WriteOptions = {}): KubeObject {
    const o = this.find(def, namespace, name);
    if (!o || !def.scale) throw notFound(this.ref(def), name);
    const s = rec(scale);
    const replicas = num(rec(s.spec).replicas);
    if (replicas === undefined || replicas < 0) throw invalid('Scale', name, [{ field: 'spec.replicas', type: 'Invalid', value: String(rec(s.spec).replicas), detail: 'must be greater than or equal to 0' }], 'autoscaling');
    const rv = str(rec(s.metadata).resourceVersion);
    if (rv && rv !== o.metadata.resourceVersion) throw conflict(this.ref(def), name);
    const next = render(o, def);
    setPath(next, def.scale.specReplicasPath.replace(/^\./, ''), replicas);
    this.update(def, namespace, name, next, opts);
    return this.getScale(def, namespace, name);
  }
}
