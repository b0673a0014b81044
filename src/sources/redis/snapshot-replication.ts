import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Readable } from 'node:stream';
import type { Logger } from '../../util/log.js';
import type { RedisEndpoint } from './client.js';
import { OperationError, errorMessage } from '../../util/errors.js';
import { encodeCommand } from './resp.js';

export interface ReplicationOptions {
  log: Logger;
  signal?: AbortSignal;
  /** How long the server may take to produce the snapshot before its first payload byte (keepalives do not count). */
  headerTimeoutMs: number;
  /** How long the transfer may stall once it has begun. */
  idleTimeoutMs?: number;
}

const MARK_LEN = 40;
const MAX_LINE = 4096;

/**
 * The `replication` method: fetches a fresh RDB over the replication protocol, like `redis-cli --rdb`:
 * AUTH, `REPLCONF capa eof`, `REPLCONF rdb-only 1`, `SYNC`. The server forks and produces a snapshot
 * for us (a replica can serve this too), sending newline keepalives meanwhile, then either
 * `$<len>\r\n` + exactly len bytes (disk-based) or `$EOF:<40-byte mark>\r\n` + bytes + the mark
 * (diskless). The payload is streamed with backpressure; only a 40-byte look-behind is kept to find
 * the end mark.
 */
export async function fetchRdbByReplication(ep: RedisEndpoint, opts: ReplicationOptions): Promise<Readable> {
  const socket: Socket = ep.tls ? tlsConnect({ host: ep.host, port: ep.port, servername: ep.host }) : netConnect({ host: ep.host, port: ep.port });
  const what = `replication SYNC from ${ep.display}`;
  let done = false;
  let headerTimer: NodeJS.Timeout | undefined = undefined;
  const idleMs = opts.idleTimeoutMs ?? 120_000;

  const out = new Readable({
    highWaterMark: 4 << 20,
    read() {
      socket.resume();
    },
    destroy(err, cb) {
      clearTimeout(headerTimer);
      socket.destroy();
      opts.signal?.removeEventListener('abort', onAbort);
      cb(err);
    },
  });
  // Errors reach the consumer through its own listeners; this one only keeps an error raised before
  // the stream is handed over from becoming an uncaught exception.
  out.on('error', () => undefined);
  const fail = (msg: string, cause?: unknown) => {
    if (done) return;
    done = true;
    out.destroy(new OperationError(`${what}: ${msg}`, { cause }));
  };
  const onAbort = () => fail('aborted', opts.signal?.reason);
  if (opts.signal?.aborted) {
    socket.destroy();
    throw new OperationError(`${what}: aborted`);
  }
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  // Handshake: simple request/reply, one line each.
  let pending: Buffer = Buffer.alloc(0);
  let lineWaiter: ((line: string) => void) | undefined;
  let phase: 'handshake' | 'header' | 'payload' = 'handshake';
  let remaining = 0; // $<len> framing
  let mark: Buffer | undefined; // $EOF framing
  let held: Buffer = Buffer.alloc(0);
  let received = 0;

  const emit = (b: Buffer) => {
    if (b.length === 0) return;
    received += b.length;
    if (!out.push(b)) socket.pause();
  };
  const finish = () => {
    if (done) return;
    done = true;
    clearTimeout(headerTimer);
    socket.removeAllListeners('data');
    socket.destroy();
    opts.log.debug({ bytes: received }, 'replication transfer complete');
    out.push(null);
  };

  const onPayload = (chunk: Buffer) => {
    if (mark === undefined) {
      const n = Math.min(remaining, chunk.length);
      emit(chunk.subarray(0, n));
      remaining -= n;
      if (remaining === 0) finish();
      return;
    }
    // $EOF framing: the payload ends where the 40-byte mark appears.
    const boundary = Buffer.concat([held, chunk.subarray(0, MARK_LEN - 1)]);
    let at = boundary.indexOf(mark);
    if (at >= 0) {
      emit(boundary.subarray(0, at));
      finish();
      return;
    }
    at = chunk.indexOf(mark);
    if (at >= 0) {
      emit(held);
      emit(chunk.subarray(0, at));
      finish();
      return;
    }
    if (chunk.length >= MARK_LEN) {
      emit(held);
      emit(chunk.subarray(0, chunk.length - MARK_LEN));
      held = Buffer.from(chunk.subarray(chunk.length - MARK_LEN));
    } else {
      const all = Buffer.concat([held, chunk]);
      const keep = Math.min(all.length, MARK_LEN);
      emit(all.subarray(0, all.length - keep));
      held = Buffer.from(all.subarray(all.length - keep));
    }
  };

  const onHeaderLine = (line: string) => {
    if (line === '') return; // keepalive newline while the snapshot is being produced
    if (line.startsWith('+')) {
      opts.log.debug({ reply: line.slice(0, 80) }, 'SYNC reply');
      return; // +FULLRESYNC <replid> <offset> (PSYNC-style servers)
    }
    if (line.startsWith('-')) return fail(`the server refused SYNC: ${line.slice(1)}`);
    if (line.startsWith('$EOF:')) {
      const m = line.slice(5);
      if (m.length !== MARK_LEN) return fail(`bad EOF mark in "${line.slice(0, 60)}"`);
      mark = Buffer.from(m, 'latin1');
    } else if (/^\$\d+$/.test(line)) {
      remaining = Number(line.slice(1));
      if (remaining === 0) return fail('the server sent an empty payload');
    } else {
      return fail(`unexpected reply before the payload: "${line.slice(0, 60).replace(/[^\x20-\x7e]/g, '?')}"`);
    }
    clearTimeout(headerTimer);
    socket.setTimeout(idleMs);
    phase = 'payload';
    opts.log.debug({ framing: mark ? 'eof-mark' : 'length', length: mark ? undefined : remaining }, 'receiving the RDB payload');
  };

  socket.on('data', (chunk: Buffer) => {
    if (done) return;
    if (phase === 'payload') return onPayload(chunk);
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while ((phase as string) !== 'payload' && !done) {
      const nl = pending.indexOf(0x0a);
      if (nl < 0) {
        if (pending.length > MAX_LINE) fail('reply line too long');
        return;
      }
      const line = pending.subarray(0, nl).toString('latin1').replace(/\r$/, '');
      pending = pending.subarray(nl + 1);
      if (phase === 'handshake') {
        const w = lineWaiter;
        lineWaiter = undefined;
        if (w) w(line);
        else if (line !== '') return fail(`unexpected reply "${line.slice(0, 60)}"`);
      } else {
        onHeaderLine(line);
      }
    }
    if ((phase as string) === 'payload' && pending.length > 0 && !done) {
      const rest = pending;
      pending = Buffer.alloc(0);
      onPayload(rest);
    }
  });
  socket.on('error', (err) => fail(errorMessage(err), err));
  socket.on('timeout', () => fail(`no data from the server for ${Math.round((socket.timeout ?? idleMs) / 1000)} s (${received} payload bytes received)`));
  socket.on('close', () => {
    if (done) return;
    if (phase === 'payload') {
      fail(mark ? `the connection closed after ${received} bytes, before the end mark` : `the connection closed after ${received} bytes, ${remaining} bytes short`);
    } else {
      fail('the connection closed before the payload began');
    }
  });

  const request = (args: string[]) =>
    new Promise<string>((resolve, reject) => {
      if (done) return reject(new Error('connection failed'));
      lineWaiter = resolve;
      out.once('error', reject);
      socket.write(encodeCommand(args));
    });

  try {
    socket.setTimeout(30_000);
    await new Promise<void>((resolve, reject) => {
      socket.once(ep.tls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    if (ep.password !== undefined) {
      const r = await request(ep.username ? ['AUTH', ep.username, ep.password] : ['AUTH', ep.password]);
      if (!r.startsWith('+')) throw new Error(`authentication failed: ${r.replace(/^-/, '')}`);
    }
    const capa = await request(['REPLCONF', 'capa', 'eof']);
    if (!capa.startsWith('+')) opts.log.warn({ reply: capa }, 'REPLCONF capa eof was refused; expecting a length-framed payload');
    const rdbOnly = await request(['REPLCONF', 'rdb-only', '1']);
    if (!rdbOnly.startsWith('+')) opts.log.warn({ reply: rdbOnly }, 'REPLCONF rdb-only is not supported (Redis < 7.0); the stream after the payload is ignored');
  } catch (err) {
    const msg = errorMessage(err);
    fail(msg, err);
    throw new OperationError(`${what}: ${msg}`, { cause: err });
  }
  phase = 'header';
  socket.setTimeout(0);
  headerTimer = setTimeout(
    () => fail(`no snapshot after ${Math.round(opts.headerTimeoutMs / 1000)} s; raise sources.redis.bgsaveTimeoutSeconds if the dataset is large`),
    opts.headerTimeoutMs,
  );
  socket.write(encodeCommand(['SYNC']));
  opts.log.debug({ server: ep.display }, 'SYNC sent; waiting for the snapshot');
  return out;
}
