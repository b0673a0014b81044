import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UsageError, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';

export interface StatusServerHandlers {
  /** The /healthz body and whether the scheduler is healthy (200) or not (503). */
  health(): { ok: boolean; body: unknown };
  metrics(): Promise<{ contentType: string; body: string }>;
}

export interface StatusServer {
  /** `host:port` actually bound (port 0 picks a free one). */
  address: string;
  close(): Promise<void>;
}

/** Parses `host:port`, `[v6]:port` or `:port` (all interfaces). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`schedules.listen "${listen}": expected host:port, e.g. 127.0.0.1:9464 or 0.0.0.0:9464`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** GET /healthz and GET /metrics; everything else is 404 (405 for other methods). */
export async function startStatusServer(listen: string, handlers: StatusServerHandlers, log: Logger): Promise<StatusServer> {
  const { host, port } = parseListen(listen);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/healthz' && path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /healthz or /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/healthz') {
      const h = handlers.health();
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(`${JSON.stringify(h.body, null, 2)}\n`);
      return;
    }
    handlers.metrics().then(
      (m) => res.writeHead(200, { 'content-type': m.contentType, 'cache-control': 'no-store' }).end(m.body),
      (err: unknown) => {
        log.error({ err: errorMessage(err) }, 'could not render metrics');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('could not render metrics\n');
      },
    );
  });
  // A scrape that hangs must not keep the process alive at shutdown.
  server.keepAliveTimeout = 5000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new UsageError(`schedules.listen ${listen}: cannot listen: ${err.code ?? err.message}`));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err: errorMessage(err) }, 'status server error'));
  const addr = server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
  return {
    address: shown,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
