/**
 * The HTTP(S) server: access control (see access.ts), then routing of discovery, OpenAPI, health,
 * resources, and exec upgrades.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { AccessControl } from './access.js';
import type { Api } from './api.js';
import { apiGroup, apiGroupList, apiResourceList, apiVersions, openApiV3Doc, openApiV3Index, SERVER_VERSION } from './discovery.js';
import { ApiError, pageNotFound } from './errors.js';
import { ExecServer, parseExecQuery, rejectUpgrade } from './exec.js';
import { handleResource } from './handlers.js';
import { sendError, sendJson, sendText } from './http-util.js';
import { parseRoute } from './router.js';
import type { ServingCert } from './tls.js';
import type { ExecHandler, ServiceProxyResolver } from './types.js';

export interface ServerOptions {
  execHandler?: ExecHandler;
  serviceProxy?: ServiceProxyResolver;
  /** Called for every request (method, path, status) — handy when debugging a client. */
  log?: (line: string) => void;
  /** Serve HTTPS with this certificate (plain HTTP otherwise). */
  tls?: ServingCert;
}

export class EmulatorServer {
  readonly http: http.Server | https.Server;
  private readonly exec: ExecServer;
  private readonly watches = new Set<() => void>();

  constructor(
    private readonly api: Api,
    private readonly access: AccessControl,
    private readonly opts: ServerOptions,
  ) {
    this.exec = new ExecServer(opts.execHandler);
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      if (opts.log) {
        const started = Date.now();
        res.on('finish', () => opts.log?.(`${req.method ?? ''} ${req.url ?? ''} ${res.statusCode} ${Date.now() - started}ms`));
      }
      this.handle(req, res).catch((e: unknown) => sendError(res, e));
    };
    this.http = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, listener) : http.createServer(listener);
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
  }

  private address(): string {
    const a = this.http.address();
    return a && typeof a === 'object' ? `127.0.0.1:${a.port}` : '127.0.0.1';
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const who = this.access.admit(req, url);
    const route = parseRoute(url.pathname);
    const { registry } = this.api;
    const get = (): void => {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    };
    switch (route.type) {
      case 'health':
        return sendText(res, 200, 'ok');
      case 'version':
        get();
        return sendJson(res, 200, SERVER_VERSION);
      case 'api':
        get();
        return sendJson(res, 200, apiVersions(this.address()));
      case 'apis':
        get();
        return sendJson(res, 200, apiGroupList(registry));
      case 'group': {
        get();
        const doc = apiGroup(registry, route.group);
        if (!doc) throw pageNotFound();
        return sendJson(res, 200, doc);
      }
      case 'resourceList': {
        get();
        const doc = apiResourceList(registry, route.group, route.version);
        if (!doc) throw pageNotFound();
        return sendJson(res, 200, doc);
      }
      case 'openapiV3Index':
        get();
        return sendJson(res, 200, openApiV3Index(registry));
      case 'openapiV3Doc': {
        get();
        const doc = openApiV3Doc(registry, route.group, route.version);
        if (!doc) throw pageNotFound();
        return sendJson(res, 200, doc);
      }
      case 'resource':
        return handleResource(
          { api: this.api, serviceProxy: this.opts.serviceProxy, trackWatch: (close) => this.track(close), review: { access: this.access, user: who.user } },
          req,
          res,
          url,
          route.target,
        );
      case 'unknown':
        throw pageNotFound();
    }
  }

  private track(close: () => void): () => void {
    this.watches.add(close);
    return () => this.watches.delete(close);
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    try {
      const url = new URL(req.url ?? '/', 'http://emulator');
      this.opts.log?.(`UPGRADE ${req.method ?? ''} ${req.url ?? ''}`);
      this.access.admit(req, url);
      const route = parseRoute(url.pathname);
      if (route.type !== 'resource' || route.target.group !== '' || route.target.resource !== 'pods' || route.target.subresource !== 'exec' || !route.target.namespace || !route.target.name) {
        throw new ApiError(400, 'BadRequest', 'upgrade is only supported for pods/exec');
      }
      const q = parseExecQuery(this.api, route.target.namespace, route.target.name, url.searchParams);
      this.exec.upgrade(req, socket, head, q);
    } catch (e) {
      rejectUpgrade(socket, e instanceof ApiError ? e : new ApiError(500, 'InternalError', String(e)));
    }
  }

  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, '127.0.0.1', () => {
        const a = this.http.address();
        resolve(a && typeof a === 'object' ? a.port : port);
      });
    });
  }

  async close(): Promise<void> {
    for (const w of [...this.watches]) w();
    this.exec.close();
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }
}
