/**
 * RESP2 (the Redis protocol) for the raw-socket exchanges ioredis cannot do (SYNC for the replication
 * method) and for the bulk key copy of a restore, where a lean pipelined connection moves several times
 * more keys per second than a general-purpose client.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** A command as a RESP array of bulk strings. */
export function encodeCommand(args: Array<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a, 'utf8') : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** An error reply (`-ERR …`). */
export class RespError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RespError';
  }
}

export type RespReply = string | number | Buffer | null | RespError | RespReply[];

const INCOMPLETE = Symbol('incomplete');
type Parsed = { value: RespReply; end: number } | typeof INCOMPLETE;

/** Parses one reply at `at`; INCOMPLETE when the buffer ends first. Bulk strings are Buffers (copies). */
function parseReply(buf: Buffer, at: number): Parsed {
  if (at >= buf.length) return INCOMPLETE;
  const nl = buf.indexOf(0x0a, at);
  if (nl < 0) return INCOMPLETE;
  const type = buf[at];
  const line = buf.toString('latin1', at + 1, nl - 1);
  switch (type) {
    case 0x2b: // +
      return { value: line, end: nl + 1 };
    case 0x2d: // -
      return { value: new RespError(line), end: nl + 1 };
    case 0x3a: // :
      return { value: Number(line), end: nl + 1 };
    case 0x24: {
      // $
      const n = Number(line);
      if (n < 0) return { value: null, end: nl + 1 };
      const end = nl + 1 + n + 2;
      if (end > buf.length) return INCOMPLETE;
      return { value: Buffer.from(buf.subarray(nl + 1, nl + 1 + n)), end };
    }
    case 0x2a: {
      // *
      const n = Number(line);
      if (n < 0) return { value: null, end: nl + 1 };
      const items: RespReply[] = [];
      let p = nl + 1;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, p);
        if (r === INCOMPLETE) return INCOMPLETE;
        items.push(r.value);
        p = r.end;
      }
      return { value: items, end: p };
    }
    default:
      throw new Error(`protocol error: unexpected byte 0x${type.toString(16)} in a reply`);
  }
}

/** Bytes needed before a reply starting at `at` can possibly be complete (to avoid re-parsing big bulks). */
function bytesNeeded(buf: Buffer, at: number): number {
  if (buf[at] !== 0x24) return buf.length + 1;
  const nl = buf.indexOf(0x0a, at);
  if (nl < 0) return buf.length + 1;
  const n = Number(buf.toString('latin1', at + 1, nl - 1));
  return n < 0 ? nl + 1 : nl + 1 + n + 2;
}

export interface RespEndpoint {
  host?: string;
  port?: number;
  /** A Unix socket instead of host/port. */
  path?: string;
  tls?: boolean;
  username?: string;
  password?: string;
  db?: number;
  /** Fail (and close) when the server sends nothing for this long while replies are owed. */
  replyTimeoutMs?: number;
}

interface Pending {
  count: number;
  replies: RespReply[];
  resolve: (r: RespReply[]) => void;
  reject: (e: Error) => void;
}

/** A minimal pipelined connection: send a batch of commands, get their replies in order. */
export class RespConnection {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private need = 1;
  private readonly queue: Pending[] = [];
  private failed: Error | undefined;

  private constructor(private readonly socket: Socket, replyTimeoutMs?: number) {
    socket.on('data', (c: Buffer) => this.onData(c));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('connection closed')));
    if (replyTimeoutMs) {
      // Idle with nothing owed is fine; silence while replies are owed is a stalled server.
      socket.setTimeout(replyTimeoutMs, () => {
        if (this.queue.length === 0) return;
        this.fail(new Error(`timed out: no reply for ${replyTimeoutMs / 1000} s`));
        socket.destroy();
      });
    }
  }

  static async connect(ep: RespEndpoint, timeoutMs = 10_000): Promise<RespConnection> {
    const socket = ep.path
      ? netConnect({ path: ep.path })
      : ep.tls
        ? tlsConnect({ host: ep.host, port: ep.port, servername: ep.host })
        : netConnect({ host: ep.host ?? '127.0.0.1', port: ep.port ?? 6379 });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once(ep.tls && !ep.path ? 'secureConnect' : 'connect', () => {
        clearTimeout(t);
        resolve();
      });
      socket.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
    const conn = new RespConnection(socket, ep.replyTimeoutMs);
    const setup: Array<Array<string | Buffer>> = [];
    if (ep.password !== undefined) setup.push(ep.username ? ['AUTH', ep.username, ep.password] : ['AUTH', ep.password]);
    if (ep.db) setup.push(['SELECT', String(ep.db)]);
    if (setup.length > 0) {
      const replies = await conn.pipeline(setup);
      const err = replies.find((r) => r instanceof RespError);
      if (err) {
        conn.close();
        throw err;
      }
    }
    return conn;
  }

  /** Sends the commands in one write; resolves with one reply per command (error replies included). */
  pipeline(cmds: Array<Array<string | Buffer>>): Promise<RespReply[]> {
    if (this.failed) return Promise.reject(this.failed);
    if (cmds.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ count: cmds.length, replies: [], resolve, reject });
      this.socket.write(Buffer.concat(cmds.map(encodeCommand)));
    });
  }

  async call(...args: Array<string | Buffer>): Promise<RespReply> {
    const [r] = await this.pipeline([args]);
    if (r instanceof RespError) throw r;
    return r;
  }

  close(): void {
    this.socket.destroy();
  }

  private fail(e: Error): void {
    if (this.failed) return;
    this.failed = e;
    for (const p of this.queue.splice(0)) p.reject(e);
  }

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered < this.need) return;
    let buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    let at = 0;
    try {
      while (at < buf.length) {
        const r = parseReply(buf, at);
        if (r === INCOMPLETE) break;
        at = r.end;
        const head = this.queue[0];
        if (!head) throw new Error('protocol error: a reply nobody asked for');
        head.replies.push(r.value);
        if (head.replies.length === head.count) {
          this.queue.shift();
          head.resolve(head.replies);
        }
      }
    } catch (e) {
      this.fail(e as Error);
      this.socket.destroy();
      return;
    }
    buf = buf.subarray(at);
    this.chunks = buf.length ? [buf] : [];
    this.buffered = buf.length;
    this.need = buf.length ? bytesNeeded(buf, 0) : 1;
  }
}
