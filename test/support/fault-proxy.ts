import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * Fault injection between gushen-dr and the servers it talks to (S3, PostgreSQL, Redis), for the fault suite.
 *
 * `startFaultProxy` is a TCP proxy: point a config's URL at its port instead of the server's. It forwards bytes
 * both ways and, on demand, adds latency, throttles, resets connections (RST) now or after N bytes, plays a dead
 * peer (accepts and then never answers, nor forwards; existing connections freeze too) or a peer that stops
 * reading (our writes back up in the socket buffers). Every injected fault is counted in `faults`.
 *
 * `startHttpFaultProxy` is an HTTP-aware proxy for S3: it forwards each request as is (headers untouched, so
 * SigV4 still verifies) and can answer chosen requests — e.g. the first two UploadPart calls — with an S3 error
 * (500 InternalError, 503 SlowDown) or reset their connection. It records every request and what happened to it.
 */

export type ProxyMode = 'pass' | 'blackhole' | 'stop-reading' | 'reset';

export interface FaultProxy {
  readonly port: number;
  /** 127.0.0.1:<port> */
  readonly address: string;
  /** Behaviour for data and new connections from now on (see ProxyMode). */
  mode: ProxyMode;
  /** Delay added to every chunk, both directions (order is kept). */
  latencyMs: number;
  /** Throttle: at most this many bytes per second per direction and connection (0 = unlimited). */
  bytesPerSecond: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Bytes forwarded client→server and server→client so far. */
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** Faults injected so far (each reset connection, each dead/stalled connection, each refused one). */
  readonly faults: number;
  /** Resets every open connection now; returns how many. */
  resetAll(): number;
  /** Resets every open connection once `bytes` more bytes have gone in `direction` (one shot). */
  resetAfter(bytes: number, direction?: 'up' | 'down'): Promise<void>;
  /** Resolves once `bytes` bytes have gone in `direction` since the proxy started. */
  waitForBytes(bytes: number, direction?: 'up' | 'down'): Promise<void>;
  /** Back to a plain pipe: mode pass, no latency, no throttle, frozen connections released. */
  heal(): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream?: Socket;
  closed: boolean;
}

export async function startFaultProxy(target: { host?: string; port: number }): Promise<FaultProxy> {
  const host = target.host ?? '127.0.0.1';
  const pairs = new Set<Pair>();
  let connections = 0;
  let bytesUp = 0;
  let bytesDown = 0;
  let faults = 0;
  let mode: ProxyMode = 'pass';
  const byteWaiters: Array<{ bytes: number; direction: 'up' | 'down'; resolve: () => void }> = [];
  const frozen: Array<() => void> = [];

  const kill = (p: Pair) => {
    if (p.closed) return;
    p.closed = true;
    p.client.resetAndDestroy();
    p.upstream?.resetAndDestroy();
    pairs.delete(p);
  };
  const counted = (direction: 'up' | 'down', n: number) => {
    if (direction === 'up') bytesUp += n;
    else bytesDown += n;
    const total = direction === 'up' ? bytesUp : bytesDown;
    for (const w of [...byteWaiters]) {
      if (w.direction === direction && total >= w.bytes) {
        byteWaiters.splice(byteWaiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };

  /**
   * Forwards from → to with the current latency/throttle/mode, in order, with backpressure. When `from` ends or
   * closes, that is passed on only after the data before it (a close is not allowed to overtake delayed data):
   * a clean close becomes an end, an error close a reset.
   */
  const forward = (p: Pair, from: Socket, to: Socket, direction: 'up' | 'down') => {
    let chain = Promise.resolve();
    let pending = 0;
    from.on('data', (chunk: Buffer) => {
      pending++;
      if (pending > 8) from.pause();
      chain = chain.then(async () => {
        if (p.closed) return;
        // A dead peer or a peer that stopped reading: hold the data until healed (or the connection dies).
        while ((mode === 'blackhole' || mode === 'stop-reading') && !p.closed) {
          await new Promise<void>((r) => frozen.push(r));
        }
        const delay = proxy.latencyMs + (proxy.bytesPerSecond > 0 ? (chunk.length / proxy.bytesPerSecond) * 1000 : 0);
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
        if (p.closed) return;
        counted(direction, chunk.length);
        if (!to.write(chunk)) await new Promise<void>((r) => to.once('drain', () => r()).once('close', () => r()));
        pending--;
        if (pending <= 2 && mode !== 'stop-reading') from.resume();
      });
    });
    from.on('end', () => {
      chain = chain.then(() => {
        if (!p.closed) to.end();
      });
    });
    from.on('close', (hadError: boolean) => {
      chain = chain.then(() => {
        if (p.closed) return;
        if (hadError) kill(p);
        else if (!to.destroyed) to.end(() => to.destroy());
      });
    });
    from.on('error', () => undefined);
  };

  const server: Server = createServer((client) => {
    connections++;
    const p: Pair = { client, closed: false };
    pairs.add(p);
    client.on('close', () => {
      if (!p.upstream) kill(p);
    });
    client.on('error', () => undefined);
    if (mode === 'reset') {
      faults++;
      kill(p);
      return;
    }
    if (mode === 'blackhole' || mode === 'stop-reading') {
      // Accepted, then silence: nothing is read (stop-reading) or read and dropped (blackhole), nothing answered.
      faults++;
      if (mode === 'stop-reading') client.pause();
      else client.resume();
      frozen.push(() => kill(p));
      return;
    }
    const upstream = connect({ host, port: target.port });
    p.upstream = upstream;
    upstream.on('error', () => undefined);
    const both = () => {
      if (client.destroyed && upstream.destroyed) {
        p.closed = true;
        pairs.delete(p);
      }
    };
    client.on('close', both);
    upstream.on('close', both);
    forward(p, client, upstream, 'up');
    forward(p, upstream, client, 'down');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;

  const setMode = (m: ProxyMode) => {
    if ((m === 'blackhole' || m === 'stop-reading') && mode !== m) {
      faults += pairs.size;
      if (m === 'stop-reading') for (const p of pairs) p.client.pause();
    }
    mode = m;
    if (m === 'pass' || m === 'reset') {
      for (const p of pairs) p.client.resume();
      for (const r of frozen.splice(0)) r();
    }
  };

  const proxy: FaultProxy = {
    port,
    address: `127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    set mode(m: ProxyMode) {
      setMode(m);
    },
    latencyMs: 0,
    bytesPerSecond: 0,
    get connections() {
      return connections;
    },
    get bytesUp() {
      return bytesUp;
    },
    get bytesDown() {
      return bytesDown;
    },
    get faults() {
      return faults;
    },
    resetAll() {
      const n = pairs.size;
      faults += n;
      for (const p of [...pairs]) kill(p);
      return n;
    },
    resetAfter(bytes, direction = 'up') {
      const start = direction === 'up' ? bytesUp : bytesDown;
      return proxy.waitForBytes(start + bytes, direction).then(() => {
        proxy.resetAll();
      });
    },
    waitForBytes(bytes, direction = 'up') {
      if ((direction === 'up' ? bytesUp : bytesDown) >= bytes) return Promise.resolve();
      return new Promise<void>((resolve) => byteWaiters.push({ bytes, direction, resolve }));
    },
    heal() {
      proxy.latencyMs = 0;
      proxy.bytesPerSecond = 0;
      setMode('pass');
    },
    close: async () => {
      for (const p of [...pairs]) kill(p);
      for (const r of frozen.splice(0)) r();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return proxy;
}

/** What an S3 request is, from its method and query (enough to target one kind of call). */
export type S3Operation =
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'PutObject'
  | 'GetObject'
  | 'HeadObject'
  | 'DeleteObject'
  | 'ListObjectsV2'
  | 'Other';

export function s3Operation(method: string, url: string): S3Operation {
  const u = new URL(url, 'http://x');
  const q = u.searchParams;
  const pathParts = u.pathname.split('/').filter(Boolean);
  const isObject = pathParts.length >= 2;
  if (method === 'POST' && q.has('uploads')) return 'CreateMultipartUpload';
  if (method === 'PUT' && q.has('partNumber') && q.has('uploadId')) return 'UploadPart';
  if (method === 'POST' && q.has('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'DELETE' && q.has('uploadId')) return 'AbortMultipartUpload';
  if (method === 'PUT' && isObject) return 'PutObject';
  if (method === 'GET' && isObject) return 'GetObject';
  if (method === 'HEAD' && isObject) return 'HeadObject';
  if (method === 'DELETE' && isObject) return 'DeleteObject';
  if (method === 'GET' && q.get('list-type') === '2') return 'ListObjectsV2';
  return 'Other';
}

export interface HttpFaultRule {
  /** Which requests: an S3 operation name, or a predicate. */
  match: S3Operation | ((r: { method: string; url: string; op: S3Operation; key: string }) => boolean);
  /** An S3 error answer, a connection reset, or a peer that stops reading the request and never answers. */
  fault: { status: 500 | 503 } | 'reset' | 'stall';
  /** How many matching requests get the fault (then the rule is spent). */
  times: number;
}

export interface HttpRequestRecord {
  method: string;
  url: string;
  op: S3Operation;
  /** The object key (path without the bucket). */
  key: string;
  /** Status sent back, or what happened instead: reset by the proxy, the server unreachable or failing, the client gone. */
  outcome: number | 'reset' | 'stalled' | 'upstream-error' | 'client-gone';
  injected: boolean;
}

export interface HttpFaultProxy {
  readonly port: number;
  /** http://127.0.0.1:<port> — use as the S3 endpoint. */
  readonly endpoint: string;
  readonly requests: HttpRequestRecord[];
  /** Faults injected so far. */
  readonly faults: number;
  /** Adds a rule; returns a promise that settles when the rule is spent. */
  inject(rule: HttpFaultRule): Promise<void>;
  /** Resolves at the first answered request matching (already seen ones count). */
  waitFor(match: S3Operation | ((r: HttpRequestRecord) => boolean)): Promise<HttpRequestRecord>;
  close(): Promise<void>;
}

const S3_ERRORS: Record<500 | 503, { code: string; message: string }> = {
  500: { code: 'InternalError', message: 'We encountered an internal error. Please try again.' },
  503: { code: 'SlowDown', message: 'Please reduce your request rate.' },
};

export async function startHttpFaultProxy(targetEndpoint: string): Promise<HttpFaultProxy> {
  const target = new URL(targetEndpoint);
  const rules: Array<HttpFaultRule & { left: number; spent: () => void }> = [];
  const requests: HttpRequestRecord[] = [];
  const waiters: Array<{ match: S3Operation | ((r: HttpRequestRecord) => boolean); resolve: (r: HttpRequestRecord) => void }> = [];
  let faults = 0;
  const sockets = new Set<import('node:net').Socket>();

  const matches = (m: HttpFaultRule['match'], r: { method: string; url: string; op: S3Operation; key: string }) =>
    typeof m === 'string' ? m === r.op : m(r);
  const recordMatches = (m: S3Operation | ((r: HttpRequestRecord) => boolean), r: HttpRequestRecord) => (typeof m === 'string' ? m === r.op : m(r));
  const record = (rec: HttpRequestRecord) => {
    requests.push(rec);
    for (const w of [...waiters]) {
      if (recordMatches(w.match, rec)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(rec);
      }
    }
  };

  const server: HttpServer = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const op = s3Operation(method, url);
    const key = decodeURIComponent(new URL(url, 'http://x').pathname.split('/').slice(2).join('/'));
    const info = { method, url, op, key };
    const rule = rules.find((r) => r.left > 0 && matches(r.match, info));
    if (rule) {
      rule.left--;
      faults++;
      if (rule.left === 0) {
        rules.splice(rules.indexOf(rule), 1);
        rule.spent();
      }
      if (rule.fault === 'reset') {
        record({ ...info, outcome: 'reset', injected: true });
        req.socket.resetAndDestroy();
        return;
      }
      if (rule.fault === 'stall') {
        // Stop reading: the client's body backs up in the socket buffers and no answer ever comes.
        record({ ...info, outcome: 'stalled', injected: true });
        req.pause();
        req.socket.pause();
        return;
      }
      const { status } = rule.fault;
      const e = S3_ERRORS[status];
      // Read the body first, as a server would, then answer with an S3 error document.
      req.resume();
      req.on('end', () => {
        record({ ...info, outcome: status, injected: true });
        const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${e.code}</Code><Message>${e.message}</Message><RequestId>fault-proxy</RequestId></Error>`;
        res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) }).end(body);
      });
      return;
    }
    const up = httpRequest(
      { host: target.hostname, port: Number(target.port), method, path: url, headers: req.headers },
      (upRes) => {
        record({ ...info, outcome: upRes.statusCode ?? 0, injected: false });
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
        upRes.on('error', () => res.destroy());
      },
    );
    let clientGone = false;
    up.on('error', () => {
      record({ ...info, outcome: clientGone ? 'client-gone' : 'upstream-error', injected: false });
      // The server is gone: the client sees its connection dropped, as it would without the proxy.
      req.socket.resetAndDestroy();
    });
    // The client went away mid-request (e.g. a reset): drop the upstream request too.
    res.on('close', () => {
      if (res.writableFinished) return;
      clientGone = true;
      up.destroy();
    });
    req.pipe(up);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    get faults() {
      return faults;
    },
    inject(rule) {
      return new Promise<void>((spent) => rules.push({ ...rule, left: rule.times, spent }));
    },
    waitFor(match) {
      const seen = requests.find((r) => recordMatches(match, r));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
