/** Legacy discovery documents (/version, /api, /apis, /apis/<g>/<v>) and a minimal OpenAPI v3. */
import { apiVersionOf, type Registry, type ResourceDef } from './registry.js';
import type { Rec } from './types.js';

export const SERVER_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.4+emulator',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2025-04-22T00:00:00Z',
  goVersion: 'go1.23.8',
  compiler: 'gc',
  platform: 'linux/amd64',
};

export function apiVersions(serverAddress: string): Rec {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function groupDoc(registry: Registry, name: string): Rec | undefined {
  const g = registry.groups().find((x) => x.name === name);
  if (!g) return undefined;
  return {
    name: g.name,
    versions: g.versions.map((v) => ({ groupVersion: apiVersionOf(g.name, v), version: v })),
    preferredVersion: { groupVersion: apiVersionOf(g.name, g.preferred), version: g.preferred },
  };
}

export function apiGroupList(registry: Registry): Rec {
  const groups = registry
    .groups()
    .filter((g) => g.name !== '')
    .map((g) => groupDoc(registry, g.name));
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

export function apiGroup(registry: Registry, name: string): Rec | undefined {
  const doc = groupDoc(registry, name);
  return doc && name !== '' ? { kind: 'APIGroup', apiVersion: 'v1', ...doc } : undefined;
}

function resourceEntries(d: ResourceDef): Rec[] {
  const main: Rec = { name: d.resource, singularName: d.singular, namespaced: d.namespaced, kind: d.kind, verbs: d.verbs };
  if (d.shortNames.length) main.shortNames = d.shortNames;
  if (d.categories.length) main.categories = d.categories;
  const out: Rec[] = [main];
  const sub = (name: string, kind: string, verbs: string[], extra: Rec = {}): void => {
    out.push({ name: `${d.resource}/${name}`, singularName: '', namespaced: d.namespaced, kind, verbs, ...extra });
  };
  if (d.group === '' && d.resource === 'pods') {
    sub('exec', 'PodExecOptions', ['create', 'get']);
    sub('log', 'Pod', ['get']);
  }
  if (d.group === '' && d.resource === 'services') sub('proxy', 'ServiceProxyOptions', ['create', 'delete', 'get', 'patch', 'update']);
  if (d.group === '' && d.resource === 'namespaces') sub('finalize', 'Namespace', ['update']);
  if (d.scale) sub('scale', 'Scale', ['get', 'patch', 'update'], { group: 'autoscaling', version: 'v1' });
  if (d.status) sub('status', d.kind, ['get', 'patch', 'update']);
  return out;
}

export function apiResourceList(registry: Registry, group: string, version: string): Rec | undefined {
  const defs = registry.resourcesIn(group, version);
  if (defs.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: apiVersionOf(group, version),
    resources: defs.flatMap(resourceEntries),
  };
}

/**
 * The OpenAPI v3 index. kubectl uses it only to learn that the server supports the
 * `fieldValidation` query parameter (so `kubectl apply` works without `--validate=false`).
 */
export function openApiV3Index(registry: Registry): Rec {
  const paths: Rec = {};
  for (const g of registry.groups()) {
    for (const v of g.versions) {
      const key = g.name === '' ? `api/${v}` : `apis/${g.name}/${v}`;
      paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=${hashOf(registry, g.name, v)}` };
    }
  }
  return { paths };
}

function hashOf(registry: Registry, group: string, version: string): string {
  const names = registry.resourcesIn(group, version).map((d) => d.resource).join(',');
  let h = 0;
  for (const c of names) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h.toString(16).toUpperCase().padStart(8, '0');
}

/** A skeletal OpenAPI v3 document per group/version: paths with PATCH and the fieldValidation parameter. */
export function openApiV3Doc(registry: Registry, group: string, version: string): Rec | undefined {
  const defs = registry.resourcesIn(group, version);
  if (defs.length === 0) return undefined;
  const prefix = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
  const paths: Rec = {};
  const param = (name: string): Rec => ({ name, in: 'query', schema: { type: 'string', uniqueItems: true } });
  for (const d of defs) {
    const gvk = { group, version, kind: d.kind };
    const base = d.namespaced ? `${prefix}/namespaces/{namespace}/${d.resource}` : `${prefix}/${d.resource}`;
    // kubectl looks for the parameter on the operation itself (not on the path item).
    const op = (id: string, action: string, extra: string[] = []): Rec => ({
      operationId: id,
      parameters: ['dryRun', 'fieldManager', 'fieldValidation', ...extra].map(param),
      'x-kubernetes-action': action,
      'x-kubernetes-group-version-kind': gvk,
      responses: { '200': { description: 'OK' } },
    });
    paths[base] = { post: op(`create${d.kind}`, 'post') };
    paths[`${base}/{name}`] = { put: op(`replace${d.kind}`, 'put'), patch: op(`patch${d.kind}`, 'patch', ['force']) };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.4+emulator' }, paths, components: { schemas: {} } };
}
