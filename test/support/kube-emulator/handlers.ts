/** HTTP handling of resource paths: CRUD, list/watch, subresources. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { render, type Api, type DeleteOptions } from './api.js';
import { ApiError, badRequest, methodNotAllowed, pageNotFound, successStatus, unsupportedMediaType } from './errors.js';
import { decodeBody, readBody, sendJson, sendText } from './http-util.js';
import { applyPatch, patchTypeOf } from './patch.js';
import { proxyService } from './proxy.js';
import { apiVersionOf, type ResourceDef } from './registry.js';
import type { ResourceTarget } from './router.js';
import { answerReview, type ReviewContext } from './reviews.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import { toTable, wantsTable } from './table.js';
import { isRec, rec, str, type KubeObject, type ServiceProxyResolver } from './types.js';
import { serveWatch } from './watch.js';

export interface HandlerContext {
  api: Api;
  serviceProxy?: ServiceProxyResolver;
  trackWatch: (close: () => void) => () => void;
  /** Who is asking, for access reviews. */
  review: ReviewContext;
}

function dryRunOf(q: URLSearchParams, body?: unknown): boolean {
  const values = [...q.getAll('dryRun'), ...(isRec(body) && Array.isArray(body.dryRun) ? body.dryRun.map(String) : [])];
  for (const v of values) if (v !== 'All') throw badRequest(`Invalid dryRun value: ${v}. Valid values are: All`);
  return values.length > 0;
}

function listItem(o: KubeObject, def: ResourceDef): KubeObject {
  if (def.crd) return o;
  const { apiVersion: _a, kind: _k, ...rest } = o;
  return rest as KubeObject;
}

interface ContinueToken {
  start: string;
}

function paginate(items: KubeObject[], q: URLSearchParams): { items: KubeObject[]; cont?: string; remaining?: number } {
  const key = (o: KubeObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
  let list = items;
  const token = q.get('continue');
  if (token) {
    let parsed: ContinueToken;
    try {
      parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as ContinueToken;
    } catch {
      throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
    }
    list = list.filter((o) => key(o) > parsed.start);
  }
  const limit = Number(q.get('limit') ?? 0);
  if (limit > 0 && list.length > limit) {
    const page = list.slice(0, limit);
    const cont = Buffer.from(JSON.stringify({ start: key(page[page.length - 1]!) })).toString('base64url');
    return { items: page, cont, remaining: list.length - limit };
  }
  return { items: list };
}

function deleteOptions(q: URLSearchParams, body: unknown): DeleteOptions {
  const b = rec(body);
  let policy = str(b.propagationPolicy) ?? q.get('propagationPolicy') ?? undefined;
  if (b.orphanDependents === true || q.get('orphanDependents') === 'true') policy = 'Orphan';
  if (policy !== undefined && !['Orphan', 'Background', 'Foreground'].includes(policy)) throw badRequest(`propagationPolicy: Unsupported value: "${policy}"`);
  const pre = rec(b.preconditions);
  return { propagationPolicy: policy as DeleteOptions['propagationPolicy'], preconditions: { uid: str(pre.uid), resourceVersion: str(pre.resourceVersion) }, dryRun: dryRunOf(q, body) };
}

async function body(req: IncomingMessage): Promise<unknown> {
  return decodeBody(await readBody(req), req.headers['content-type']);
}

function deleteResponse(def: ResourceDef, deleted: KubeObject): unknown {
  if (def.group === '' && def.resource === 'pods') return deleted;
  if (def.group === '' && def.resource === 'namespaces') {
    return { ...deleted, status: { ...rec(deleted.status), phase: 'Terminating' } };
  }
  const details: Record<string, string> = { name: deleted.metadata.name ?? '', kind: def.resource };
  if (def.group) details.group = def.group;
  if (deleted.metadata.uid) details.uid = deleted.metadata.uid;
  return successStatus(details);
}

export async function handleResource(ctx: HandlerContext, req: IncomingMessage, res: ServerResponse, url: URL, t: ResourceTarget): Promise<void> {
  const { api } = ctx;
  const def = api.registry.lookup(t.group, t.version, t.resource);
  if (!def) throw pageNotFound();
  if (!def.namespaced && t.namespace !== undefined) throw pageNotFound();
  const q = url.searchParams;
  const pretty = q.get('pretty') === 'true';
  const method = req.method ?? 'GET';
  const ns = def.namespaced ? t.namespace : undefined;
  const out = (o: KubeObject): KubeObject => render(o, def, t.version);

  if (t.subresource) return handleSubresource(ctx, req, res, url, t, def);
  if (def.virtual && (method !== 'POST' || t.name)) throw methodNotAllowed();

  if (!t.name) {
    if (method === 'GET') {
      const labelSelector = parseLabelSelector(q.get('labelSelector') ?? undefined);
      const fieldSelector = parseFieldSelector(q.get('fieldSelector') ?? undefined, def.fieldSelectors);
      if (t.watchPrefix || q.get('watch') === 'true' || q.get('watch') === '1') {
        const timeout = q.get('timeoutSeconds');
        serveWatch(api.store, req, res, {
          def,
          version: t.version,
          namespace: ns,
          labelSelector,
          fieldSelector,
          resourceVersion: q.get('resourceVersion') ?? undefined,
          timeoutSeconds: timeout ? Number(timeout) : undefined,
          sendInitialEvents: q.get('sendInitialEvents') === 'true',
          table: wantsTable(req.headers.accept) ? { includeObject: q.get('includeObject') ?? undefined } : undefined,
        }, ctx.trackWatch);
        return;
      }
      const all = api.list(def, ns, { labelSelector, fieldSelector }).map(out);
      const { items, cont, remaining } = paginate(all, q);
      const rv = api.store.currentResourceVersion();
      if (wantsTable(req.headers.accept)) return sendJson(res, 200, toTable(def, items, rv, q.get('includeObject') ?? undefined, cont), pretty);
      const metadata: Record<string, unknown> = { resourceVersion: rv };
      if (cont) {
        metadata.continue = cont;
        metadata.remainingItemCount = remaining;
      }
      return sendJson(res, 200, { kind: def.listKind, apiVersion: apiVersionOf(def.group, t.version), metadata, items: items.map((o) => listItem(o, def)) }, pretty);
    }
    if (method === 'POST') {
      if (def.namespaced && ns === undefined) throw methodNotAllowed();
      if (def.virtual) {
        // Reviews are answered on the fly (kubectl sends them as protobuf; see protobuf.ts).
        const b = decodeBody(await readBody(req), req.headers['content-type']);
        return sendJson(res, 201, answerReview(def, t.version, ns, b ?? {}, ctx.review), pretty);
      }
      const b = await body(req);
      if (b === undefined) throw badRequest('the body of the request was empty');
      const created = api.create(def, ns, b, { dryRun: dryRunOf(q) });
      return sendJson(res, 201, out(created), pretty);
    }
    if (method === 'DELETE') {
      const b = await body(req);
      const opts = deleteOptions(q, b);
      const labelSelector = parseLabelSelector(q.get('labelSelector') ?? undefined);
      const fieldSelector = parseFieldSelector(q.get('fieldSelector') ?? undefined, def.fieldSelectors);
      const deleted = api.list(def, ns, { labelSelector, fieldSelector }).map((o) => api.delete(def, o.metadata.namespace, o.metadata.name ?? '', opts));
      return sendJson(res, 200, { kind: def.listKind, apiVersion: apiVersionOf(def.group, t.version), metadata: { resourceVersion: api.store.currentResourceVersion() }, items: deleted.map(out) }, pretty);
    }
    throw methodNotAllowed();
  }

  const name = t.name;
  switch (method) {
    case 'GET': {
      const o = out(api.get(def, ns, name));
      if (wantsTable(req.headers.accept)) return sendJson(res, 200, toTable(def, [o], o.metadata.resourceVersion ?? '', q.get('includeObject') ?? undefined), pretty);
      return sendJson(res, 200, o, pretty);
    }
    case 'PUT': {
      const b = await body(req);
      return sendJson(res, 200, out(api.update(def, ns, name, b, { dryRun: dryRunOf(q) })), pretty);
    }
    case 'PATCH': {
      const type = patchTypeOf(req.headers['content-type']);
      if (!type) throw unsupportedMediaType(req.headers['content-type'] ?? '');
      if (type === 'apply' && !q.get('fieldManager')) throw badRequest('PATCH, application/apply-patch+yaml: fieldManager is required for apply requests');
      const b = await body(req);
      const r = api.patch(def, ns, name, type, b ?? {}, { dryRun: dryRunOf(q) });
      return sendJson(res, r.created ? 201 : 200, out(r.object), pretty);
    }
    case 'DELETE': {
      const b = await body(req);
      const deleted = api.delete(def, ns, name, deleteOptions(q, b));
      return sendJson(res, 200, deleteResponse(def, out(deleted)), pretty);
    }
    default:
      throw methodNotAllowed();
  }
}

async function handleSubresource(ctx: HandlerContext, req: IncomingMessage, res: ServerResponse, url: URL, t: ResourceTarget, def: ResourceDef): Promise<void> {
  const { api } = ctx;
  const q = url.searchParams;
  const method = req.method ?? 'GET';
  const ns = def.namespaced ? t.namespace : undefined;
  const name = t.name ?? '';
  const sub = t.subresource ?? '';
  const pretty = q.get('pretty') === 'true';
  const key = `${def.group}/${def.resource}/${sub}`;

  if (key === '/services/proxy') {
    proxyService(api, ctx.serviceProxy, req, res, ns ?? '', name, t.rest, url.search);
    return;
  }
  if (key === '/pods/exec' || key === '/pods/attach' || key === '/pods/portforward') {
    throw new ApiError(400, 'BadRequest', 'Upgrade request required');
  }
  if (key === '/pods/log') {
    if (method !== 'GET') throw methodNotAllowed();
    api.get(def, ns, name);
    return sendText(res, 200, '');
  }
  if (sub === 'status' && def.status) {
    if (method === 'GET') return sendJson(res, 200, render(api.get(def, ns, name), def, t.version), pretty);
    if (method === 'PUT') {
      const b = await body(req);
      return sendJson(res, 200, render(api.update(def, ns, name, b, { dryRun: dryRunOf(q), subresource: 'status' }), def, t.version), pretty);
    }
    if (method === 'PATCH') {
      const type = patchTypeOf(req.headers['content-type']);
      if (!type) throw unsupportedMediaType(req.headers['content-type'] ?? '');
      const b = await body(req);
      return sendJson(res, 200, render(api.patch(def, ns, name, type, b ?? {}, { dryRun: dryRunOf(q), subresource: 'status' }).object, def, t.version), pretty);
    }
    throw methodNotAllowed();
  }
  if (sub === 'scale' && def.scale) {
    if (method === 'GET') return sendJson(res, 200, api.getScale(def, ns, name), pretty);
    if (method === 'PUT') return sendJson(res, 200, api.updateScale(def, ns, name, await body(req), { dryRun: dryRunOf(q) }), pretty);
    if (method === 'PATCH') {
      const type = patchTypeOf(req.headers['content-type']);
      if (!type) throw unsupportedMediaType(req.headers['content-type'] ?? '');
      const patched = applyPatch(type, api.getScale(def, ns, name), (await body(req)) ?? {});
      return sendJson(res, 200, api.updateScale(def, ns, name, patched, { dryRun: dryRunOf(q) }), pretty);
    }
    throw methodNotAllowed();
  }
  if (key === '/namespaces/finalize' && method === 'PUT') {
    return sendJson(res, 200, render(api.update(def, ns, name, await body(req), { dryRun: dryRunOf(q) }), def, t.version), pretty);
  }
  throw pageNotFound();
}
