/**
 * Copies every key of a (throwaway) source Redis into a target with DUMP / RESTORE … REPLACE, keeping
 * expire times: SCAN a page, pipeline DUMP + PEXPIRETIME (or PTTL) for it, pipeline the RESTOREs to the
 * target while the next page is being read. Memory is bounded by two pages of DUMP payloads.
 * Key names never appear in messages (they can carry session tokens).
 */
import type { Redis } from 'ioredis';
import { RespConnection, RespError, type RespEndpoint, type RespReply } from './resp.js';
import type { Logger } from '../../util/log.js';
import { OperationError, errorMessage } from '../../util/errors.js';
import type { RedisEndpoint } from './client.js';

export interface CopyOptions {
  /** Keys per SCAN page / pipeline. */
  batch?: number;
  /**
   * Absolute expire times (PEXPIRETIME on the source, RESTORE … ABSTTL on the target: source ≥ 7.0,
   * target ≥ 5.0). Otherwise PTTL and a relative TTL, which drifts by the pipeline's latency.
   */
  absoluteTtl: boolean;
  log: Logger;
  signal?: AbortSignal;
  /** A target that owes replies and sends nothing for this long fails the copy. */
  timeoutMs?: number;
}

export interface CopyResult {
  keys: number;
  perDb: Record<number, number>;
  /** Keys that disappeared (expired) between SCAN and DUMP. */
  vanished: number;
}

interface Item {
  key: Buffer;
  payload: Buffer;
  ttl: number;
}

async function open(ep: RespEndpoint, what: string): Promise<RespConnection> {
  try {
    return await RespConnection.connect(ep);
  } catch (err) {
    throw new OperationError(`cannot connect to ${what}: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * Copies every key of the given databases from `source` (the throwaway server's socket) to `target`.
 * Uses its own lean pipelined connections (see redis-resp.ts).
 */
export async function copyKeys(source: { socketPath: string }, target: RedisEndpoint, dbs: number[], opts: CopyOptions): Promise<CopyResult> {
  const batch = opts.batch ?? 1000;
  const result: CopyResult = { keys: 0, perDb: {}, vanished: 0 };
  let lastLog = Date.now();
  for (const db of dbs) {
    const src = await open({ path: source.socketPath, db }, 'the throwaway redis-server');
    let dst: RespConnection;
    try {
      dst = await open(
        { host: target.host, port: target.port, tls: target.tls, username: target.username, password: target.password, db, replyTimeoutMs: opts.timeoutMs },
        `the target ${target.display}`,
      );
    } catch (err) {
      src.close();
      throw err;
    }
    try {
      const fetchPage = async (cursor: string): Promise<{ next: string; items: Item[] }> => {
        const scan = (await src.call('SCAN', cursor, 'COUNT', String(batch))) as [Buffer, Buffer[]];
        const next = scan[0].toString();
        const keys = scan[1];
        if (keys.length === 0) return { next, items: [] };
        const cmds: Buffer[][] = [];
        const ttlCmd = Buffer.from(opts.absoluteTtl ? 'PEXPIRETIME' : 'PTTL');
        const dump = Buffer.from('DUMP');
        for (const k of keys) cmds.push([dump, k], [ttlCmd, k]);
        const res = await src.pipeline(cmds);
        const items: Item[] = [];
        for (let i = 0; i < keys.length; i++) {
          const payload = res[2 * i];
          const t = res[2 * i + 1];
          if (payload instanceof RespError || t instanceof RespError) {
            throw new OperationError(`reading keys from the throwaway server: ${(payload instanceof RespError ? payload : (t as RespError)).message}`);
          }
          const ttl = Number(t);
          if (payload === null || ttl === -2) {
            result.vanished++;
            continue;
          }
          items.push({ key: keys[i], payload: payload as Buffer, ttl: ttl === -1 ? 0 : ttl });
        }
        return { next, items };
      };
      const restore = Buffer.from('RESTORE');
      const replace = Buffer.from('REPLACE');
      const absttl = Buffer.from('ABSTTL');
      const restorePage = async (items: Item[]) => {
        const cmds = items.map((it) =>
          opts.absoluteTtl ? [restore, it.key, String(it.ttl), it.payload, replace, absttl] : [restore, it.key, String(it.ttl), it.payload, replace],
        );
        const res: RespReply[] = await dst.pipeline(cmds);
        for (const r of res) {
          if (r instanceof RespError) {
            const hint = /payload version|checksum are wrong/i.test(r.message)
              ? ' (the target Redis is older than the throwaway redis-server: its DUMP format is too new for it)'
              : '';
            throw new OperationError(`RESTORE into db ${db} of the target failed: ${r.message}${hint}`);
          }
        }
      };

      let pending: Promise<{ next: string; items: Item[] }> | undefined = fetchPage('0');
      while (pending) {
        if (opts.signal?.aborted) throw new OperationError('aborted');
        const page: { next: string; items: Item[] } = await pending;
        // Read the next page while this one is being restored.
        pending = page.next === '0' ? undefined : fetchPage(page.next);
        pending?.catch(() => undefined);
        if (page.items.length > 0) {
          await restorePage(page.items);
          result.keys += page.items.length;
          result.perDb[db] = (result.perDb[db] ?? 0) + page.items.length;
        }
        if (Date.now() - lastLog > 5000) {
          lastLog = Date.now();
          opts.log.info({ db, keys: result.keys }, 'restoring keys');
        }
      }
    } finally {
      src.close();
      dst.close();
    }
  }
  return result;
}

/** Copies Redis Functions libraries (FUNCTION DUMP / FUNCTION RESTORE … REPLACE). */
export async function copyFunctions(source: Redis, target: Redis): Promise<void> {
  const payload = (await source.callBuffer('FUNCTION', 'DUMP')) as Buffer;
  await target.callBuffer('FUNCTION', 'RESTORE', payload, 'REPLACE');
}
