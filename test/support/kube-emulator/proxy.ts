/** `services/<name>[:<port>]/proxy/<path>`: forwards to a local HTTP server chosen by the serviceProxy option. */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Api } from './api.js';
import { serviceUnavailable } from './errors.js';
import { sendError } from './http-util.js';
import { arr, num, rec, type ServiceProxyResolver } from './types.js';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'authorization']);

/** Splits `name`, `name:port` or `scheme:name:port`. */
export function parseProxyName(spec: string): { scheme?: string; name: string; port?: string } {
  const parts = spec.split(':');
  if (parts.length >= 3) return { scheme: parts[0], name: parts[1] ?? '', port: parts.slice(2).join(':') || undefined };
  if (parts.length === 2) {
    if (parts[0] === 'http' || parts[0] === 'https') return { scheme: parts[0], name: parts[1] ?? '' };
    return { name: parts[0] ?? '', port: parts[1] || undefined };
  }
  return { name: spec };
}

export function proxyService(api: Api, resolver: ServiceProxyResolver | undefined, req: IncomingMessage, res: ServerResponse, namespace: string, nameSpec: string, rest: string, search: string): void {
  const { name, port: givenPort } = parseProxyName(nameSpec);
  const svcDef = api.registry.byResource('', 'services')!;
  const svc = api.get(svcDef, namespace, name);
  const ports = arr(rec(svc.spec).ports).map(rec);
  // The resolver always sees the service port number, whether the URL named the port or not.
  const match = givenPort === undefined ? ports[0] : ports.find((p) => p.name === givenPort || String(p.port) === givenPort);
  if (!match) {
    if (givenPort === undefined) throw serviceUnavailable(`no endpoints available for service "${name}"`);
    throw serviceUnavailable(`error trying to reach service: no service port "${givenPort}" found for service "${name}"`);
  }
  const base = resolver?.(namespace, name, String(num(match.port) ?? ''));
  if (!base) throw serviceUnavailable(`no endpoints available for service "${name}"`);
  const target = new URL(base);
  const basePath = target.pathname.replace(/\/$/, '');
  const headers: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
  headers.host = target.host;
  const upstream = http.request(
    { protocol: target.protocol, hostname: target.hostname, port: target.port, method: req.method, path: `${basePath}/${rest.split('/').map(encodeURIComponent).join('/')}${search}`, headers },
    (ures) => {
      const out: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(ures.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
      res.writeHead(ures.statusCode ?? 502, out);
      ures.pipe(res);
    },
  );
  upstream.on('error', (e) => sendError(res, serviceUnavailable(`error trying to reach service: ${e.message}`)));
  req.pipe(upstream);
}
